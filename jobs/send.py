"""The send job: one run of a campaign, in chunks from the delivery ledger.

Each chunk: wait for its turn (the campaign's spreading, then the channel's shared rate
limit), claim due rows under a lease in a short transaction, render and send them outside
any transaction, record the results in another. Between chunks the run checks that the
campaign may still send, so a pause or cancel stops it within a chunk (well under a
second at any rate). A run lasts at most `SLICE_S`, then hands over to a fresh job, so
arq's job timeout stays short; a run that has nothing due ends, and the sweeper queues
the campaign again when something is.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime
from enum import StrEnum
from typing import Any

from arq.connections import ArqRedis

from db.engine import Database
from db.settings import SendSettings
from db.types import utcnow
from db.unsubscribe import make_token
from db.usecases import executions, ledger
from db.usecases.send_plan import SendPlan, may_send, start_run
from jobs.mime import Envelope, MessageFactory, domain_of
from jobs.pacing import ChannelPacer, batch_size, effective_rate, spread_rate, spread_slot
from jobs.progress import count_sent, publish
from jobs.queue import enqueue_send, queued_marker
from jobs.render import Rendered, TemplateSource, contact_context
from jobs.render_pool import OverBudget, RenderError, RenderPool, budget_text
from jobs.runner_lock import RunnerLock, campaign_runner
from jobs.smtp import Outcome, SendResult, SmtpPools

log = logging.getLogger(__name__)

SLICE_S = 60.0
CONTROL_INTERVAL_S = 0.5
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
    signing_key: bytes
    pools: SmtpPools
    pacer: ChannelPacer
    # Renders messages in child processes, within the render budget (jobs/render_pool.py).
    renderer: RenderPool
    # Set when the worker stops: runs end after their chunk and hand over.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def unsubscribe_url(self, contact_id: int, delivery_id: int) -> str:
        token = make_token(self.signing_key, contact_id, delivery_id)
        return f"{self.public_url}/unsubscribe/{token}"


class RunEnd(StrEnum):
    NOT_RUNNING = "not running"  # paused, cancelled, halted or never started
    SETTLED = "settled"  # every recipient attempted: the execution is final
    FAILED = "failed"  # its template is over the render budget: the execution failed
    HALTED = "halted"  # quota, unreachable server or errors in a row: see next_run_at
    WAITING = "waiting"  # only retries or others' leases left, not due in this run
    HANDOVER = "handover"  # the slice is over or the worker stops: a new job continues


async def send_campaign(ctx: dict[str, Any], campaign_id: int) -> str:
    """The arq job. Idempotent: any number of them, on any workers, send each row once."""
    wc: WorkerContext = ctx["clarion"]
    await wc.redis.delete(queued_marker(campaign_id))
    async with campaign_runner(wc.redis, campaign_id) as lock:
        if lock is None:
            return "another runner has the campaign"
        end = await CampaignRun(wc, campaign_id, lock).run()
    if end is RunEnd.HANDOVER:
        await enqueue_send(wc.redis, campaign_id)
    return end.value


@dataclass
class Progress:
    """A run's figures: what is left, how fast the server takes messages, errors in a row."""

    left: int  # rows neither sent nor failed
    sent: int = 0
    started: float = field(default_factory=time.monotonic)
    throughput: float | None = None  # messages per second the server took, last batch
    errors_in_a_row: int = 0  # failed or deferred deliveries since the last one sent
    last_error: str = ""
    # When the last batch was due, for spreading over a duration (see spread_slot).
    spread_from: datetime = field(default_factory=utcnow)

    def count(
        self,
        rows: list[ledger.Claimed],
        prepared: list[Envelope | SendResult],
        results: list[SendResult],
        seconds: float,
    ) -> ledger.Results:
        """Takes in a batch's results; returns its rows sorted by what happened to them.

        `prepared` has a row's message, or its result when it had none to send (its
        template failed); `results` are those of the messages, in order.
        """
        self.throughput = len(results) / max(seconds, 1e-3)
        delivered = iter(results)
        out = ledger.Results()
        for row, ready in zip(rows, prepared, strict=True):
            result = next(delivered) if isinstance(ready, Envelope) else ready
            if result.outcome is Outcome.SENT:
                out.sent.append(row.id)
                self.errors_in_a_row = 0
            elif result.outcome is Outcome.UNSENT:
                out.released.append(row.id)
                continue
            else:
                bucket = out.failed if result.outcome is Outcome.FAILED else out.retry
                bucket.append((row.id, result.reason))
                self.errors_in_a_row += 1
                self.last_error = result.reason
        self.sent += len(out.sent)
        self.left -= len(out.sent) + len(out.failed)
        return out

    def eta(self) -> datetime | None:
        """When the rest should be sent at this run's pace so far."""
        if not self.sent:
            return None
        per_second = self.sent / max(time.monotonic() - self.started, 1e-3)
        return utcnow() + timedelta(seconds=max(self.left, 0) / per_second)


