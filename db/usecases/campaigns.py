"""Campaigns: create (plain and the one-step email create), update, delete."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.enums import CampaignStatus, ChannelType
from db.errors import DomainError, ErrorCode, Problem
from db.models import Account, Audience, Campaign, EmailChannel, EmailTemplate
from db.queries import Ref, free_code, get_owned, resolve_ref
from db.state_machine import ALWAYS_EDITABLE_FIELDS, EDITABLE_STATUSES
from db.usecases.audiences import create_audience
from db.usecases.email_templates import check_budget, check_sources, create_email_template

DURATION_RANGE = (1, 1440)
_KIND_NAMES = {ChannelType.EMAIL: "email", ChannelType.SMS: "SMS", ChannelType.WHATSAPP: "WhatsApp"}
# Inputs that name another row, and the column each fills.
_REFS: dict[str, tuple[type[Audience] | type[EmailChannel] | type[EmailTemplate], str]] = {
    "audience": (Audience, "audience_id"),
    "email_channel": (EmailChannel, "email_channel_id"),
    "email_template": (EmailTemplate, "email_template_id"),
}


def check_campaign(fields: Mapping[str, Any], problems: v.Problems, now: datetime) -> None:
    if "name" in fields:
        problems.add(v.text(fields["name"], 255, "name", needed=True))
    if "description" in fields:
        problems.add(v.free_text(fields["description"], v.MAX_DESCRIPTION_LENGTH, "description"))
    for name in _REFS:
        if isinstance(fields.get(name), str):  # a code (an id was decoded to an int)
            problems.add(v.text(fields[name], v.MAX_CODE_LENGTH, name))
    for name in ("from_name", "reply_to_name"):
        if name in fields:
            problems.add(v.display_name(fields[name], name))
    for name in ("from_email", "reply_to_email"):
        if name in fields:
            problems.add(v.email(fields[name], name))
    if "utm_code" in fields:
        problems.add(v.text(fields["utm_code"], 100, "utm_code"))
    if "execution_duration_minutes" in fields:
        minutes = fields["execution_duration_minutes"]
        problems.add(v.in_range(minutes, *DURATION_RANGE, "execution_duration_minutes"))
    problems.add(v.future_instant(fields.get("scheduled_at"), now, "scheduled_at"))


async def _resolve_refs(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The fields with references replaced by the ids of the rows they name."""
    out = {k: val for k, val in fields.items() if k not in _REFS}
    for name, (model, column) in _REFS.items():
        ref: Ref | None = fields.get(name)
        if ref is not None:
            out[column] = await resolve_ref(session, model, account_id, ref, name)
    return out


@dataclass(frozen=True)
class Sender:
    """The addresses a campaign's messages carry, after falling back to channel and account."""

    from_email: str
    from_name: str
    reply_to_email: str
    reply_to_name: str


def resolve_sender(campaign: Campaign, channel: EmailChannel | None, account: Account) -> Sender:
    """Each field: the campaign's, else the channel's default, else the account's ("" if none)."""

    def first(field: str) -> str:
        values = [getattr(campaign, field)]
        if channel is not None:
            values.append(getattr(channel, f"default_{field}"))
        values.append(getattr(account, f"default_{field}"))
        return next((value for value in values if value), "")

    return Sender(
        from_email=first("from_email"),
        from_name=first("from_name"),
        reply_to_email=first("reply_to_email"),
        reply_to_name=first("reply_to_name"),
    )


async def check_sender(session: AsyncSession, campaign: Campaign) -> Sender:
    """From and reply-to addresses must resolve: campaign, then channel, then account."""
    account = await session.get_one(Account, campaign.account_id)
    channel = (
        await session.get(EmailChannel, campaign.email_channel_id)
        if campaign.email_channel_id
        else None
    )
    sender = resolve_sender(campaign, channel, account)
    problems = v.Problems()
    for field in ("from_email", "reply_to_email"):
        if not getattr(sender, field):
            problems.add(
                Problem(
                    ErrorCode.MISSING_SENDER,
                    f"No {field} on the campaign, its channel or the account; set one.",
                    (field,),
                )
            )
        else:  # a value stored before the checks were whole-string may not pass them
            problems.add(v.email(getattr(sender, field), field))
    for field in ("from_name", "reply_to_name"):
        problems.add(v.display_name(getattr(sender, field), field))
    problems.raise_if_any()
    return sender


async def create_campaign(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any], now: datetime
) -> Campaign:
    problems = v.Problems()
    for name in ("audience", "email_channel", "email_template"):
        if fields.get(name) is None:
            problems.add(Problem(ErrorCode.REQUIRED, f"{name} is required.", (name,)))
    check_campaign(fields, problems, now)
    problems.raise_if_any()
    values = await _resolve_refs(session, account_id, fields)
    campaign = Campaign(account_id=account_id, **values)
    session.add(campaign)
    await session.flush()
    await check_sender(session, campaign)
    return campaign


