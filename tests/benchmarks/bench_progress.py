"""Live-progress benchmark: a campaign sent with and without S WebSocket subscribers.

Run: .venv/bin/python -m tests.benchmarks.bench_progress [--subscribers 1000]
     [--contacts 20000] [--py-spy DIR]  (DIR/api-subscribe.txt, DIR/api-send.txt: this
     process, the API, while run B opens its subscriptions and while it sends; collapsed
     stacks, one a line)

One sending stack (tests/sending_stack.py: its own SQLite database, embedded Redis and the
API in this process), an account, N contacts and two identical draft campaigns. Each
campaign has a channel of its own (identical, no rate limit) to a counting SMTP sink of
its own in another process (tests.smtp_sink.SinkProcess): a sink stamps its first arrival
once and cannot be reset, and the send rate is its first..last arrival.

Run A (baseline): startCampaign through the API, then one `clarion worker` process starts
and sends campaign 1 until COMPLETED, and is stopped (SIGTERM).
Run B: S WebSocket connections (graphql-transport-ws, one `executionProgress` subscription
each) are opened by a child process of this benchmark (`--clients`), so that this process'
CPU time is the API's (plus this benchmark's polling of the database every 0.2 s) and the
clients' is measured apart. Once every subscriber holds its first snapshot, campaign 2 is
started and sent exactly as in run A, by a fresh worker.

Each subscriber records, for every `next`, its receive time (time.time()) minus the
payload's `at` (when the snapshot was read, by the worker or the API; same machine clock):
the update lag. It includes the subscription's coalescing (at most 2 updates a second,
graph/subscription.py), so up to 500 ms of it is by design.

Prints figures only; asserts correctness (each run COMPLETED with totalSent == N and the
sink got N messages; every subscriber's last `next` is COMPLETED with totalSent == N, then
`complete`; totalSent never went backwards), never timings.
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.benchmarks.bench_sending import (
    WORKER_ENV,
    ExecutionReader,
    completed_span,
    load_average,
    wait_completed,
)
from tests.benchmarks.bench_sending import Profiler as PySpy
from tests.benchmarks.cpu import cpu_seconds
from tests.sending_stack import (
    SendingStack,
    audience,
    channel_for,
    email_campaign,
    execution,
    sending_stack,
    stop_process,
)
from tests.smtp_sink import SinkProcess
from tests.support import GraphQLClient, import_contacts, pk_of

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SUBSCRIBERS = 1_000
DEFAULT_CONTACTS = 20_000
# importContacts accepts at most this many rows per call.
IMPORT_BATCH = 10_000
PROTOCOL = Subprotocol("graphql-transport-ws")
PROGRESS = """
subscription($id: ID!) {
  executionProgress(campaignId: $id) { campaignStatus status totalSent at }
}
"""
# Connections being opened (handshake, connection_init, subscribe, first snapshot) at once.
CONNECTING_AT_ONCE = 50
# The clients' child gets the account's key from the environment, not its command line.
KEY_ENV = "CLARION_BENCH_KEY"
MIB = 1024 * 1024


def raise_fd_limit() -> int:
    """Raises this process' soft limit of open files to its hard limit; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def process_cpu() -> float:
    """User + system CPU time of this whole process (every thread) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss() -> int:
    """This process' resident set now, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024  # "VmRSS:   123456 kB"
    raise RuntimeError("no VmRSS in /proc/self/status")


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not ordered:
        return math.nan
    rank = max(math.ceil(p / 100 * len(ordered)), 1)
    return ordered[rank - 1]


# --- the clients (a child process: --clients) ---------------------------------------------


@dataclass
class Subscriber:
    """What one subscriber saw. Lags are seconds: receive time minus the payload's `at`."""

    first_lag: float | None = None
    lags: list[float] = field(default_factory=list)  # every `next` after the first
    backwards: bool = False  # totalSent went down from one `next` to the following one
    final_status: str | None = None
    final_campaign_status: str | None = None
    final_sent: int | None = None
    completed: bool = False  # a `complete` after the last `next`
    error: str | None = None


@dataclass
class ClientsReport:
    subscribers: list[Subscriber]
    connect_s: float  # wall time until every subscriber held its first snapshot
    connect_cpu_s: float  # this child's CPU time meanwhile
    follow_cpu_s: float  # its CPU time from then until every subscription ended


