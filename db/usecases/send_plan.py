"""What a run of a campaign needs, loaded once: channel, template, sender (`SendPlan`);
and the check, between batches, that the campaign may still send.

What a campaign sends (template source, resolved sender, UTM code) is fixed when it starts:
`snapshot` is stored on its execution and every run reads it, so editing the template, the
channel's or the account's defaults while it runs changes nothing of it (the next
campaign gets the edit). The channel's SMTP settings, rate limit and quota are read live:
a fixed password or a lowered limit applies at the next run. A suspended channel halts
its running campaigns until it is active again.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.enums import CampaignStatus, EmailChannelStatus, ExecutionStatus, SmtpSecurity
from db.models import (
    Account,
    Campaign,
    CampaignExecution,
    Contact,
    EmailChannel,
    EmailTemplate,
)
from db.queries import get_owned
from db.secrets import reveal
from db.usecases.campaigns import Sender, check_sender, resolve_sender

ACTIVE_EXECUTION = (ExecutionStatus.PENDING, ExecutionStatus.PROCESSING)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: SmtpSecurity
    username: str
    # Decrypted; kept out of reprs, so no log or traceback of a config shows it.
    password: str = field(repr=False)


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body_html: str
    body_text: str


@dataclass(frozen=True)
class SendPlan:
    """Everything a run needs that does not change while the campaign runs."""

    campaign_id: int
    channel_id: int
    smtp: SmtpConfig
    rate_limit: int | None
    daily_quota: int
    template: TemplateSource
    sender: Sender
    utm_code: str
    # Spread the sends so the last goes at `deadline` (None: as fast as allowed).
    deadline: datetime | None


async def start_run(session: AsyncSession, campaign_id: int, now: datetime) -> SendPlan | None:
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
    assert campaign.email_channel_id is not None
    channel = await session.get_one(EmailChannel, campaign.email_channel_id)
    if channel.status is not EmailChannelStatus.ACTIVE:
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


def channel_halt_reason(channel: EmailChannel) -> str:
    return (
        f"The email channel {channel.code!r} is {channel.status.value}; sending continues "
        "when it is active again."
    )


def halt_for_channel(execution: CampaignExecution, channel: EmailChannel, now: datetime) -> None:
    """Halts an execution whose channel may not send, with no time to continue at: the
    channel's reactivation continues it (db/usecases/email_channels.py)."""
    execution.status = ExecutionStatus.HALTED
    execution.error_message = channel_halt_reason(channel)
    execution.next_run_at = None
    execution.last_run_at = now
    execution.updated_at = now


async def snapshot(session: AsyncSession, campaign: Campaign) -> dict[str, Any]:
    """What the campaign sends, as it is now: stored on its execution when it starts."""
    assert campaign.email_template_id is not None
    template = await session.get_one(EmailTemplate, campaign.email_template_id)
    channel = (
        await session.get(EmailChannel, campaign.email_channel_id)
        if campaign.email_channel_id
        else None
    )
    account = await session.get_one(Account, campaign.account_id)
    source = TemplateSource(template.subject, template.body_html, template.body_text)
    return {
        "template": asdict(source),
        "sender": asdict(resolve_sender(campaign, channel, account)),
        "utm_code": campaign.utm_code,
    }


async def plan_for(
    session: AsyncSession,
    campaign: Campaign,
    deadline: datetime | None,
    fixed: dict[str, Any] | None = None,
) -> SendPlan:
    """The campaign's plan; its content and sender from `fixed` (its snapshot) if given,
    else as they are now (a test send, or an execution from before snapshots)."""
    assert campaign.email_channel_id is not None
    channel = await session.get_one(EmailChannel, campaign.email_channel_id)
    content = fixed if fixed is not None else await snapshot(session, campaign)
    return SendPlan(
        campaign_id=campaign.id,
        channel_id=channel.id,
        smtp=SmtpConfig(
            host=channel.smtp_host,
            port=channel.smtp_port,
            security=channel.smtp_security,
            username=channel.smtp_username,
            password=reveal(session, channel.smtp_password),
        ),
        rate_limit=channel.rate_limit,
        daily_quota=channel.daily_quota,
        template=TemplateSource(**content["template"]),
        sender=Sender(**content["sender"]),
        utm_code=content["utm_code"],
        deadline=deadline,
    )


async def test_email_plan(
    session: AsyncSession, account_id: int, campaign_id: int, to: str
) -> tuple[SendPlan, int | None]:
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
    return await plan_for(session, campaign, None), contact


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
