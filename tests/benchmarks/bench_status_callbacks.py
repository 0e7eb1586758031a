"""Status callback benchmark: signed callbacks posted to a live API as fast as it answers.

Run: .venv/bin/python -m tests.benchmarks.bench_status_callbacks [--leads 3000]
     [--concurrency 64]

A sending stack (tests/sending_stack.py; SQLite unless CLARION_TEST_DATABASE_URL) sends an
SMS campaign of N leads to the Twilio stand-in through one `clarion worker`; then each
lead's three callbacks (sent, delivered, read), signed with the account's token, are posted
with `--concurrency` requests in flight, in random order. The load generator runs in the
API's own event loop and process (the stack's uvicorn runs in this process), so the API
has less than the one core it would have alone: the figures are a floor.

Prints callbacks/s and the response time (p50/p99); asserts every lead ends READ with
totalDelivered = N, never timings.
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.sending_stack import sending_stack
from tests.status_hooks import callback_params, feedback, post_signed, sent_campaign, totals
from tests.twilio_standin.fixture import start, stop


async def main(leads: int, concurrency: int) -> None:
    standin = start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with sending_stack(Path(tmp)) as stack:
                client = await stack.client()
                campaign_id, messages = await sent_campaign(stack, standin, client, leads)
                posts = [
                    (m["standin"]["status_callback"], m["sid"], status)
                    for m in messages
                    for status in ("sent", "delivered", "read")
                ]
                random.shuffle(posts)
                latencies: list[float] = []
                queue = list(reversed(posts))

                async def worker() -> None:
                    # A client each: httpx's shared pool costs O(requests in flight) per
                    # request, which would measure the load generator.
                    async with httpx.AsyncClient(base_url=stack.server.url, timeout=60) as http:
                        while queue:
                            url, sid, status = queue.pop()
                            began = time.perf_counter()
                            answer = await post_signed(
                                http, standin.auth_token, url, callback_params(sid, status)
                            )
                            latencies.append(time.perf_counter() - began)
                            assert answer.status_code == 200, answer.text

                began = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                elapsed = time.perf_counter() - began
                found = await feedback(client, campaign_id)
                assert {lead["status"] for lead in found.values()} == {"READ"}
                assert (await totals(client, campaign_id))["totalDelivered"] == leads
                cuts = statistics.quantiles(latencies, n=100)
                print(
                    f"{len(posts)} callbacks in {elapsed:.2f} s: {len(posts) / elapsed:,.0f}/s; "
                    f"response p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms "
                    f"({concurrency} in flight)"
                )
    finally:
        stop(standin)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(main(args.leads, args.concurrency))