class Gate:
    """Counts subscribers that hold their first snapshot (or failed before it)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.all_in = asyncio.Event()

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected:
            self.all_in.set()


async def receive(ws: ClientConnection) -> tuple[float, dict[str, Any]]:
    raw = await ws.recv()
    at = time.time()
    message: dict[str, Any] = json.loads(raw)
    return at, message


async def follow(
    url: str,
    key: str,
    campaign_id: str,
    seen: Subscriber,
    opening: asyncio.Semaphore,
    gate: Gate,
) -> None:
    """One dashboard: connect, subscribe, then record every update until `complete`."""
    arrived = False
    try:
        async with opening:
            ws = await connect(url, subprotocols=[PROTOCOL], open_timeout=120)
        async with ws:
            async with opening:
                init = {"Authorization": f"Bearer {key}"}
                await ws.send(json.dumps({"type": "connection_init", "payload": init}))
                _, ack = await receive(ws)
                if ack != {"type": "connection_ack"}:
                    raise RuntimeError(f"no connection_ack: {ack}")
                payload = {"query": PROGRESS, "variables": {"id": campaign_id}}
                await ws.send(json.dumps({"id": "p", "type": "subscribe", "payload": payload}))
                received_at, message = await receive(ws)
            last_sent: int | None = None
            while True:
                if message["type"] == "complete":
                    seen.completed = True
                    break
                if message["type"] != "next" or "errors" in message["payload"]:
                    raise RuntimeError(f"unexpected message: {message}")
                progress = message["payload"]["data"]["executionProgress"]
                lag = received_at - datetime.fromisoformat(progress["at"]).timestamp()
                if seen.first_lag is None:
                    seen.first_lag = lag
                    arrived = True
                    gate.arrive()
                else:
                    seen.lags.append(lag)
                sent: int = progress["totalSent"]
                if last_sent is not None and sent < last_sent:
                    seen.backwards = True
                last_sent = sent
                seen.final_status = progress["status"]
                seen.final_campaign_status = progress["campaignStatus"]
                seen.final_sent = sent
                received_at, message = await receive(ws)
    except Exception as exc:
        seen.error = f"{type(exc).__name__}: {exc}"
    finally:
        if not arrived:
            gate.arrive()


async def run_clients(
    url: str, key: str, campaign_id: str, count: int, limit_s: float
) -> ClientsReport:
    """Opens `count` subscriptions, says "ready N" on stdout once each holds its first
    snapshot (N of them) or failed, then follows them until each ends, `limit_s` at most."""
    seen = [Subscriber() for _ in range(count)]
    opening = asyncio.Semaphore(CONNECTING_AT_ONCE)
    gate = Gate(count)
    began, cpu = time.perf_counter(), process_cpu()
    connect_s = connect_cpu = math.nan
    tasks = [asyncio.create_task(follow(url, key, campaign_id, s, opening, gate)) for s in seen]
    try:
        async with asyncio.timeout(limit_s):
            await gate.all_in.wait()
            connect_s, connect_cpu = time.perf_counter() - began, process_cpu() - cpu
            ready = sum(s.first_lag is not None for s in seen)
            print(f"ready {ready}", flush=True)
            cpu = process_cpu()
            await asyncio.gather(*tasks)
    except TimeoutError:
        for s in seen:
            if not s.completed and s.error is None:
                s.error = f"no `complete` within {limit_s:.0f} s"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return ClientsReport(seen, connect_s, connect_cpu, process_cpu() - cpu)


def clients_main(args: argparse.Namespace) -> None:
    raise_fd_limit()
    report = asyncio.run(
        run_clients(args.url, os.environ[KEY_ENV], args.campaign, args.subscribers, args.timeout)
    )
    Path(args.out).write_text(json.dumps(asdict(report)))


def load_report(path: Path) -> ClientsReport:
    data: dict[str, Any] = json.loads(path.read_text())
    subscribers = [Subscriber(**s) for s in data.pop("subscribers")]
    return ClientsReport(subscribers=subscribers, **data)


# --- the stack, the runs ------------------------------------------------------------------


@dataclass(frozen=True)
class SendRun:
    rate: float  # messages a second at the sink, first..last arrival
    sink_s: float
    total_s: float  # startCampaign issued → COMPLETED (as the database has it)
    api_cpu_s: float  # this process, startCampaign issued → COMPLETED seen
    window_s: float  # that span's wall time
    worker_cpu_per_message_s: float
    redis_cpu_s: float  # the embedded Redis over the same span
    others: float  # cores used by processes outside this benchmark while sending

    @property
    def api_cores(self) -> float:
        return self.api_cpu_s / self.window_s if self.window_s > 0 else 0.0


@dataclass(frozen=True)
class Result:
    subscribers: int
    contacts: int
    baseline: SendRun
    watched: SendRun
    clients: ClientsReport
    api_connect_cpu_s: float  # this process while the S subscriptions were opened
    # this process from startCampaign to the clients' exit (each got `complete` and closed)
    api_whole_cpu_s: float
    whole_s: float
    rss_before: int  # this process' resident set before the subscriptions were opened
    rss_open: int  # and once every subscriber held its first snapshot
    fd_limit: int


def redis_pid() -> int | None:
    """The embedded Redis: a child of this process named redis-server."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        if comm.startswith("redis") and int(stat[stat.rindex(")") + 2 :].split()[1]) == me:
            return int(entry)
    return None


