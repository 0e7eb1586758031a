"""WhatsApp sending benchmark: a campaign through one real `clarion worker` to the Twilio
stand-in vs the twilio client alone, in the same run.

Run: .venv/bin/python -m tests.benchmarks.bench_twilio_send [--leads 20000] [--big 100000]
     [--no-sync]      (skip the baseline of the package's sync client in threads)

Each measurement gets a fresh stand-in in its own process (tests/twilio_standin), so none
pays for another's stored messages.

Engine, for --leads N and again for --big N: a fresh sending stack (tests/sending_stack.py:
its own SQLite database, embedded Redis, the API in this process), a WhatsApp channel to
the stand-in with no rate limit, a TEXT campaign with N leads (addLeads, 10,000 a call),
submitted for approval (submitCampaignForApproval; the stand-in approves at once), and one
`clarion worker` process, which reads the approval; it is booted and the campaign approved
before the start, so neither is timed. Timed: startCampaign issued →
the execution COMPLETED (as the database has it); also the first message's arrival at the
stand-in → COMPLETED. Checked: the stand-in holds exactly one message per lead. Measured:
the worker's peak RSS (VmHWM) and CPU, the stand-in's CPU.

Baseline, for --leads N only, never at the same time as the engine (2 cores): the same
client the worker uses (jobs/channels/twilio/client.py `twilio_client`: the package's
async API over our HTTP client) creating N messages of the same shape (to, from, content
SID, content variables, status callback) with as many in flight as the worker's transport
(transport.CONCURRENCY); then the package's sync client, one per thread, as many threads.

Prints figures only; asserts correctness, never timings.
"""

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
from twilio.rest import Client

from jobs.channels.twilio.client import twilio_client
from jobs.channels.twilio.hook_urls import STATUS_CALLBACK_PATH
from jobs.channels.twilio.transport import CONCURRENCY
from tests.benchmarks.bench_sending import (
    BUSY_CORES,
    MIB,
    ExecutionReader,
    load_average,
    peak_rss,
)
from tests.benchmarks.cpu import CpuWatch, cpu_seconds
from tests.messaging_stack import messaging_campaign, twilio_channel_for
from tests.sending_stack import SendingStack, execution, sending_stack, stop_process
from tests.support import GraphQLClient, pk_of
from tests.twilio_standin.client import StandinHttpClient
from tests.twilio_standin.fixture import Standin, start, stop

TARGET_RATIO = 0.60
ADD_LEADS_CHUNK = 10_000  # addLeads' limit a call
POLL_S = 0.2
FIRST_POLL_S = 0.02
# A WhatsApp template body: no variable first, last or next to another (Meta's rule).
BODY = "Hi {{first_name}}, your code is {{code}}."
# The worker with production's lease (the stack's default is a short one, for tests).
WORKER_ENV = {"CLARION_SEND_LEASE_SECONDS": "60"}
# The worker reads a submitted template's approval soon (the default waits 5 s first).
APPROVAL_POLL_SECONDS = "0.4,0.8"
FINAL = {"FAILED", "CANCELLED", "PARTIALLY_COMPLETED"}


def number(i: int) -> str:
    """The i-th lead's number: distinct, valid (San Francisco) numbers for up to 8,000,000."""
    return f"+1415{2_000_000 + i:07d}"


def variables(i: int) -> dict[str, str]:
    return {"first_name": f"Name{i}", "code": f"C{i}"}


def lead_rows(start_at: int, n: int) -> list[dict[str, Any]]:
    return [
        {"phoneNumber": number(i), "customVariables": variables(i)}
        for i in range(start_at, start_at + n)
    ]


def approved_content(standin: Standin) -> str:
    """A Content resource with the campaign's body at the stand-in, approved for WhatsApp
    at once (its approval plan); its SID."""
    standin.control.approval_plan("approved")
    auth = (standin.account_sid, standin.auth_token)
    with httpx.Client(base_url=standin.base_url, auth=auth, timeout=10) as http:
        created = http.post(
            "/v1/Content",
            json={"language": "en", "types": {"twilio/text": {"body": BODY}}},
        )
        created.raise_for_status()
        sid: str = created.json()["sid"]
        http.post(
            f"/v1/Content/{sid}/ApprovalRequests/whatsapp",
            json={"name": "bench", "category": "UTILITY"},
        ).raise_for_status()
    return sid


