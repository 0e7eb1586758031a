"""A campaign's WhatsApp/SMS fields (null or empty for email campaigns), resolved from its
content, leads and execution through the request's loaders."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, cast

from sqlalchemy import false, select
from strawberry.scalars import JSON

from db import models
from db import validation as v
from db.enums import CampaignStatus, ChannelType
from db.enums import LeadStatus as DbLeadStatus
from db.lead_status import lead_status_in
from db.rates import percentage
from graph.context import Info
from graph.enums import ApprovalStatus, ContentType, LeadStatus
from graph.errors import ClientError
from graph.pagination import Connection, paginate
from graph.types.lead import Lead
from jobs.channels.twilio.content import context_variables, render, twilio_variables
from jobs.channels.twilio.segments import segments

if TYPE_CHECKING:
    from graph.types.campaign import Campaign


async def _content(root: "Campaign", info: Info) -> models.MessagingContent | None:
    return await info.context.loaders.content_by_campaign.load(root.pk)


async def content_type(root: "Campaign", info: Info) -> ContentType | None:
    content = await _content(root, info)
    return content.content_type if content else None


async def content_context(root: "Campaign", info: Info) -> JSON | None:
    content = await _content(root, info)
    return cast(JSON, content.context) if content else None


async def content_sid(root: "Campaign", info: Info) -> str | None:
    content = await _content(root, info)
    if content is None:
        return None
    return content.content_sid or content.created_content_sid or None


async def approval_status(root: "Campaign", info: Info) -> ApprovalStatus | None:
    content = await _content(root, info)
    return content.approval_status if content else None


async def rejection_reason(root: "Campaign", info: Info) -> str | None:
    content = await _content(root, info)
    return (content.rejection_reason or None) if content else None


async def enabled(root: "Campaign", info: Info) -> datetime | None:
    """When it was last enabled (started or resumed), while it may send; null otherwise."""
    if root.status is CampaignStatus.SCHEDULED:
        return root.updated_at
    if root.status is not CampaignStatus.RUNNING:
        return None
    execution = await info.context.loaders.execution_by_campaign.load(root.pk)
    if execution is None:
        return None
    return execution.resumed_at or execution.started_at


async def total_leads(root: "Campaign", info: Info) -> int:
    if root.channel_type is ChannelType.EMAIL:
        return 0
    return await info.context.loaders.active_leads.load(root.pk)


async def messages_sent(root: "Campaign", info: Info) -> int:
    execution = await info.context.loaders.execution_by_campaign.load(root.pk)
    return execution.total_sent if execution else 0


async def _lead_counts(root: "Campaign", info: Info) -> models.CampaignExecution | None:
    """The execution whose lead counters (delivered, read, replied, converted) apply: none
    for email campaigns (their ledger rows are not leads) or before the start."""
    if root.channel_type is ChannelType.EMAIL:
        return None
    return await info.context.loaders.execution_by_campaign.load(root.pk)


def _lead_count(
    counter: Callable[[models.CampaignExecution], int],
) -> Callable[["Campaign", Info], Awaitable[int]]:
    """A resolver of one of the execution's lead counters (0 before the start)."""

    async def resolve(root: "Campaign", info: Info) -> int:
        execution = await _lead_counts(root, info)
        return counter(execution) if execution else 0

    return resolve


def _rate(
    counter: Callable[[models.CampaignExecution], int],
) -> Callable[["Campaign", Info], Awaitable[float | None]]:
    """A resolver of a counter as a percentage of the messages sent (db/rates.py): 0 before
    the start, null for email campaigns."""

    async def resolve(root: "Campaign", info: Info) -> float | None:
        if root.channel_type is ChannelType.EMAIL:
            return None
        execution = await _lead_counts(root, info)
        return percentage(counter(execution), execution.total_sent) if execution else 0.0

    return resolve


messages_delivered = _lead_count(lambda e: e.total_delivered)
messages_read = _lead_count(lambda e: e.total_read)
messages_replied = _lead_count(lambda e: e.total_replied)
messages_converted = _lead_count(lambda e: e.total_converted)
reply_rate = _rate(lambda e: e.total_replied)
conversion_rate = _rate(lambda e: e.total_converted)


async def custom_variable_keys(root: "Campaign", info: Info) -> list[str]:
    content = await _content(root, info)
    return list(content.variable_keys) if content else []


async def context_variables_of(root: "Campaign", info: Info) -> list[str]:
    content = await _content(root, info)
    if content is None or content.context is None:
        return []
    return context_variables(content.content_type, content.context)


async def body_preview(root: "Campaign", info: Info) -> str | None:
    """The body filled with the first active lead's values, else with samples."""
    content = await _content(root, info)
    if content is None or content.context is None:
        return None
    values = dict(twilio_variables(content.content_type, content.context))
    values |= await info.context.loaders.first_lead_values.load(root.pk) or {}
    return render(content.content_type, content.context, values).body_preview


async def body_preview_segments(root: "Campaign", info: Info) -> int | None:
    if root.channel_type is not ChannelType.SMS:
        return None
    preview = await body_preview(root, info)
    return None if preview is None else segments(preview).segments


async def leads(
    root: "Campaign",
    info: Info,
    status: list[LeadStatus] | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Lead]:
    stmt = select(models.Delivery).where(models.Delivery.campaign_id == root.pk)
    if root.channel_type is ChannelType.EMAIL:  # its ledger rows are deliveries, not leads
        stmt = stmt.where(false())
    if status:
        if problem := v.too_many(status, len(LeadStatus), "status"):
            raise ClientError(problem.message, problem.code.name)
        stmt = stmt.where(lead_status_in({DbLeadStatus(s.value) for s in status}))
    return await paginate(
        info.context.db,
        stmt,
        models.Delivery.id,
        Lead.from_model,
        first=first,
        after=after,
        last=last,
        before=before,
    )