class CampaignRun:
    def __init__(self, wc: WorkerContext, campaign_id: int, lock: RunnerLock) -> None:
        self.wc = wc
        self.campaign_id = campaign_id
        self.lock = lock
        self.slice_end = time.monotonic() + SLICE_S

    async def run(self) -> RunEnd:
        async with self.wc.db.write() as session:
            plan = await start_run(session, self.campaign_id, utcnow())
        if plan is None:
            return RunEnd.NOT_RUNNING
        await publish(self.wc.db, self.wc.redis, self.campaign_id)
        try:
            return await self._chunks(plan)
        finally:
            async with self.wc.db.write() as session:
                await executions.end_run(session, self.campaign_id, utcnow())
            await publish(self.wc.db, self.wc.redis, self.campaign_id)

    async def _chunks(self, plan: SendPlan) -> RunEnd:
        t = plan.template
        unsubscribe_prefix = f"{self.wc.public_url}/unsubscribe/"
        template = TemplateSource(
            t.subject, t.body_html, t.body_text, plan.utm_code, unsubscribe_prefix
        )
        factory = MessageFactory(plan.sender, multipart=bool(t.body_text))
        domain = domain_of(plan.sender.from_email)
        lease = timedelta(seconds=self.wc.settings.lease_seconds)
        async with self.wc.db.read() as session:
            progress = Progress((await executions.backlog(session, self.campaign_id)).left)

        while True:
            if (end := self._must_end()) is not None:
                return end
            now = utcnow()
            rate = effective_rate(plan.rate_limit, spread_rate(progress.left, plan.deadline, now))
            n = batch_size(rate, progress.throughput)
            slot = spread_slot(progress.spread_from, progress.left, n, plan.deadline)
            if slot is not None:
                progress.spread_from = slot
                if (end := await self._wait((slot - utcnow()).total_seconds())) is not None:
                    return end

            token = secrets.token_hex(8)
            async with self.wc.db.write() as session:
                claim = await ledger.claim(session, plan, n, utcnow(), lease, token, domain)
            start_by = time.monotonic() + lease.total_seconds() / 2
            if claim.stop is ledger.Stop.NOT_RUNNING:
                return RunEnd.NOT_RUNNING
            if claim.stop is ledger.Stop.QUOTA:
                return await self._halt(_next_midnight(utcnow()), _quota_reason(plan))
            if claim.stop is ledger.Stop.NOTHING_DUE:
                end, progress.left = await self._settle_or_wait()
                if end is not None:
                    return end
                continue

            try:
                envelopes = await self._messages(claim.rows, template, factory)
            except TemplateOverBudget as exc:
                return await self._fail(plan, token, claim.rows, str(exc))
            if plan.rate_limit is not None:  # the last thing before sending: its slot is now
                turn = await self.wc.pacer.reserve(
                    plan.channel_id, plan.rate_limit, len(claim.rows)
                )
                await asyncio.sleep(turn)
            sending = time.monotonic()
            results, unavailable = await self.wc.pools.get(plan.smtp).send(
                [e for e in envelopes if isinstance(e, Envelope)], _before(start_by)
            )
            outcome = progress.count(claim.rows, envelopes, results, time.monotonic() - sending)
            async with self.wc.db.write() as session:
                await ledger.record(
                    session,
                    plan,
                    token,
                    outcome,
                    utcnow(),
                    self.wc.settings.retry_delays,
                    None if plan.deadline else progress.eta(),
                )
            await count_sent(self.wc.redis, self.campaign_id, len(outcome.sent))
            await publish(self.wc.db, self.wc.redis, self.campaign_id)
            if unavailable is not None:
                return await self._halt(self._after_halt(), str(unavailable))
            if progress.errors_in_a_row >= ERRORS_IN_A_ROW:
                reason = f"{progress.errors_in_a_row} deliveries in a row failed or were deferred"
                return await self._halt(
                    self._after_halt(), f"{reason}; last: {progress.last_error}"
                )

    async def _messages(
        self,
        rows: list[ledger.Claimed],
        template: TemplateSource,
        factory: MessageFactory,
    ) -> list[Envelope | SendResult]:
        """Each row's message, or the reason it has none (its template failed to render).
        Raises TemplateOverBudget when the template is over the render budget."""
        async with self.wc.db.read() as session:
            contacts = await ledger.recipients(session, [row.contact_id for row in rows])
        links = {row.id: self.wc.unsubscribe_url(row.contact_id, row.id) for row in rows}
        found = [row for row in rows if row.contact_id in contacts]
        results = await self.wc.renderer.render(
            template, [contact_context(contacts[r.contact_id], links[r.id]) for r in found]
        )
        if results and isinstance(results[-1], OverBudget):
            raise TemplateOverBudget(budget_text(results[-1].reason))
        # Fewer results than rows: the batch's output was full; the rest go back for later.
        by_row: dict[int, Rendered | RenderError | OverBudget | None] = {
            row.id: None for row in found
        }
        by_row.update(zip((row.id for row in found), results, strict=False))
        date = format_datetime(utcnow())
        out: list[Envelope | SendResult] = []
        for row in rows:
            if row.id not in by_row:  # deleted since the claim (its ledger row is gone too)
                out.append(SendResult(Outcome.FAILED, "contact deleted"))
                continue
            rendered = by_row[row.id]
            if rendered is None:
                out.append(SendResult(Outcome.UNSENT, "not rendered in this batch"))
                continue
            if isinstance(rendered, RenderError | OverBudget):  # the campaign's, not ours
                out.append(SendResult(Outcome.FAILED, rendered.reason))
                continue
            link = links[row.id]
            out.append(
                factory.build(
                    recipient=row.email,
                    subject=rendered.subject,
                    html=rendered.html,
                    text=rendered.text,
                    message_id=row.message_id,
                    unsubscribe_url=link,
                    date=date,
                )
            )
        return out

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
            if await executions.settle(session, self.campaign_id, utcnow()) is not None:
                return RunEnd.SETTLED, 0
        async with self.wc.db.read() as session:
            backlog = await executions.backlog(session, self.campaign_id)
        if backlog.left == 0:  # settled by someone else, or cancelled meanwhile
            return RunEnd.NOT_RUNNING, 0
        wait = (backlog.next_at - utcnow()).total_seconds() if backlog.next_at else 0.5
        if time.monotonic() + wait > self.slice_end:
            return RunEnd.WAITING, backlog.left
        return await self._wait(max(wait, 0.05)), backlog.left

    def _after_halt(self) -> datetime:
        return utcnow() + timedelta(seconds=self.wc.settings.halt_seconds)

    async def _fail(
        self, plan: SendPlan, token: str, rows: list[ledger.Claimed], reason: str
    ) -> RunEnd:
        """Ends the execution as failed: the claimed rows go back (their quota too), then
        every row left fails with the reason."""
        log.warning("campaign %s failed: %s", self.campaign_id, reason)
        released = ledger.Results(released=[row.id for row in rows])
        async with self.wc.db.write() as session:
            await ledger.record(session, plan, token, released, utcnow(), (), None)
            await executions.fail(session, self.campaign_id, utcnow(), reason)
        return RunEnd.FAILED

    async def _halt(self, until: datetime, reason: str) -> RunEnd:
        log.warning("campaign %s halted until %s: %s", self.campaign_id, until, reason)
        async with self.wc.db.write() as session:
            await executions.halt(session, self.campaign_id, utcnow(), until, reason)
        return RunEnd.HALTED


class TemplateOverBudget(Exception):
    """The campaign's template is over the render budget: the campaign fails."""


def _before(deadline: float) -> Callable[[], bool]:
    """Sends may start until `deadline` (monotonic): half the lease, so that none is still
    under way when the lease runs out and another run could take the row back."""
    return lambda: time.monotonic() < deadline


def _next_midnight(now: datetime) -> datetime:
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _quota_reason(plan: SendPlan) -> str:
    return f"The channel's daily quota of {plan.daily_quota} messages is used up for today (UTC)."