def check_arrived(standin: Standin, n: int) -> None:
    """Exactly one message to each of the first `n` leads' numbers, and nothing else."""
    counts = standin.control.counts()
    assert counts["total"] == n, f"the stand-in holds {counts['total']} messages, not {n}"
    expected = {f"whatsapp:{number(i)}" for i in range(n)}
    assert set(counts["by_to"]) == expected, "the stand-in's recipients are not the leads"
    assert set(counts["by_to"].values()) == {1}, "a number got more than one message"


async def submit_for_approval(client: GraphQLClient, standin: Standin, campaign_id: str) -> None:
    """submitCampaignForApproval: Clarion makes the Content resource at the stand-in and
    asks for its approval, which the stand-in grants at once (its approval plan); a worker
    then reads it APPROVED (see wait_approved)."""
    await asyncio.to_thread(standin.control.approval_plan, "approved")
    payload = await client.mutate(
        "submitCampaignForApproval",
        {"id": campaign_id, "category": "UTILITY"},
        "campaign { approvalStatus }",
    )
    assert payload["userErrors"] == [], payload


async def wait_approved(client: GraphQLClient, campaign_id: str, within: float = 60) -> None:
    give_up = time.monotonic() + within
    while True:
        data = await client.gql(
            "query($id: ID!) { campaign(id: $id) { approvalStatus } }", {"id": campaign_id}
        )
        status = data["campaign"]["approvalStatus"]
        if status == "APPROVED":
            return
        assert status in ("RECEIVED", "PENDING"), f"approvalStatus {status}"
        assert time.monotonic() < give_up, f"not APPROVED within {within:.0f} s ({status})"
        await asyncio.sleep(0.1)


async def whatsapp_campaign(
    client: GraphQLClient, standin: Standin, n: int, rate_limit: int | None = None
) -> str:
    """A WhatsApp channel to the stand-in (`rate_limit` messages a second, none by default;
    a quota above `n`) and a draft TEXT campaign with `n` leads; its id."""
    channel = await twilio_channel_for(
        client, standin, "WHATSAPP", rateLimit=rate_limit, dailyQuota=max(1_000_000, 2 * n)
    )
    campaign = await messaging_campaign(client, channel, [], contentContext={"body": BODY})
    for at in range(0, n, ADD_LEADS_CHUNK):
        payload = await client.mutate(
            "addLeads",
            {"campaignId": campaign["id"], "leads": lead_rows(at, min(ADD_LEADS_CHUNK, n - at))},
            "campaign { totalLeads }",
        )
        assert payload["userErrors"] == [], payload["userErrors"][:3]
    total = payload["campaign"]["totalLeads"]
    assert total == n, f"totalLeads {total} != {n}"
    campaign_id: str = campaign["id"]
    return campaign_id


# --- the engine ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineRun:
    leads: int
    setup_s: float  # channel, campaign, leads through the API; approval
    start_s: float  # the startCampaign mutation
    total_s: float  # startCampaign issued → COMPLETED
    sending_s: float  # first message at the stand-in → COMPLETED
    peak_rss: int  # the worker's, bytes
    worker_cpu_us: float  # the worker's CPU per message, startCampaign → COMPLETED
    standin_cpu_us: float  # the stand-in's CPU per message, the same span
    others: float  # cores busy outside this benchmark, the same span

    @property
    def rate(self) -> float:
        return self.leads / self.total_s

    @property
    def sending_rate(self) -> float:
        return self.leads / self.sending_s if self.sending_s > 0 else 0.0


async def wait_booted(stack: SendingStack, worker: Any, within: float = 60) -> None:
    """Until the worker has connected to Redis (arq logs the server's details), then a
    moment more for it to begin polling for jobs."""
    give_up = time.monotonic() + within
    while "redis_version=" not in stack.worker_log():
        assert worker.poll() is None, f"the worker exited: {stack.worker_log()[-2000:]}"
        assert time.monotonic() < give_up, "the worker did not start"
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


