"""Sending benchmark: a campaign through a real `clarion worker` vs aiosmtplib alone.

Run: .venv/bin/python -m tests.benchmarks.bench_sending [--contacts 20000 100000]
     [--py-spy DIR]  (records the worker; `.venv/bin/pip install py-spy` first)

For each N: a fresh sending stack (tests/sending_stack.py: its own SQLite database,
embedded Redis and the API in this process), an account, a channel to a counting SMTP
sink in another process (tests.smtp_sink.SinkProcess) with no rate limit, N contacts and
a draft campaign. `startCampaign` goes through the API, then one `clarion worker`
process starts and sends the campaign. The sink's first/last arrival times give the
sending rate; the database gives the time from startCampaign to COMPLETED; /proc gives
the worker's peak RSS (VmHWM) and CPU time just before it is stopped.

Then, never at the same time (the machine has 2 cores), the baseline: one realistic
message, built once by the engine's own renderer and MIME builder, sent N times to a
fresh sink with aiosmtplib alone over as many connections as the worker's SMTP pool.

Each measurement gets a sink of its own: the sink stamps `first_at` on the first message
it ever receives and cannot be reset. Prints figures only; asserts correctness (every
message arrived once, the execution COMPLETED with totalSent == N), never timings.
"""

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib
from redis.asyncio import Redis
from sqlalchemy import select

from db.engine import Database
from db.enums import ExecutionStatus
from db.models import CampaignExecution
from db.settings import Settings
from db.types import utcnow
from db.unsubscribe import make_token
from db.usecases.campaigns import Sender
from jobs.channels.email.mime import Envelope, MessageFactory
from jobs.channels.email.render import CampaignTemplate, contact_context
from tests.benchmarks.backends import read_counters
from tests.benchmarks.cpu import CpuWatch, cpu_seconds
from tests.sending_stack import campaign_for, execution, sending_stack, stop_process
from tests.smtp_sink import HOST, SinkProcess
from tests.support import GraphQLClient, pk_of

DEFAULT_CONTACTS = (20_000, 100_000)
POLL_S = 0.2
TARGET_RATIO = 0.60
# Other processes using more than this many cores while a phase sends skew its figures.
BUSY_CORES = 0.15
MIB = 1024 * 1024

# The campaign (the same as campaign_for's default, spelled out so that the baseline's
# message renders from the same template).
SUBJECT = "Hello {{ first_name }}"
BODY_HTML = (
    '<p>Hi {{ first_name }}</p><a href="https://shop.test/sale?x=1">Sale</a>'
    '<a href="{{ unsubscribe_link }}">Unsubscribe</a>'
)
BODY_TEXT = "Hi {{ first_name }}, see https://shop.test/sale"
UTM_CODE = "spring"
# What SendingStack.client() gives the account; the channel sets no sender of its own.
SENDER = Sender(
    from_email="news@acme.test",
    from_name="Acme News",
    reply_to_email="help@acme.test",
    reply_to_name="",
)
# The worker with production's lease (the stack's default is a short one, for tests).
WORKER_ENV = {"CLARION_SEND_LEASE_SECONDS": "60"}
FAILED_STATUSES = {
    ExecutionStatus.FAILED,
    ExecutionStatus.CANCELLED,
    ExecutionStatus.PARTIALLY_COMPLETED,
}


@dataclass(frozen=True)
class Span:
    """N messages at the sink, the first at `first_at`, the last at `last_at` (time.time())."""

    messages: int
    first_at: float
    last_at: float

    @property
    def seconds(self) -> float:
        return self.last_at - self.first_at

    @property
    def rate(self) -> float:
        """Messages a second: N - 1 intervals between the first arrival and the last."""
        return (self.messages - 1) / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class EngineRun:
    contacts: int
    setup_s: float  # channel, contacts and campaign through the API
    start_s: float  # the startCampaign mutation
    span: Span
    first_after_s: float  # startCampaign issued → first message at the sink (worker boot)
    total_s: float  # startCampaign issued → execution COMPLETED
    peak_rss: int  # bytes (VmHWM)
    cpu_per_message_s: float  # the worker's CPU per message while sending
    others: float  # cores used by processes outside this benchmark while sending
    backends: str  # PostgreSQL's and Redis' work a message (tests/benchmarks/backends.py)
    pool_size: int
    message: Envelope  # the baseline's message, built like the engine builds one


@dataclass(frozen=True)
class RawRun:
    span: Span
    wall_s: float  # connect + every sendmail done
    cpu_per_message_s: float  # this process' CPU per message (client side only)
    others: float  # cores used by processes outside this benchmark while sending
    connections: int
    message_bytes: int


