"""DataLoaders, made per request: each batch opens its own short read session."""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, select
from strawberry.dataloader import DataLoader

from db.engine import Database
from db.models import (
    Audience,
    CampaignExecution,
    Contact,
    ContactTag,
    Delivery,
    EmailChannel,
    EmailTemplate,
    MessagingContent,
    Reply,
    TwilioChannel,
)
from db.queries import reachable_counts
from db.usecases.ledger import recipients

# An audience's reach is asked by its account and tags (the audience's row is not needed).
ReachKey = tuple[int, tuple[str, ...]]

T = TypeVar("T")


def _by_id(db: Database, model: type[Any]) -> Callable[[list[int]], Awaitable[list[Any]]]:
    async def load(ids: list[int]) -> list[Any]:
        async with db.read() as session:
            rows = (await session.scalars(select(model).where(model.id.in_(ids)))).all()
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    return load


@dataclass
class Loaders:
    db: Database
    audience: DataLoader[int, Audience | None] = field(init=False)
    email_channel: DataLoader[int, EmailChannel | None] = field(init=False)
    email_template: DataLoader[int, EmailTemplate | None] = field(init=False)
    execution_by_campaign: DataLoader[int, CampaignExecution | None] = field(init=False)
    twilio_channel: DataLoader[int, TwilioChannel | None] = field(init=False)
    contact: DataLoader[int, Contact | None] = field(init=False)
    content_by_campaign: DataLoader[int, MessagingContent | None] = field(init=False)
    active_leads: DataLoader[int, int] = field(init=False)
    first_lead_values: DataLoader[int, dict[str, str] | None] = field(init=False)
    tags_by_contact: DataLoader[int, list[str]] = field(init=False)
    reachable_count: DataLoader[ReachKey, int] = field(init=False)
    last_reply: DataLoader[int, Reply | None] = field(init=False)

    def __post_init__(self) -> None:
        self.audience = DataLoader(_by_id(self.db, Audience))
        self.email_channel = DataLoader(_by_id(self.db, EmailChannel))
        self.email_template = DataLoader(_by_id(self.db, EmailTemplate))
        self.execution_by_campaign = DataLoader(self._executions)
        self.twilio_channel = DataLoader(_by_id(self.db, TwilioChannel))
        self.contact = DataLoader(_by_id(self.db, Contact))
        self.content_by_campaign = DataLoader(self._contents)
        self.active_leads = DataLoader(self._active_leads)
        self.first_lead_values = DataLoader(self._first_lead_values)
        self.tags_by_contact = DataLoader(self._tags)
        self.reachable_count = DataLoader(self._reachable)
        self.last_reply = DataLoader(self._last_replies)

    async def _executions(self, campaign_ids: Sequence[int]) -> list[CampaignExecution | None]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(CampaignExecution).where(CampaignExecution.campaign_id.in_(campaign_ids))
            )
            found = {row.campaign_id: row for row in rows}
        return [found.get(i) for i in campaign_ids]

    async def _contents(self, campaign_ids: Sequence[int]) -> list[MessagingContent | None]:
        async with self.db.read() as session:
            rows = await session.scalars(
                select(MessagingContent).where(MessagingContent.campaign_id.in_(campaign_ids))
            )
            found = {row.campaign_id: row for row in rows}
        return [found.get(i) for i in campaign_ids]

    async def _active_leads(self, campaign_ids: Sequence[int]) -> list[int]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(Delivery.campaign_id, func.count())
                .where(Delivery.campaign_id.in_(campaign_ids), Delivery.active.is_(True))
                .group_by(Delivery.campaign_id)
            )
            counts: dict[int, int] = dict(rows.all())
        return [counts.get(i, 0) for i in campaign_ids]

    async def _first_lead_values(self, campaign_ids: Sequence[int]) -> list[dict[str, str] | None]:
        """Each campaign's first active lead's values, as its messages get them (its
        contact's non-empty fields, then its own variables); None without a lead."""
        firsts = (
            select(func.min(Delivery.id))
            .where(Delivery.campaign_id.in_(campaign_ids), Delivery.active.is_(True))
            .group_by(Delivery.campaign_id)
        )
        async with self.db.read() as session:
            leads = (
                await session.execute(
                    select(Delivery.campaign_id, Delivery.contact_id, Delivery.variables).where(
                        Delivery.id.in_(firsts.scalar_subquery())
                    )
                )
            ).all()
            contacts = await recipients(session, [lead.contact_id for lead in leads])
        values = {
            lead.campaign_id: {k: v for k, v in contacts.get(lead.contact_id, {}).items() if v}
            | dict(lead.variables or {})
            for lead in leads
        }
        return [values.get(i) for i in campaign_ids]

    async def _last_replies(self, lead_ids: Sequence[int]) -> list[Reply | None]:
        """Each lead's newest reply (the highest id: replies are kept as they arrive)."""
        newest = (
            select(func.max(Reply.id))
            .where(Reply.delivery_id.in_(lead_ids))
            .group_by(Reply.delivery_id)
        )
        async with self.db.read() as session:
            rows = await session.scalars(
                select(Reply).where(Reply.id.in_(newest.scalar_subquery()))
            )
            found = {row.delivery_id: row for row in rows}
        return [found.get(i) for i in lead_ids]

    async def _tags(self, contact_ids: Sequence[int]) -> list[list[str]]:
        tags: dict[int, list[str]] = {i: [] for i in contact_ids}
        async with self.db.read() as session:
            rows = await session.execute(
                select(ContactTag.contact_id, ContactTag.tag)
                .where(ContactTag.contact_id.in_(contact_ids))
                .order_by(ContactTag.contact_id, ContactTag.tag)
            )
            for contact_id, tag in rows:
                tags[contact_id].append(tag)
        return [tags[i] for i in contact_ids]

    async def _reachable(self, keys: Sequence[ReachKey]) -> list[int]:
        """One query per account in the batch (a request has one)."""
        counts: dict[ReachKey, int] = {}
        accounts = dict.fromkeys(account_id for account_id, _ in keys)
        async with self.db.read() as session:
            for account_id in accounts:
                mine = [key for key in keys if key[0] == account_id]
                found = await reachable_counts(session, account_id, [tags for _, tags in mine])
                counts.update(zip(mine, found, strict=True))
        return [counts[key] for key in keys]
