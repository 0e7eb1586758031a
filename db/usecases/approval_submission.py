"""Submitting a WhatsApp campaign's template for approval: what a submission needs and
may do (`submit_for_approval`), then `record_submission` once Twilio took it. No I/O
here: jobs/approval.py talks to Twilio between the two transactions, so a refused or
failed request changes nothing."""

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ApprovalCategory, ApprovalStatus, CampaignStatus, ChannelType, ContentType
from db.errors import DomainError, ErrorCode
from db.models import Campaign, MessagingContent
from db.queries import get_owned
from db.usecases.approval import FINAL, IN_REVIEW, TwilioAccess, channel_access

NOT_STARTED = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
_NAME_PART = re.compile(r"[^a-z0-9]+")
TEMPLATE_NAME_MAX = 100  # Meta allows 512; a shorter name reads better in its console


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


def template_name(campaign: Campaign) -> str:
    """Meta's template name: lowercase letters, digits and _, unique per submission."""
    base = _NAME_PART.sub("_", campaign.name.lower()).strip("_")[:60] or "campaign"
    return f"{base}_{campaign.id}_{secrets.token_hex(3)}"[:TEMPLATE_NAME_MAX]


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
    access = await channel_access(session, campaign.twilio_channel_id)
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