@dataclass(frozen=True)
class Row:
    engine: EngineRun
    raw: RawRun

    @property
    def ratio(self) -> float:
        return self.engine.span.rate / self.raw.span.rate if self.raw.span.rate else 0.0


async def completed_span(
    client: GraphQLClient, campaign_id: str, sink: SinkProcess, n: int
) -> Span:
    """Checks (not times) a finished run: COMPLETED with all `n` sent, and the sink got
    exactly those; returns the sink's span."""
    campaign = await execution(client, campaign_id)
    assert campaign["execution"]["status"] == "COMPLETED", campaign
    sent = campaign["execution"]["totalSent"]
    assert sent == n, f"totalSent {sent} != {n}"
    await asyncio.sleep(0.5)  # nothing more arrives after COMPLETED
    return sink_span(sink, n)


def sink_span(sink: SinkProcess, n: int) -> Span:
    """The sink's span, once it holds exactly the `n` messages sent to it."""
    assert sink.count == n, f"the sink received {sink.count} messages, not {n}"
    first_at, last_at = sink.first_at, sink.last_at
    assert first_at is not None
    assert last_at is not None
    return Span(n, first_at, last_at)


# --- /proc --------------------------------------------------------------------------------


def peak_rss(pid: int) -> int:
    """The process' peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024  # "VmHWM:   123456 kB"
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


# --- the baseline's message -------------------------------------------------------------


def sample_message(public_url: str) -> Envelope:
    """One message of the campaign, rendered and assembled by the engine's own code
    (jobs.channels.email: render, mime) for the first contact of `campaign_for`'s audience."""
    unsubscribe_prefix = f"{public_url}/unsubscribe/"
    template = CampaignTemplate(SUBJECT, BODY_HTML, BODY_TEXT, UTM_CODE, unsubscribe_prefix)
    contact = {
        "email": "c000000@example.test",
        "first_name": "Name0",
        "last_name": "",
        "phone": "",
        "whatsapp": "",
        "country": "",
        "source": "unknown",
    }
    link = unsubscribe_prefix + make_token(secrets.token_bytes(32), 1, 1)
    rendered = template.render(contact_context(contact, link))
    return MessageFactory(SENDER, multipart=True).build(
        recipient=contact["email"],
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        message_id=f"<1.{secrets.token_hex(8)}@acme.test>",
        unsubscribe_url=link,
        date=format_datetime(utcnow()),
    )


# --- the engine ---------------------------------------------------------------------------


