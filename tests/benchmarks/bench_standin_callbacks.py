"""How many status callbacks a second the Twilio stand-in emits (signed, recorded, each
answered by a receiver), so a feedback benchmark knows the stand-in is not its bottleneck.

Run: .venv/bin/python -m tests.benchmarks.bench_standin_callbacks [--messages 6000]
     [--hold 6] [--concurrency 256]

A stand-in (its own process) and a sink (its own uvicorn process: a bare ASGI app that
answers 200 to every POST). N SMS messages are created with a StatusCallback at the sink
while the account's callbacks are paused, with no delay between steps; then resumed: every
message's "sent" and then "delivered" callback fall due at once, and the stand-in posts them
as fast as it can (at most --concurrency in flight). Measured from the stand-in's own
records: callbacks answered per second (first to last attempt) and the response time
p50/p99; from /proc: the stand-in's CPU per callback (the rate one core could reach, the
figure that holds on a busy machine). Checked: exactly 2 callbacks per message, all answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

from tests.benchmarks.bench_sending import load_average
from tests.benchmarks.cpu import cpu_seconds
from tests.twilio_standin.fixture import REPO, Standin, free_port, start, stop

SMS_FROM = "+15005550006"


async def sink(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The receiver: read the body, answer 200 empty TwiML."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/xml")]}
    )
    await send({"type": "http.response.body", "body": b"<Response/>"})


def start_sink(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.benchmarks.bench_standin_callbacks:sink",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=REPO,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.post(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the sink did not start"
            time.sleep(0.05)


async def create(standin: Standin, n: int, callback: str) -> float:
    """N SMS creates, 32 in flight; their rate."""
    auth = (standin.account_sid, standin.auth_token)
    path = f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    queue = list(range(n))
    async with httpx.AsyncClient(base_url=standin.base_url, auth=auth, timeout=30) as http:

        async def worker() -> None:
            while queue:
                i = queue.pop()
                data = {"To": f"+1415{3_000_000 + i:07d}", "From": SMS_FROM, "Body": "x"}
                answer = await http.post(path, data=data | {"StatusCallback": callback})
                answer.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(32)))
        return n / (time.perf_counter() - began)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    port = free_port()
    receiver = start_sink(port)
    standin = start(extra_args=["--callback-concurrency", str(args.concurrency)], callbacks=True)
    try:
        standin.control.callback_plan(delay=[0, 0], paused=True)
        create_rate = asyncio.run(create(standin, args.messages, f"http://127.0.0.1:{port}/cb"))
        cpu, sink_cpu = cpu_seconds(standin.process.pid), cpu_seconds(receiver.pid)
        began = time.perf_counter()
        standin.control.callback_plan(paused=False)
        records = standin.control.wait_callbacks(timeout=600)
        wall = time.perf_counter() - began
        cpu = cpu_seconds(standin.process.pid) - cpu
        sink_cpu = cpu_seconds(receiver.pid) - sink_cpu
        assert len(records) == 2 * args.messages, f"{len(records)} callbacks"
        assert all(r["status_code"] == 200 for r in records), "a callback was not answered 200"
        span = max(r["sent_at"] for r in records) - min(r["sent_at"] for r in records)
        times = [r["response_ms"] for r in records]
        print(f"creates (paused callbacks): {args.messages} at {create_rate:,.0f}/s")
        print(
            f"callbacks: {len(records)} in {span:.2f} s = {len(records) / span:,.0f}/s "
            f"(resume to all answered {wall:.2f} s); response p50 "
            f"{percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms "
            f"(concurrency {args.concurrency}); load average {load_average()}"
        )
        per = cpu / len(records) * 1e6
        print(
            f"stand-in CPU {per:.0f} µs a callback (one core: {1e6 / per:,.0f} callbacks/s at "
            f"most); the sink's {sink_cpu / len(records) * 1e6:.0f} µs"
        )
    finally:
        stop(standin)
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
