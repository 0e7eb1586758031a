"""Who sent an inbound message: the account's contacts with the sender's number, or a
new phone-only contact for a stranger (the next campaign's conversation user)."""

from collections.abc import Sequence

from sqlalchemy import literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.enums import ContactSource
from db.inbound_message import InboundMessage
from db.models import Contact
from db.usecases.contacts_by_phone import ensure_contacts_by_phone

# Contacts sharing one WhatsApp number (a family's) whose leads a reply may answer.
MAX_SHARED_NUMBER = 20


async def known_contacts(
    session: AsyncSession, account_id: int, message: InboundMessage
) -> list[int]:
    """The account's contacts with the sender's number: its phone first, then (a
    WhatsApp message) the contacts whose WhatsApp number it is, by id. One query, each
    part through its index ((account, phone), (account, WhatsApp)): an OR of the two would
    read every contact of the account in SQLite."""
    by_phone = select(Contact.id, literal(0).label("rank")).where(
        Contact.account_id == account_id, Contact.phone == message.number
    )
    if not message.whatsapp:
        return list(await session.scalars(by_phone.with_only_columns(Contact.id)))
    by_whatsapp = select(Contact.id, literal(1).label("rank")).where(
        Contact.account_id == account_id, Contact.whatsapp == message.number
    )
    both = union_all(by_phone, by_whatsapp).subquery()
    found = await session.scalars(
        select(both.c.id)
        .order_by(both.c.rank, both.c.id)
        # The phone's contact (one per account, maybe also by WhatsApp) and
        # MAX_SHARED_NUMBER others.
        .limit(2 + MAX_SHARED_NUMBER)
    )
    return list(dict.fromkeys(found))[: 1 + MAX_SHARED_NUMBER]


async def sender_contact(
    session: AsyncSession, account_id: int, message: InboundMessage, known: Sequence[int]
) -> int:
    """The first of the `known` contacts with the sender's number; a stranger becomes a
    phone-only contact, named by its WhatsApp profile name when it has one."""
    if known:
        return known[0]
    made = await ensure_contacts_by_phone(
        session, account_id, [message.number], source=ContactSource.LEAD
    )
    contact_id = made[message.number]
    if message.profile_name:
        await session.execute(
            update(Contact)
            .where(Contact.id == contact_id, Contact.first_name == "")
            .values(first_name=message.profile_name)
            .execution_options(synchronize_session=False)
        )
    return contact_id