def pid_cpu(pid: int | None) -> float:
    if pid is None:
        return math.nan
    try:
        return cpu_seconds(pid)
    except OSError:
        return math.nan


async def send_campaign(
    stack: SendingStack, client: GraphQLClient, campaign_id: str, sink: SinkProcess, n: int
) -> SendRun:
    """startCampaign, then one fresh worker sends it until COMPLETED; the worker is stopped
    (SIGTERM) before this returns."""
    redis = redis_pid()
    began, cpu, redis_cpu = time.perf_counter(), process_cpu(), pid_cpu(redis)
    started_at = time.time()
    payload = await client.mutate(
        "startCampaign", {"id": campaign_id}, "campaign { status execution { totalContacts } }"
    )
    assert payload["userErrors"] == [], payload
    total = payload["campaign"]["execution"]["totalContacts"]
    assert total == n, f"totalContacts {total} != {n}"
    worker = stack.start_worker(**WORKER_ENV)
    try:
        reader = ExecutionReader(stack.server.db, pk_of(campaign_id, "Campaign"))
        completion = await wait_completed(reader, worker, sink, timeout=60 + n / 20)
        api_cpu, window_s = process_cpu() - cpu, time.perf_counter() - began
        redis_cpu = pid_cpu(redis) - redis_cpu
    except BaseException:
        print(f"  execution: {(await execution(client, campaign_id))['execution']}")
        print("  the worker's log (last 60 lines):")
        print("\n".join(stack.worker_log(len(stack.workers) - 1).splitlines()[-60:]))
        raise
    finally:
        code = await stop_process(worker)
    if code != 0:
        print(f"  (the worker exited with {code})")
    span = await completed_span(client, campaign_id, sink, n)
    return SendRun(
        rate=span.rate,
        sink_s=span.seconds,
        total_s=completion.at - started_at,
        api_cpu_s=api_cpu,
        window_s=window_s,
        worker_cpu_per_message_s=completion.cpu_per_message_s,
        redis_cpu_s=redis_cpu,
        others=completion.others,
    )


async def make_campaigns(client: GraphQLClient, sinks: Sequence[SinkProcess], n: int) -> list[str]:
    """A channel to each sink, n contacts tagged vip and one draft campaign per channel."""
    codes = [await channel_for(client, sink, code=f"sink{i}") for i, sink in enumerate(sinks)]
    rows = audience(n)
    for start in range(0, n, IMPORT_BATCH):
        await import_contacts(client, rows[start : start + IMPORT_BATCH])
    ids = [
        await email_campaign(client, code, campaignName=f"Spring sale ({code})") for code in codes
    ]
    return ids


async def exit_of(child: asyncio.subprocess.Process) -> tuple[int, float, float]:
    """The child's exit code, and time.perf_counter() and this process' CPU time then."""
    code = await child.wait()
    return code, time.perf_counter(), process_cpu()


