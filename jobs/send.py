"""A run of a campaign, in chunks from the delivery ledger; the send job adopts it into the
worker's runs (jobs/run_set.py), so a run holds no arq job slot.

Each chunk: wait for its turn (the campaign's spreading, then its place in the channel's
shared window), claim due rows under a lease in a short transaction, prepare and send them
outside any transaction at once, record the results in another. A recipient must still
consent to the channel when its message goes: the claim reads it with its rows, right
before sending, and one query for the batch reads it again when time has passed since (a
big batch's rendering, a busy worker, an earlier batch of the channel gone late): a
withdrawal before a row's send keeps it unsent. The claim checks that the campaign may
still send, so a pause or cancel stops it within a chunk (a second at most). A run lasts
at most `SLICE_S`, then hands over to a fresh job (on any worker); a run that has nothing
due ends, and the sweeper queues the campaign again when something is.

What a batch's messages are and how they go out is the campaign's channel family's
(jobs/channels: a `Transport` per run); everything else here is the same for every family.

Nothing the channel's server accepted goes unrecorded: a batch's results are written until the
write succeeds (with backoff), in a task shielded from the job's cancellation that the
worker's shutdown waits for; and a batch only starts while the job has the time it can
need left (see JOB_TIMEOUT_S). Times that other processes compare (leases, quota days,
halts) come from the database's clock.
"""

import asyncio
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from arq.connections import ArqRedis
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, ProgrammingError

from db.clock import db_now
from db.engine import Database
from db.enums import ExecutionStatus
from db.quota import used_up
from db.settings import SendSettings
from db.types import utcnow
from db.usecases import executions, ledger
from db.usecases.send_plan import SendPlan, may_send, start_run
from jobs.channels.base import (
    MESSAGE_TIMEOUT_S,
    ContentBroken,
    Outcome,
    Prepared,
    Recipient,
    SendResult,
    Transport,
)
from jobs.channels.registry import Families
from jobs.lanes import FOLLOWS, Lane
from jobs.lead_events import tell
from jobs.ledger_groups import LedgerGroups
from jobs.pacing import (
    ChannelPacer,
    Turn,
    batch_size,
    effective_rate,
    spread_rate,
    spread_slot,
)
from jobs.progress import count_sent, publish
from jobs.progress_throttle import publish_soon
from jobs.queue import enqueue_send, queued_marker
from jobs.run_set import RunSet
from jobs.runner_lock import RunnerLock

log = logging.getLogger(__name__)

# A run starts batches for this long, then hands over to a new job.
SLICE_S = 60.0
# At most this long before its time in the channel's window a batch is claimed (see Lead).
LEAD_MAX_S = 0.04
# A wait for the channel's window longer than this checks, as it goes, that the campaign
# may still send (a shorter one is followed by the claim, which checks it).
WATCHED_WAIT_S = 2.0
# A batch is not sent unless sends may start for at least this long.
MIN_SEND_WINDOW_S = 10.0
# Kept free at the end of a job for recording its last batch and handing over.
RECORD_MARGIN_S = 15.0
# How long a run may last: a batch that starts at the end of the slice still has its
# sending window, its slowest message and the recording; sends may start only until
# JOB_TIMEOUT_S - RECORD_MARGIN_S - MESSAGE_TIMEOUT_S (see `send_by`). Also the timeout of
# the worker's cron jobs.
JOB_TIMEOUT_S = int(SLICE_S + MIN_SEND_WINDOW_S + MESSAGE_TIMEOUT_S + RECORD_MARGIN_S)
# Backoff of a batch's recording while the database refuses it.
RECORD_RETRY_S = (0.2, 5.0)  # first wait, longest wait
_TRANSIENT = (DBAPIError, OSError, TimeoutError)
# Refusals of the statement itself, which the same write meets again however long it
# waits: a value the column cannot hold, a broken constraint, SQL the database rejects.
# asyncpg's data exceptions reach SQLAlchemy as a bare DBAPIError: their SQLSTATE class
# (22 data exception, 23 integrity constraint violation, 42 syntax error or access rule
# violation) tells them apart from a lost connection or a lock timeout.
_PERMANENT = (DataError, IntegrityError, ProgrammingError)
_PERMANENT_SQLSTATE = ("22", "23", "42")
CONTROL_INTERVAL_S = 0.5
# A pacing wait longer than this is followed by a check that the campaign may still send,
# and this long after a claim its consent check is made again before sending (a shorter
# time is no longer than the claim's own check takes).
RECHECK_AFTER_S = 0.05
# Failed or deferred deliveries in a row that halt the execution rather than burn through
# the audience (a server refusing everything, or throttling us).
ERRORS_IN_A_ROW = 20