async def first_arrival(standin: Standin, done: Callable[[], bool]) -> float | None:
    """time.time() when the stand-in first holds a message (polled), None if `done` first."""
    while not done():
        if (await asyncio.to_thread(standin.control.counts))["total"] > 0:
            return time.time()
        await asyncio.sleep(FIRST_POLL_S)
    return None


async def run_engine(n: int, data_dir: Path) -> EngineRun:
    standin = await asyncio.to_thread(start)
    try:
        async with sending_stack(
            data_dir, workers=0, CLARION_APPROVAL_POLL_SECONDS=APPROVAL_POLL_SECONDS
        ) as stack:
            client = await stack.client()
            try:
                return await _engine(n, stack, client, standin)
            finally:
                await client.http.aclose()
    finally:
        await asyncio.to_thread(stop, standin)


async def _engine(
    n: int, stack: SendingStack, client: GraphQLClient, standin: Standin
) -> EngineRun:
    began = time.perf_counter()
    campaign_id = await whatsapp_campaign(client, standin, n)
    await submit_for_approval(client, standin, campaign_id)
    setup_s = time.perf_counter() - began
    print(f"  setup (channel, campaign, {n} leads, approval submitted): {setup_s:.1f} s")

    worker = stack.start_worker(**WORKER_ENV)
    try:
        await wait_booted(stack, worker)
        await wait_approved(client, campaign_id)  # the worker follows the approval
        reader = ExecutionReader(stack.server.db, pk_of(campaign_id, "Campaign"))
        cpu_worker, cpu_standin = cpu_seconds(worker.pid), cpu_seconds(standin.process.pid)
        watch = CpuWatch()
        finished = False
        arrival = asyncio.create_task(first_arrival(standin, lambda: finished))
        started_at, began = time.time(), time.perf_counter()
        payload = await client.mutate(
            "startCampaign", {"id": campaign_id}, "campaign { status execution { totalContacts } }"
        )
        start_s = time.perf_counter() - began
        assert payload["userErrors"] == [], payload
        assert payload["campaign"]["execution"]["totalContacts"] == n, payload
        completed_at = await wait_completed(reader, worker, timeout=120 + n / 20)
        finished = True
        first_at = await arrival
        others = watch.others()
        cpu_worker = cpu_seconds(worker.pid) - cpu_worker
        cpu_standin = cpu_seconds(standin.process.pid) - cpu_standin
        peak = peak_rss(worker.pid)
    except BaseException:
        print(f"  execution: {(await execution(client, campaign_id))['execution']}")
        print("  the worker's log (last 60 lines):")
        print("\n".join(stack.worker_log().splitlines()[-60:]))
        raise
    finally:
        code = await stop_process(worker)
    if code != 0:
        print(f"  (the worker exited with {code}; its log:)\n{stack.worker_log()}")
    done = await execution(client, campaign_id)
    assert done["execution"]["totalSent"] == n, done
    await asyncio.sleep(0.5)  # nothing more arrives after COMPLETED
    await asyncio.to_thread(check_arrived, standin, n)
    return EngineRun(
        leads=n,
        setup_s=setup_s,
        start_s=start_s,
        total_s=completed_at - started_at,
        sending_s=completed_at - first_at if first_at is not None else 0.0,
        peak_rss=peak,
        worker_cpu_us=cpu_worker / n * 1e6,
        standin_cpu_us=cpu_standin / n * 1e6,
        others=others,
    )


async def wait_completed(
    reader: ExecutionReader,
    worker: Any,
    timeout: float,  # noqa: ASYNC109 - the loop checks the worker too
) -> float:
    """time.time() the execution completed, as the database has it."""
    give_up = time.monotonic() + timeout
    while True:
        status, completed_at = await reader()
        if status is not None and status.name == "COMPLETED":
            return completed_at.timestamp() if completed_at else time.time()
        assert status is None or status.name not in FINAL, f"execution ended {status}"
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        assert time.monotonic() < give_up, f"no COMPLETED within {timeout:.0f} s ({status})"
        await asyncio.sleep(POLL_S)


