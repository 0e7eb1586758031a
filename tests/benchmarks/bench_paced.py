"""Paced sending benchmark: many campaigns at modest rates, as the everyday load is.

Run: .venv/bin/python -m tests.benchmarks.bench_paced [--scenario cost rates ...]
     [--py-spy DIR]  (records the worker; `.venv/bin/pip install py-spy` first)
     On PostgreSQL: CLARION_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1/clarion_test

Each scenario gets a fresh stack (tests/sending_stack.py: its own database, embedded Redis,
the API in this process) and one `clarion worker` process, sending to a counting SMTP sink
in another process. Accounts, channels, contacts and campaigns are made through the API;
the worker is started and idle before every campaign of the scenario is started at once.

Scenarios (targets from the issue beside each figure):
- cost: 20 campaigns x 10 msg/s x 200 contacts, each on its own channel, then the same
  4,000 messages as one unpaced campaign. The CPU a message of the server's processes
  (the worker and its render children, Redis; PostgreSQL's printed beside) paced / unpaced:
  target at most 1.5. Each paced campaign's start -> COMPLETED against N / rate: within 5%.
- rates: 200 campaigns x 1 msg/s x 20 contacts over 50 accounts: each within 5% of N / rate.
- aggregate: 100 campaigns x 20 msg/s x 400 contacts: messages a second in all, target at
  least 0.9 of 2,000.
- many: 1,000 campaigns x 1 msg/s x 30 contacts on one worker: how many sent a message
  within 10 s of their start (target: all), and how many completed.
- fair: an unpaced campaign of 200,000 contacts (--big) of one account, and another
  account's 100 contacts at 10 msg/s started a second later: its first message after its
  start (target under 1 s) and its start -> COMPLETED (target within 10% of 10 s), with and
  without the big one.

Prints figures; asserts only correctness (every campaign COMPLETED with every message sent,
the sink got exactly the messages sent), never timings.
"""

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from db.enums import ExecutionStatus
from db.models import CampaignExecution, Delivery
from tests.benchmarks.bench_sending import Profiler, load_average, peak_rss
from tests.benchmarks.cpu import postgres_cpu_seconds, redis_cpu_seconds, tree_cpu_seconds
from tests.sending_stack import SendingStack, sending_stack, stop_process
from tests.smtp_sink import SinkProcess
from tests.support import GraphQLClient, import_contacts, pk_of

# The worker with production's lease (the stack's default is a short one, for tests).
WORKER_ENV = {"CLARION_SEND_LEASE_SECONDS": "60"}
POLL_S = 0.5
FINAL = {
    ExecutionStatus.COMPLETED,
    ExecutionStatus.PARTIALLY_COMPLETED,
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
}
COST_TARGET = 1.5
RATE_TOLERANCE = 0.05
AGGREGATE_TARGET = 0.9
FAIR_TOLERANCE = 0.10


@dataclass(frozen=True)
class Spec:
    """One campaign of a load: its account (an index), rate limit (None: unpaced) and size."""

    account: int
    rate: int | None
    contacts: int


@dataclass
class Timing:
    campaign_pk: int
    spec: Spec
    started_at: datetime
    completed_at: datetime | None
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    sent: int
    status: ExecutionStatus

    @property
    def seconds(self) -> float | None:
        if self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def ideal(self) -> float | None:
        return None if self.spec.rate is None else self.spec.contacts / self.spec.rate

    @property
    def first_after(self) -> float | None:
        if self.first_sent_at is None:
            return None
        return (self.first_sent_at - self.started_at).total_seconds()


@dataclass
class LoadRun:
    timings: list[Timing]
    wall_s: float  # the first startCampaign -> the last COMPLETED (or the time budget)
    worker_cpu_s: float  # the worker and its render children
    redis_cpu_s: float
    postgres_cpu_s: float | None  # None on SQLite
    messages: int  # at the sink
    peak_rss: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def server_cpu_per_message(self) -> float:
        return (self.worker_cpu_s + self.redis_cpu_s) / max(self.messages, 1)

    @property
    def postgres_cpu_per_message(self) -> float | None:
        if self.postgres_cpu_s is None:
            return None
        return self.postgres_cpu_s / max(self.messages, 1)


