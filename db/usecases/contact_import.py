"""importContacts: up to 10,000 rows upserted in one transaction, all or nothing.

Which contact a row means: the one with its email, else the one with its phone number,
else a new one. A row is refused (DUPLICATE on its phone) when its email and its phone
name two different contacts, or when its phone is that of a contact with another email;
a phone-only contact found by the row's phone gets the row's email. Two rows may not
name one contact (the same email or phone twice, or an email and a phone of one contact).
"""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.conflicts import Turn, take_turns
from db.dialect import insert_for
from db.enums import ChannelType
from db.errors import DomainError, ErrorCode, Problem
from db.models import Contact, ContactTag
from db.usecases.consent import record_api_consent, split_consent
from db.usecases.contact_fields import prepare, reachable

IMPORT_LIMIT = 10_000
# Rows per INSERT statement: ~15 bound values a row stays under SQLite's variable limit;
# keys per IN (…) of a lookup likewise.
CHUNK = 1_000


def _row_problem(index: int, field: str, message: str) -> Problem:
    return Problem(ErrorCode.DUPLICATE, message, ("contacts", str(index), field))


def _check_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    if len(rows) > IMPORT_LIMIT:
        raise DomainError.one(
            ErrorCode.TOO_MANY, f"At most {IMPORT_LIMIT} contacts per import.", "contacts"
        )
    problems = v.Problems()
    prepared = []
    seen: dict[str, set[str]] = {"email": set(), "phone": set()}
    for index, raw in enumerate(rows):
        row = prepare(raw, problems, "contacts", str(index))
        # A row's empty email or phone means "not given": it never removes a stored one.
        row = {k: val for k, val in row.items() if val is not None or k not in seen}
        reachable(row.get("email"), row.get("phone"), problems, "contacts", str(index))
        for key, what in (("email", "email"), ("phone", "phone number")):
            value = row.get(key)
            if value is not None and value in seen[key]:
                problems.add(
                    _row_problem(index, key, f"The same {what} appears twice in this import.")
                )
            if value is not None:
                seen[key].add(value)
        prepared.append(row)
    problems.raise_if_any()
    return prepared


async def _existing(
    session: AsyncSession, account_id: int, rows: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, int], dict[str, tuple[int, str | None]]]:
    """The account's contacts the rows name: id by email, and (id, email) by phone."""
    emails = [row["email"] for row in rows if "email" in row]
    numbers = [row["phone"] for row in rows if "phone" in row]
    by_email: dict[str, int] = {}
    by_phone: dict[str, tuple[int, str | None]] = {}
    for start in range(0, max(len(emails), len(numbers)), CHUNK):
        found = await session.execute(
            select(Contact.id, Contact.email, Contact.phone).where(
                Contact.account_id == account_id,
                or_(
                    Contact.email.in_(emails[start : start + CHUNK]),
                    Contact.phone.in_(numbers[start : start + CHUNK]),
                ),
            )
        )
        for contact_id, email, phone in found:
            if email is not None:
                by_email[email] = contact_id
            if phone is not None:
                by_phone[phone] = (contact_id, email)
    return by_email, by_phone


def _match(
    rows: Sequence[Mapping[str, Any]],
    by_email: Mapping[str, int],
    by_phone: Mapping[str, tuple[int, str | None]],
) -> list[tuple[int | None, str]]:
    """For each row: the existing contact it updates (None: a new one) and the key its
    upsert conflicts on ("email" or "phone"). Refuses rows per the module's rules."""
    problems = v.Problems()
    matched: list[tuple[int | None, str]] = []
    claimed: set[int] = set()
    for index, row in enumerate(rows):
        email, phone = row.get("email"), row.get("phone")
        by_e = by_email.get(email) if email is not None else None
        by_p, other_email = by_phone.get(phone, (None, None)) if phone is not None else (None, None)
        named_two = by_e is not None or (email is not None and other_email is not None)
        if by_p is not None and by_p != by_e and named_two:
            problems.add(
                _row_problem(
                    index,
                    "phone",
                    "This phone number belongs to another contact than this email"
                    + (f" ({other_email})." if other_email else "."),
                )
            )
            continue
        target = by_e if by_e is not None else by_p
        if target is not None and target in claimed:
            problems.add(
                _row_problem(index, "email" if by_e else "phone", "Another row names this contact.")
            )
        if target is not None:
            claimed.add(target)
        # Found by email, or new with an email: the email is the upsert's key. Found by
        # phone only (a phone-only contact), or new without an email: the phone is.
        by_email_key = by_e is not None or (by_p is None and email is not None)
        matched.append((target, "email" if by_email_key else "phone"))
    problems.raise_if_any()
    return matched


