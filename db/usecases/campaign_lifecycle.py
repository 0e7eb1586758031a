"""Lifecycle actions: schedule, start, pause, resume, cancel.

Each checks the transition table, changes the campaign and its execution in the caller's
transaction, and returns the campaign. The caller enqueues the send job after commit.
"""

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import CampaignStatus, DeliveryStatus, ExecutionStatus
from db.errors import DomainError, ErrorCode
from db.kinds import kind_of
from db.models import Campaign, CampaignExecution, Delivery
from db.queries import get_owned
from db.state_machine import Action, allowed_from, next_status
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

    Starting now writes the delivery ledger: the campaign kind's recipients (for email,
    one row per audience member with an email and email consent; members without
    consent, and phone-only members, are left out and counted in `total_skipped`).
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


async def _check_ready(session: AsyncSession, campaign: Campaign) -> None:
    """What a campaign needs before it may be started or scheduled (by its kind)."""
    await kind_of(campaign).check_ready(session, campaign)


async def begin_sending(session: AsyncSession, campaign: Campaign, now: datetime) -> None:
    """Checks readiness, writes the ledger (the campaign kind's recipients) and creates
    the execution, with the snapshot of what it sends (see db/usecases/send_plan.py).

    The execution stays pending until a worker takes it.
    """
    kind = kind_of(campaign)
    await kind.check_ready(session, campaign)
    channel = await kind.channel(session, campaign)
    assert channel is not None  # check_ready refuses a campaign without one
    recipients = await kind.add_recipients(session, campaign, now)
    tracked = 0 if channel.tracks_engagement else None
    minutes = campaign.execution_duration_minutes
    session.add(
        CampaignExecution(
            campaign_id=campaign.id,
            status=ExecutionStatus.PENDING,
            started_at=now,
            expected_completion_at=now + timedelta(minutes=minutes) if minutes else None,
            total_contacts=recipients.total,
            total_skipped=recipients.skipped,
            total_opened=tracked,
            total_clicked=tracked,
            send_snapshot=await kind.snapshot(session, campaign),
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


async def set_enabled(
    session: AsyncSession, account_id: int, campaign_id: int, enabled: bool, now: datetime
) -> Campaign:
    """The spec's play/pause switch, as the lifecycle's actions: on starts a draft or
    scheduled campaign (now, or at scheduledAt) and resumes a paused one; off pauses a
    running one. Already in the asked state: nothing changes."""
    campaign = await _campaign(session, account_id, campaign_id)
    status = campaign.status
    if enabled and status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        return await start_campaign(session, account_id, campaign_id, now)
    if enabled and status is CampaignStatus.PAUSED:
        return await resume_campaign(session, account_id, campaign_id, now)
    if not enabled and status is CampaignStatus.RUNNING:
        return await pause_campaign(session, account_id, campaign_id, now)
    if (enabled and status is CampaignStatus.RUNNING) or (
        not enabled and status in (CampaignStatus.DRAFT, CampaignStatus.PAUSED)
    ):
        return campaign
    what = "enabled" if enabled else "disabled"
    hint = " (cancel it, or reschedule it)" if status is CampaignStatus.SCHEDULED else ""
    raise DomainError.one(
        ErrorCode.INVALID_STATE, f"A {status.value} campaign cannot be {what}{hint}.", "id"
    )