# --- building a load through the API ------------------------------------------------------


async def build(
    stack: SendingStack, sink: SinkProcess, specs: Sequence[Spec]
) -> tuple[list[str], list[GraphQLClient]]:
    """Per spec: a channel of its own (its rate limit), contacts tagged for it and a draft
    campaign; returns the campaigns' ids, in the specs' order, and each one's client."""
    clients: dict[int, GraphQLClient] = {}
    for spec in specs:
        if spec.account not in clients:
            clients[spec.account] = await stack.client(f"Account {spec.account}")
    per_account: dict[int, list[int]] = {}
    for i, spec in enumerate(specs):
        per_account.setdefault(spec.account, []).append(i)
    ids: dict[int, str] = {}

    async def one_account(account: int, indexes: list[int]) -> None:
        client = clients[account]
        rows = [
            {"email": f"c{i}-{n}@example.test", "firstName": f"Name{n}", "tags": [f"t{i}"]}
            for i in indexes
            for n in range(specs[i].contacts)
        ]
        for start in range(0, len(rows), 10_000):
            await import_contacts(client, rows[start : start + 10_000])
        for i in indexes:
            spec = specs[i]
            channel = {
                "code": f"ch{i}",
                "channelType": "MARKETING",
                "smtpHost": "127.0.0.1",
                "smtpPort": sink.port,
                "smtpSecurity": "NONE",
                "rateLimit": spec.rate,
                "dailyQuota": 10_000_000,
            }
            made = await client.mutate("createEmailChannel", channel, "emailChannel { code }")
            assert made["userErrors"] == [], made
            campaign = {
                "campaignName": f"Campaign {i}",
                "emailChannel": f"ch{i}",
                "contactTags": [f"t{i}"],
                "subject": "Hello {{ first_name }}",
                "bodyHtml": '<p>Hi {{ first_name }}</p><a href="https://shop.test/sale">Sale</a>'
                '<a href="{{ unsubscribe_link }}">Unsubscribe</a>',
                "bodyText": "Hi {{ first_name }}, see https://shop.test/sale",
            }
            payload = await client.mutate("createEmailCampaign", campaign, "campaign { id }")
            assert payload["userErrors"] == [], payload
            ids[i] = payload["campaign"]["id"]

    accounts = list(per_account.items())
    for start in range(0, len(accounts), 8):  # a few accounts at a time
        await asyncio.gather(*(one_account(a, ix) for a, ix in accounts[start : start + 8]))
    return [ids[i] for i in range(len(specs))], [clients[spec.account] for spec in specs]


async def start_all(
    campaigns: Sequence[tuple[str, GraphQLClient]], delays: Sequence[float]
) -> None:
    """startCampaign for every campaign, each `delays[i]` seconds after the first."""
    began = time.monotonic()

    async def start(campaign_id: str, client: GraphQLClient, delay: float) -> None:
        if (wait := began + delay - time.monotonic()) > 0:
            await asyncio.sleep(wait)
        payload = await client.mutate("startCampaign", {"id": campaign_id}, "campaign { status }")
        assert payload["userErrors"] == [], payload

    gate = asyncio.Semaphore(20)  # like a busy API: many requests, not thousands at once

    async def gated(campaign: tuple[str, GraphQLClient], delay: float) -> None:
        async with gate:
            await start(*campaign, delay)

    await asyncio.gather(*(gated(c, d) for c, d in zip(campaigns, delays, strict=True)))