async def update_campaign(
    session: AsyncSession,
    account_id: int,
    campaign_id: int,
    changes: Mapping[str, Any],
    now: datetime,
) -> Campaign:
    problems = v.Problems()
    for name in ("audience", "email_channel", "email_template"):
        if name in changes and changes[name] is None:
            problems.add(Problem(ErrorCode.REQUIRED, f"{name} cannot be removed.", (name,)))
    check_campaign(changes, problems, now)
    problems.raise_if_any()
    campaign = await get_owned(session, Campaign, account_id, campaign_id, "id", for_update=True)
    # Imported here: both import this module.
    from db.kinds import kind_of
    from db.usecases.conversions import FIELD as PAYLOADS
    from db.usecases.conversions import PAYLOADS_LOCKED_STATUSES
    from db.usecases.messaging_campaigns import (
        CONTENT_FIELDS,
        no_spread,
        update_content,
        update_conversion_payloads,
    )

    foreign = sorted(set(changes) - kind_of(campaign).update_fields)
    if foreign:
        kind = _KIND_NAMES[campaign.channel_type]
        raise DomainError(
            [
                Problem(ErrorCode.INVALID, f"{name} does not apply to {kind} campaigns.", (name,))
                for name in foreign
            ]
        )
    if kind_of(campaign).waits_for_triggers(campaign) and "execution_duration_minutes" in changes:
        problem = no_spread(changes["execution_duration_minutes"])
        if problem is not None:
            raise DomainError([problem])
    if campaign.status not in EDITABLE_STATUSES:
        locked = sorted(set(changes) - ALWAYS_EDITABLE_FIELDS - {PAYLOADS})
        if PAYLOADS in changes and campaign.status in PAYLOADS_LOCKED_STATUSES:
            locked = sorted({*locked, PAYLOADS})
        if locked:
            raise DomainError(
                [
                    Problem(
                        ErrorCode.NOT_EDITABLE,
                        (
                            f"{name} can change only until the campaign ends"
                            if name == PAYLOADS
                            else f"{name} can change only while the campaign is draft or scheduled"
                        )
                        + f" (it is {campaign.status.value}).",
                        (name,),
                    )
                    for name in locked
                ]
            )
    if (
        campaign.status is CampaignStatus.SCHEDULED
        and "scheduled_at" in changes
        and changes["scheduled_at"] is None
    ):
        raise DomainError.one(
            ErrorCode.INVALID,
            "A scheduled campaign needs scheduled_at; start or cancel it instead.",
            "scheduled_at",
        )
    content = {name: changes[name] for name in CONTENT_FIELDS if name in changes}
    if content:
        await update_content(session, campaign, content)
    if content or PAYLOADS in changes:
        await update_conversion_payloads(session, campaign, changes)
    rest = {
        name: value
        for name, value in changes.items()
        if name not in CONTENT_FIELDS and name != PAYLOADS
    }
    values = await _resolve_refs(session, account_id, rest)
    for name, value in values.items():
        setattr(campaign, name, value)
    await session.flush()
    if {"from_email", "reply_to_email", "email_channel"} & set(changes):
        await check_sender(session, campaign)
    return campaign


async def delete_campaign(session: AsyncSession, account_id: int, campaign_id: int) -> None:
    campaign = await get_owned(session, Campaign, account_id, campaign_id, "id", for_update=True)
    if campaign.status is CampaignStatus.RUNNING:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            "A running campaign cannot be deleted; pause or cancel it.",
            "id",
        )
    # The database cascades to the execution, the ledger and the LTV entries.
    await session.execute(delete(Campaign).where(Campaign.id == campaign.id))
    session.expunge(campaign)


async def create_email_campaign(
    session: AsyncSession,
    account_id: int,
    fields: Mapping[str, Any],
    now: datetime,
    trial: v.TrialRender,
) -> Campaign:
    """The one-step create: a new audience (by contact tags), a new template, the campaign.

    Every input is validated before anything is written, so a refusal lists all problems.
    The template's sources are trial-rendered by `trial` (see create_email_template).
    """
    fields = dict(fields)
    fields["email_channel"] = fields["email_channel"].strip().lower()
    for label in ("audience_name", "template_name"):
        fields[label] = fields.get(label, "").strip()
    name = fields.pop("campaign_name")
    problems = v.Problems()
    problems.add(v.text(name, 255, "campaign_name", needed=True))
    problems.add(v.channel_code(fields["email_channel"], "email_channel"))
    problems.add(v.tags(fields["contact_tags"], "contact_tags", needed=True))
    check_sources({"body_text": "", **fields}, problems)
    for label in ("audience_name", "template_name"):
        problems.add(v.text(fields.get(label, ""), 255, label))
    # (email_channel is a channel code here, checked above)
    check_campaign({k: v for k, v in fields.items() if k != "email_channel"}, problems, now)
    await check_budget(fields, trial, problems)
    problems.raise_if_any()

    channel_id = await resolve_ref(
        session, EmailChannel, account_id, fields.pop("email_channel"), "email_channel"
    )
    audience = await create_audience(
        session,
        account_id,
        {"name": fields.pop("audience_name", "") or name, "tags": fields.pop("contact_tags")},
    )
    template_name = fields.pop("template_name", "") or name
    template = await create_email_template(
        session,
        account_id,
        {
            "name": template_name,
            "code": await free_code(session, EmailTemplate, account_id, template_name),
            "subject": fields.pop("subject"),
            "body_html": fields.pop("body_html"),
            "body_text": fields.pop("body_text", ""),
        },
        _already_tried,
    )
    campaign = Campaign(
        account_id=account_id,
        name=name,
        audience_id=audience.id,
        email_channel_id=channel_id,
        email_template_id=template.id,
        **fields,
    )
    session.add(campaign)
    await session.flush()
    await check_sender(session, campaign)
    return campaign


async def _already_tried(sources: Mapping[str, str]) -> Mapping[str, str]:
    """create_email_campaign trial-renders its template's sources while validating."""
    return {}
