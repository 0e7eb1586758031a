"""Unsubscribe links. A token names one contact and the delivery that carried it, signed
with the instance's key: `<contact id>.<delivery id>.<mac>`.

What a link does (withdraw the contact's email consent) depends on the contact alone, so
it keeps working after its campaign and the campaign's ledger are deleted (opt-out links
must work for at least 30 days). A contact id never comes to mean another contact:
PostgreSQL sequences never reuse values, and on SQLite the contacts table is
AUTOINCREMENT (a plain rowid table reuses the largest id after it is deleted). Contact
ids are unique across accounts, so a link acts in its contact's account only. The
delivery id only records which message carried the link.
"""

import base64
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.dialect import insert_for
from db.models import Account, Contact, ServerSecret

_KEY_NAME = "unsubscribe_signing_key"
_MAC_BYTES = 16
_MAX_ID = 2**63 - 1
# ASCII digits only (str.isdigit would take "²" and int() then fail), no leading zeros
# (one id, one spelling), and exactly the mac's length.
_TOKEN = re.compile(r"([1-9][0-9]{0,18})\.([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{22})")


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


def _mac(key: bytes, contact_id: int, delivery_id: int) -> str:
    message = f"unsubscribe:contact:{contact_id}:delivery:{delivery_id}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")


def make_token(key: bytes, contact_id: int, delivery_id: int) -> str:
    return f"{contact_id}.{delivery_id}.{_mac(key, contact_id, delivery_id)}"


def read_token(key: bytes, token: str) -> int | None:
    """The contact id a token names, or None when it is malformed or forged."""
    found = _TOKEN.fullmatch(token) if len(token) <= 64 else None
    if found is None:
        return None
    contact_id, delivery_id = int(found[1]), int(found[2])
    if contact_id > _MAX_ID or delivery_id > _MAX_ID:
        return None
    if not hmac.compare_digest(found[3], _mac(key, contact_id, delivery_id)):
        return None
    return contact_id


async def recipient(session: AsyncSession, contact_id: int) -> tuple[str, str] | None:
    """(the contact's address, its account's name), if the contact still exists."""
    found = (
        await session.execute(
            select(Contact.email, Account.name)
            .join(Account, Account.id == Contact.account_id)
            .where(Contact.id == contact_id)
        )
    ).one_or_none()
    return None if found is None else (found[0], found[1])


async def unsubscribe(session: AsyncSession, contact_id: int) -> str | None:
    """Withdraws the contact's email consent; its address, if it still exists.
    Campaigns started later leave it out; the ledgers of running ones are not changed."""
    contact = await session.get(Contact, contact_id, with_for_update=True)
    if contact is None:
        return None
    contact.consent_email = False
    return contact.email