async def timings(
    stack: SendingStack, campaign_ids: Sequence[str], specs: Sequence[Spec]
) -> list[Timing]:
    pks = [pk_of(c, "Campaign") for c in campaign_ids]
    async with stack.server.db.read() as session:
        executions = {
            row.campaign_id: row
            for row in await session.execute(
                select(
                    CampaignExecution.campaign_id,
                    CampaignExecution.started_at,
                    CampaignExecution.completed_at,
                    CampaignExecution.status,
                    CampaignExecution.total_sent,
                ).where(CampaignExecution.campaign_id.in_(pks))
            )
        }
        sends = {
            row[0]: (row[1], row[2])
            for row in (
                await session.execute(
                    select(
                        Delivery.campaign_id, func.min(Delivery.sent_at), func.max(Delivery.sent_at)
                    )
                    .where(Delivery.campaign_id.in_(pks))
                    .group_by(Delivery.campaign_id)
                )
            ).all()
        }
    out = []
    for pk, spec in zip(pks, specs, strict=True):
        row = executions[pk]
        out.append(
            Timing(
                campaign_pk=pk,
                spec=spec,
                started_at=row.started_at,
                completed_at=row.completed_at,
                first_sent_at=sends.get(pk, (None, None))[0],
                last_sent_at=sends.get(pk, (None, None))[1],
                sent=row.total_sent,
                status=row.status,
            )
        )
    return out


async def run_load(
    specs: Sequence[Spec],
    py_spy: Path | None,
    name: str,
    *,
    budget_s: float | None = None,
    delays: Sequence[float] | None = None,
) -> LoadRun:
    """Builds the load, starts a worker, starts every campaign, waits until all are final
    (or `budget_s` passed), and measures."""
    with (
        tempfile.TemporaryDirectory(prefix="clarion-bench-paced-", dir="/tmp") as tmp,
        SinkProcess() as sink,
    ):
        async with sending_stack(Path(tmp), workers=0) as stack:
            return await measure_load(stack, sink, specs, py_spy, name, budget_s, delays)


async def measure_load(
    stack: SendingStack,
    sink: SinkProcess,
    specs: Sequence[Spec],
    py_spy: Path | None,
    name: str,
    budget_s: float | None,
    delays: Sequence[float] | None,
) -> LoadRun:
    began = time.perf_counter()
    campaign_ids, clients = await build(stack, sink, specs)
    print(f"  setup: {len(specs)} campaigns in {time.perf_counter() - began:.1f} s")
    worker = stack.start_worker(**WORKER_ENV)
    try:
        await asyncio.sleep(3)  # started and idle
        profiler = Profiler(worker.pid, py_spy / f"{name}.txt") if py_spy else None
        cpu0 = tree_cpu_seconds(worker.pid), redis_cpu_seconds(), postgres_cpu_seconds()
        sink0 = sink.count
        began = time.perf_counter()
        campaigns = list(zip(campaign_ids, clients, strict=True))
        await start_all(campaigns, delays or [0.0] * len(specs))
        pks = [pk_of(c, "Campaign") for c in campaign_ids]
        while True:
            async with stack.server.db.read() as session:
                open_ = await session.scalar(
                    select(func.count()).where(
                        CampaignExecution.campaign_id.in_(pks),
                        CampaignExecution.status.not_in(FINAL),
                    )
                )
            if not open_:
                break
            if budget_s is not None and time.perf_counter() - began > budget_s:
                break
            if worker.poll() is not None:
                raise AssertionError(f"the worker exited with {worker.returncode}")
            await asyncio.sleep(POLL_S)
        wall = time.perf_counter() - began
        cpu1 = tree_cpu_seconds(worker.pid), redis_cpu_seconds(), postgres_cpu_seconds()
        messages = sink.count - sink0
        peak = peak_rss(worker.pid)
        if profiler is not None:
            profiler.stop()
            print(f"  py-spy: {profiler.output}")
    finally:
        await stop_process(worker)
        for client in {id(c): c for c in clients}.values():
            await client.http.aclose()
    found = await timings(stack, campaign_ids, specs)
    if budget_s is None:
        for t in found:
            assert t.status is ExecutionStatus.COMPLETED, (t.campaign_pk, t.status)
            assert t.sent == t.spec.contacts, (t.campaign_pk, t.sent)
        assert messages == sum(s.contacts for s in specs), messages
    pg = None if cpu0[2] is None or cpu1[2] is None else cpu1[2] - cpu0[2]
    return LoadRun(
        timings=found,
        wall_s=wall,
        worker_cpu_s=cpu1[0] - cpu0[0],
        redis_cpu_s=cpu1[1] - cpu0[1],
        postgres_cpu_s=pg,
        messages=messages,
        peak_rss=peak,
    )


