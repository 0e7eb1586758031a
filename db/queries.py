"""Named queries shared by use cases and the API. Every one is scoped to an account."""

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Insert, Select, case, distinct, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.conflicts import Turn, take_turns
from db.enums import DeliveryStatus
from db.errors import DomainError, ErrorCode, not_found
from db.models import (
    Audience,
    Campaign,
    Contact,
    ContactTag,
    Delivery,
    EmailChannel,
    EmailTemplate,
    TwilioChannel,
)
from db.models.base import Id, Owned
from db.validation import slugify

M = TypeVar("M", bound=Owned)

# A reference given by a client: a database id (decoded from a global ID) or a code.
Ref = int | str


async def get_owned(
    session: AsyncSession,
    model: type[M],
    account_id: int,
    ident: int,
    *field: str,
    for_update: bool = False,
) -> M:
    """The row, or a NOT_FOUND DomainError; another account's row is simply not found."""
    stmt = select(model).where(model.id == ident, model.account_id == account_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        raise not_found(model.__name__, *field)
    return row


async def resolve_ref(
    session: AsyncSession,
    model: type[Audience] | type[EmailChannel] | type[EmailTemplate] | type[TwilioChannel],
    account_id: int,
    ref: Ref,
    *field: str,
) -> int:
    """The id of the row a reference names, by id or by its `code`."""
    condition = model.id == ref if isinstance(ref, int) else model.code == ref
    found = await session.scalar(select(model.id).where(condition, model.account_id == account_id))
    if found is None:
        raise not_found(model.__name__, *field)
    return found


def audience_members(account_id: int, tags: Sequence[str]) -> Select[int]:
    """Ids of the account's contacts that carry at least one of `tags`."""
    return select(ContactTag.contact_id).where(
        ContactTag.account_id == account_id, ContactTag.tag.in_(list(tags))
    )


def emailable() -> ColumnElement[bool]:
    """Contacts an email campaign may reach: with an email (phone-only contacts have none)
    and email consent."""
    return Contact.email.is_not(None) & Contact.consent_email.is_(True)


async def count_audience(
    session: AsyncSession, account_id: int, tags: Sequence[str]
) -> tuple[int, int]:
    """(members an email campaign reaches, members it skips: without email consent or
    without an email)."""
    reached = emailable()
    rows = await session.execute(
        select(reached, func.count())
        .where(Contact.id.in_(audience_members(account_id, tags)))
        .group_by(reached)
    )
    counts = {bool(reaches): n for reaches, n in rows}
    return counts.get(True, 0), counts.get(False, 0)


async def reachable_counts(
    session: AsyncSession, account_id: int, tag_sets: Sequence[Sequence[str]]
) -> list[int]:
    """For each set of tags, how many of the account's emailable contacts carry
    at least one of them, all in one statement (one scan of the tags they name), so a page
    of audiences costs one query, not one per audience."""
    if not tag_sets:
        return []
    every_tag = sorted({tag for tags in tag_sets for tag in tags})
    columns = [
        func.count(distinct(case((ContactTag.tag.in_(list(tags)), ContactTag.contact_id))))
        for tags in tag_sets
    ]
    row = (
        await session.execute(
            select(*columns)
            .join(Contact, Contact.id == ContactTag.contact_id)
            .where(
                ContactTag.account_id == account_id,
                ContactTag.tag.in_(every_tag),
                emailable(),
            )
        )
    ).one()
    return [int(n or 0) for n in row]


async def code_taken(
    session: AsyncSession,
    model: type[Audience] | type[EmailChannel] | type[EmailTemplate] | type[TwilioChannel],
    account_id: int,
    code: str,
) -> bool:
    found = await session.scalar(
        select(model.id).where(model.account_id == account_id, model.code == code)
    )
    return found is not None


async def refuse_if_campaigns_use(
    session: AsyncSession,
    column: InstrumentedAttribute[Any],
    ident: int,
    what: str,
) -> None:
    """Deleting what a campaign still points at is refused (IN_USE)."""
    if await session.scalar(select(Campaign.id).where(column == ident).limit(1)) is not None:
        raise DomainError.one(
            ErrorCode.IN_USE, f"Campaigns use this {what}; delete them first.", "id"
        )


async def free_code(
    session: AsyncSession,
    model: type[Audience] | type[EmailTemplate],
    account_id: int,
    name: str,
) -> str:
    """A code made from `name`, suffixed -2, -3, … until no row of the account uses it.
    Requests of one account that make codes take turns until they commit."""
    await take_turns(session, Turn.FREE_CODE, account_id)
    base = slugify(name)[:90].rstrip("-")
    taken = set(
        (
            await session.scalars(
                select(model.code).where(
                    model.account_id == account_id, model.code.like(f"{base}%")
                )
            )
        ).all()
    )
    code, n = base, 1
    while code in taken:
        n += 1
        code = f"{base}-{n}"
    return code


def materialise_ledger(account_id: int, campaign_id: int, tags: Sequence[str]) -> Insert:
    """INSERT … SELECT of one pending delivery per audience member with an email and email
    consent (phone-only members are skipped)."""
    members = select(
        Contact.account_id,
        literal(campaign_id, Id).label("campaign_id"),
        Contact.id,
        Contact.email,
        literal(DeliveryStatus.PENDING.value).label("status"),
    ).where(
        Contact.account_id == account_id,
        emailable(),
        Contact.id.in_(audience_members(account_id, tags)),
    )
    return insert(Delivery).from_select(
        ["account_id", "campaign_id", "contact_id", "address", "status"], members
    )