async def import_contacts(
    session: AsyncSession, account_id: int, rows: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Upserts contacts (see the module's rules); returns (created, updated).

    A field a row leaves out keeps its stored value (so a re-import never turns consent
    back on); tags a row names are added to the contact's tags, never removed. A new
    contact starts with the row's consent; an existing one's consent changes through
    change_consent (recorded, source API; a withdrawal opts out its pending leads). The
    whole import is refused, with every problem listed, if any row is invalid.
    """
    prepared = _check_rows(rows)
    # Two imports of the same contacts at once: on PostgreSQL each upsert statement locks
    # its rows, and two imports locking them in different orders deadlock. Imports of one
    # account take turns (a transaction-scoped advisory lock). SQLite serializes writers.
    await take_turns(session, Turn.IMPORT, account_id)
    by_email, by_phone = await _existing(session, account_id, prepared)
    matched = _match(prepared, by_email, by_phone)
    groups: dict[str, list[dict[str, Any]]] = {"email": [], "phone": []}
    for row, (_, key) in zip(prepared, matched, strict=True):
        groups[key].append(row)
    consent: dict[tuple[ChannelType, bool], list[int]] = {}
    for key, group in groups.items():
        group.sort(key=lambda row: str(row[key]))
        for start in range(0, len(group), CHUNK):
            chunk = group[start : start + CHUNK]
            ids = await _upsert_chunk(session, account_id, key, chunk)
            for row in chunk:
                for channel, granted in split_consent(row)[1].items():
                    consent.setdefault((channel, granted), []).append(ids[row[key]])
    # New contacts got the rows' consent already (no change to record); existing ones,
    # whose upsert left consent alone, change here.
    await record_api_consent(session, account_id, consent, "importContacts")
    created = sum(1 for target, _ in matched if target is None)
    return created, len(prepared) - created


async def _upsert_chunk(
    session: AsyncSession, account_id: int, key: str, rows: Sequence[dict[str, Any]]
) -> dict[str, int]:
    """Upserts the rows; returns the contact ids by the rows' `key` value. An existing
    contact's consent is left for change_consent (see import_contacts)."""
    # One statement per set of provided columns, so absent fields are never overwritten.
    by_shape: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        columns = {k: val for k, val in row.items() if k != "tags"}
        by_shape.setdefault(frozenset(columns), []).append({**columns, "account_id": account_id})
    ids: dict[str, int] = {}
    conflict = getattr(Contact, key)
    for shape, values in by_shape.items():
        # executemany form: compiled once and cached (a literal multi-row VALUES is not).
        stmt = insert_for(session, Contact)
        kept = split_consent(dict.fromkeys(shape))[0]
        updatable = {c: stmt.excluded[c] for c in kept if c != key}
        updatable["updated_at"] = stmt.excluded.updated_at
        stmt = stmt.on_conflict_do_update(
            index_elements=[Contact.account_id, conflict], set_=updatable
        ).returning(Contact.id, conflict)
        for contact_id, value in await session.execute(stmt, values):
            ids[value] = contact_id
    tag_rows = [
        {"contact_id": ids[row[key]], "tag": tag, "account_id": account_id}
        for row in rows
        for tag in row.get("tags", ())
    ]
    for start in range(0, len(tag_rows), CHUNK * 5):
        await session.execute(
            insert_for(session, ContactTag).on_conflict_do_nothing(),
            tag_rows[start : start + CHUNK * 5],
        )
    return ids
