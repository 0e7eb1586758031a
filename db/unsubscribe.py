"""Unsubscribe links. A token names one contact and the delivery that carried it, signed
with the instance's key: `<contact id>.<delivery id>.<mac>`.

What a link does (withdraw the contact's email consent, through change_consent: recorded,
and the contact's pending leads in running email campaigns opted out) depends on the
contact alone, so it keeps working after its campaign and the campaign's ledger are
deleted (opt-out links must work for at least 30 days). A contact id never comes to mean
another contact: PostgreSQL sequences never reuse values, and on SQLite the contacts table is
AUTOINCREMENT (a plain rowid table reuses the largest id after it is deleted). Contact
ids are unique across accounts, so a link acts in its contact's account only. The
delivery id only records which message carried the link (in the consent change, while that
delivery exists).

Links sent before that (`<delivery id>.<mac>`, migration 0004_inputs) still work while
their delivery exists, for deliveries sent before the migration ran: a delivery id reused
since then belongs to a row sent later, which such a link never names.
"""

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.clock import db_now
from db.dialect import insert_for
from db.enums import ChannelType, ConsentSource
from db.models import Account, Contact, Delivery, ServerSecret
from db.usecases.consent import change_consent

_KEY_NAME = "unsubscribe_signing_key"
# When links started to name contacts (written by migration 0004_inputs, ISO 8601).
LEGACY_CUTOFF = "unsubscribe_legacy_cutoff"
_MAC_BYTES = 16
_MAX_ID = 2**63 - 1
# ASCII digits only (str.isdigit would take "²" and int() then fail), no leading zeros
# (one id, one spelling), and exactly the mac's length.
_TOKEN = re.compile(r"([1-9][0-9]{0,18})\.([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{22})")
_LEGACY_TOKEN = re.compile(r"([1-9][0-9]{0,18})\.([A-Za-z0-9_-]{22})")


@dataclass(frozen=True)
class Link:
    """What a valid token names: its contact, and the delivery that carried it."""

    contact_id: int
    delivery_id: int


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


def _legacy_mac(key: bytes, delivery_id: int) -> str:
    digest = hmac.new(key, f"unsubscribe:{delivery_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode().rstrip("=")


def make_legacy_token(key: bytes, delivery_id: int) -> str:
    """A link as sent before 0004_inputs (for tests of the links still in inboxes)."""
    return f"{delivery_id}.{_legacy_mac(key, delivery_id)}"


async def contact_for(session: AsyncSession, key: bytes, token: str) -> Link | None:
    """What a token names, or None when it is malformed, forged or names nothing any more."""
    link = read_token(key, token)
    if link is not None or len(token) > 64:
        return link
    found = _LEGACY_TOKEN.fullmatch(token)
    if found is None or int(found[1]) > _MAX_ID:
        return None
    delivery_id = int(found[1])
    if not hmac.compare_digest(found[2], _legacy_mac(key, delivery_id)):
        return None
    cutoff = await session.scalar(
        select(ServerSecret.value).where(ServerSecret.name == LEGACY_CUTOFF)
    )
    if cutoff is None:
        return None
    contact_id = await session.scalar(
        select(Delivery.contact_id).where(
            Delivery.id == delivery_id,
            Delivery.sent_at < datetime.fromisoformat(cutoff),
        )
    )
    return None if contact_id is None else Link(contact_id, delivery_id)


def read_token(key: bytes, token: str) -> Link | None:
    """What a token names, or None when it is malformed or forged."""
    found = _TOKEN.fullmatch(token) if len(token) <= 64 else None
    if found is None:
        return None
    contact_id, delivery_id = int(found[1]), int(found[2])
    if contact_id > _MAX_ID or delivery_id > _MAX_ID:
        return None
    if not hmac.compare_digest(found[3], _mac(key, contact_id, delivery_id)):
        return None
    return Link(contact_id, delivery_id)


async def recipient(session: AsyncSession, contact_id: int) -> tuple[str, str] | None:
    """(the contact's address, its account's name), if the contact still exists and has an
    email (one made phone-only since has nothing left to unsubscribe)."""
    found = (
        await session.execute(
            select(Contact.email, Account.name)
            .join(Account, Account.id == Contact.account_id)
            .where(Contact.id == contact_id)
        )
    ).one_or_none()
    return None if found is None or found[0] is None else (found[0], found[1])


async def unsubscribe(session: AsyncSession, link: Link) -> str | None:
    """Withdraws the contact's email consent through change_consent (source: the link;
    the delivery that carried it recorded while it exists), which also opts out its
    pending leads in running email campaigns (a message being sent right now is checked
    again before it goes: jobs/send.py). Returns its address, if it still exists and has
    one (consent is withdrawn either way: an email added later stays unsubscribed).
    Campaigns started later leave it out. A repeat changes and records nothing."""
    found = (
        await session.execute(
            select(Contact.account_id, Contact.email).where(Contact.id == link.contact_id)
        )
    ).one_or_none()
    if found is None:
        return None
    account_id, email = found
    carrier = await session.scalar(
        select(Delivery.id).where(
            Delivery.id == link.delivery_id, Delivery.contact_id == link.contact_id
        )
    )
    await change_consent(
        session,
        account_id,
        [link.contact_id],
        ChannelType.EMAIL,
        granted=False,
        source=ConsentSource.UNSUBSCRIBE_LINK,
        reason="Unsubscribed through the link in an email",
        now=await db_now(session),
        delivery_id=carrier,
    )
    return email
