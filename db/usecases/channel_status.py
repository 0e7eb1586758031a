"""What a channel's status change does to the campaigns running on it, for every family."""

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.clock import db_now
from db.enums import CampaignStatus, ExecutionStatus
from db.models import Campaign, CampaignExecution


async def follow_status(
    session: AsyncSession,
    campaign_column: InstrumentedAttribute[int | None] | ColumnElement[int | None],
    channel_id: int,
    active: bool,
    halt_reason: str,
) -> None:
    """A channel that stops being active halts its running campaigns (no time to continue
    at, the reason as the execution's error); active again, they continue at the next sweep.
    The campaigns are locked like a pause locks them, so no batch is claimed in between."""
    running = (
        await session.scalars(
            select(Campaign.id)
            .where(campaign_column == channel_id, Campaign.status == CampaignStatus.RUNNING)
            .with_for_update()
        )
    ).all()
    if not running:
        return
    now = await db_now(session)
    mine = CampaignExecution.campaign_id.in_(running)
    if active:
        await session.execute(
            update(CampaignExecution)
            .where(
                mine,
                CampaignExecution.status == ExecutionStatus.HALTED,
                CampaignExecution.next_run_at.is_(None),
            )
            .values(next_run_at=now, updated_at=now)
        )
        return
    await session.execute(
        update(CampaignExecution)
        .where(
            mine,
            CampaignExecution.status.in_(
                [ExecutionStatus.PENDING, ExecutionStatus.PROCESSING, ExecutionStatus.HALTED]
            ),
        )
        .values(
            status=ExecutionStatus.HALTED,
            next_run_at=None,
            error_message=halt_reason,
            updated_at=now,
        )
    )
