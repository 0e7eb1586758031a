"""Database errors that concurrency makes normal, told apart from bugs.

Two requests racing to create the same code both pass the "is it taken?" check on
PostgreSQL (READ COMMITTED); the loser's INSERT hits the unique constraint. Running the
unit of work again then sees the winner's row, and answers like any other request would:
DUPLICATE for a code the client chose, a free code (-2) for one made from a name. A
deadlock or serialization failure is likewise worth one more try.
"""

import re
from enum import IntEnum

from sqlalchemy import Integer, UniqueConstraint, func, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from db.errors import DomainError, ErrorCode, Problem
from db.models.base import Base

UNIQUE_VIOLATION = "23505"
# deadlock_detected, serialization_failure
RETRYABLE_STATES = frozenset({"40P01", "40001"})
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w., ]+)")


def _sqlstate(error: DBAPIError) -> str | None:
    state = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return state if isinstance(state, str) else None


def is_unique_violation(error: BaseException) -> bool:
    if not isinstance(error, IntegrityError):
        return False
    return _sqlstate(error) == UNIQUE_VIOLATION or "UNIQUE constraint failed" in str(error.orig)


def is_retryable(error: BaseException) -> bool:
    """A unique violation, deadlock or serialization failure: running again may succeed."""
    if is_unique_violation(error):
        return True
    return isinstance(error, DBAPIError) and _sqlstate(error) in RETRYABLE_STATES


def _columns(error: IntegrityError) -> list[str]:
    """The columns of the violated unique constraint, from either database's error."""
    found = _SQLITE_UNIQUE.search(str(error.orig))
    if found:
        return [c.strip().rsplit(".", 1)[-1] for c in found["columns"].split(",")]
    name = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)
    for table in Base.metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.name == name:
                return [c.name for c in constraint.columns]
    return []


def duplicate(error: IntegrityError) -> DomainError:
    """DUPLICATE on the field of the violated constraint (its column besides the account)."""
    fields = [c for c in _columns(error) if c != "account_id"]
    field = (fields[-1],) if len(fields) == 1 else ()
    return DomainError(
        [Problem(ErrorCode.DUPLICATE, "Another object of the account already uses this.", field)]
    )


class Turn(IntEnum):
    """What an account's requests take turns for (the advisory lock's first key)."""

    IMPORT = 0x1C0A7  # importContacts: overlapping upserts would deadlock
    FREE_CODE = 0x1C0A8  # codes made from names: racers would all pick the same one


async def take_turns(session: AsyncSession, turn: Turn, account_id: int) -> None:
    """Until the transaction ends, other transactions of the account taking this turn wait.
    PostgreSQL only (an advisory lock); SQLite runs one writer at a time anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    lock = func.pg_advisory_xact_lock(
        literal(int(turn), Integer), literal(account_id % 2**31, Integer)
    )
    await session.execute(select(lock))