# --- reporting ----------------------------------------------------------------------------


def database() -> str:
    return "PostgreSQL" if os.environ.get("CLARION_TEST_DATABASE_URL") else "SQLite"


def cpu_line(run: LoadRun) -> str:
    pg = run.postgres_cpu_per_message
    pg_text = "" if pg is None else f"; PostgreSQL {pg * 1e3:.2f} ms"
    return (
        f"{run.messages} messages in {run.wall_s:.1f} s; CPU a message: worker "
        f"{run.worker_cpu_s / max(run.messages, 1) * 1e3:.2f} ms, Redis "
        f"{run.redis_cpu_s / max(run.messages, 1) * 1e3:.2f} ms{pg_text}; "
        f"worker peak RSS {run.peak_rss / 2**20:.0f} MiB"
    )


def timing_line(run: LoadRun) -> str:
    """Medians: startCampaign -> first message, first -> last message, last -> COMPLETED."""
    first, span, end = [], [], []
    for t in run.timings:
        if t.first_sent_at and t.last_sent_at and t.completed_at:
            first.append((t.first_sent_at - t.started_at).total_seconds())
            span.append((t.last_sent_at - t.first_sent_at).total_seconds())
            end.append((t.completed_at - t.last_sent_at).total_seconds())
    if not first:
        return "no campaign completed"
    return (
        f"medians: start -> first message {statistics.median(first):.2f} s, first -> last "
        f"{statistics.median(span):.2f} s, last -> COMPLETED {statistics.median(end):.2f} s"
    )


def rate_summary(run: LoadRun) -> tuple[str, int]:
    """min / median / max of start -> COMPLETED over N / rate, and how many within 5%."""
    ratios = [t.seconds / t.ideal for t in run.timings if t.seconds is not None and t.ideal]
    within = sum(1 for r in ratios if abs(r - 1) <= RATE_TOLERANCE)
    text = (
        f"{min(ratios):.3f} / {statistics.median(ratios):.3f} / {max(ratios):.3f}"
        if ratios
        else "-"
    )
    return text, within


def scenario_cost(py_spy: Path | None) -> list[tuple[str, str, str]]:
    specs = [Spec(0, 10, 200) for _ in range(20)]
    print(f"\ncost, paced: 20 campaigns x 10 msg/s x 200 contacts (load {load_average()})")
    paced = asyncio.run(run_load(specs, py_spy, "cost-paced"))
    print("  " + cpu_line(paced))
    print("  " + timing_line(paced))
    print(f"cost, unpaced: one campaign of 4,000 (load {load_average()})")
    unpaced = asyncio.run(run_load([Spec(0, None, 4000)], py_spy, "cost-unpaced"))
    print("  " + cpu_line(unpaced))
    ratio = paced.server_cpu_per_message / unpaced.server_cpu_per_message
    ratios, within = rate_summary(paced)
    rows = [
        (
            "CPU a message, paced / unpaced (worker + Redis)",
            f"{paced.server_cpu_per_message * 1e3:.2f} / "
            f"{unpaced.server_cpu_per_message * 1e3:.2f} ms = {ratio:.2f}x",
            f"<= {COST_TARGET}x",
        ),
        (
            "20 x 10 msg/s: start -> COMPLETED / (N / rate), min / median / max",
            f"{ratios} ({within} of 20 within 5%)",
            "all within 5%",
        ),
    ]
    if paced.postgres_cpu_per_message is not None and unpaced.postgres_cpu_per_message:
        rows.append(
            (
                "PostgreSQL's CPU a message, paced / unpaced",
                f"{paced.postgres_cpu_per_message * 1e3:.2f} / "
                f"{unpaced.postgres_cpu_per_message * 1e3:.2f} ms",
                "(printed beside)",
            )
        )
    return rows


