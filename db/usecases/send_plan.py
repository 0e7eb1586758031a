"""What a run of a campaign needs, loaded once (`SendPlan`); and the check, between
batches, that the campaign may still send.

What a campaign sends is fixed when it starts: its kind's `snapshot` (db/kinds) is stored
on its execution and every run reads it, so editing the template, the channel's or the
account's defaults while it runs changes nothing of it (the next campaign gets the edit).
The channel's settings (servers, credentials), rate limit and quota are read live: a fixed
password or a lowered limit applies at the next run. An inactive channel halts its
running campaigns until it is active again.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.enums import CampaignStatus, ChannelType, ExecutionStatus
from db.kinds import ChannelState, kind_of
from db.kinds.email import EmailSettings
from db.models import Campaign, CampaignExecution, Contact
from db.queries import get_owned
from db.quota import QuotaWindow
from db.usecases.campaigns import check_sender

ACTIVE_EXECUTION = (ExecutionStatus.PENDING, ExecutionStatus.PROCESSING)

S = TypeVar("S")


@dataclass(frozen=True)
class SendPlan(Generic[S]):
    """Everything a run needs that does not change while the campaign runs."""

    campaign_id: int
    account_id: int
    # Its rows are leads, whose changes are announced (db/kinds: `has_leads`).
    has_leads: bool
    # The campaign's channel: whose consent its recipients need (db/usecases/consent.py).
    channel_type: ChannelType
    # The channel family that sends it (jobs/channels/registry.py) and its settings.
    family: str
    settings: S
    channel_id: int
    channel_key: str
    rate_limit: int | None
    daily_quota: int
    # How the quota is counted: per UTC day, or over a moving 24 hours (db/quota.py).
    quota_window: QuotaWindow
    # The contact's consent flag a recipient needs up to its send (db/kinds).
    consent_column: str
    # Each claim gives its rows a Message-ID in this domain (None: the provider names them).
    message_id_domain: str | None
    # Spread the sends so the last goes at `deadline` (None: as fast as allowed).
    deadline: datetime | None


async def start_run(session: AsyncSession, campaign_id: int, now: datetime) -> SendPlan[Any] | None:
    """The plan of a running campaign whose execution may send; marks it processing.

    None when the campaign is not running or its execution is paused, halted or final.
    """
    found = (
        await session.execute(
            select(Campaign, CampaignExecution)
            .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id == campaign_id)
            .with_for_update(of=Campaign)
        )
    ).one_or_none()
    if found is None:
        return None
    campaign, execution = found
    if campaign.status is not CampaignStatus.RUNNING or execution.status not in ACTIVE_EXECUTION:
        return None
    channel = await kind_of(campaign).channel(session, campaign)
    if channel is None or not channel.active:
        halt_for_channel(execution, channel, now)
        return None
    if execution.status is ExecutionStatus.PENDING:
        execution.status = ExecutionStatus.PROCESSING
        execution.updated_at = now
    spread = campaign.execution_duration_minutes is not None
    return await plan_for(
        session,
        campaign,
        execution.expected_completion_at if spread else None,
        execution.send_snapshot,
    )


def halt_for_channel(
    execution: CampaignExecution, channel: ChannelState | None, now: datetime
) -> None:
    """Halts an execution whose channel may not send, with no time to continue at: the
    channel's reactivation continues it (e.g. db/usecases/email_channels.py)."""
    execution.status = ExecutionStatus.HALTED
    execution.error_message = (
        channel.inactive_reason if channel else "The campaign's channel was deleted."
    )
    execution.next_run_at = None
    execution.last_run_at = now
    execution.updated_at = now


async def snapshot(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """What the campaign sends, as it is now: stored on its execution when it starts."""
    return await kind_of(campaign).snapshot(session, campaign)


async def plan_for(
    session: AsyncSession,
    campaign: Campaign,
    deadline: datetime | None,
    fixed: dict[str, Any] | None = None,
) -> SendPlan[Any]:
    """The campaign's plan; what it sends from `fixed` (its snapshot) if given, else as it
    is now (a test send, or an execution from before snapshots)."""
    kind = kind_of(campaign)
    channel = await kind.channel(session, campaign)
    assert channel is not None
    content = fixed if fixed is not None else await kind.snapshot(session, campaign)
    settings = await kind.settings(session, campaign, content)
    return SendPlan(
        campaign_id=campaign.id,
        account_id=campaign.account_id,
        has_leads=kind.has_leads,
        channel_type=campaign.channel_type,
        family=kind.family,
        settings=settings,
        channel_id=channel.id,
        channel_key=channel.key,
        rate_limit=channel.rate_limit,
        daily_quota=channel.daily_quota,
        quota_window=channel.quota_window,
        consent_column=kind.consent_column,
        message_id_domain=kind.message_id_domain(settings),
        deadline=deadline,
    )


async def test_email_plan(
    session: AsyncSession, account_id: int, campaign_id: int, to: str
) -> tuple[SendPlan[EmailSettings], int | None]:
    """What `sendTestEmail` sends (any status; nothing is changed): the campaign's plan, and
    the id of the account's contact with address `to`, whose fields fill the template if
    there is one."""
    problems = v.Problems()
    problems.add(v.email(to, "email", needed=True))
    problems.raise_if_any()
    campaign = await get_owned(session, Campaign, account_id, campaign_id, "campaign_id")
    await check_sender(session, campaign)
    contact = await session.scalar(
        select(Contact.id).where(Contact.account_id == account_id, Contact.email == to.lower())
    )
    plan = await plan_for(session, campaign, None)
    assert isinstance(plan.settings, EmailSettings)
    return plan, contact


async def may_send(session: AsyncSession, campaign_id: int) -> bool:
    """True while the campaign is running and its execution is processing."""
    found = (
        await session.execute(
            select(Campaign.status, CampaignExecution.status)
            .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id == campaign_id)
        )
    ).one_or_none()
    return found is not None and (
        found[0] is CampaignStatus.RUNNING and found[1] is ExecutionStatus.PROCESSING
    )
