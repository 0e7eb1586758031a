"""WhatsApp template approval over Twilio: submitting a campaign's template, following its
status until it settles, and reading it again before a run.

- `submit` (submitCampaignForApproval): checks in one transaction, then Twilio (create the
  Content resource, request its approval) outside any, then records both in a second
  transaction only if nothing changed meanwhile: a refusal or a failure at Twilio changes
  nothing of Clarion's. The first check of the status is queued after the commit.
- `follow_approval` (arq job): reads the status and records it (db/usecases/approval.py
  halts a running campaign whose template is not approved, and continues it when it is
  again); while the template is in review, or its campaign runs, it queues itself again
  after a wait that starts at the first poll delay and doubles up to the longest (5 s,
  10 s, … 5 min by default). The sweeper queues a follow whose job was lost
  (`follow_lost`).
- `check_before_run` (the Twilio family's `before_run`, at the start of every send job of
  a WhatsApp campaign): reads the status first when the last read is older than
  `approval_fresh_seconds` (5 min), halts unless the template is approved, and makes sure
  the running campaign is followed.
"""

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from arq.connections import ArqRedis
from twilio.rest import Client

from db.clock import db_now
from db.engine import Database
from db.enums import ApprovalCategory, ApprovalStatus
from db.errors import DomainError, ErrorCode
from db.models import Campaign
from db.usecases import approval as uc
from db.usecases.approval_submission import record_submission, submit_for_approval
from jobs.channels.twilio.client import twilio_client
from jobs.channels.twilio.content_api import (
    ContentApiError,
    create_content,
    fetch_approval,
    request_whatsapp_approval,
)
from jobs.progress import publish
from jobs.queue import FOLLOW_GRACE_S, enqueue_follow_approval, follow_marker

if TYPE_CHECKING:  # jobs.send imports the channel families, which import this module
    from jobs.send import WorkerContext

log = logging.getLogger(__name__)

# The follow after this many doublings waits the longest (any later attempt too).
MAX_ATTEMPT = 30
# A follow that finds its lane full comes back after this long.
LANE_FULL_S = 2.0


def poll_delay(attempt: int, first_s: float, longest_s: float) -> float:
    """The wait before read number `attempt` + 1 of a template in review."""
    return min(first_s * 2.0 ** min(attempt, MAX_ATTEMPT), longest_s)


async def submit(
    db: Database,
    queue: ArqRedis,
    account_id: int,
    campaign_id: int,
    category: ApprovalCategory,
    gate: Callable[[], Awaitable[None]] | None = None,
) -> Campaign:
    """submitCampaignForApproval; raises DomainError (nothing changed) when refused.
    `gate` (a rate limit) is passed once the checks allow the request, before Twilio."""
    async with db.read() as session:
        _, submission = await submit_for_approval(session, account_id, campaign_id, category)
    if gate is not None:
        await gate()
    access = submission.access
    client, http = twilio_client(access.account_sid, access.auth_token, access.api_base_url)
    try:
        created = ""
        sid = submission.content_sid
        if not sid:
            sid = created = await create_content(
                client, submission.friendly_name, submission.content_type, submission.context
            )
        status = await request_whatsapp_approval(
            client, sid, submission.template_name, submission.category
        )
    except ContentApiError as exc:
        raise DomainError.one(
            ErrorCode.SEND_FAILED, f"Twilio refused the approval request: {exc.reason}", "id"
        ) from exc
    finally:
        await http.aclose()
    async with db.write() as session:
        now = await db_now(session)
        campaign = await record_submission(session, submission, created, status, now)
    await enqueue_follow_approval(queue, campaign_id, now, 0, 0)
    return campaign


async def follow_approval(
    ctx: dict[str, Any], campaign_id: int, expected: datetime | None, attempt: int
) -> str:
    """The arq job: one read of the approval, recorded; queued again while it is followed.
    Ends at once when someone read it since `expected` (another follower, a run)."""
    wc: WorkerContext = ctx["clarion"]
    async with wc.db.read() as session:
        target = await uc.followed(session, campaign_id)
    if target is None or not uc.following(target.status, target.campaign_status):
        await wc.redis.delete(follow_marker(campaign_id))
        return "not followed"
    if target.checked_at != expected:
        return "read by another since"
    # Its lane: a few reads at once in a worker, two of one Twilio account (a slow or
    # silent endpoint holds its own reads only); without room it comes back in a moment.
    with wc.follows.enter((target.access.api_base_url, target.access.account_sid)) as room:
        if not room:
            await enqueue_follow_approval(wc.redis, campaign_id, expected, attempt, LANE_FULL_S)
            return "lane full"
        return await _follow(wc, target, campaign_id, attempt)


