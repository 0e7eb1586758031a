"""Contacts found or made by phone number, in bulk: what lead imports call.

Up to 10,000 E.164 numbers a call (normalise them first with db/phones.py, reporting a bad
one as the caller's per-row error). Numbers no contact has become phone-only contacts;
existing contacts are left as they are. Race-safe like importContacts: callers of one
account take turns on PostgreSQL (the same advisory lock, so an import and this never
deadlock), and a contact created meanwhile by createContact is found, not duplicated.
"""

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import phones
from db import validation as v
from db.conflicts import Turn, take_turns
from db.dialect import insert_for
from db.enums import ContactSource
from db.errors import DomainError, ErrorCode, Problem
from db.models import Contact

LIMIT = 10_000
# Rows per INSERT statement and keys per IN (…): under SQLite's variable limit.
_CHUNK = 5_000


async def _ids(session: AsyncSession, account_id: int, numbers: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(numbers), _CHUNK):
        rows = await session.execute(
            select(Contact.phone, Contact.id).where(
                Contact.account_id == account_id,
                Contact.phone.in_(numbers[start : start + _CHUNK]),
            )
        )
        found.update({phone: contact_id for phone, contact_id in rows if phone is not None})
    return found


async def ensure_contacts_by_phone(
    session: AsyncSession,
    account_id: int,
    numbers: Sequence[str],
    *,
    source: ContactSource = ContactSource.LEAD,
) -> dict[str, int]:
    """The id of the account's contact with each number (E.164), creating phone-only
    contacts (all consents on, `source`) for numbers no contact has."""
    if len(numbers) > LIMIT:
        raise DomainError.one(ErrorCode.TOO_MANY, f"At most {LIMIT} numbers per call.", "numbers")
    problems = v.Problems()
    for index, number in enumerate(numbers):
        if not phones.is_e164(number):
            problems.add(
                Problem(
                    ErrorCode.INVALID,
                    "Not an E.164 number such as +14155550123.",
                    ("numbers", str(index)),
                )
            )
    problems.raise_if_any()
    wanted = sorted(set(numbers))
    await take_turns(session, Turn.IMPORT, account_id)
    ids = await _ids(session, account_id, wanted)
    missing = [n for n in wanted if n not in ids]
    for start in range(0, len(missing), _CHUNK):
        stmt = (
            insert_for(session, Contact)
            .on_conflict_do_nothing(index_elements=[Contact.account_id, Contact.phone])
            .returning(Contact.phone, Contact.id)
        )
        values = [
            {"account_id": account_id, "phone": n, "source": source}
            for n in missing[start : start + _CHUNK]
        ]
        for phone, contact_id in await session.execute(stmt, values):
            ids[phone] = contact_id
    # Made meanwhile by a request that does not take turns (createContact): found now.
    late = [n for n in missing if n not in ids]
    if late:
        ids.update(await _ids(session, account_id, late))
    return ids