class Profiler:
    """py-spy (the venv's, else on PATH) recording a process until stopped (--py-spy):
    collapsed stacks, one a line."""

    def __init__(self, pid: int, output: Path) -> None:
        self.output = output
        beside = Path(sys.executable).parent / "py-spy"  # installed into the venv
        py_spy = str(beside) if beside.exists() else "py-spy"
        self._process = subprocess.Popen(
            [
                *(py_spy, "record", "--pid", str(pid), "--format", "raw", "--nonblocking"),
                *("--rate", "100", "--output", str(output)),
            ],
            stdout=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # py-spy writes its output on ^C
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


class ExecutionReader:
    """Reads an execution's status and completion time straight from the database."""

    def __init__(self, db: Database, campaign_pk: int) -> None:
        self._db = db
        self._query = select(CampaignExecution.status, CampaignExecution.completed_at).where(
            CampaignExecution.campaign_id == campaign_pk
        )

    async def __call__(self) -> tuple[ExecutionStatus | None, datetime | None]:
        async with self._db.read() as session:
            row = (await session.execute(self._query)).one_or_none()
        return (row.status, row.completed_at) if row is not None else (None, None)


@dataclass(frozen=True)
class Completion:
    at: float  # time.time() the execution completed, as the database has it
    cpu_per_message_s: float  # the worker's, from the first poll that saw a message
    others: float  # cores used by other processes over the same span


async def wait_completed(
    read_execution: ExecutionReader,
    worker: "subprocess.Popen[bytes]",
    sink: SinkProcess,
    timeout: float,  # noqa: ASYNC109 - the loop checks the worker too, asyncio.timeout cannot
) -> Completion:
    """Polls until the execution is COMPLETED, then measures before the worker stops."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    # When the first message was seen: the worker's CPU time, the count then, other load.
    sending: tuple[float, int, CpuWatch] | None = None
    halted_seen = False
    while True:
        if sending is None and (arrived := sink.count) > 0:
            sending = (cpu_seconds(worker.pid), arrived, CpuWatch())
        status, completed_at = await read_execution()
        if status is ExecutionStatus.COMPLETED:
            done_at = completed_at.timestamp() if completed_at else time.time()
            if sending is None:  # all sent between two polls
                return Completion(done_at, 0.0, 0.0)
            cpu_from, count_from, watch = sending
            sent_since = sink.count - count_from
            cpu = cpu_seconds(worker.pid) - cpu_from
            return Completion(done_at, cpu / sent_since if sent_since else 0.0, watch.others())
        if status in FAILED_STATUSES:
            raise AssertionError(f"execution ended {status}")
        if status is ExecutionStatus.HALTED and not halted_seen:
            halted_seen = True
            print("  (the execution halted; waiting for it to continue)")
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited with {worker.returncode}")
        if loop.time() > give_up:
            raise AssertionError(f"no COMPLETED within {timeout:.0f} s (status {status})")
        await asyncio.sleep(POLL_S)


async def run_engine(n: int, data_dir: Path, py_spy: Path | None) -> EngineRun:
    with SinkProcess() as sink:
        async with sending_stack(data_dir, workers=0) as stack:
            client = await stack.client()
            try:
                began = time.perf_counter()
                campaign_id = await campaign_for(
                    client,
                    sink,
                    n,
                    subject=SUBJECT,
                    bodyHtml=BODY_HTML,
                    bodyText=BODY_TEXT,
                    utmCode=UTM_CODE,
                )
                setup_s = time.perf_counter() - began
                print(f"  setup (channel, {n} contacts, campaign): {setup_s:.1f} s")

                started_at = time.time()
                began = time.perf_counter()
                payload = await client.mutate(
                    "startCampaign",
                    {"id": campaign_id},
                    "campaign { status execution { totalContacts } }",
                )
                start_s = time.perf_counter() - began
                assert payload["userErrors"] == [], payload
                total = payload["campaign"]["execution"]["totalContacts"]
                assert total == n, f"totalContacts {total} != {n}"
                print(f"  startCampaign: {start_s:.1f} s, {payload['campaign']['status']}")

                worker = stack.start_worker(**WORKER_ENV)
                profiler = None
                if py_spy is not None:
                    profiler = Profiler(worker.pid, py_spy / f"worker-{n}.txt")
                try:
                    reader = ExecutionReader(stack.server.db, pk_of(campaign_id, "Campaign"))
                    redis = Redis.from_url(stack.env["CLARION_REDIS_URL"])
                    before = await read_counters(stack.server.db, redis)
                    completion = await wait_completed(reader, worker, sink, timeout=60 + n / 20)
                    used = (await read_counters(stack.server.db, redis)).minus(before)
                    await redis.aclose()
                    peak = peak_rss(worker.pid)
                except BaseException:
                    print(f"  execution: {(await execution(client, campaign_id))['execution']}")
                    print("  the worker's log (last 60 lines):")
                    print("\n".join(stack.worker_log().splitlines()[-60:]))
                    raise
                finally:
                    if profiler is not None:
                        profiler.stop()
                        print(f"  py-spy: {profiler.output}")
                    code = await stop_process(worker)
                if code != 0:
                    print(f"  (the worker exited with {code}; its log:)")
                    print(stack.worker_log())

                span = await completed_span(client, campaign_id, sink, n)
                env = {**os.environ, **stack.env, **WORKER_ENV}
                return EngineRun(
                    contacts=n,
                    setup_s=setup_s,
                    start_s=start_s,
                    span=span,
                    first_after_s=span.first_at - started_at,
                    total_s=completion.at - started_at,
                    peak_rss=peak,
                    cpu_per_message_s=completion.cpu_per_message_s,
                    others=completion.others,
                    backends=used.per_message(n),
                    pool_size=Settings.from_env(env).sending.smtp_pool_size,
                    message=sample_message(stack.server.settings.public_url),
                )
            finally:
                await client.http.aclose()


# --- the baseline -------------------------------------------------------------------------


async def run_raw(n: int, message: Envelope, connections: int) -> RawRun:
    """`message` n times with aiosmtplib alone: `connections` connections, each sending its
    share one message after another."""
    shares = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]
    shares = [share for share in shares if share]
    with SinkProcess() as sink:
        clients = [
            aiosmtplib.SMTP(
                hostname=HOST,
                port=sink.port,
                use_tls=False,
                start_tls=False,
                timeout=30,
            )
            for _ in shares
        ]

        async def blast(smtp: aiosmtplib.SMTP, count: int) -> None:
            for _ in range(count):
                await smtp.sendmail(message.sender, [message.recipient], message.data)

        began, cpu, watch = time.perf_counter(), time.process_time(), CpuWatch()
        await asyncio.gather(*(smtp.connect() for smtp in clients))
        await asyncio.gather(
            *(blast(smtp, share) for smtp, share in zip(clients, shares, strict=True))
        )
        wall_s, cpu, others = time.perf_counter() - began, time.process_time() - cpu, watch.others()
        await asyncio.gather(*(smtp.quit() for smtp in clients))
        assert await sink.wait_for(n, 10), f"the sink received {sink.count} of {n}"
        await asyncio.sleep(0.5)
        span = sink_span(sink, n)
        return RawRun(
            span=span,
            wall_s=wall_s,
            cpu_per_message_s=cpu / n,
            others=others,
            connections=len(shares),
            message_bytes=len(message.data),
        )


# --- the run ------------------------------------------------------------------------------


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure here."""
    return Path("/proc/loadavg").read_text().split()[0]


async def measure(n: int, py_spy: Path | None) -> Row:
    print(f"\nN = {n}: engine (load average {load_average()})")
    with tempfile.TemporaryDirectory(prefix="clarion-bench-send-", dir="/tmp") as tmp:
        engine = await run_engine(n, Path(tmp), py_spy)
    print(
        f"  sent in {engine.span.seconds:.2f} s at the sink ({engine.span.rate:.0f} msg/s); "
        f"first message {engine.first_after_s:.2f} s after startCampaign, "
        f"COMPLETED {engine.total_s:.2f} s after it"
    )
    print(
        f"N = {n}: baseline, aiosmtplib alone over {engine.pool_size} connections "
        f"(load average {load_average()})"
    )
    raw = await run_raw(n, engine.message, engine.pool_size)
    print(
        f"  {raw.message_bytes} bytes a message; sent in {raw.span.seconds:.2f} s at the sink "
        f"({raw.span.rate:.0f} msg/s), {raw.wall_s:.2f} s wall"
    )
    return Row(engine, raw)


def print_table(rows: Sequence[Row]) -> None:
    columns = [
        ("N", 7),
        ("engine msg/s", 12),
        ("raw msg/s", 9),
        ("engine/raw", 12),
        ("worker peak RSS", 15),
        ("start→COMPLETED", 15),
        ("raw wall", 8),
        ("CPU µs/msg eng/raw", 18),
        ("other load eng/raw", 18),
    ]
    header = " | ".join(f"{name:>{width}}" for name, width in columns)
    print()
    print(header)
    print("-" * len(header))
    busy = False
    for row in rows:
        e, r = row.engine, row.raw
        mark = "" if round(row.ratio, 2) >= TARGET_RATIO else " *"  # as printed
        busy = busy or max(e.others, r.others) > BUSY_CORES
        cells = [
            f"{e.contacts}",
            f"{e.span.rate:.0f}",
            f"{r.span.rate:.0f}",
            f"{row.ratio:.2f}{mark:2}",
            f"{e.peak_rss / MIB:.1f} MiB",
            f"{e.total_s:.2f} s",
            f"{r.wall_s:.2f} s",
            f"{e.cpu_per_message_s * 1e6:.0f}/{r.cpu_per_message_s * 1e6:.0f}",
            f"{e.others:.2f}/{r.others:.2f}",
        ]
        widths = [width for _, width in columns]
        print(" | ".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True)))
    print(
        f"msg/s: N - 1 over the sink's first..last arrival. Target engine/raw ≥ "
        f"{TARGET_RATIO:.2f} (* below it). {rows[0].engine.pool_size} SMTP connections, "
        f"{rows[0].raw.message_bytes} bytes a message.\n"
        "CPU µs/msg: the worker's while it sent / the baseline client's (the sink's not "
        "counted). Other load: cores kept busy by processes outside this benchmark while "
        "the engine / the baseline sent."
    )
    for row in rows:
        print(f"N = {row.engine.contacts}, startCampaign to COMPLETED: {row.engine.backends}")
    if busy:
        print(f"WARNING: other processes used over {BUSY_CORES} of a core: the figures are skewed")
    smallest = min(rows, key=lambda row: row.engine.contacts).engine
    largest = max(rows, key=lambda row: row.engine.contacts).engine
    growth = (largest.peak_rss - smallest.peak_rss) / smallest.peak_rss * 100
    print(
        f"worker peak RSS: {smallest.peak_rss / MIB:.1f} MiB at N={smallest.contacts}, "
        f"{largest.peak_rss / MIB:.1f} MiB at N={largest.contacts} ({growth:+.1f}%; target: flat)"
    )


async def run(contacts: Sequence[int], py_spy: Path | None) -> list[Row]:
    return [await measure(n, py_spy) for n in contacts]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--contacts",
        type=int,
        nargs="+",
        default=list(DEFAULT_CONTACTS),
        metavar="N",
        help="campaign sizes, run one after another (default: 20000 100000)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="record the worker with py-spy into DIR/worker-N.txt (collapsed stacks)",
    )
    args = parser.parse_args(argv)
    if any(n < 2 for n in args.contacts):
        parser.error("--contacts must be at least 2")
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    rows = asyncio.run(run(args.contacts, args.py_spy))
    print_table(rows)
    print(f"benchmark wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
