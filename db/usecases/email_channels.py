"""Email channels: where and how fast a campaign's email is sent."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.enums import EmailChannelStatus
from db.errors import DomainError, ErrorCode, Problem
from db.kinds.email import channel_halt_reason
from db.models import Campaign, EmailChannel
from db.queries import code_taken, get_owned, refuse_if_campaigns_use
from db.secrets import seal
from db.smtp_hosts import ANY_HOST, HostPolicy, not_allowed_message
from db.usecases.accounts import check_sender_defaults
from db.usecases.channel_status import follow_status

RATE_LIMIT_RANGE = (1, 10_000)
DEFAULT_RATE_LIMIT = 10
DAILY_QUOTA_RANGE = (1, 100_000_000)


def check_channel(
    fields: Mapping[str, Any], problems: v.Problems, hosts: HostPolicy = ANY_HOST
) -> None:
    if "code" in fields:
        problems.add(v.channel_code(fields["code"], "code"))
    if "rate_limit" in fields:
        problems.add(v.in_range(fields["rate_limit"], *RATE_LIMIT_RANGE, "rate_limit"))
    if "daily_quota" in fields:
        problems.add(v.in_range(fields["daily_quota"], *DAILY_QUOTA_RANGE, "daily_quota"))
    if "smtp_host" in fields:
        problems.add(v.text(fields["smtp_host"], 255, "smtp_host", needed=True))
        if isinstance(fields["smtp_host"], str) and not hosts.allows(fields["smtp_host"]):
            problems.add(
                Problem(
                    ErrorCode.HOST_NOT_ALLOWED,
                    not_allowed_message(fields["smtp_host"].strip()),
                    ("smtp_host",),
                )
            )
    if "smtp_port" in fields:
        problems.add(v.in_range(fields["smtp_port"], 1, 65535, "smtp_port"))
    for name in ("smtp_username", "smtp_password"):
        if name in fields:
            problems.add(v.text(fields[name], 255, name))
    check_sender_defaults(fields, problems)


def _sealed(session: AsyncSession, fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` with the SMTP password encrypted for storage."""
    if "smtp_password" in fields:
        fields["smtp_password"] = seal(session, fields["smtp_password"])
    return fields


async def create_email_channel(
    session: AsyncSession,
    account_id: int,
    fields: Mapping[str, Any],
    hosts: HostPolicy = ANY_HOST,
) -> EmailChannel:
    """`hosts`: the operator's CLARION_SMTP_ALLOWED_HOSTS."""
    fields = {
        "rate_limit": DEFAULT_RATE_LIMIT,
        **fields,
        "code": fields.get("code", "").strip().lower(),
    }
    problems = v.Problems()
    check_channel(fields, problems, hosts)
    problems.raise_if_any()
    if await code_taken(session, EmailChannel, account_id, fields["code"]):
        raise DomainError.one(ErrorCode.DUPLICATE, "A channel with this code exists.", "code")
    channel = EmailChannel(account_id=account_id, **_sealed(session, fields))
    session.add(channel)
    await session.flush()
    return channel


async def update_email_channel(
    session: AsyncSession,
    account_id: int,
    channel_id: int,
    changes: Mapping[str, Any],
    hosts: HostPolicy = ANY_HOST,
) -> EmailChannel:
    changes = dict(changes)
    if "code" in changes:
        changes["code"] = changes["code"].strip().lower()
    problems = v.Problems()
    check_channel(changes, problems, hosts)
    problems.raise_if_any()
    channel = await get_owned(session, EmailChannel, account_id, channel_id, "id")
    code = changes.get("code", channel.code)
    if code != channel.code and await code_taken(session, EmailChannel, account_id, code):
        raise DomainError.one(ErrorCode.DUPLICATE, "A channel with this code exists.", "code")
    was = channel.status
    for name, value in _sealed(session, changes).items():
        setattr(channel, name, value)
    await session.flush()
    if channel.status is not was:
        await follow_status(
            session,
            Campaign.email_channel_id,
            channel.id,
            channel.status is EmailChannelStatus.ACTIVE,
            channel_halt_reason(channel),
        )
    return channel


async def delete_email_channel(session: AsyncSession, account_id: int, channel_id: int) -> None:
    channel = await get_owned(session, EmailChannel, account_id, channel_id, "id")
    await refuse_if_campaigns_use(session, Campaign.email_channel_id, channel.id, "channel")
    await session.delete(channel)
    await session.flush()
