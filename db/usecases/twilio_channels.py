"""Twilio channels: the Twilio account, sender and limits a WhatsApp or SMS campaign uses."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import twilio_values as tv
from db import validation as v
from db.enums import ChannelStatus, TwilioChannelType
from db.errors import DomainError, ErrorCode, Problem
from db.kinds.twilio import inactive_reason
from db.models import Campaign, TwilioChannel
from db.queries import code_taken, get_owned, refuse_if_campaigns_use
from db.secrets import seal
from db.usecases.channel_status import follow_status
from db.usecases.email_channels import DAILY_QUOTA_RANGE, RATE_LIMIT_RANGE

# Per type when not given: a Twilio WhatsApp sender takes about 10 messages a second by
# default; a US long code 1 SMS segment a second. WhatsApp's quota is Meta's first
# messaging-limit tier (250 unique recipients in a moving 24 hours).
DEFAULT_RATE_LIMIT = {TwilioChannelType.WHATSAPP: 10, TwilioChannelType.SMS: 1}
DEFAULT_DAILY_QUOTA = {TwilioChannelType.WHATSAPP: 250, TwilioChannelType.SMS: 1000}
# What a sender may be: exactly one of these is set.
SENDERS = ("from_number", "messaging_service_sid")


def check_channel(fields: dict[str, Any], problems: v.Problems) -> None:
    """Checks the given fields, normalising them in place (type, number, URL)."""
    if "code" in fields:
        problems.add(v.channel_code(fields["code"], "code"))
    if "channel_type" in fields:
        try:
            fields["channel_type"] = TwilioChannelType(fields["channel_type"])
        except ValueError:
            problems.add(
                Problem(
                    ErrorCode.INVALID,
                    "channel_type of a Twilio channel is whatsapp or sms.",
                    ("channel_type",),
                )
            )
    if "rate_limit" in fields:
        problems.add(v.in_range(fields["rate_limit"], *RATE_LIMIT_RANGE, "rate_limit"))
    if "daily_quota" in fields:
        problems.add(v.in_range(fields["daily_quota"], *DAILY_QUOTA_RANGE, "daily_quota"))
    if "account_sid" in fields:
        problems.add(tv.sid(fields["account_sid"], tv.ACCOUNT_SID, "AC", "account_sid"))
    if "auth_token" in fields:
        problems.add(tv.auth_token(fields["auth_token"], "auth_token"))
    if fields.get("messaging_service_sid") is not None:
        problems.add(
            tv.sid(
                fields["messaging_service_sid"],
                tv.MESSAGING_SERVICE_SID,
                "MG",
                "messaging_service_sid",
            )
        )
    if fields.get("from_number") is not None:
        fields["from_number"], problem = tv.phone_number(fields["from_number"], "from_number")
        problems.add(problem)
    if "api_base_url" in fields:
        fields["api_base_url"], problem = tv.api_base_url(fields["api_base_url"], "api_base_url")
        problems.add(problem)


def _one_sender(channel: Mapping[str, Any]) -> Problem | None:
    given = [name for name in SENDERS if channel.get(name) is not None]
    if len(given) == 1:
        return None
    if not given:
        return Problem(
            ErrorCode.REQUIRED,
            "from_number or messaging_service_sid is required.",
            ("from_number",),
        )
    return Problem(
        ErrorCode.INVALID,
        "Give from_number or messaging_service_sid, not both (set the other to null).",
        ("messaging_service_sid",),
    )


async def create_twilio_channel(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any]
) -> TwilioChannel:
    fields = {**fields, "code": str(fields.get("code", "")).strip().lower()}
    problems = v.Problems()
    check_channel(fields, problems)
    for name in ("account_sid", "auth_token", "channel_type"):
        if name not in fields:
            problems.add(Problem(ErrorCode.REQUIRED, f"{name} is required.", (name,)))
    if not problems.items:
        problems.add(_one_sender(fields))
    problems.raise_if_any()
    kind = fields["channel_type"]
    fields.setdefault("rate_limit", DEFAULT_RATE_LIMIT[kind])
    fields.setdefault("daily_quota", DEFAULT_DAILY_QUOTA[kind])
    if await code_taken(session, TwilioChannel, account_id, fields["code"]):
        raise DomainError.one(ErrorCode.DUPLICATE, "A channel with this code exists.", "code")
    fields["auth_token"] = seal(session, fields["auth_token"])
    channel = TwilioChannel(account_id=account_id, **fields)
    session.add(channel)
    await session.flush()
    return channel


async def update_twilio_channel(
    session: AsyncSession, account_id: int, channel_id: int, changes: Mapping[str, Any]
) -> TwilioChannel:
    """Changes the given fields; the auth token only when one is given. Null for a sender
    clears it (the other must then be set)."""
    changes = dict(changes)
    if "code" in changes:
        changes["code"] = str(changes["code"]).strip().lower()
    problems = v.Problems()
    check_channel(changes, problems)
    problems.raise_if_any()
    channel = await get_owned(session, TwilioChannel, account_id, channel_id, "id")
    senders = {name: changes.get(name, getattr(channel, name)) for name in SENDERS}
    problems.add(_one_sender(senders))
    problems.raise_if_any()
    code = changes.get("code", channel.code)
    if code != channel.code and await code_taken(session, TwilioChannel, account_id, code):
        raise DomainError.one(ErrorCode.DUPLICATE, "A channel with this code exists.", "code")
    if changes.get("channel_type", channel.channel_type) is not channel.channel_type and (
        await session.scalar(
            select(Campaign.id).where(Campaign.twilio_channel_id == channel.id).limit(1)
        )
    ):
        raise DomainError.one(
            ErrorCode.IN_USE,
            "Campaigns use this channel: its type cannot change (their content is the type's).",
            "channel_type",
        )
    was = channel.status
    if "auth_token" in changes:
        changes["auth_token"] = seal(session, changes["auth_token"])
    for name, value in changes.items():
        setattr(channel, name, value)
    await session.flush()
    if channel.status is not was:
        await follow_status(
            session,
            Campaign.twilio_channel_id,
            channel.id,
            channel.status is ChannelStatus.ACTIVE,
            inactive_reason(channel),
        )
    return channel


async def delete_twilio_channel(session: AsyncSession, account_id: int, channel_id: int) -> None:
    channel = await get_owned(session, TwilioChannel, account_id, channel_id, "id")
    await refuse_if_campaigns_use(session, Campaign.twilio_channel_id, channel.id, "channel")
    await session.delete(channel)
    await session.flush()
