"""Lifecycle actions: schedule, start, pause, resume, cancel.

Each checks the transition table, changes the campaign and its execution in the caller's
transaction, and returns the campaign. The caller enqueues the send job after commit.
"""

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import CampaignStatus, DeliveryStatus, EmailChannelStatus, ExecutionStatus
from db.errors import DomainError, ErrorCode
from db.models import Audience, Campaign, CampaignExecution, Delivery, EmailChannel
from db.queries import count_audience, get_owned, materialise_ledger
from db.state_machine import Action, allowed_from, next_status
from db.usecases.campaigns import check_sender
from db.usecases.send_plan import snapshot
from db.validation import future_instant


def _refuse(campaign: Campaign, action: Action) -> DomainError:
    allowed = ", ".join(s.value for s in allowed_from(action))
    return DomainError.one(
        ErrorCode.INVALID_STATE,
        f"Cannot {action.value.replace('_', ' ')} a {campaign.status.value} campaign "
        f"(allowed from: {allowed}).",
        "id",
    )


def _apply(campaign: Campaign, action: Action) -> None:
    status = next_status(campaign.status, action)
    if status is None:
        raise _refuse(campaign, action)
    campaign.status = status


async def _campaign(session: AsyncSession, account_id: int, campaign_id: int) -> Campaign:
    return await get_owned(session, Campaign, account_id, campaign_id, "id", for_update=True)


async def schedule_campaign(
    session: AsyncSession,
    account_id: int,
    campaign_id: int,
    scheduled_at: datetime | None,
    now: datetime,
) -> Campaign:
    campaign = await _campaign(session, account_id, campaign_id)
    when = scheduled_at or campaign.scheduled_at
    if when is None:
        raise DomainError.one(
            ErrorCode.REQUIRED, "scheduled_at is required to schedule.", "scheduled_at"
        )
    problem = future_instant(when, now, "scheduled_at")
    if problem is not None:
        raise DomainError([problem])
    _apply(campaign, Action.SCHEDULE)
    campaign.scheduled_at = when
    await _check_ready(session, campaign)
    await session.flush()
    return campaign


async def start_campaign(
    session: AsyncSession, account_id: int, campaign_id: int, now: datetime
) -> Campaign:
    """Starts now, or at `scheduled_at` when that lies in the future.

    Starting now writes the delivery ledger in one INSERT … SELECT: one row per audience
    member with an email and email consent. Members without consent, and phone-only
    members, are left out and counted as skipped (`total_skipped`).
    """
    campaign = await _campaign(session, account_id, campaign_id)
    later = campaign.scheduled_at is not None and campaign.scheduled_at > now
    _apply(campaign, Action.START_LATER if later else Action.START)
    if later:
        await _check_ready(session, campaign)
    else:
        await begin_sending(session, campaign, now)
    await session.flush()
    return campaign


async def _check_ready(session: AsyncSession, campaign: Campaign) -> tuple[EmailChannel, int]:
    """What a campaign needs before it may be started or scheduled.

    Returns its channel and how many audience members it skips (no email consent, or no
    email: phone-only contacts).
    """
    channel = (
        await session.get(EmailChannel, campaign.email_channel_id)
        if campaign.email_channel_id
        else None
    )
    if channel is None or channel.status is not EmailChannelStatus.ACTIVE:
        state = "missing" if channel is None else channel.status.value
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            f"The campaign's email channel must be active (it is {state}).",
            "email_channel",
        )
    await check_sender(session, campaign)
    audience = await session.get_one(Audience, campaign.audience_id)
    reachable, skipped = await count_audience(session, campaign.account_id, audience.tags)
    if reachable == 0:
        raise DomainError.one(
            ErrorCode.EMPTY_AUDIENCE,
            f"Audience {audience.code!r} has no contact with an email and email consent"
            f" ({skipped} without either).",
            "audience",
        )
    return channel, skipped


