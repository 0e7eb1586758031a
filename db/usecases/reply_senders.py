"""Who sent an inbound message: the account's contacts with the sender's number, or a
new phone-only contact for a stranger (the next campaign's conversation user)."""

from collections.abc import Sequence

from sqlalchemy import select, update
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
    """The account's contacts with the sender's number: its phone, then (a WhatsApp
    message) the contacts whose WhatsApp number it is."""
    by_phone = await session.scalar(
        select(Contact.id).where(Contact.account_id == account_id, Contact.phone == message.number)
    )
    found = [] if by_phone is None else [by_phone]
    if message.whatsapp:
        found += [
            contact_id
            for contact_id in await session.scalars(
                select(Contact.id)
                .where(Contact.account_id == account_id, Contact.whatsapp == message.number)
                .order_by(Contact.id)
                .limit(MAX_SHARED_NUMBER)
            )
            if contact_id != by_phone
        ]
    return found


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