# --- the baselines ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRun:
    messages: int
    wall_s: float  # first create sent → last answer
    client_cpu_us: float  # this process' CPU per message (the client's)
    standin_cpu_us: float
    others: float

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s


def message_params(standin: Standin, content_sid: str, i: int) -> dict[str, Any]:
    """What the worker's transport gives `messages.create` for lead i of a WhatsApp
    campaign with the channel's own number (TwilioTransport._message)."""
    return {
        "to": f"whatsapp:{number(i)}",
        "from_": next(s for s in standin.senders if s.startswith("whatsapp:")),
        "status_callback": f"http://127.0.0.1:8000{STATUS_CALLBACK_PATH}?channel=1",
        "content_sid": content_sid,
        "content_variables": json.dumps(variables(i)),
    }


def measured(standin: Standin, n: int, send: Callable[[], float]) -> ClientRun:
    cpu, own, watch = cpu_seconds(standin.process.pid), time.process_time(), CpuWatch()
    wall_s = send()
    own = time.process_time() - own
    cpu, others = cpu_seconds(standin.process.pid) - cpu, watch.others()
    check_arrived(standin, n)
    return ClientRun(n, wall_s, own / n * 1e6, cpu / n * 1e6, others)


async def async_creates(standin: Standin, content_sid: str, n: int) -> float:
    """n creates through the worker's own client, CONCURRENCY in flight; the wall time."""
    client, http = twilio_client(standin.account_sid, standin.auth_token, standin.base_url)
    todo: Iterator[int] = iter(range(n))

    async def lane() -> None:
        for i in todo:
            await client.messages.create_async(**message_params(standin, content_sid, i))

    try:
        began = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
        return time.perf_counter() - began
    finally:
        await http.aclose()


def sync_creates(standin: Standin, content_sid: str, n: int) -> float:
    """n creates through the package's sync client, one per thread, CONCURRENCY threads."""

    def lane(t: int) -> None:
        client = Client(
            standin.account_sid,
            standin.auth_token,
            http_client=StandinHttpClient(standin.base_url),
        )
        for i in range(t, n, CONCURRENCY):
            client.messages.create(**message_params(standin, content_sid, i))

    began = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        list(pool.map(lane, range(CONCURRENCY)))
    return time.perf_counter() - began


def run_client(n: int, kind: str) -> ClientRun:
    standin = start()
    try:
        sid = approved_content(standin)
        if kind == "async":
            return measured(standin, n, lambda: asyncio.run(async_creates(standin, sid, n)))
        return measured(standin, n, lambda: sync_creates(standin, sid, n))
    finally:
        stop(standin)


# --- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    engine: list[EngineRun]
    async_client: ClientRun
    sync_client: ClientRun | None


async def measure_engine(n: int) -> EngineRun:
    print(f"\nengine, {n} leads (load average {load_average()})")
    with tempfile.TemporaryDirectory(prefix="clarion-bench-twilio-", dir="/tmp") as tmp:
        run = await run_engine(n, Path(tmp))
    print(
        f"  startCampaign {run.start_s:.2f} s; COMPLETED {run.total_s:.2f} s after it "
        f"({run.rate:.0f} msg/s); first message → COMPLETED {run.sending_s:.2f} s "
        f"({run.sending_rate:.0f} msg/s); worker peak RSS {run.peak_rss / MIB:.1f} MiB"
    )
    return run


def measure_client(n: int, kind: str) -> ClientRun:
    print(
        f"\nbaseline, the twilio package's {kind} client, {n} creates, {CONCURRENCY} "
        f"{'in flight' if kind == 'async' else 'threads'} (load average {load_average()})"
    )
    run = run_client(n, kind)
    print(f"  {run.wall_s:.2f} s ({run.rate:.0f} msg/s)")
    return run