async def begin_sending(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    """Checks readiness, materialises the ledger and creates the execution, with the
    snapshot of what it sends (see db/usecases/send_plan.py).

    The execution stays pending until a worker takes it.
    """
    channel, skipped = await _check_ready(session, campaign)
    audience = await session.get_one(Audience, campaign.audience_id)
    await session.execute(materialise_ledger(campaign.account_id, campaign.id, audience.tags))
    total = (
        await session.scalar(select(func.count()).where(Delivery.campaign_id == campaign.id)) or 0
    )
    tracked = 0 if channel.enable_engagement_tracking else None
    minutes = campaign.execution_duration_minutes
    session.add(
        CampaignExecution(
            campaign_id=campaign.id,
            status=ExecutionStatus.PENDING,
            started_at=now,
            expected_completion_at=now + timedelta(minutes=minutes) if minutes else None,
            total_contacts=total,
            total_skipped=skipped,
            total_opened=tracked,
            total_clicked=tracked,
            send_snapshot=await snapshot(session, campaign),
            created_at=now,
            updated_at=now,
        )
    )


async def begin_due(session: AsyncSession, campaign_id: int, now: datetime) -> bool:
    """The sweeper's start of a scheduled campaign whose time came; False if it is no
    longer scheduled and due. A campaign that cannot start then (its channel suspended,
    nobody left to email, …) fails, with the reason as the execution's error."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if (
        campaign is None
        or campaign.scheduled_at is None
        or campaign.scheduled_at > now
        or next_status(campaign.status, Action.BEGIN_SENDING) is None
    ):
        return False
    try:
        async with session.begin_nested():
            await begin_sending(session, campaign, now)
            _apply(campaign, Action.BEGIN_SENDING)
    except DomainError as exc:
        _apply(campaign, Action.FAIL)
        session.add(
            CampaignExecution(
                campaign_id=campaign.id,
                status=ExecutionStatus.FAILED,
                started_at=now,
                completed_at=now,
                error_message=f"Could not start at the scheduled time: {exc}",
                created_at=now,
                updated_at=now,
            )
        )
    await session.flush()
    return campaign.status is CampaignStatus.RUNNING


async def pause_campaign(
    session: AsyncSession, account_id: int, campaign_id: int, now: datetime
) -> Campaign:
    campaign = await _campaign(session, account_id, campaign_id)
    _apply(campaign, Action.PAUSE)
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign.id)
        .values(status=ExecutionStatus.PAUSED, paused_at=now, updated_at=now)
    )
    await session.flush()
    return campaign


async def resume_campaign(
    session: AsyncSession, account_id: int, campaign_id: int, now: datetime
) -> Campaign:
    """Sending continues with the rows not yet sent. A spread campaign's window moves by
    the time it was paused, so the rest keeps its pace rather than rushing."""
    campaign = await _campaign(session, account_id, campaign_id)
    _apply(campaign, Action.RESUME)
    execution = await session.scalar(
        select(CampaignExecution).where(CampaignExecution.campaign_id == campaign.id)
    )
    assert execution is not None
    if campaign.execution_duration_minutes and execution.expected_completion_at:
        paused_for = now - (execution.paused_at or now)
        execution.expected_completion_at += max(paused_for, timedelta(0))
    execution.status = ExecutionStatus.PROCESSING
    execution.resumed_at = now
    execution.next_run_at = None
    execution.updated_at = now
    await session.flush()
    return campaign


async def cancel_campaign(
    session: AsyncSession, account_id: int, campaign_id: int, now: datetime
) -> Campaign:
    """Final: every recipient not sent is marked cancelled in the ledger, those a worker
    is sending right now too. Their claim keeps its token, so that worker still records
    what it did send (db/usecases/ledger.py `record`); nothing is left pending or sending."""
    campaign = await _campaign(session, account_id, campaign_id)
    _apply(campaign, Action.CANCEL)
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign.id)
        .values(status=ExecutionStatus.CANCELLED, cancelled_at=now, updated_at=now)
    )
    await session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign.id,
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
        )
        .values(status=DeliveryStatus.CANCELLED, lease_expires_at=None)
    )
    await session.flush()
    return campaign
