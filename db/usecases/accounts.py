"""Accounts and their API keys."""

import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db import validation as v
from db.models import Account, ApiKey

KEY_PREFIX = "clr_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_account(session: AsyncSession, name: str) -> tuple[Account, str]:
    """A new account and its first API key; the key is returned once and stored hashed."""
    problems = v.Problems()
    problems.add(v.text(name, 255, "name", needed=True))
    problems.raise_if_any()
    account = Account(name=name.strip())
    session.add(account)
    await session.flush()
    key = await issue_api_key(session, account.id, "default")
    return account, key


async def issue_api_key(session: AsyncSession, account_id: int, name: str) -> str:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(account_id=account_id, name=name, prefix=key[:10], key_hash=hash_key(key)))
    await session.flush()
    return key


async def authenticate(session: AsyncSession, key: str) -> int | None:
    """The account id a key belongs to, or None for an unknown or revoked key."""
    if not key.startswith(KEY_PREFIX):
        return None
    return await session.scalar(
        select(ApiKey.account_id).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    )


SENDER_DEFAULT_FIELDS = (
    "default_from_email",
    "default_from_name",
    "default_reply_to_email",
    "default_reply_to_name",
)


def check_sender_defaults(fields: Mapping[str, Any], problems: v.Problems) -> None:
    """Validates whichever of the default from/reply-to fields are present."""
    for name in SENDER_DEFAULT_FIELDS:
        if name in fields:
            value = fields[name]
            check = v.email(value, name) if name.endswith("email") else v.display_name(value, name)
            problems.add(check)


async def update_account(
    session: AsyncSession, account_id: int, changes: Mapping[str, Any]
) -> Account:
    problems = v.Problems()
    if "name" in changes:
        problems.add(v.text(changes["name"], 255, "name", needed=True))
    check_sender_defaults(changes, problems)
    problems.raise_if_any()
    account = await session.get_one(Account, account_id)
    for name, value in changes.items():
        setattr(account, name, value)
    await session.flush()
    return account
