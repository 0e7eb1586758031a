"""Contacts: create, update, delete, and the bulk import that upserts by email."""

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.conflicts import Turn, take_turns
from db.dialect import insert_for
from db.errors import DomainError, ErrorCode, Problem
from db.models import Contact, ContactTag
from db.queries import get_owned

IMPORT_LIMIT = 10_000
# Rows per INSERT statement: ~15 bound values a row stays under SQLite's variable limit.
_CHUNK = 1_000
_LIMITS = {"first_name": 100, "last_name": 100}


def check_contact(fields: Mapping[str, Any], problems: v.Problems, *prefix: str) -> None:
    """Validates whichever contact fields are present; `prefix` locates the row in the input."""

    def at(problem: Problem | None) -> None:
        if problem is not None:
            problems.add(Problem(problem.code, problem.message, (*prefix, *problem.field)))

    if "email" in fields:
        at(v.email(fields["email"], "email", needed=True))
    for name, limit in _LIMITS.items():
        if name in fields:
            at(v.text(fields[name], limit, name))
    for name in ("phone", "whatsapp"):
        if name in fields:
            at(v.e164(fields[name], name))
    if "country" in fields:
        at(v.country(fields["country"], "country"))
    if "tags" in fields:
        at(v.tags(fields["tags"], "tags"))


def _normalized(fields: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    if "email" in out:
        out["email"] = out["email"].strip().lower()
    if "tags" in out:
        out["tags"] = v.normalize_tags(out["tags"])
    return out


async def _email_taken(session: AsyncSession, account_id: int, email: str) -> bool:
    found = await session.scalar(
        select(Contact.id).where(Contact.account_id == account_id, Contact.email == email)
    )
    return found is not None


async def _set_tags(session: AsyncSession, contact: Contact, tags: Sequence[str]) -> None:
    await session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
    if tags:
        await session.execute(
            insert_for(session, ContactTag),
            [{"contact_id": contact.id, "tag": t, "account_id": contact.account_id} for t in tags],
        )


async def create_contact(
    session: AsyncSession, account_id: int, fields: Mapping[str, Any]
) -> Contact:
    fields = _normalized(fields)
    problems = v.Problems()
    check_contact(fields, problems)
    problems.raise_if_any()
    if await _email_taken(session, account_id, fields["email"]):
        raise DomainError.one(ErrorCode.DUPLICATE, "A contact with this email exists.", "email")
    tags = fields.pop("tags", [])
    contact = Contact(account_id=account_id, **fields)
    session.add(contact)
    await session.flush()
    await _set_tags(session, contact, tags)
    return contact


async def update_contact(
    session: AsyncSession, account_id: int, contact_id: int, changes: Mapping[str, Any]
) -> Contact:
    changes = _normalized(changes)
    problems = v.Problems()
    check_contact(changes, problems)
    problems.raise_if_any()
    contact = await get_owned(session, Contact, account_id, contact_id, "id")
    if changes.get("email", contact.email) != contact.email and await _email_taken(
        session, account_id, changes["email"]
    ):
        raise DomainError.one(ErrorCode.DUPLICATE, "A contact with this email exists.", "email")
    tags = changes.pop("tags", None)
    for name, value in changes.items():
        setattr(contact, name, value)
    await session.flush()
    if tags is not None:
        await _set_tags(session, contact, tags)
    return contact


async def delete_contact(session: AsyncSession, account_id: int, contact_id: int) -> None:
    contact = await get_owned(session, Contact, account_id, contact_id, "id")
    await session.delete(contact)
    await session.flush()


async def import_contacts(
    session: AsyncSession, account_id: int, rows: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Upserts contacts by email; returns (created, updated).

    A field a row leaves out keeps its stored value (so a re-import never turns consent
    back on); tags a row names are added to the contact's tags, never removed. The whole
    import is refused, with every problem listed, if any row is invalid.
    """
    if len(rows) > IMPORT_LIMIT:
        raise DomainError.one(
            ErrorCode.TOO_MANY, f"At most {IMPORT_LIMIT} contacts per import.", "contacts"
        )
    normalized = [_normalized(row) for row in rows]
    problems = v.Problems()
    seen: set[str] = set()
    for index, row in enumerate(normalized):
        check_contact(row, problems, "contacts", str(index))
        email = row.get("email", "")
        if email and email in seen:
            problems.add(
                Problem(
                    ErrorCode.DUPLICATE,
                    "The same email appears twice in this import.",
                    ("contacts", str(index), "email"),
                )
            )
        seen.add(email)
    problems.raise_if_any()

    # Two imports of the same contacts at once: on PostgreSQL each upsert statement locks
    # its rows, and two imports locking them in different orders deadlock. Imports of one
    # account take turns (a transaction-scoped advisory lock), and rows go in email order.
    # SQLite serializes writers already.
    await take_turns(session, Turn.IMPORT, account_id)
    normalized.sort(key=lambda row: str(row.get("email", "")))
    created = 0
    for start in range(0, len(normalized), _CHUNK):
        chunk = normalized[start : start + _CHUNK]
        created += await _upsert_chunk(session, account_id, chunk)
    return created, len(normalized) - created


async def _upsert_chunk(
    session: AsyncSession, account_id: int, rows: Sequence[dict[str, Any]]
) -> int:
    emails = [row["email"] for row in rows]
    existing = set(
        (
            await session.scalars(
                select(Contact.email).where(
                    Contact.account_id == account_id, Contact.email.in_(emails)
                )
            )
        ).all()
    )
    # One statement per set of provided columns, so absent fields are never overwritten.
    by_shape: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        columns = {k: val for k, val in row.items() if k != "tags"}
        by_shape.setdefault(frozenset(columns), []).append({**columns, "account_id": account_id})
    ids: dict[str, int] = {}
    for shape, values in by_shape.items():
        # executemany form: compiled once and cached (a literal multi-row VALUES is not).
        stmt = insert_for(session, Contact)
        updatable = {c: stmt.excluded[c] for c in shape if c != "email"}
        updatable["updated_at"] = stmt.excluded.updated_at
        stmt = stmt.on_conflict_do_update(
            index_elements=[Contact.account_id, Contact.email], set_=updatable
        ).returning(Contact.id, Contact.email)
        for contact_id, email in await session.execute(stmt, values):
            ids[email] = contact_id
    tag_rows = [
        {"contact_id": ids[row["email"]], "tag": tag, "account_id": account_id}
        for row in rows
        for tag in row.get("tags", ())
    ]
    for start in range(0, len(tag_rows), _CHUNK * 5):
        await session.execute(
            insert_for(session, ContactTag).on_conflict_do_nothing(),
            tag_rows[start : start + _CHUNK * 5],
        )
    return len(set(emails) - existing)
