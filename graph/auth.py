"""API keys from the Authorization header: `Bearer <key>` or `Token <key>` (the SDK's form)."""

from db.engine import Database
from db.usecases.accounts import authenticate

SCHEMES = ("bearer", "token")


def key_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() not in SCHEMES or not key.strip():
        return None
    return key.strip()


async def account_for(db: Database, header: str | None) -> int | None:
    key = key_from_header(header)
    if key is None:
        return None
    async with db.read() as session:
        return await authenticate(session, key)