async def stop_child(child: asyncio.subprocess.Process) -> None:
    if child.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            child.terminate()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def measure(subscribers: int, n: int, py_spy: Path | None) -> Result:
    fd_limit = raise_fd_limit()
    with (
        tempfile.TemporaryDirectory(prefix="clarion-bench-progress-", dir="/tmp") as tmp,
        SinkProcess() as sink_a,
        SinkProcess() as sink_b,
    ):
        data_dir = Path(tmp)
        async with sending_stack(data_dir, workers=0) as stack:
            client = await stack.client()
            child: asyncio.subprocess.Process | None = None
            exited: asyncio.Task[tuple[int, float, float]] | None = None
            try:
                began = time.perf_counter()
                first, second = await make_campaigns(client, [sink_a, sink_b], n)
                print(
                    f"setup (2 channels, {n} contacts, 2 campaigns): "
                    f"{time.perf_counter() - began:.1f} s"
                )

                print(f"run A: no subscribers (load average {load_average()})")
                baseline = await send_campaign(stack, client, first, sink_a, n)
                print(f"  {baseline.rate:.0f} msg/s over {baseline.sink_s:.2f} s at the sink")

                print(f"run B: {subscribers} subscribers (load average {load_average()})")
                url = stack.server.url.replace("http://", "ws://") + "/graphql"
                out = data_dir / "clients.json"
                timeout = 300 + subscribers / 5 + n / 10
                opening = PySpy(os.getpid(), py_spy / "api-subscribe.txt") if py_spy else None
                cpu, rss_before = process_cpu(), rss()
                child = await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "tests.benchmarks.bench_progress", "--clients"),
                    *("--url", url, "--campaign", second, "--subscribers", str(subscribers)),
                    *("--out", str(out), "--timeout", str(timeout)),
                    cwd=ROOT,
                    env={**os.environ, KEY_ENV: client.key},
                    stdout=asyncio.subprocess.PIPE,
                )
                assert child.stdout is not None
                try:
                    line = await asyncio.wait_for(child.stdout.readline(), timeout)
                    api_connect_cpu, rss_open = process_cpu() - cpu, rss()
                finally:
                    if opening is not None:
                        opening.stop()
                        print(f"  py-spy: {opening.output}")
                ready = int(line.split()[1]) if line.startswith(b"ready ") else -1
                assert ready == subscribers, (
                    f"{ready} of {subscribers} subscribers got their first snapshot ({line!r})"
                )
                print(f"  {subscribers} subscribers hold their first snapshot")

                profiler = PySpy(os.getpid(), py_spy / "api-send.txt") if py_spy else None
                began, cpu = time.perf_counter(), process_cpu()
                exited = asyncio.create_task(exit_of(child))
                try:
                    watched = await send_campaign(stack, client, second, sink_b, n)
                finally:
                    if profiler is not None:
                        profiler.stop()
                        print(f"  py-spy: {profiler.output}")
                print(f"  {watched.rate:.0f} msg/s over {watched.sink_s:.2f} s at the sink")
                code, ended, ended_cpu = await asyncio.wait_for(exited, 60)
                whole_s, api_whole_cpu = ended - began, ended_cpu - cpu
                assert code == 0, f"the clients' process exited with {code}"
                clients = load_report(out)
            finally:
                if child is not None:
                    await stop_child(child)
                if exited is not None and not exited.cancelled():  # wait_for cancels it
                    await exited
                await client.http.aclose()
    check(clients, subscribers, n)
    return Result(
        subscribers=subscribers,
        contacts=n,
        baseline=baseline,
        watched=watched,
        clients=clients,
        api_connect_cpu_s=api_connect_cpu,
        api_whole_cpu_s=api_whole_cpu,
        rss_before=rss_before,
        rss_open=rss_open,
        whole_s=whole_s,
        fd_limit=fd_limit,
    )


def check(clients: ClientsReport, subscribers: int, n: int) -> None:
    """Every subscriber saw the campaign end COMPLETED with all sent, then `complete`, and
    never saw totalSent go backwards."""
    assert len(clients.subscribers) == subscribers
    failed = [s.error for s in clients.subscribers if s.error is not None]
    assert not failed, f"{len(failed)} subscribers failed, e.g. {failed[0]}"
    for i, s in enumerate(clients.subscribers):
        end = (s.final_campaign_status, s.final_status, s.final_sent, s.completed)
        assert end == ("COMPLETED", "COMPLETED", n, True), f"subscriber {i} ended {end}"
        assert not s.backwards, f"subscriber {i} saw totalSent go backwards"


