"""A WhatsApp campaign's template approval as Twilio reports it: what a read of the status
changes (`record_approval`: a running campaign halts while its template is not approved
and continues when it is again), and which approvals are followed (read again until they
settle, and while their campaign runs). Submitting is db/usecases/approval_submission.py.
No I/O here: jobs/approval.py talks to Twilio."""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import (
    ApprovalStatus,
    CampaignStatus,
    ChannelType,
    ExecutionStatus,
)
from db.errors import DomainError, ErrorCode
from db.models import Campaign, CampaignExecution, MessagingContent, TwilioChannel
from db.secrets import reveal
from db.usecases.ledger import rowcount

FINAL = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED)
# Statuses Twilio gives a reason with.
REASONED = (ApprovalStatus.REJECTED, ApprovalStatus.PAUSED, ApprovalStatus.DISABLED)
IN_REVIEW = (ApprovalStatus.RECEIVED, ApprovalStatus.PENDING)
# Executions a template that is not approved stops.
_LIVE = (ExecutionStatus.PENDING, ExecutionStatus.PROCESSING, ExecutionStatus.HALTED)


@dataclass(frozen=True)
class TwilioAccess:
    """A channel's Twilio account (the token decrypted, kept out of reprs)."""

    channel_id: int
    account_sid: str
    auth_token: str = field(repr=False)
    api_base_url: str


@dataclass(frozen=True)
class Followed:
    """An approval as its follower reads it."""

    campaign_id: int
    access: TwilioAccess
    content_sid: str
    status: ApprovalStatus
    checked_at: datetime | None
    campaign_status: CampaignStatus


@dataclass(frozen=True)
class Recorded:
    status: ApprovalStatus
    changed: bool
    # A running execution was halted, or was set to continue.
    halted: bool = False
    continued: bool = False
    # Still followed (in review, or its campaign runs).
    following: bool = False


def following(status: ApprovalStatus, campaign_status: CampaignStatus) -> bool:
    """Whether the approval is still followed: while in review, and while the campaign runs
    (a template Meta pauses halts it, approved again it continues)."""
    return status in IN_REVIEW or campaign_status is CampaignStatus.RUNNING


def halt_reason(status: ApprovalStatus, reason: str) -> str:
    why = f" ({reason})" if reason else ""
    return (
        f"The WhatsApp template is {status.value}{why}; sending continues when it is "
        "approved again."
    )


async def channel_access(session: AsyncSession, channel_id: int | None) -> TwilioAccess:
    channel = await session.get(TwilioChannel, channel_id) if channel_id is not None else None
    if channel is None:
        raise DomainError.one(ErrorCode.INVALID_STATE, "The campaign's channel was deleted.", "id")
    return TwilioAccess(
        channel.id, channel.account_sid, reveal(session, channel.auth_token), channel.api_base_url
    )


async def followed(session: AsyncSession, campaign_id: int) -> Followed | None:
    """A WhatsApp campaign's approval as submitted (None: no such campaign, not WhatsApp,
    or nothing submitted to Twilio)."""
    found = (
        await session.execute(
            select(Campaign, MessagingContent)
            .join(MessagingContent, MessagingContent.campaign_id == Campaign.id)
            .where(Campaign.id == campaign_id, Campaign.channel_type == ChannelType.WHATSAPP)
        )
    ).one_or_none()
    if found is None:
        return None
    campaign, content = found
    sid = content.content_sid or content.created_content_sid
    if not sid or campaign.twilio_channel_id is None:
        return None
    try:
        access = await channel_access(session, campaign.twilio_channel_id)
    except DomainError:
        return None
    return Followed(
        campaign.id,
        access,
        sid,
        content.approval_status,
        content.approval_checked_at,
        campaign.status,
    )


async def record_approval(
    session: AsyncSession,
    campaign_id: int,
    status: ApprovalStatus,
    reason: str,
    now: datetime,
) -> Recorded | None:
    """Records the status Twilio reported (None: the campaign is gone). A running
    campaign's execution halts, with the reason and no time to continue at, while its
    template is anything but approved; approved again, a halted one continues at the next
    sweep (as a channel's reactivation continues it; start_run halts it again if the
    channel is inactive)."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    content = await session.get(MessagingContent, campaign_id)
    if campaign is None or content is None:
        return None
    was = content.approval_status
    content.approval_status = status
    content.rejection_reason = reason if status in REASONED else ""
    content.approval_checked_at = now
    halted = continued = False
    if campaign.status is CampaignStatus.RUNNING:
        if status is not ApprovalStatus.APPROVED:
            halted = await halt_for_template(session, campaign_id, status, reason, now)
        elif was is not ApprovalStatus.APPROVED:
            continued = await _continue(session, campaign_id, now)
    await session.flush()
    return Recorded(
        status,
        changed=was is not status,
        halted=halted,
        continued=continued,
        following=following(status, campaign.status),
    )


async def halt_for_template(
    session: AsyncSession,
    campaign_id: int,
    status: ApprovalStatus,
    reason: str,
    now: datetime,
) -> bool:
    """Halts the campaign's live execution until its template is approved again."""
    outcome = await session.execute(
        update(CampaignExecution)
        .where(
            CampaignExecution.campaign_id == campaign_id,
            CampaignExecution.status.in_(_LIVE),
        )
        .values(
            status=ExecutionStatus.HALTED,
            next_run_at=None,
            error_message=halt_reason(status, reason)[:2000],
            last_run_at=now,
            updated_at=now,
        )
    )
    return rowcount(outcome) > 0


async def _continue(session: AsyncSession, campaign_id: int, now: datetime) -> bool:
    outcome = await session.execute(
        update(CampaignExecution)
        .where(
            CampaignExecution.campaign_id == campaign_id,
            CampaignExecution.status == ExecutionStatus.HALTED,
            CampaignExecution.next_run_at.is_(None),
        )
        .values(next_run_at=now, updated_at=now)
    )
    return rowcount(outcome) > 0


async def halt_unless_approved(session: AsyncSession, campaign_id: int, now: datetime) -> bool:
    """Before a run of a WhatsApp campaign: halts it when its stored approval is not
    approved (e.g. continued by its channel's reactivation while its template is paused)."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    content = await session.get(MessagingContent, campaign_id)
    if campaign is None or content is None or campaign.status is not CampaignStatus.RUNNING:
        return False
    if content.approval_status is ApprovalStatus.APPROVED:
        return False
    return await halt_for_template(
        session, campaign_id, content.approval_status, content.rejection_reason, now
    )


async def lost_follows(
    session: AsyncSession, stale_before: datetime
) -> list[tuple[int, datetime | None]]:
    """WhatsApp campaigns whose approval is followed but was not read since `stale_before`
    (its follow job was lost, or none was ever queued: a template of the user's own account
    in review at create); with the time it was last read."""
    rows = await session.execute(
        select(Campaign.id, MessagingContent.approval_checked_at)
        .join(MessagingContent, MessagingContent.campaign_id == Campaign.id)
        .where(
            Campaign.channel_type == ChannelType.WHATSAPP,
            Campaign.status.not_in(FINAL),
            or_(
                MessagingContent.approval_status.in_(IN_REVIEW),
                Campaign.status == CampaignStatus.RUNNING,
            ),
            or_(
                MessagingContent.approval_checked_at.is_(None),
                MessagingContent.approval_checked_at < stale_before,
            ),
        )
        .limit(500)
    )
    return [(row[0], row[1]) for row in rows.all()]