async def _follow(wc: "WorkerContext", target: uc.Followed, campaign_id: int, attempt: int) -> str:
    first_s, longest_s = wc.settings.approval_poll_seconds
    expected = target.checked_at
    client, http = twilio_client(
        target.access.account_sid, target.access.auth_token, target.access.api_base_url
    )
    try:
        status, reason = await fetch_approval(client, target.content_sid)
    except ContentApiError as exc:
        log.warning("campaign %s: approval not read (%s); trying later", campaign_id, exc)
        delay = poll_delay(attempt + 1, first_s, longest_s)
        await enqueue_follow_approval(wc.redis, campaign_id, expected, attempt + 1, delay)
        return "not read"
    finally:
        await http.aclose()
    recorded, checked_at = await _record(wc.db, wc.redis, campaign_id, status, reason)
    if recorded is None or not recorded.following:
        await wc.redis.delete(follow_marker(campaign_id))
        return status.value
    delay = poll_delay(attempt + 1, first_s, longest_s)
    await enqueue_follow_approval(wc.redis, campaign_id, checked_at, attempt + 1, delay)
    return status.value


async def _record(
    db: Database, redis: ArqRedis, campaign_id: int, status: ApprovalStatus, reason: str
) -> tuple[uc.Recorded | None, datetime]:
    async with db.write() as session:
        now = await db_now(session)
        recorded = await uc.record_approval(session, campaign_id, status, reason, now)
    if recorded is not None and (recorded.changed or recorded.halted or recorded.continued):
        await publish(db, redis, campaign_id)
    return recorded, now


async def follow_lost(db: Database, redis: ArqRedis, longest_s: float) -> int:
    """The sweeper's repair: a follow for each followed approval not read for longer than
    the longest poll delay and the grace (its job was lost, or none was queued)."""
    async with db.read() as session:
        now = await db_now(session)
        stale = await uc.lost_follows(session, now - timedelta(seconds=longest_s + FOLLOW_GRACE_S))
    queued = 0
    for campaign_id, at in stale:
        if await enqueue_follow_approval(
            redis, campaign_id, at, MAX_ATTEMPT, 0, unless_followed=True
        ):
            queued += 1
    return queued


async def check_before_run(
    db: Database,
    redis: ArqRedis,
    client: Client,
    campaign_id: int,
    fresh_s: float,
    longest_s: float,
) -> None:
    """Before a run of a WhatsApp campaign: the approval read again when the last read is
    older than `fresh_s`, and the execution halted (recorded) unless it is approved; a
    failed read leaves the stored status in charge (the sends meet Twilio's own errors).
    Then the campaign is followed while it runs (every `longest_s`)."""
    async with db.read() as session:
        target = await uc.followed(session, campaign_id)
        now = await db_now(session)
    if target is None:
        return
    checked_at = target.checked_at
    recorded = None
    if checked_at is None or now - checked_at >= timedelta(seconds=fresh_s):
        try:
            status, reason = await fetch_approval(client, target.content_sid)
        except ContentApiError as exc:
            log.warning("campaign %s: approval not read before the run (%s)", campaign_id, exc)
        else:
            recorded, checked_at = await _record(db, redis, campaign_id, status, reason)
    if recorded is None:
        async with db.write() as session:
            halted = await uc.halt_unless_approved(session, campaign_id, await db_now(session))
        if halted:
            await publish(db, redis, campaign_id)
    # Whoever read it last carries the follow on (a follower that finds a newer read
    # ends); without a read, one is started only if none is queued.
    await enqueue_follow_approval(
        redis, campaign_id, checked_at, MAX_ATTEMPT, longest_s, unless_followed=recorded is None
    )