@dataclass
class WorkerContext:
    """What send jobs share in one worker process; made at worker start-up."""

    db: Database
    redis: ArqRedis
    settings: SendSettings
    public_url: str
    # The channel families this worker sends through (jobs/channels/registry.py).
    families: Families
    pacer: ChannelPacer
    # Claims and recordings of all the runs, written in groups (jobs/ledger_groups.py).
    ledger: LedgerGroups
    # The campaigns this worker sends (jobs/run_set.py).
    runs: RunSet
    # The approval follows' lane (jobs/lanes.py).
    follows: Lane = field(default_factory=lambda: Lane(*FOLLOWS))
    # Set when the worker stops: runs end after their chunk and hand over.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    # Batches' results being written: shutdown waits for them (see `drain`).
    recording: set["asyncio.Task[None]"] = field(default_factory=set)

    def keep_until_done(self, write: Awaitable[None]) -> "asyncio.Task[None]":
        task = asyncio.ensure_future(write)
        self.recording.add(task)
        task.add_done_callback(self.recording.discard)
        return task

    async def drain(self) -> None:
        """Waits until every batch's results are recorded."""
        while self.recording:
            await asyncio.wait(set(self.recording))


class RunEnd(StrEnum):
    NOT_RUNNING = "not running"  # paused, cancelled, halted or never started
    SETTLED = "settled"  # every recipient attempted: the execution is final
    FAILED = "failed"  # its content cannot be sent (over the render budget): it failed
    HALTED = "halted"  # quota, unreachable channel or errors in a row: see next_run_at
    WAITING = "waiting"  # only retries or others' leases left, not due in this run
    IDLE = "idle"  # a service campaign sent every trigger: the next trigger queues it
    HANDOVER = "handover"  # the slice is over or the worker stops: a new job continues


async def send_campaign(ctx: dict[str, Any], campaign_id: int) -> str:
    """The arq job: adopts the campaign into this worker's runs and ends. Idempotent: any
    number of them, on any workers, send each row once (one runner at a time, and only a
    row's claim can record it)."""
    wc: WorkerContext = ctx["clarion"]
    await wc.redis.delete(queued_marker(campaign_id))

    async def run(lock: RunnerLock) -> None:
        job_end = time.monotonic() + JOB_TIMEOUT_S
        end = await CampaignRun(wc, campaign_id, lock, job_end).run()
        log.debug("run of campaign %s ended: %s", campaign_id, end.value)
        if end is RunEnd.HANDOVER:
            await enqueue_send(wc.redis, campaign_id)

    return await wc.runs.adopt(campaign_id, run)


