"""What comes back from Twilio, under load: a WhatsApp campaign through one real `clarion
worker` to the Twilio stand-in while the stand-in delivers its three status callbacks per
message (sent, delivered, read) and 10% of leads reply, against the same campaign with the
stand-in's callbacks off.

Run: .venv/bin/python -m tests.benchmarks.bench_twilio_feedback [--leads 20000]
     [--reply-every 10] [--rate N] [--pin]

Each run gets a fresh stand-in (its own process) and a fresh sending stack (tests/
sending_stack.py: its own SQLite database, embedded Redis, an API in this process for the
set-up and the readings), a WhatsApp channel (no rate limit unless --rate) and a TEXT
campaign of N leads, approved before the clock starts (as bench_twilio_send.py does; its
helpers are reused). The webhooks go to a second API process, `clarion serve` without its embedded
worker, as production runs it (uvicorn on uvloop): CLARION_PUBLIC_URL points the worker's
StatusCallback there, so this process's own loop (its polling) is not the webhooks'.

Off: the stand-in's callbacks disabled (no status moves, nothing posted); timed:
startCampaign issued → the execution COMPLETED.
On: the stand-in's default plan (steps 50-200 ms apart, each callback signed and posted to
the message's StatusCallback, /hooks/twilio/status?channel=<id>, retried once on non-2xx);
and the stand-in's `reply_every` plan: the first message and every `--reply-every`-th after
it is answered by its recipient once read ("Yes please", signed and posted to the
channel's /hooks/twilio/inbound?channel=<id> with OriginalRepliedMessageSid), so this
process sends nothing while the campaign runs. Timed the same way; then until the stand-in
has nothing pending.

Printed: the send rate on and off and their ratio (target: a loss under 20%), callbacks
handled per second (answered 2xx, first to last attempt, and the busiest second), the
callback response time p50/p99 from the stand-in's own records (target p99 under 100 ms),
the replies' status codes and p50/p99, and the CPU each process used per message while the
campaign sent (and the worker's until the queues were applied): on a small machine the
stand-in and this process share the cores with Clarion's processes, and the figures show
whose CPU the callbacks cost. A receiver answering anything but 2xx is counted and shown:
before the /hooks/twilio/* endpoints exist the server answers 404 to all of them.
Checked: one message per lead, exactly three first attempts per message (sent, delivered,
read). Prints figures only; asserts correctness, never timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from db.models import Campaign, CampaignExecution
from jobs.channels.twilio.hook_urls import INBOUND_PATH, hook_url
from tests.benchmarks.bench_sending import ExecutionReader, load_average
from tests.benchmarks.bench_twilio_send import (
    APPROVAL_POLL_SECONDS,
    WORKER_ENV,
    check_arrived,
    submit_for_approval,
    wait_approved,
    wait_booted,
    wait_completed,
    whatsapp_campaign,
)
from tests.hook_queues import inbound_drained
from tests.sending_stack import SendingStack, execution, sending_stack, stop_process
from tests.status_hooks import callbacks_applied
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.fixture import Standin, start, stop

TARGET_LOSS = 0.20
TARGET_P99_MS = 100.0


@dataclass(frozen=True)
class Setup:
    leads: int
    reply_every: int  # every k-th message is answered (0: none)
    rate_limit: int | None  # the channel's messages a second (None: no limit)
    worker_cpus: set[int]  # the worker's CPUs (empty: any)


@dataclass(frozen=True)
class Run:
    leads: int
    send_s: float  # startCampaign issued → COMPLETED
    settle_s: float  # COMPLETED → the stand-in has nothing pending (0 when off)
    # The stand-in settled → every queued callback applied by the worker (0 when off).
    applied_s: float
    execution: dict[str, int]  # the execution's counters at the end
    callbacks: list[dict[str, Any]]  # the stand-in's records
    replies: list[dict[str, Any]]  # what each answer's post got back (the stand-in's)
    # CPU seconds each process used from startCampaign to COMPLETED.
    cpu: dict[str, float]
    # The worker's CPU seconds from startCampaign until the queues were applied.
    worker_cpu_s: float

    @property
    def rate(self) -> float:
        return self.leads / self.send_s


def cpu_seconds(pid: int | None = None) -> float:
    """The CPU time (user and system, all threads) a process has used so far: this one's
    when `pid` is None; NaN where /proc cannot tell."""
    if pid is None:
        return time.process_time()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


async def wait_settled(standin: Standin, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """The stand-in's records (callbacks and answers) once nothing is pending."""
    give_up = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = await asyncio.to_thread(standin.control.callbacks)
        if found["pending"] == 0:
            return found
        assert time.monotonic() < give_up, f"{found['pending']} callbacks still pending"
        await asyncio.sleep(0.5)


