"""What every mutation shares: one write transaction, typed errors, input conversion."""

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import strawberry
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types.unset import UNSET

from db.conflicts import duplicate, is_retryable, is_unique_violation
from db.errors import DomainError, not_found
from graph.context import Info
from graph.errors import UserError, user_errors
from graph.ids import decode_as

T = TypeVar("T")
# Runs of a unit of work that lost a race (db/conflicts.py), and the most a retry waits
# (random, so racers that collided do not collide again in step).
ATTEMPTS = 5
RETRY_JITTER_S = 0.05


async def write(
    info: Info, work: Callable[[AsyncSession, int], Awaitable[T]]
) -> T | list[UserError]:
    """Runs `work(session, account_id)` in one transaction; a DomainError rolls it back.

    A race lost to a concurrent request (unique violation, deadlock) runs the work again,
    which then answers as if the requests had come one after the other (db/conflicts.py);
    a unique violation left after the last try is DUPLICATE, never an unexpected error.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with info.context.db.write() as session:
                return await work(session, info.context.account_id)
        except DomainError as error:
            return user_errors(error)
        except DBAPIError as error:
            if not is_retryable(error):
                raise
            if attempt == ATTEMPTS:
                if isinstance(error, IntegrityError) and is_unique_violation(error):
                    return user_errors(duplicate(error))
                raise
            await asyncio.sleep(random.uniform(0, RETRY_JITTER_S * attempt))
    raise AssertionError("unreachable")


def pk(global_id: str, type_name: str, *field: str) -> int:
    """The database id in a global ID of `type_name`; anything else is NOT_FOUND."""
    ident = decode_as(global_id, type_name)
    if ident is None:
        raise not_found(type_name, *(field or ("id",)))
    return ident


def provided(
    data: Any, *, nullable: frozenset[str] = frozenset(), skip: tuple[str, ...] = ("id",)
) -> dict[str, Any]:
    """An input's fields as Python names, without those that mean "leave as is": left out
    (UNSET) or null. For `nullable` fields null is a value (e.g. "no rate limit") and kept."""
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    return {
        name: value
        for name, value in fields.items()
        if name not in skip and value is not UNSET and (value is not None or name in nullable)
    }


@strawberry.type(description="The result of a delete.")
class DeletePayload:
    deleted_id: strawberry.ID | None = strawberry.field(
        default=None, description="The ID of the deleted object; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        default_factory=list, description="Why it was refused; empty on success."
    )
