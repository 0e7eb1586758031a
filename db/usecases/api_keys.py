"""API keys: look up (recording last use at most once a minute), list, create, revoke.

A revoked key is refused from the next request on: every request looks the key up (one
indexed read), nothing caches it. An account keeps at least one key: revoking the last
is refused (create another first), so an account is never locked out by mistake.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.errors import DomainError, ErrorCode, not_found
from db.models import Account, ApiKey
from db.usecases.accounts import KEY_PREFIX, hash_key, issue_api_key

# Last use is written when the stored one is older than this: one write a minute per key
# at most, whatever the request rate.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# Active keys one account may hold.
MAX_KEYS_PER_ACCOUNT = 20


@dataclass(frozen=True)
class ActiveKey:
    id: int
    account_id: int
    last_used_at: datetime | None


async def find_active(session: AsyncSession, key: str) -> ActiveKey | None:
    """The active key `key` is, or None (unknown, malformed or revoked)."""
    if not key.startswith(KEY_PREFIX):
        return None
    row = (
        await session.execute(
            select(ApiKey.id, ApiKey.account_id, ApiKey.last_used_at).where(
                ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    return None if row is None else ActiveKey(row.id, row.account_id, row.last_used_at)


def needs_touch(key: ActiveKey, now: datetime) -> bool:
    return key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION


async def touch(session: AsyncSession, key_id: int, now: datetime) -> None:
    """Records a use; a no-op when another request recorded one within the minute."""
    await session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_RESOLUTION),
        )
        # A use is not a change of the key: updated_at stays (its onupdate would fire).
        .values(last_used_at=now, updated_at=ApiKey.updated_at)
        .execution_options(synchronize_session=False)
    )


def active_keys(account_id: int) -> Select[ApiKey]:
    return select(ApiKey).where(ApiKey.account_id == account_id, ApiKey.revoked_at.is_(None))


async def still_active(session: AsyncSession, key_ids: set[int]) -> set[int]:
    """Which of `key_ids` are neither revoked nor deleted."""
    found = await session.scalars(
        select(ApiKey.id).where(ApiKey.id.in_(key_ids), ApiKey.revoked_at.is_(None))
    )
    return set(found)


async def _lock_account(session: AsyncSession, account_id: int) -> None:
    """Serializes key changes of one account (PostgreSQL; SQLite writes are serial)."""
    await session.execute(select(Account.id).where(Account.id == account_id).with_for_update())


async def _count_active(session: AsyncSession, account_id: int) -> int:
    stmt = select(func.count()).select_from(active_keys(account_id).subquery())
    return (await session.scalar(stmt)) or 0


async def create_api_key(session: AsyncSession, account_id: int, name: str) -> tuple[ApiKey, str]:
    """A new key; the key itself is returned only here (only its hash is stored)."""
    problems = v.Problems()
    problems.add(v.text(name, 255, "name"))
    problems.raise_if_any()
    await _lock_account(session, account_id)
    if await _count_active(session, account_id) >= MAX_KEYS_PER_ACCOUNT:
        raise DomainError.one(
            ErrorCode.TOO_MANY,
            f"An account may hold at most {MAX_KEYS_PER_ACCOUNT} keys; revoke one first.",
        )
    key = await issue_api_key(session, account_id, name.strip())
    made = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    assert made is not None
    return made, key


async def revoke_api_key(
    session: AsyncSession, account_id: int, key_id: int, now: datetime
) -> ApiKey:
    await _lock_account(session, account_id)
    key = await session.get(ApiKey, key_id)
    if key is None or key.account_id != account_id or key.revoked_at is not None:
        raise not_found("API key", "id")
    if await _count_active(session, account_id) <= 1:
        raise DomainError.one(
            ErrorCode.INVALID_STATE,
            "This is the account's last key: create another before revoking it.",
            "id",
        )
    key.revoked_at = now
    await session.flush()
    return key