def scenario_rates(py_spy: Path | None) -> list[tuple[str, str, str]]:
    specs = [Spec(i % 50, 1, 20) for i in range(200)]
    print(f"\nrates: 200 campaigns x 1 msg/s x 20 contacts, 50 accounts (load {load_average()})")
    run = asyncio.run(run_load(specs, py_spy, "rates"))
    print("  " + cpu_line(run))
    print("  " + timing_line(run))
    ratios, within = rate_summary(run)
    return [
        (
            "200 x 1 msg/s: start -> COMPLETED / (N / rate), min / median / max",
            f"{ratios} ({within} of 200 within 5%)",
            "all within 5%",
        )
    ]


def scenario_aggregate(py_spy: Path | None) -> list[tuple[str, str, str]]:
    specs = [Spec(i % 20, 20, 400) for i in range(100)]
    print(f"\naggregate: 100 campaigns x 20 msg/s x 400 contacts (load {load_average()})")
    run = asyncio.run(run_load(specs, py_spy, "aggregate"))
    print("  " + cpu_line(run))
    ends = [t.completed_at for t in run.timings if t.completed_at is not None]
    span = (max(ends) - min(t.started_at for t in run.timings)).total_seconds()
    rate = run.messages / span
    return [
        (
            "100 x 20 msg/s: messages a second in all / 2,000",
            f"{rate:.0f} = {rate / 2000:.2f}",
            f">= {AGGREGATE_TARGET}",
        )
    ]


def scenario_many(py_spy: Path | None) -> list[tuple[str, str, str]]:
    specs = [Spec(i % 100, 1, 30) for i in range(1000)]
    print(f"\nmany: 1,000 campaigns x 1 msg/s x 30 contacts (load {load_average()})")
    run = asyncio.run(run_load(specs, py_spy, "many", budget_s=60))
    print("  " + cpu_line(run))
    progressed = sum(1 for t in run.timings if t.first_after is not None and t.first_after <= 10)
    done = sum(1 for t in run.timings if t.status is ExecutionStatus.COMPLETED)
    return [
        (
            "1,000 x 1 msg/s: a message within 10 s of start / completed within 60 s",
            f"{progressed} / {done} of 1000",
            "all progress",
        )
    ]


def scenario_fair(py_spy: Path | None, big: int) -> list[tuple[str, str, str]]:
    small = Spec(1, 10, 100)
    print(f"\nfair: alone, 100 contacts at 10 msg/s (load {load_average()})")
    alone = asyncio.run(run_load([small], py_spy, "fair-alone")).timings[0]
    print(f"fair: beside an unpaced {big:,} of another account (load {load_average()})")
    run = asyncio.run(
        run_load(
            [Spec(0, None, big), small], py_spy, "fair-beside", delays=[0.0, 1.0], budget_s=None
        )
    )
    print("  " + cpu_line(run))
    beside = run.timings[1]
    rows = []
    for label, t in (("alone", alone), (f"beside {big:,} unpaced", beside)):
        rows.append(
            (
                f"100 at 10 msg/s {label}: first message after start / start -> COMPLETED",
                f"{t.first_after:.2f} s / {t.seconds:.2f} s",
                "< 1 s / within 10% of 10 s",
            )
        )
    return rows


SCENARIOS = ("cost", "rates", "aggregate", "many", "fair")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=["cost", "rates"])
    parser.add_argument("--big", type=int, default=200_000, help="the fair scenario's big campaign")
    parser.add_argument("--py-spy", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    rows: list[tuple[str, str, str]] = []
    for name in args.scenario:
        if name == "fair":
            rows += scenario_fair(args.py_spy, args.big)
        else:
            rows += globals()[f"scenario_{name}"](args.py_spy)
    print(f"\n{database()}, {os.cpu_count()} cores")
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}} | {'measured':<40} | target")
    print("-" * (width + 60))
    for label, value, target in rows:
        print(f"{label:<{width}} | {value:<40} | {target}")
    print(f"benchmark wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