# --- the report ---------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(r: Result) -> None:
    a, b, c = r.baseline, r.watched, r.clients
    lags = sorted(lag for s in c.subscribers for lag in s.lags)
    firsts = sorted(s.first_lag for s in c.subscribers if s.first_lag is not None)
    per = sorted(len(s.lags) for s in c.subscribers)
    ratio = b.rate / a.rate if a.rate else 0.0
    print()
    print(
        f"S = {r.subscribers} subscribers, N = {r.contacts} contacts; each run: one fresh "
        "`clarion worker` started after startCampaign, stopped (SIGTERM) after COMPLETED"
    )
    print(
        f"send rate (sink first..last): without subscribers {a.rate:.0f} msg/s, with "
        f"{b.rate:.0f} msg/s, with/without {ratio:.2f}"
    )
    print(
        f"startCampaign → COMPLETED: {a.total_s:.2f} s without, {b.total_s:.2f} s with; "
        f"worker CPU {a.worker_cpu_per_message_s * 1e6:.0f}/"
        f"{b.worker_cpu_per_message_s * 1e6:.0f} µs/msg without/with"
    )
    print(
        f"update lag (receive time - snapshot's `at`; includes up to 500 ms of coalescing), "
        f"{len(lags)} updates: p50 {ms(percentile(lags, 50))} ms, "
        f"p95 {ms(percentile(lags, 95))} ms, p99 {ms(percentile(lags, 99))} ms, "
        f"max {ms(lags[-1] if lags else math.nan)} ms"
    )
    print(
        f"first snapshot (read at subscribe time; not in the lags above): "
        f"p50 {ms(percentile(firsts, 50))} ms, p99 {ms(percentile(firsts, 99))} ms, "
        f"max {ms(firsts[-1] if firsts else math.nan)} ms; all {r.subscribers} "
        f"subscribed in {c.connect_s:.1f} s"
    )
    print(
        f"updates per subscriber (after the first snapshot): min {per[0]}, "
        f"median {statistics.median(per):.0f}, max {per[-1]}"
    )
    print(
        "API process CPU (this process: uvicorn + the hub + this benchmark's DB polling; "
        "the clients run in a child process):"
    )
    print(
        f"  startCampaign → COMPLETED: without subscribers {a.api_cpu_s:.2f} s over "
        f"{a.window_s:.1f} s ({a.api_cores:.2f} cores); with {b.api_cpu_s:.2f} s over "
        f"{b.window_s:.1f} s ({b.api_cores:.2f} cores)"
    )
    print(
        f"  with subscribers, startCampaign → the clients' exit (every `complete` received, "
        f"connections closed): {r.api_whole_cpu_s:.2f} s over {r.whole_s:.1f} s "
        f"({r.api_whole_cpu_s / r.whole_s if r.whole_s > 0 else 0.0:.2f} cores)"
    )
    grown = r.rss_open - r.rss_before
    print(
        f"  opening the {r.subscribers} subscriptions: {r.api_connect_cpu_s:.2f} s; RSS "
        f"{r.rss_before / MIB:.0f} MiB before, {r.rss_open / MIB:.0f} MiB with them open "
        f"({grown / r.subscribers / 1024:+.0f} KiB each)"
    )
    print(
        f"clients process CPU: opening {c.connect_cpu_s:.2f} s, following until `complete` "
        f"{c.follow_cpu_s:.2f} s"
    )
    print(
        f"embedded Redis CPU, startCampaign → COMPLETED: {a.redis_cpu_s:.2f} s without, "
        f"{b.redis_cpu_s:.2f} s with; other load (cores) {a.others:.2f} without, "
        f"{b.others:.2f} with; open-files limit {r.fd_limit}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--subscribers",
        type=int,
        default=DEFAULT_SUBSCRIBERS,
        metavar="S",
        help=f"WebSocket subscribers in run B (default: {DEFAULT_SUBSCRIBERS})",
    )
    parser.add_argument(
        "--contacts",
        type=int,
        default=DEFAULT_CONTACTS,
        metavar="N",
        help=f"contacts, the size of each campaign (default: {DEFAULT_CONTACTS})",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="DIR",
        help="record the API process (this one) with py-spy while run B opens its "
        "subscriptions and while it sends: DIR/api-subscribe.txt, DIR/api-send.txt",
    )
    # The clients' child process (see the module doc).
    parser.add_argument("--clients", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--campaign", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=600.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clients:
        clients_main(args)
        return
    if args.subscribers < 1:
        parser.error("--subscribers must be at least 1")
    if args.contacts < 2:
        parser.error("--contacts must be at least 2")
    if args.py_spy is not None:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    result = asyncio.run(measure(args.subscribers, args.contacts, args.py_spy))
    report(result)
    print(f"benchmark wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