async def run_campaign(setup: Setup, callbacks: bool, data_dir: Path) -> Run:
    standin = await asyncio.to_thread(start, callbacks=True)
    try:
        if not callbacks:
            await asyncio.to_thread(standin.control.callback_plan, enabled=False)
        async with sending_stack(
            data_dir, workers=0, CLARION_APPROVAL_POLL_SECONDS=APPROVAL_POLL_SECONDS
        ) as stack:
            client = await stack.client()
            try:
                return await _campaign(setup, callbacks, stack, client, standin)
            finally:
                await client.http.aclose()
    finally:
        await asyncio.to_thread(stop, standin)


async def hooks_api(stack: SendingStack) -> tuple[subprocess.Popen[bytes], str]:
    """`clarion serve` without a worker, on the stack's database and Redis: the process
    Twilio's webhooks reach, and its URL (its CLARION_PUBLIC_URL)."""
    return await stack.start_api("hooks-api")


async def _campaign(
    setup: Setup,
    callbacks: bool,
    stack: SendingStack,
    client: GraphQLClient,
    standin: Standin,
) -> Run:
    n, reply_every, worker_cpus = setup.leads, setup.reply_every, setup.worker_cpus
    campaign_id = await whatsapp_campaign(client, standin, n, setup.rate_limit)
    await submit_for_approval(client, standin, campaign_id)
    hooks, hooks_url = await hooks_api(stack)
    worker = stack.start_worker(**WORKER_ENV, CLARION_PUBLIC_URL=hooks_url)
    if worker_cpus:
        os.sched_setaffinity(worker.pid, worker_cpus)
    try:
        await wait_booted(stack, worker)
        await wait_approved(client, campaign_id)
        campaign_pk = pk_of(campaign_id, "Campaign")
        reader = ExecutionReader(stack.server.db, campaign_pk)
        if callbacks and reply_every:
            async with stack.server.db.read() as session:
                channel_id = await session.scalar(
                    select(Campaign.twilio_channel_id).where(Campaign.id == campaign_pk)
                )
            assert channel_id is not None
            inbound = hook_url(hooks_url, INBOUND_PATH, channel_id)
            await asyncio.to_thread(
                standin.control.callback_plan, reply_every=reply_every, reply_url=inbound
            )
        pids = {"worker": worker.pid, "webhooks API": hooks.pid, "stand-in": standin.process.pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        cpu_before["this process"] = cpu_seconds()
        started_at = time.time()
        payload = await client.mutate("startCampaign", {"id": campaign_id}, "campaign { status }")
        assert payload["userErrors"] == [], payload
        completed_at = await wait_completed(reader, worker, timeout=120 + n / 20)
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        cpu["this process"] = cpu_seconds() - cpu_before["this process"]
        settled = time.time()
        found = await wait_settled(standin, timeout=600) if callbacks else {}
        records, replies = found.get("callbacks", []), found.get("answers", [])
        settle_s = time.time() - settled if callbacks else 0.0
        drained = time.time()
        if callbacks:  # answered is not applied: the worker applies the queues
            await callbacks_applied(stack, within=600)
            await inbound_drained(stack.env["CLARION_REDIS_URL"], within=600)
        applied_s = time.time() - drained if callbacks else 0.0
        worker_cpu_s = cpu_seconds(worker.pid) - cpu_before["worker"]
        figures = await totals_of(stack, campaign_pk)
    except BaseException:
        print(f"  execution: {(await execution(client, campaign_id))['execution']}")
        print("\n".join(stack.worker_log().splitlines()[-60:]))
        raise
    finally:
        await stop_process(worker)
        await stop_process(hooks)
    await asyncio.to_thread(check_arrived, standin, n)
    if callbacks:
        first = Counter(r["message_status"] for r in records if r["attempt"] == 1)
        assert first == {"sent": n, "delivered": n, "read": n}, f"first attempts: {first}"
        assert figures["delivered"] == figures["read"] == n, figures
        answered = sum(1 for r in replies if r["status_code"] == 200)
        assert answered == (len(range(0, n, reply_every)) if reply_every else 0), answered
        assert figures["replied"] == answered, (figures, answered)
    return Run(
        n,
        completed_at - started_at,
        settle_s,
        applied_s,
        figures,
        records,
        replies,
        cpu,
        worker_cpu_s,
    )


async def totals_of(stack: SendingStack, campaign_pk: int) -> dict[str, int]:
    """The execution's counters, read from the database."""
    t = CampaignExecution
    async with stack.server.db.read() as session:
        row = (
            await session.execute(
                select(
                    t.total_sent, t.total_failed, t.total_delivered, t.total_read, t.total_replied
                ).where(t.campaign_id == campaign_pk)
            )
        ).one()
    return dict(zip(("sent", "failed", "delivered", "read", "replied"), row, strict=True))


def report(off: Run, on: Run) -> None:
    ok = [r for r in on.callbacks if r["status_code"] and 200 <= r["status_code"] < 300]
    codes = Counter(r["status_code"] for r in on.callbacks)
    span = max(r["sent_at"] for r in ok) - min(r["sent_at"] for r in ok) if len(ok) > 1 else 0.0
    busiest = max(Counter(int(r["sent_at"]) for r in ok).values(), default=0)
    times = [r["response_ms"] for r in on.callbacks if r["response_ms"] is not None]
    p50, p99 = percentile(times, 50), percentile(times, 99)
    ratio = on.rate / off.rate
    print(
        f"\n{on.leads} WhatsApp leads, one worker, the webhooks' API and the stand-in each "
        "in its own process"
    )
    print(f"  send rate, callbacks off: {off.rate:7.0f} msg/s ({off.send_s:.1f} s)")
    print(f"  send rate, callbacks on:  {on.rate:7.0f} msg/s ({on.send_s:.1f} s)")
    mark = "" if 1 - ratio < TARGET_LOSS else "  (over target)"
    print(
        f"  on / off: {ratio:.2f} (a loss of {1 - ratio:.0%}; target under {TARGET_LOSS:.0%}){mark}"
    )
    print(
        f"  callbacks: {len(on.callbacks)} attempts, status codes {dict(codes)}; "
        f"settled {on.settle_s:.1f} s after COMPLETED"
    )
    print(
        f"  applied: every queued callback {on.applied_s:.1f} s after the stand-in settled; "
        f"execution {on.execution}"
    )
    rate = len(ok) / span if span else 0.0
    print(f"  callbacks handled (2xx): {len(ok)} at {rate:.0f}/s, busiest second {busiest}")
    mark = "" if p99 < TARGET_P99_MS else "  (over target)"
    print(
        f"  callback response time: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(target p99 under {TARGET_P99_MS:.0f} ms){mark}"
    )
    reply_codes = Counter(r["status_code"] for r in on.replies)
    reply_times = [r["response_ms"] for r in on.replies if r["status_code"] is not None]
    print(
        f"  replies: {len(on.replies)}, status codes {dict(reply_codes)}; response p50 "
        f"{percentile(reply_times, 50):.1f} ms, p99 {percentile(reply_times, 99):.1f} ms"
    )
    print("  CPU per message while the campaign sent, ms (off / on):")
    for name in off.cpu:
        print(
            f"    {name + ':':14} {off.cpu[name] * 1000 / off.leads:5.2f} / "
            f"{on.cpu[name] * 1000 / on.leads:5.2f}"
        )
    print(
        f"    worker, until every callback and reply was applied: "
        f"{off.worker_cpu_s * 1000 / off.leads:.2f} / {on.worker_cpu_s * 1000 / on.leads:.2f}"
    )
    if len(ok) < len(on.callbacks):
        print(
            "  NOTE: callbacks answered non-2xx (404: the server has no /hooks/twilio/status "
            "yet), each retried once: the figures are not the handler's"
        )


async def measure(setup: Setup, callbacks: bool) -> Run:
    label = "on" if callbacks else "off"
    print(f"\ncallbacks {label}, {setup.leads} leads (load average {load_average()})")
    with tempfile.TemporaryDirectory(prefix="clarion-bench-feedback-", dir="/tmp") as tmp:
        run = await run_campaign(setup, callbacks, Path(tmp))
    print(f"  COMPLETED {run.send_s:.2f} s after startCampaign ({run.rate:.0f} msg/s)")
    return run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=20_000, help="default 20000")
    parser.add_argument(
        "--reply-every", type=int, default=10, help="every k-th message is answered (0: none)"
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the worker on the first CPU alone, everything else (this process, the "
        "stand-in, the webhooks' API, Redis) on the others: Twilio and the API elsewhere",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=None,
        help="the channel's rate limit, messages a second, in both runs (default: none)",
    )
    args = parser.parse_args(argv)
    if not 10 <= args.leads <= 1_000_000 or args.reply_every < 0:
        parser.error("--leads must be in 10..1000000, --reply-every >= 0")
    if args.rate is not None and not 1 <= args.rate <= 10_000:
        parser.error("--rate must be in 1..10000")
    began = time.perf_counter()
    worker_cpus: set[int] = set()
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            parser.error("--pin needs two CPUs at least")
        worker_cpus = {cpus[0]}
        os.sched_setaffinity(0, set(cpus[1:]))  # and so every process started from here
        print(f"pinned: the worker on CPU {cpus[0]}, the rest on {cpus[1:]}")
    setup = Setup(args.leads, args.reply_every, args.rate, worker_cpus)
    if args.rate is not None:
        print(f"the channel's rate limit: {args.rate} messages a second")
    off = asyncio.run(measure(setup, False))
    on = asyncio.run(measure(setup, True))
    report(off, on)
    print(f"benchmark wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
