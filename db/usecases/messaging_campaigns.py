"""WhatsApp/SMS campaigns: the one-step create (channel, content, leads, audience) and
the content's checks. What comes from Twilio (an existing template's types, its approval)
is fetched by the caller and passed in: no I/O here."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.enums import ApprovalStatus, CampaignType, ChannelType, ContentType
from db.errors import DomainError, ErrorCode, Problem
from db.models import Audience, Campaign, MessagingContent, TwilioChannel
from db.queries import resolve_ref
from db.usecases.campaigns import check_campaign
from db.usecases.conversions import FIELD as PAYLOADS
from db.usecases.conversions import check_payloads
from db.usecases.leads import LeadInput, add_leads
from jobs.channels.twilio.content import validate as validate_content

CONTENT_SID = re.compile(r"HX[0-9a-f]{32}")
# What updateCampaign may change of a WhatsApp/SMS campaign's content (update_content).
CONTENT_FIELDS = ("content_type", "content_context")
# Content types SMS sends as a plain message (body, and media as MMS); WhatsApp sends all.
SMS_CONTENT_TYPES = (ContentType.TEXT, ContentType.MEDIA)


@dataclass(frozen=True)
class FetchedContent:
    """A template of the user's Twilio account (contentSid), as read from the Content API."""

    content_type: ContentType | None  # None: not one of the five types Clarion sends
    context: Any
    approval: ApprovalStatus
    rejection_reason: str = ""


def _code(name: str) -> ErrorCode:
    """The content rule's code where the API has the same one (TOO_LONG, TOO_MANY, …);
    the finer ones (INVALID_URL, VARIABLE_POSITION, …) are INVALID, told apart by message."""
    return ErrorCode[name] if name in ErrorCode.__members__ else ErrorCode.INVALID


def check_content(
    channel_type: ChannelType,
    content_type: ContentType | None,
    context: Any,
    problems: v.Problems,
    field: str = "content_context",
) -> None:
    """Twilio's rules for the content type, each problem on its path inside the JSON."""
    if content_type is None:
        problems.add(Problem(ErrorCode.REQUIRED, "contentType is required.", ("content_type",)))
        return
    if channel_type is ChannelType.SMS and content_type not in SMS_CONTENT_TYPES:
        problems.add(
            Problem(
                ErrorCode.INVALID,
                "SMS sends TEXT and MEDIA content; the other types are WhatsApp's.",
                ("content_type",),
            )
        )
        return
    whatsapp = channel_type is ChannelType.WHATSAPP
    for problem in validate_content(content_type, context, whatsapp=whatsapp):
        problems.add(Problem(_code(problem.code.name), problem.message, (field, *problem.field)))


def no_spread(minutes: int | None) -> Problem | None:
    """A service campaign sends each trigger as it comes (within the channel's pacing):
    spreading it over a window would hold a trigger until the window's end."""
    if minutes is None:
        return None
    return Problem(
        ErrorCode.INVALID,
        "A SERVICE campaign sends each trigger at once; executionDurationMinutes does not apply.",
        ("execution_duration_minutes",),
    )


