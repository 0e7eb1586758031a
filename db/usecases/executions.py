"""An execution's course as the send pipeline and the sweeper see it: what is left
(`backlog`), ending it (`settle`), stopping it until later (`halt`), and finding work that
is due (`continue_halted`, `runnable`, `due_scheduled`).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import CampaignStatus, DeliveryStatus, ExecutionStatus
from db.kinds import kind_of
from db.models import (
    Campaign,
    CampaignExecution,
    Delivery,
)
from db.state_machine import Action, next_status
from db.usecases.ledger import due_kinds, rowcount
from db.usecases.send_plan import ACTIVE_EXECUTION


@dataclass(frozen=True)
class Backlog:
    """Rows of a campaign still to send (pending or in flight), and when the next one is due
    (None: now)."""

    left: int
    next_at: datetime | None


async def backlog(session: AsyncSession, campaign_id: int) -> Backlog:
    left, next_at = (
        await session.execute(
            select(
                func.count(),
                func.min(
                    case(
                        (Delivery.status == DeliveryStatus.PENDING, Delivery.retry_at),
                        else_=Delivery.lease_expires_at,
                    )
                ),
            ).where(
                Delivery.campaign_id == campaign_id,
                Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
            )
        )
    ).one()
    return Backlog(left, next_at)


async def settle(session: AsyncSession, campaign_id: int, now: datetime) -> ExecutionStatus | None:
    """Ends the execution once no row is pending or in flight; the totals come from the
    ledger. Completed when none failed, failed when none was sent, else partially
    completed. Returns the final status, or None when something is still left to send.

    A campaign whose kind waits for triggers (a service campaign) does not end: its
    execution stays processing (returned as such) until a trigger brings a row."""
    counts = await _rows_by_status(session, campaign_id)
    if counts.get(DeliveryStatus.PENDING) or counts.get(DeliveryStatus.SENDING):
        return None
    campaign = await session.get_one(Campaign, campaign_id, with_for_update=True)
    if campaign.status is not CampaignStatus.RUNNING:
        return None
    if kind_of(campaign).waits_for_triggers(campaign):
        return ExecutionStatus.PROCESSING
    sent, failed = counts.get(DeliveryStatus.SENT, 0), counts.get(DeliveryStatus.FAILED, 0)
    if failed == 0:
        final = ExecutionStatus.COMPLETED
    elif sent == 0:
        final = ExecutionStatus.FAILED
    else:
        final = ExecutionStatus.PARTIALLY_COMPLETED
    status = next_status(
        campaign.status, Action.FAIL if final is ExecutionStatus.FAILED else Action.FINISH
    )
    assert status is not None
    campaign.status = status
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(
            status=final,
            total_sent=sent,
            total_failed=failed,
            completed_at=now,
            last_run_at=now,
            next_run_at=None,
            updated_at=now,
            error_message="" if failed == 0 else f"{failed} recipient(s) failed; see the ledger.",
        )
    )
    return final


async def fail(session: AsyncSession, campaign_id: int, now: datetime, reason: str) -> bool:
    """Ends a running campaign as failed, for a reason no retry can help (its template is
    over the render budget): every row still pending or in flight fails with the reason,
    and the execution records it. False when the campaign is no longer running (paused or
    cancelled meanwhile: it meets the reason again when resumed)."""
    campaign = await session.get_one(Campaign, campaign_id, with_for_update=True)
    status = next_status(campaign.status, Action.FAIL)
    if campaign.status is not CampaignStatus.RUNNING or status is None:
        return False
    campaign.status = status
    await session.execute(
        update(Delivery)
        .where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
        )
        .values(
            status=DeliveryStatus.FAILED,
            error_message=f"The campaign failed: {reason}"[:2000],
            lease_expires_at=None,
            claim_token=None,
        )
        .execution_options(synchronize_session=False)
    )
    counts = await _rows_by_status(session, campaign_id)
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(
            status=ExecutionStatus.FAILED,
            total_sent=counts.get(DeliveryStatus.SENT, 0),
            total_failed=counts.get(DeliveryStatus.FAILED, 0),
            completed_at=now,
            last_run_at=now,
            next_run_at=None,
            updated_at=now,
            error_message=reason[:2000],
        )
    )
    return True


async def halt(
    session: AsyncSession, campaign_id: int, now: datetime, until: datetime, reason: str
) -> bool:
    """Stops a processing execution until `until`; the sweeper continues it then."""
    outcome = await session.execute(
        update(CampaignExecution)
        .where(
            CampaignExecution.campaign_id == campaign_id,
            CampaignExecution.status == ExecutionStatus.PROCESSING,
        )
        .values(
            status=ExecutionStatus.HALTED,
            next_run_at=until,
            error_message=reason[:2000],
            last_run_at=now,
            updated_at=now,
        )
    )
    return rowcount(outcome) > 0


async def end_run(session: AsyncSession, campaign_id: int, now: datetime) -> None:
    await session.execute(
        update(CampaignExecution)
        .where(CampaignExecution.campaign_id == campaign_id)
        .values(last_run_at=now)
    )


async def continue_halted(session: AsyncSession, now: datetime) -> list[int]:
    """Halted executions whose `next_run_at` came go back to processing; their campaigns."""
    due = (
        await session.scalars(
            select(CampaignExecution.campaign_id)
            .join(Campaign, Campaign.id == CampaignExecution.campaign_id)
            .where(
                CampaignExecution.status == ExecutionStatus.HALTED,
                CampaignExecution.next_run_at <= now,
                Campaign.status == CampaignStatus.RUNNING,
            )
        )
    ).all()
    if due:
        await session.execute(
            update(CampaignExecution)
            .where(
                CampaignExecution.campaign_id.in_(due),
                CampaignExecution.status == ExecutionStatus.HALTED,
            )
            .values(status=ExecutionStatus.PROCESSING, next_run_at=None, updated_at=now)
        )
    return list(due)


async def runnable(session: AsyncSession, now: datetime) -> list[int]:
    """Running campaigns whose execution may send and that have a row due now, or none
    left at all (their run ended before settling them), unless their kind waits for
    triggers: an idle service campaign has nothing to settle, its next trigger queues it."""
    due = or_(*(exists().where(Delivery.campaign_id == Campaign.id, k) for k in due_kinds(now)))
    rows = await session.execute(
        select(Campaign, due)
        .join(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
        .where(
            Campaign.status == CampaignStatus.RUNNING,
            CampaignExecution.status.in_(ACTIVE_EXECUTION),
            or_(
                due,
                ~exists().where(
                    Delivery.campaign_id == Campaign.id,
                    Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
                ),
            ),
        )
    )
    return [
        campaign.id
        for campaign, is_due in rows.all()
        if is_due or not kind_of(campaign).waits_for_triggers(campaign)
    ]


async def due_scheduled(session: AsyncSession, now: datetime) -> list[int]:
    """Scheduled campaigns whose `scheduled_at` has come."""
    rows = await session.scalars(
        select(Campaign.id).where(
            Campaign.status == CampaignStatus.SCHEDULED, Campaign.scheduled_at <= now
        )
    )
    return list(rows.all())


async def current(
    session: AsyncSession, campaign_id: int
) -> tuple[Campaign, CampaignExecution | None] | None:
    """A campaign and its execution (None before it starts), as they are now."""
    found = (
        await session.execute(
            select(Campaign, CampaignExecution)
            .outerjoin(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
            .where(Campaign.id == campaign_id)
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])


async def current_many(
    session: AsyncSession, campaign_ids: Collection[int]
) -> list[tuple[Campaign, CampaignExecution | None]]:
    """`current` of many campaigns, in one query (those that exist)."""
    found = await session.execute(
        select(Campaign, CampaignExecution)
        .outerjoin(CampaignExecution, CampaignExecution.campaign_id == Campaign.id)
        .where(Campaign.id.in_(list(campaign_ids)))
        .order_by(Campaign.id)
    )
    return [(row[0], row[1]) for row in found]


async def _rows_by_status(session: AsyncSession, campaign_id: int) -> dict[DeliveryStatus, int]:
    """How many of the campaign's ledger rows are in each status."""
    found = await session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)
    )
    return {status: int(count) for status, count in found.all()}
