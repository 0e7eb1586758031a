"""Enqueueing work. The queue is a hint: the database says what is due, and the sweeper
re-enqueues anything a lost job left behind, so a failed enqueue loses nothing.

Send jobs get arq's random ids: a fixed id per campaign would stay taken for as long as a
killed worker's job lingers in Redis, blocking the recovery. Instead a short-lived marker
key says "a send job for this campaign is queued", so repeated enqueues (start, resume,
every sweep) queue one job; the job clears the marker when it starts.
"""

import contextlib
import logging
from datetime import datetime

from arq.connections import ArqRedis
from redis.exceptions import RedisError

SEND_CAMPAIGN = "send_campaign"
SEND_TEST_EMAIL = "send_test_email"
FOLLOW_APPROVAL = "follow_approval"
# How long sendTestEmail waits for a worker to take its job and the SMTP server to answer.
TEST_EMAIL_WAIT_S = 45.0
# A queued job that has not started by then (or was lost) may be queued again.
QUEUED_MARKER_TTL_S = 60
# A follow job of an approval not started this long after its time is taken as lost.
FOLLOW_GRACE_S = 60
log = logging.getLogger(__name__)


def queued_marker(campaign_id: int) -> str:
    return f"clarion:send-queued:{campaign_id}"


async def enqueue_send(queue: ArqRedis, campaign_id: int) -> None:
    """Ask a worker to send the campaign's due deliveries (after the commit that made them)."""
    marker = queued_marker(campaign_id)
    try:
        if await queue.set(marker, b"1", nx=True, ex=QUEUED_MARKER_TTL_S):
            try:
                await queue.enqueue_job(SEND_CAMPAIGN, campaign_id)
            except BaseException:
                await queue.delete(marker)
                raise
    except (OSError, ConnectionError, RedisError) as exc:  # Redis down: the sweeper will retry.
        log.warning("could not enqueue campaign %s: %s", campaign_id, exc)


def follow_marker(campaign_id: int) -> str:
    return f"clarion:approval-followed:{campaign_id}"


async def enqueue_follow_approval(
    queue: ArqRedis,
    campaign_id: int,
    expected: datetime | None,
    attempt: int,
    defer_s: float,
    *,
    unless_followed: bool = False,
) -> bool:
    """Queue a read of the campaign's WhatsApp approval in `defer_s` (jobs/approval.py).
    A marker says "someone follows it" for as long as that job may take to start; with
    `unless_followed` (the sweeper's repairs) nothing is queued while it is there. The
    job carries the check time it follows from (`expected`): it ends when someone read
    the status since, so duplicates die out. False: not queued."""
    marker = follow_marker(campaign_id)
    ttl = int(defer_s) + FOLLOW_GRACE_S
    try:
        if not await queue.set(marker, b"1", nx=unless_followed, ex=ttl):
            return False
        await queue.enqueue_job(
            FOLLOW_APPROVAL, campaign_id, expected, attempt, _defer_by=max(defer_s, 0.0)
        )
        return True
    except (OSError, ConnectionError, RedisError) as exc:  # the sweeper repairs it later
        log.warning("could not queue the approval check of campaign %s: %s", campaign_id, exc)
        return False


async def request_test_email(
    queue: ArqRedis, account_id: int, campaign_id: int, to: str
) -> dict[str, str]:
    """Has a worker send a campaign's test email; waits for its answer:
    {"message_id": …} or {"error": why}."""
    job = await queue.enqueue_job(SEND_TEST_EMAIL, account_id, campaign_id, to)
    assert job is not None  # random job ids never collide
    try:
        answer: dict[str, str] = await job.result(timeout=TEST_EMAIL_WAIT_S, poll_delay=0.1)
    except TimeoutError:
        # Marks it aborted so a late worker skips it; waiting for that to be confirmed
        # (timeout=0) raises TimeoutError at once, which was "Unexpected error.".
        with contextlib.suppress(TimeoutError):
            await job.abort(timeout=0)
        return {
            "error": f"No worker sent it within {TEST_EMAIL_WAIT_S:.0f} seconds; is one running?"
        }
    return answer