async def create_messaging_campaign(
    session: AsyncSession,
    account_id: int,
    fields: Mapping[str, Any],
    now: datetime,
    fetched: FetchedContent | None = None,
) -> Campaign:
    """Validates everything, then writes the campaign, its content and its leads; any
    problem refuses the whole create. With a `content_sid`, `fetched` is that template as
    the caller read it from the user's Twilio account."""
    fields = dict(fields)
    problems = v.Problems()
    name = fields.pop("name")
    problems.add(v.text(name, 255, "name", needed=True))
    code = fields.pop("channel").strip().lower()
    problems.add(v.channel_code(code, "channel"))
    check_campaign(
        {
            k: fields[k]
            for k in ("description", "scheduled_at", "execution_duration_minutes", "audience")
            if k in fields
        },
        problems,
        now,
    )
    if fields.get("campaign_type") is CampaignType.SERVICE:
        problems.add(no_spread(fields.get("execution_duration_minutes")))
    problems.raise_if_any()
    channel_id = await resolve_ref(session, TwilioChannel, account_id, code, "channel")
    channel = await session.get_one(TwilioChannel, channel_id)
    channel_type = ChannelType(channel.channel_type.value)

    content_sid = (fields.pop("content_sid", None) or "").strip()
    content_type: ContentType | None = fields.pop("content_type", None)
    context = fields.pop("content_context", None)
    approval = ApprovalStatus.UNSUBMITTED
    if content_sid:
        if context is not None:
            problems.add(
                Problem(
                    ErrorCode.INVALID,
                    "Give contentContext or contentSid, not both.",
                    ("content_sid",),
                )
            )
        elif not CONTENT_SID.fullmatch(content_sid):
            problems.add(
                Problem(
                    ErrorCode.INVALID, "A content SID is HX and 32 hex digits.", ("content_sid",)
                )
            )
        elif fetched is None:
            problems.add(
                Problem(
                    ErrorCode.NOT_FOUND,
                    "No such content in the channel's Twilio account.",
                    ("content_sid",),
                )
            )
        else:
            content_type, context = fetched.content_type, fetched.context
            approval = fetched.approval
            check_content(channel_type, content_type, context, problems, "content_sid")
    elif context is None:
        problems.add(
            Problem(
                ErrorCode.REQUIRED,
                "Give contentContext (with contentType) or contentSid.",
                ("content_context",),
            )
        )
    else:
        check_content(channel_type, content_type, context, problems)
    payloads = fields.pop("conversion_payloads", None) or []
    if payloads and not problems.items:  # judged against content known to be sound
        assert content_type is not None
        conversion_payloads = check_payloads(payloads, content_type, context, problems)
    else:
        conversion_payloads = None
    problems.raise_if_any()
    assert content_type is not None

    audience_id = None
    if fields.get("audience") is not None:
        audience_id = await resolve_ref(
            session, Audience, account_id, fields.pop("audience"), "audience"
        )
    fields.pop("audience", None)
    leads: Sequence[LeadInput] = fields.pop("leads", None) or []
    campaign = Campaign(
        account_id=account_id,
        name=name,
        channel_type=channel_type,
        twilio_channel_id=channel_id,
        audience_id=audience_id,
        conversion_payloads=conversion_payloads,
        **fields,
    )
    session.add(campaign)
    await session.flush()
    session.add(
        MessagingContent(
            campaign_id=campaign.id,
            content_type=content_type,
            context=context,
            content_sid=content_sid,
            approval_status=approval,
            rejection_reason=fetched.rejection_reason if fetched and content_sid else "",
        )
    )
    await session.flush()
    if leads:
        await add_leads(session, account_id, campaign.id, leads)
    return campaign


async def update_content(
    session: AsyncSession, campaign: Campaign, changes: Mapping[str, Any]
) -> None:
    """updateCampaign's `content_type` and/or `content_context` (the caller allows it only
    in draft or scheduled), checked as on create. A change makes it Clarion's own content
    (a contentSid template is left, a Content resource made from the old one is not sent)
    and, for WhatsApp, unapproved again: Meta approved the old one."""
    content = await session.get_one(MessagingContent, campaign.id)
    content_type = changes.get("content_type", content.content_type)
    context = changes.get("content_context", content.context)
    if content_type == content.content_type and context == content.context:
        return
    problems = v.Problems()
    check_content(ChannelType(campaign.channel_type.value), content_type, context, problems)
    problems.raise_if_any()
    content.content_type, content.context = content_type, context
    content.content_sid = content.created_content_sid = ""
    content.approval_status = ApprovalStatus.UNSUBMITTED
    content.rejection_reason = ""
    content.approval_checked_at = None


async def update_conversion_payloads(
    session: AsyncSession, campaign: Campaign, changes: Mapping[str, Any]
) -> None:
    """updateCampaign's `conversion_payloads` (null or [] clears them), or a content change:
    either way the payloads kept must be quick-reply ids of the content kept. A content
    change that drops a payload's button is refused on content_context."""
    content = await session.get_one(MessagingContent, campaign.id)
    given = PAYLOADS in changes
    payloads = (changes[PAYLOADS] if given else campaign.conversion_payloads) or []
    problems = v.Problems()
    kept = check_payloads(payloads, content.content_type, content.context, problems)
    if problems.items and not given:
        raise DomainError(
            [
                Problem(
                    p.code,
                    f"The campaign's conversionPayloads name quick replies the new content "
                    f"lacks: {p.message}",
                    ("content_context",),
                )
                for p in problems.items
            ]
        )
    problems.raise_if_any()
    campaign.conversion_payloads = kept
