"""A WhatsApp campaign's template approval: what a submission needs and may do
(`submit_for_approval`, then `record_submission` once Twilio took it), what a check of
the status changes (`record_approval`: a running campaign halts while its template is not
approved and continues when it is again), and which approvals are followed.

No I/O here: the caller talks to Twilio between the transactions (jobs/approval.py), so a
refused or failed request changes nothing."""

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import (
    ApprovalCategory,
    ApprovalStatus,
    CampaignStatus,
    ChannelType,
    ContentType,
    ExecutionStatus,
)
from db.errors import DomainError, ErrorCode
from db.models import Campaign, CampaignExecution, MessagingContent, TwilioChannel
from db.queries import get_owned
from db.secrets import reveal
from db.usecases.ledger import rowcount

FINAL = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.FAILED)
NOT_STARTED = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
# Statuses Twilio gives a reason with.
REASONED = (ApprovalStatus.REJECTED, ApprovalStatus.PAUSED, ApprovalStatus.DISABLED)
IN_REVIEW = (ApprovalStatus.RECEIVED, ApprovalStatus.PENDING)
# Executions a template that is not approved stops.
_LIVE = (ExecutionStatus.PENDING, ExecutionStatus.PROCESSING, ExecutionStatus.HALTED)
_NAME_PART = re.compile(r"[^a-z0-9]+")
TEMPLATE_NAME_MAX = 100  # Meta allows 512; a shorter name reads better in its console


@dataclass(frozen=True)
class TwilioAccess:
    """A channel's Twilio account (the token decrypted, kept out of reprs)."""

    channel_id: int
    account_sid: str
    auth_token: str = field(repr=False)
    api_base_url: str


@dataclass(frozen=True)
class Submission:
    """What submitting a campaign's template asks of Twilio, and what it was read as (the
    submission is recorded only if nothing changed meanwhile)."""

    campaign_id: int
    access: TwilioAccess
    # The user's own template to submit; "" when Clarion makes a Content resource first.
    content_sid: str
    content_type: ContentType
    context: Any
    friendly_name: str
    template_name: str
    category: ApprovalCategory
    was: ApprovalStatus
    was_created_sid: str


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


def template_name(campaign: Campaign) -> str:
    """Meta's template name: lowercase letters, digits and _, unique per submission."""
    base = _NAME_PART.sub("_", campaign.name.lower()).strip("_")[:60] or "campaign"
    return f"{base}_{campaign.id}_{secrets.token_hex(3)}"[:TEMPLATE_NAME_MAX]


async def _access(session: AsyncSession, channel_id: int | None) -> TwilioAccess:
    channel = await session.get(TwilioChannel, channel_id) if channel_id is not None else None
    if channel is None:
        raise DomainError.one(ErrorCode.INVALID_STATE, "The campaign's channel was deleted.", "id")
    return TwilioAccess(
        channel.id, channel.account_sid, reveal(session, channel.auth_token), channel.api_base_url
    )


def _refuse_submission(campaign: Campaign, content: MessagingContent) -> None:
    if campaign.channel_type is not ChannelType.WHATSAPP:
        raise DomainError.one(
            ErrorCode.INVALID,
            "Only WhatsApp templates need approval; an SMS campaign starts without one.",
            "id",
        )
    if campaign.status in FINAL:
        raise DomainError.one(
            ErrorCode.INVALID_STATE, f"The campaign is {campaign.status.value}.", "id"
        )
    status = content.approval_status
    if status is ApprovalStatus.APPROVED:
        raise DomainError.one(ErrorCode.INVALID_STATE, "The template is already approved.", "id")
    if status in IN_REVIEW:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            f"The template was submitted and is {status.value}; Clarion follows it.",
            "id",
        )
    if status is ApprovalStatus.PAUSED:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            "Meta paused the template; Clarion follows it and the campaign continues when "
            "it is approved again.",
            "id",
        )
    if status is ApprovalStatus.UNSUBMITTED:
        return
    # Rejected or disabled: a new Content resource may be submitted before the campaign
    # starts (a started one sends what it started with); a template of the user's own
    # account cannot be submitted twice.
    if content.content_sid:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            f"The template {content.content_sid} of your Twilio account is {status.value}; "
            "make a new one there, or give the campaign contentContext.",
            "id",
        )
    if campaign.status not in NOT_STARTED:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            f"The template is {status.value} and the campaign has started; cancel it and "
            "create a new one.",
            "id",
        )


async def submit_for_approval(
    session: AsyncSession, account_id: int, campaign_id: int, category: ApprovalCategory
) -> tuple[Campaign, Submission]:
    """The checks of submitCampaignForApproval, and what it asks of Twilio. Changes
    nothing; `record_submission` records it once Twilio took it."""
    campaign = await get_owned(session, Campaign, account_id, campaign_id, "id")
    content = await session.get(MessagingContent, campaign.id)
    if content is None:
        raise DomainError.one(ErrorCode.INVALID, "Only WhatsApp templates need approval.", "id")
    _refuse_submission(campaign, content)
    access = await _access(session, campaign.twilio_channel_id)
    return campaign, Submission(
        campaign_id=campaign.id,
        access=access,
        content_sid=content.content_sid,
        content_type=content.content_type,
        context=content.context,
        friendly_name=f"clarion-{campaign.id}",
        template_name=template_name(campaign),
        category=category,
        was=content.approval_status,
        was_created_sid=content.created_content_sid,
    )


async def record_submission(
    session: AsyncSession,
    submission: Submission,
    created_sid: str,
    status: ApprovalStatus,
    now: datetime,
) -> Campaign:
    """Records a submission Twilio took: the Content resource Clarion made (if it made
    one), the status Twilio answered, the category. Refused (nothing changed) when the
    campaign or its approval changed since `submit_for_approval` read them."""
    campaign = await session.get_one(Campaign, submission.campaign_id, with_for_update=True)
    content = await session.get_one(MessagingContent, submission.campaign_id)
    if (
        campaign.status in FINAL
        or content.approval_status is not submission.was
        or content.created_content_sid != submission.was_created_sid
    ):
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            "The campaign changed while its template was being submitted (another "
            "submission?); read it again.",
            "id",
        )
    if created_sid:
        content.created_content_sid = created_sid
    content.approval_status = status
    content.approval_category = submission.category.value
    content.rejection_reason = ""
    content.approval_checked_at = now
    await session.flush()
    return campaign


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
        access = await _access(session, campaign.twilio_channel_id)
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