@dataclass
class Progress:
    """A run's figures: what is left, how fast the server takes messages, errors in a row."""

    left: int  # rows neither sent nor failed
    sent: int = 0
    started: float = field(default_factory=time.monotonic)
    throughput: float | None = None  # messages per second the server took, last batch
    errors_in_a_row: int = 0  # failed or deferred deliveries since the last one sent
    # Units a message takes against the rate limit (an SMS's segments), last batch.
    units_per_row: float = 1.0
    last_error: str = ""
    # When the last batch was due, for spreading over a duration (see spread_slot).
    spread_from: datetime = field(default_factory=utcnow)

    def count(
        self,
        rows: list[ledger.Claimed],
        prepared: list[Prepared | SendResult],
        results: list[SendResult],
        seconds: float,
    ) -> ledger.Results:
        """Takes in a batch's results; returns its rows sorted by what happened to them.

        `prepared` has a row's message, or its result when it had none to send (its
        content failed); `results` are those of the messages, in order.
        """
        if results:  # a batch with nothing to send (all opted out) says nothing of the server
            self.throughput = len(results) / max(seconds, 1e-3)
        delivered = iter(results)
        out = ledger.Results()
        for row, ready in zip(rows, prepared, strict=True):
            result = ready if isinstance(ready, SendResult) else next(delivered)
            if result.provider_id:
                out.provider_ids[row.id] = result.provider_id
            if result.error_code:
                out.error_codes[row.id] = result.error_code
            if result.outcome is Outcome.SENT:
                out.sent.append(row.id)
                if result.only_copy:
                    out.only_copy.append(row.id)
                self.errors_in_a_row = 0
                continue
            if result.outcome is Outcome.UNSENT:
                out.released.append(row.id)
                continue
            if result.outcome is Outcome.OPTED_OUT:  # the recipient's choice: no error
                out.opted_out.append((row.id, result.reason))
                continue
            bucket = {
                Outcome.FAILED: out.failed,
                Outcome.UNKNOWN: out.unknown,
            }.get(result.outcome, out.retry)
            bucket.append((row.id, result.reason))
            self.errors_in_a_row += 1
            self.last_error = result.reason
        self.sent += len(out.sent)
        self.left -= len(out.sent) + len(out.failed) + len(out.opted_out)
        return out

    def eta(self, most_per_second: float | None) -> timedelta | None:
        """How long the rest should take at this run's pace so far, no faster than
        `most_per_second` (the channel's limit: paced batches go out at once, and a run's
        first seconds look faster than its pace)."""
        if not self.sent:
            return None
        per_second = self.sent / max(time.monotonic() - self.started, 1e-3)
        if most_per_second is not None:
            per_second = min(per_second, most_per_second)
        return timedelta(seconds=max(self.left, 0) / per_second)


@dataclass
class Lead:
    """How long before its time a batch is claimed and prepared: what that has taken of
    late, at most LEAD_MAX_S (so that the consent its claim read is fresh when it goes)."""

    seconds: float = 0.0

    def took(self, seconds: float) -> None:
        self.seconds = min(0.8 * self.seconds + 0.2 * seconds, LEAD_MAX_S)


@dataclass(frozen=True)
class Booking:
    """A batch's place in its channel's window, due at `due` (monotonic)."""

    turn: Turn
    due: float

    @property
    def units(self) -> int:
        return self.turn.units