def run(leads: int, big: int, sync: bool) -> Figures:
    engine = [asyncio.run(measure_engine(leads))]
    async_client = measure_client(leads, "async")
    sync_client = measure_client(leads, "sync") if sync else None
    if big:
        engine.append(asyncio.run(measure_engine(big)))
    return Figures(engine, async_client, sync_client)


def print_summary(f: Figures) -> None:
    small, base = f.engine[0], f.async_client
    # name, msg/s, the sender's CPU µs/msg, the stand-in's, other load
    rows = [
        (
            "one `clarion worker`",
            small.rate,
            small.worker_cpu_us,
            small.standin_cpu_us,
            small.others,
        ),
        ("  (first message → COMPLETED)", small.sending_rate, None, None, None),
        (
            "twilio async client alone",
            base.rate,
            base.client_cpu_us,
            base.standin_cpu_us,
            base.others,
        ),
    ]
    if (sync := f.sync_client) is not None:
        rows.append(
            (
                "twilio sync client, threads",
                sync.rate,
                sync.client_cpu_us,
                sync.standin_cpu_us,
                sync.others,
            )
        )
    print(
        f"\n{small.leads} WhatsApp messages, {CONCURRENCY} in flight, to the stand-in (own process)"
    )
    header = (
        f"{'':30} | {'msg/s':>6} | {'sender CPU µs/msg':>17} | {'stand-in CPU µs/msg':>19} | "
        f"{'other load':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, rate, own, theirs, others in rows:
        cells = ["" if x is None else f"{x:.0f}" for x in (own, theirs)]
        load = "" if others is None else f"{others:.2f}"
        print(f"{name:30} | {rate:6.0f} | {cells[0]:>17} | {cells[1]:>19} | {load:>10}")
    ratio = small.rate / base.rate
    mark = "" if round(ratio, 2) >= TARGET_RATIO else "  (below target)"
    print(
        f"worker / async client: {ratio:.2f} (target ≥ {TARGET_RATIO:.2f}){mark}; first message "
        f"→ COMPLETED: {small.sending_rate / base.rate:.2f}"
    )
    if f.sync_client is not None:
        print(f"worker / sync client: {small.rate / f.sync_client.rate:.2f}")
    print(
        "msg/s: the worker's N / (startCampaign issued → COMPLETED), the clients' N / (first "
        "create → last answer). Other load: cores kept busy by processes outside this "
        "benchmark meanwhile."
    )
    if max(small.others, base.others) > BUSY_CORES:
        print(f"WARNING: other processes used over {BUSY_CORES} of a core: the figures are skewed")

    print(f"\n{'leads':>7} | {'msg/s':>6} | {'worker peak RSS':>15} | {'start→COMPLETED':>15}")
    for e in f.engine:
        print(f"{e.leads:7} | {e.rate:6.0f} | {e.peak_rss / MIB:11.1f} MiB | {e.total_s:13.2f} s")
    if len(f.engine) > 1:
        big = f.engine[-1]
        print(
            f"worker peak RSS at {big.leads} / at {small.leads}: "
            f"{big.peak_rss / small.peak_rss:.2f} (target: flat, ~1.00)"
        )


def versions() -> str:
    """The HTTP stack's versions: they move both rates. Without sniffio, httpcore tries to
    import it (and fails) several times a request: about a quarter of the client's CPU."""
    found = []
    for name in ("twilio", "httpx", "httpcore", "anyio", "sniffio"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leads", type=int, default=20_000, help="default 20000")
    parser.add_argument(
        "--big", type=int, default=100_000, help="a second campaign, for memory (0: none)"
    )
    parser.add_argument("--no-sync", action="store_true", help="skip the sync client baseline")
    args = parser.parse_args(argv)
    if not 2 <= args.leads <= 1_000_000 or not (args.big == 0 or 2 <= args.big <= 1_000_000):
        parser.error("--leads and --big must be in 2..1000000 (--big 0: none)")
    print(versions())
    began = time.perf_counter()
    print_summary(run(args.leads, args.big, not args.no_sync))
    print(f"benchmark wall time: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
