"""Contacts: create, update, delete. Field rules: db/usecases/contact_fields.py; the bulk
upserts: db/usecases/contact_import.py (importContacts) and contacts_by_phone.py (leads)."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.dialect import insert_for
from db.errors import ErrorCode, Problem
from db.models import Contact, ContactTag
from db.queries import get_owned
from db.usecases.consent import record_api_consent, split_consent
from db.usecases.contact_fields import prepare, reachable


async def _refuse_taken(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any], own_id: int | None = None
) -> None:
    """DUPLICATE for the email and the phone that another contact of the account has."""
    problems = v.Problems()
    for name, what in (("email", "email"), ("phone", "phone number")):
        value = fields.get(name)
        if value is None:
            continue
        column = getattr(Contact, name)
        found = await session.scalar(
            select(Contact.id).where(Contact.account_id == account_id, column == value)
        )
        if found is not None and found != own_id:
            problems.add(
                Problem(ErrorCode.DUPLICATE, f"A contact with this {what} exists.", (name,))
            )
    problems.raise_if_any()


async def set_tags(session: AsyncSession, contact: Contact, tags: Sequence[str]) -> None:
    await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
    if tags:
        await session.execute(
            insert_for(session, ContactTag),
            [{"contact_id": contact.id, "tag": t, "account_id": contact.account_id} for t in tags],
        )


async def create_contact(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any]
) -> Contact:
    problems = v.Problems()
    fields = prepare(fields, problems)
    reachable(fields.get("email"), fields.get("phone"), problems)
    problems.raise_if_any()
    await _refuse_taken(session, account_id, fields)
    tags = fields.pop("tags", [])
    contact = Contact(account_id=account_id, **fields)
    session.add(contact)
    await session.flush()
    await set_tags(session, contact, tags)
    return contact


async def update_contact(
    session: AsyncSession, account_id: int, contact_id: int, changes: Mapping[str, Any]
) -> Contact:
    """An empty email or phone removes it, as long as the contact keeps the other. Consent
    changes go through change_consent (recorded, source API)."""
    contact = await get_owned(session, Contact, account_id, contact_id, "id")
    problems = v.Problems()
    changes = prepare(changes, problems, country=contact.country)
    reachable(changes.get("email", contact.email), changes.get("phone", contact.phone), problems)
    problems.raise_if_any()
    await _refuse_taken(session, account_id, changes, contact.id)
    tags = changes.pop("tags", None)
    changes, consent = split_consent(changes)
    for name, value in changes.items():
        setattr(contact, name, value)
    await session.flush()
    if tags is not None:
        await set_tags(session, contact, tags)
    if consent:
        wanted = {(channel, granted): [contact.id] for channel, granted in consent.items()}
        await record_api_consent(session, account_id, wanted, "updateContact")
        await session.refresh(contact)
    return contact


async def delete_contact(session: AsyncSession, account_id: int, contact_id: int) -> None:
    contact = await get_owned(session, Contact, account_id, contact_id, "id")
    await session.delete(contact)
    await session.flush()