class CampaignRun:
    def __init__(
        self, wc: WorkerContext, campaign_id: int, lock: RunnerLock, job_end: float
    ) -> None:
        self.wc = wc
        self.campaign_id = campaign_id
        self.lock = lock
        self.slice_end = time.monotonic() + SLICE_S
        # The last moment a send may start for its message to end before the job's
        # timeout with the recording's margin to spare.
        self.send_by = job_end - RECORD_MARGIN_S - MESSAGE_TIMEOUT_S
        self.lead = Lead()

    async def run(self) -> RunEnd:
        async with self.wc.db.write() as session:
            plan = await start_run(session, self.campaign_id, await db_now(session))
        if plan is None:
            await publish(self.wc.db, self.wc.redis, self.campaign_id)  # may have halted
            return RunEnd.NOT_RUNNING
        await publish(self.wc.db, self.wc.redis, self.campaign_id)
        try:
            return await self._chunks(plan)
        finally:
            async with self.wc.db.write() as session:
                await executions.end_run(session, self.campaign_id, await db_now(session))
            await publish(self.wc.db, self.wc.redis, self.campaign_id)

    async def _chunks(self, plan: SendPlan[Any]) -> RunEnd:
        family = self.wc.families[plan.family]
        await family.before_run(plan)  # may halt it: the first claim then ends the run
        transport = await family.open(plan.channel_id, plan.settings)
        try:
            return await self._batches(plan, transport)
        finally:
            await transport.close()

    async def _batches(self, plan: SendPlan[Any], transport: Transport) -> RunEnd:
        lease = timedelta(seconds=self.wc.settings.lease_seconds)
        async with self.wc.db.read() as session:
            progress = Progress((await executions.backlog(session, self.campaign_id)).left)

        while True:
            if (end := self._must_end()) is not None:
                return end
            if progress.left <= 0:  # all sent or failed, as far as this run knows: settle
                end, progress.left = await self._settle_or_wait()
                if end is not None:
                    return end
                continue
            now = utcnow()
            limit = None if plan.rate_limit is None else plan.rate_limit / progress.units_per_row
            rate = effective_rate(limit, spread_rate(progress.left, plan.deadline, now))
            n = batch_size(rate, progress.throughput)
            slot = spread_slot(progress.spread_from, progress.left, n, plan.deadline)
            if slot is not None:
                progress.spread_from = slot
                if (end := await self._wait((slot - utcnow()).total_seconds())) is not None:
                    return end

            if time.monotonic() + MIN_SEND_WINDOW_S > self.send_by:
                return RunEnd.HANDOVER  # not enough of the job's time left for a batch
            # Its place in the channel's window first, then the claim: what is claimed goes
            # out at once, with the consent its claim read.
            units = math.ceil(n * progress.units_per_row)
            turn = await self._turn(plan, units, transport.pacing_window_s)
            if isinstance(turn, RunEnd):
                return turn
            if turn is not None:  # the rows its room holds
                n = max(1, min(n, int(turn.units / progress.units_per_row)))
            token = secrets.token_hex(8)
            claiming = time.monotonic()
            claim = await self.wc.ledger.claim(ledger.ClaimRequest(plan, n, token))
            claimed_at = time.monotonic()
            start_by = min(time.monotonic() + lease.total_seconds() / 2, self.send_by)
            if claim.stop is not None:
                await self._give_back(turn, 0)
            if claim.stop is ledger.Stop.NOT_RUNNING:
                return RunEnd.NOT_RUNNING
            if claim.stop is ledger.Stop.QUOTA:
                reason = used_up(plan.quota_window, plan.daily_quota)
                return await self._halt(_at(claim.frees_at), reason)
            if claim.stop is ledger.Stop.NOTHING_DUE:
                end, progress.left = await self._settle_or_wait()
                if end is not None:
                    return end
                continue

            try:
                prepared = await transport.prepare([_recipient(row) for row in claim.rows])
            except ContentBroken as exc:
                await self._give_back(turn, 0)
                return await self._fail(plan, token, claim.rows, str(exc))
            if turn is not None:
                prepared = await self._within(turn, prepared, progress)
            self.lead.took(time.monotonic() - claiming)
            await self._until(plan, turn, transport.pacing_window_s)
            # The claim checked consent; time enough since then (rendering a big batch, a
            # busy worker, an earlier batch gone late) for a withdrawal to land, and it is
            # checked again.
            fresh = time.monotonic() - claimed_at <= RECHECK_AFTER_S
            gone = claim.withdrawn() if fresh else await self._without_consent(plan, claim)
            rows, prepared, withdrawn = _leave_out(gone, claim.rows, prepared)
            messages = [m for m in prepared if not isinstance(m, SendResult)]
            sending = time.monotonic()
            results: list[SendResult] = []
            halt = None
            if messages:
                results, halt = await transport.send(messages, _before(start_by))
            await self._keep_distance(turn, sending, transport.pacing_window_s)
            outcome = progress.count(rows, prepared, results, time.monotonic() - sending)
            outcome.withdrawn = withdrawn
            progress.left -= len(withdrawn)
            pace = None if limit is None else limit / transport.pacing_window_s
            eta = None if plan.deadline else progress.eta(pace)
            await self._record(plan, token, outcome, eta)
            await count_sent(self.wc.redis, self.campaign_id, len(outcome.sent))
            if plan.has_leads:  # one message for the batch's leads
                await tell(self.wc.redis, plan.account_id, {self.campaign_id: _tried(outcome)})
            publish_soon(self.wc.db, self.wc.redis, self.campaign_id)
            if halt is not None:
                return await self._halt(self._after(halt.retry_after_s), halt.reason)
            if progress.errors_in_a_row >= ERRORS_IN_A_ROW:
                reason = f"{progress.errors_in_a_row} deliveries in a row failed or were deferred"
                return await self._halt(self._after(), f"{reason}; last: {progress.last_error}")

    async def _turn(
        self, plan: SendPlan[Any], units: int, window_s: float
    ) -> Booking | RunEnd | None:
        """Books `units` in the channel's window (None without a rate limit) and waits for
        their time; then checks that there is time left to send them. A long wait checks
        as it goes that the campaign may still send; the claim that follows a short one
        checks it. A RunEnd: the room went back, end the run."""
        if plan.rate_limit is None:
            return None
        turn = await self.wc.pacer.reserve(plan.channel_key, plan.rate_limit, units, window_s)
        booked = Booking(turn, time.monotonic() + turn.wait_s)
        # Woken early by the time its claim and preparing take, to send on time.
        wait = max(turn.wait_s - self.lead.seconds, 0.0)
        if wait > WATCHED_WAIT_S:
            end = await self._wait(wait)  # checks as it waits
        else:
            await asyncio.sleep(wait)
            end = self._must_end()
        if end is None and time.monotonic() + MIN_SEND_WINDOW_S > self.send_by:
            end = RunEnd.HANDOVER
        if end is not None:
            await self._give_back(booked, 0)
            return end
        return booked

    async def _within(
        self, booked: Booking, prepared: list[Prepared | SendResult], progress: "Progress"
    ) -> list[Prepared | SendResult]:
        """The batch as its booking holds it: the messages whose units (an SMS's segments)
        fit, in order, and at least one; the others go back for a later batch, and the
        room left over goes back to the channel."""
        used = 0
        kept: list[Prepared | SendResult] = []
        for ready in prepared:
            if isinstance(ready, SendResult):
                kept.append(ready)
            elif used + ready.units <= booked.units or used == 0:
                used += ready.units
                kept.append(ready)
            else:
                kept.append(LATER)
        rows = sum(1 for ready in prepared if not isinstance(ready, SendResult))
        if rows:
            progress.units_per_row = (
                sum(m.units for m in prepared if not isinstance(m, SendResult)) / rows
            )
        await self._give_back(booked, used)
        return kept

    async def _give_back(self, booked: Booking | None, units: int) -> None:
        if booked is not None and units < booked.units:
            await self.wc.pacer.shrink(booked.turn, units)

    async def _until(self, plan: SendPlan[Any], booked: Booking | None, window_s: float) -> None:
        """Waits for the batch's time when it is ready early, then confirms its place in
        the window (and waits more in the rare case that an earlier batch went late)."""
        if booked is None or plan.rate_limit is None:  # booked only under a rate limit
            return
        if (early := booked.due - time.monotonic()) > 0:
            await asyncio.sleep(early)
        if wait := await self.wc.pacer.confirm(booked.turn, plan.rate_limit, window_s):
            await asyncio.sleep(wait)

    async def _keep_distance(self, booked: Booking | None, sent_at: float, window_s: float) -> None:
        """A batch whose last message went out later than its start plus the window's
        margin over a second moves its place in the window on by as much (jobs/pacing.py)."""
        if booked is not None and (late := time.monotonic() - sent_at - (window_s - 1)) > 0:
            await self.wc.pacer.late(booked.turn, late)

    async def _without_consent(self, plan: SendPlan[Any], claim: ledger.Claim) -> frozenset[int]:
        """The claimed rows whose contact withdrew consent for the channel by now (a STOP,
        an unsubscribe, an API change while the batch waited for its turn), through the
        plan's consent column whatever the family: one query, the last thing before sending."""
        async with self.wc.db.read() as session:
            return frozenset(await ledger.without_consent(session, plan, claim.ids()))

    async def _record(
        self,
        plan: SendPlan[Any],
        token: str,
        results: ledger.Results,
        eta: timedelta | None,
    ) -> None:
        """Records a batch's results, retrying until the database takes them. The write
        runs in a task of its own: cancelling this job (arq's timeout) does not cancel it,
        and the worker's shutdown waits for it (WorkerContext.drain)."""
        task = self.wc.keep_until_done(self._record_until_done(plan, token, results, eta))
        await asyncio.shield(task)

    async def _record_until_done(
        self,
        plan: SendPlan[Any],
        token: str,
        results: ledger.Results,
        eta: timedelta | None,
    ) -> None:
        wait, longest = RECORD_RETRY_S
        while True:
            try:
                await self.wc.ledger.record(ledger.Recording(plan, token, results, eta))
                return
            except _TRANSIENT as exc:
                if cannot_succeed(exc):
                    # The whole write rolled back: nothing of the batch is recorded, and
                    # its rows stay as the claim left them (sending, this claim's token
                    # and lease). That is the state a worker that died after sending
                    # leaves, and what recovers from it recovers from this: when the lease
                    # runs out the next claim takes the rows back as possible duplicates,
                    # and a family that can look a message up (Twilio) finds the one sent
                    # and records it without sending again (email sends again, flagged).
                    # Retrying instead would hold this run, and the worker's shutdown that
                    # waits for recordings, for ever.
                    log.error(
                        "campaign %s: the database refused a batch's results (%s); its "
                        "%d row(s) stay claimed until their lease runs out",
                        self.campaign_id,
                        exc,
                        len(results.claimed()),
                    )
                    return
                log.warning(
                    "campaign %s: recording a batch failed (%s); retrying in %.1fs",
                    self.campaign_id,
                    exc,
                    wait,
                )
            await asyncio.sleep(wait)
            wait = min(wait * 2, longest)

    def _must_end(self) -> RunEnd | None:
        if self.wc.stopping.is_set() or not self.lock.held or time.monotonic() > self.slice_end:
            return RunEnd.HANDOVER
        return None

    async def _wait(self, seconds: float) -> RunEnd | None:
        """Sleeps, checking at least every CONTROL_INTERVAL_S that sending may go on."""
        give_up = time.monotonic() + seconds
        while (left := give_up - time.monotonic()) > 0:
            await asyncio.sleep(min(left, CONTROL_INTERVAL_S))
            if (end := self._must_end()) is not None:
                return end
            async with self.wc.db.read() as session:
                if not await may_send(session, self.campaign_id):
                    return RunEnd.NOT_RUNNING
        return None

    async def _settle_or_wait(self) -> tuple[RunEnd | None, int]:
        """Nothing was due: settle the execution, or wait for the next due row if it comes
        within this run. Returns how to end (None: go on) and the rows left."""
        async with self.wc.db.write() as session:
            now = await db_now(session)
            settled = await executions.settle(session, self.campaign_id, now)
            if settled is ExecutionStatus.PROCESSING:  # open until cancelled (db/kinds)
                return RunEnd.IDLE, 0
            if settled is not None:
                return RunEnd.SETTLED, 0
        async with self.wc.db.read() as session:
            backlog = await executions.backlog(session, self.campaign_id)
            now = await db_now(session)
        if backlog.left == 0:  # settled by someone else, or cancelled meanwhile
            return RunEnd.NOT_RUNNING, 0
        wait = (backlog.next_at - now).total_seconds() if backlog.next_at else 0.5
        if time.monotonic() + wait > self.slice_end:
            return RunEnd.WAITING, backlog.left
        return await self._wait(max(wait, 0.05)), backlog.left

    def _after(self, seconds: float | None = None) -> Callable[[datetime], datetime]:
        """When a halted execution continues: after `seconds`, or the usual halt delay."""
        wait = timedelta(seconds=self.wc.settings.halt_seconds if seconds is None else seconds)
        return lambda now: now + wait

    async def _fail(
        self, plan: SendPlan[Any], token: str, rows: list[ledger.Claimed], reason: str
    ) -> RunEnd:
        """Ends the execution as failed: the claimed rows go back (their quota too), then
        every row left fails with the reason."""
        log.warning("campaign %s failed: %s", self.campaign_id, reason)
        released = ledger.Results(released=[row.id for row in rows])
        async with self.wc.db.write() as session:
            now = await db_now(session)
            await ledger.record(session, plan, token, released, now, (), None)
            await executions.fail(session, self.campaign_id, now, reason)
        return RunEnd.FAILED

    async def _halt(self, until: Callable[[datetime], datetime], reason: str) -> RunEnd:
        """Halts the execution until `until(now)`, now by the database's clock."""
        async with self.wc.db.write() as session:
            now = await db_now(session)
            await executions.halt(session, self.campaign_id, now, until(now), reason)
        log.warning("campaign %s halted until %s: %s", self.campaign_id, until(now), reason)
        return RunEnd.HALTED


