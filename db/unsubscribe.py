"""Unsubscribe links: a delivery's id signed with the instance's key, so a link names
exactly one recipient of one campaign and cannot be forged for another."""

import base64
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.models import Account, Contact, Delivery, ServerSecret

_KEY_NAME = "unsubscribe_signing_key"
_MAC_BYTES = 16


async def signing_key(session: AsyncSession) -> bytes:
    """The instance's key, made by whichever process asks first."""
    await session.execute(
        insert_for(session, ServerSecret)
        .values(name=_KEY_NAME, value=secrets.token_hex(32))
        .on_conflict_do_nothing()
    )
    value = await session.scalar(select(ServerSecret.value).where(ServerSecret.name == _KEY_NAME))
    assert value is not None
    return bytes.fromhex(value)


def _mac(key: bytes, delivery_id: int) -> str:
    digest = hmac.new(key, f"unsubscribe:{delivery_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")


def make_token(key: bytes, delivery_id: int) -> str:
    return f"{delivery_id}.{_mac(key, delivery_id)}"


def read_token(key: bytes, token: str) -> int | None:
    """The delivery id a token names, or None when it is malformed or forged."""
    ident, _, mac = token.partition(".")
    if not ident.isdigit() or len(ident) > 19:
        return None
    delivery_id = int(ident)
    return delivery_id if hmac.compare_digest(mac, _mac(key, delivery_id)) else None


async def recipient(session: AsyncSession, delivery_id: int) -> tuple[str, str] | None:
    """(the contact's address, the sending account's name) of a delivery, if it exists."""
    found = (
        await session.execute(
            select(Contact.email, Account.name)
            .join(Delivery, Delivery.contact_id == Contact.id)
            .join(Account, Account.id == Delivery.account_id)
            .where(Delivery.id == delivery_id)
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])


async def unsubscribe(session: AsyncSession, delivery_id: int) -> str | None:
    """Withdraws the email consent of the delivery's contact; its address, if it exists.
    Campaigns started later leave it out; the ledgers of running ones are not changed."""
    contact_id = await session.scalar(select(Delivery.contact_id).where(Delivery.id == delivery_id))
    if contact_id is None:
        return None
    contact = await session.get_one(Contact, contact_id, with_for_update=True)
    contact.consent_email = False
    return contact.email
