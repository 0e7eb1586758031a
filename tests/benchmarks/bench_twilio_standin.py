"""Message creates per second through the Twilio stand-in (its own process): raw form
POSTs from an asyncio httpx client at a given concurrency, and the `twilio` package's sync
client from a thread pool. WhatsApp template sends (ContentSid + ContentVariables), each
request validated against Twilio's description. Prints the rates; asserts only that the
stand-in holds exactly one message per recipient.

    python -m tests.benchmarks.bench_twilio_standin [--messages 20000] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from twilio.rest import Client

from tests.twilio_standin.client import StandinHttpClient
from tests.twilio_standin.fixture import Standin, start, stop

WA_FROM = "whatsapp:+14155238886"


def to(i: int) -> str:
    return f"whatsapp:+1555{i:07d}"


def template(standin: Standin) -> str:
    standin.control.approval_plan("approved")
    with httpx.Client(
        base_url=standin.base_url, auth=(standin.account_sid, standin.auth_token)
    ) as c:
        sid: str = c.post(
            "/v1/Content",
            json={"language": "en", "types": {"twilio/text": {"body": "Hi {{1}}, order {{2}}"}}},
        ).json()["sid"]
        c.post(
            f"/v1/Content/{sid}/ApprovalRequests/whatsapp",
            json={"name": "b", "category": "UTILITY"},
        )
    return sid


async def raw_creates(standin: Standin, content_sid: str, n: int, concurrency: int) -> float:
    path = f"/2010-04-01/Accounts/{standin.account_sid}/Messages.json"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=standin.base_url, auth=(standin.account_sid, standin.auth_token), limits=limits
    ) as client:
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                answer = await client.post(
                    path,
                    data={
                        "To": to(i),
                        "From": WA_FROM,
                        "ContentSid": content_sid,
                        "ContentVariables": json.dumps({"1": f"Name{i}", "2": str(i)}),
                        "StatusCallback": "https://clarion.example/twilio/status",
                    },
                )
                assert answer.status_code == 201, answer.text

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - began)


def client_creates(standin: Standin, content_sid: str, n: int, threads: int, offset: int) -> float:
    clients = [
        Client(
            standin.account_sid, standin.auth_token, http_client=StandinHttpClient(standin.base_url)
        )
        for _ in range(threads)
    ]

    def send(t: int) -> None:
        for i in range(t, n, threads):
            clients[t].messages.create(
                to=to(offset + i),
                from_=WA_FROM,
                content_sid=content_sid,
                content_variables=json.dumps({"1": f"Name{i}", "2": str(i)}),
            )

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(threads)))
    return n / (time.perf_counter() - began)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--client-messages", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    standin = start()
    try:
        sid = template(standin)
        cpu_before = cpu_seconds(standin.process.pid)
        raw_rate = asyncio.run(raw_creates(standin, sid, args.messages, args.concurrency))
        server_cpu_ms = (cpu_seconds(standin.process.pid) - cpu_before) * 1000 / args.messages
        print(f"raw: {raw_rate:.0f}/s", flush=True)
        client_rate = client_creates(
            standin, sid, args.client_messages, args.threads, args.messages
        )
        counts = standin.control.counts()
        assert counts["total"] == args.messages + args.client_messages
        assert set(counts["by_to"].values()) == {1}
        print(
            json.dumps(
                {
                    "raw_httpx_creates_per_s": round(raw_rate),
                    "raw_messages": args.messages,
                    "stand_in_cpu_ms_per_create": round(server_cpu_ms, 3),
                    "concurrency": args.concurrency,
                    "twilio_client_creates_per_s": round(client_rate),
                    "client_messages": args.client_messages,
                    "threads": args.threads,
                }
            )
        )
    finally:
        stop(standin)


if __name__ == "__main__":
    main()