def cannot_succeed(exc: BaseException) -> bool:
    """True when the database refused a write for what it holds, not for a passing state
    (see _PERMANENT)."""
    if isinstance(exc, _PERMANENT):
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in _PERMANENT_SQLSTATE


def _leave_out(
    gone: frozenset[int], rows: list[ledger.Claimed], prepared: list[Prepared | SendResult]
) -> tuple[list[ledger.Claimed], list[Prepared | SendResult], list[int]]:
    """The batch less the rows in `gone` (their contact withdrew consent: recorded opted
    out, never sent), and those rows' ids."""
    if not gone:
        return rows, prepared, []
    kept = [(row, ready) for row, ready in zip(rows, prepared, strict=True) if row.id not in gone]
    log.info("%d recipient(s) withdrew consent before their send", len(gone))
    return [row for row, _ in kept], [ready for _, ready in kept], sorted(gone)


# A claimed row its batch's booking has no room for (an SMS longer than the others).
LATER = SendResult(Outcome.UNSENT, "its turn comes with a later batch")


def _recipient(row: ledger.Claimed) -> Recipient:
    return Recipient(
        id=row.id,
        contact_id=row.contact_id,
        address=row.address,
        message_id=row.message_id,
        variables=row.variables or {},
        possible_duplicate=row.possible_duplicate,
        first_claimed_at=row.first_claimed_at,
        contact=row.contact,
    )


def _tried(results: ledger.Results) -> list[int]:
    """The batch's rows that changed: sent, failed, opted out, or failed for now (its error
    shown; failed for good once its retries run out). Released rows are as they were."""
    settled = (*results.failed, *results.retry, *results.unknown, *results.opted_out)
    return [*results.sent, *(row_id for row_id, _ in settled)]


def _before(deadline: float) -> Callable[[], bool]:
    """Sends may start until `deadline` (monotonic): half the lease, so that none is still
    under way when the lease runs out and another run could take the row back."""
    return lambda: time.monotonic() < deadline


def _at(when: datetime | None) -> Callable[[datetime], datetime]:
    assert when is not None
    return lambda _: when
