"""Leads read by id for live updates (`leadUpdates`): those of one campaign of one account,
so ids named by a message can only ever show that campaign's own leads."""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Delivery


async def campaign_leads(
    session: AsyncSession, account_id: int, campaign_id: int, ids: Sequence[int]
) -> list[Delivery]:
    """The campaign's leads among `ids` (one query: callers pass a page of ids), by id."""
    rows = await session.scalars(
        select(Delivery)
        .where(
            Delivery.account_id == account_id,
            Delivery.campaign_id == campaign_id,
            Delivery.id.in_(list(ids)),
        )
        .order_by(Delivery.id)
    )
    return list(rows)
