"""API keys from the Authorization header: `Bearer <key>` or `Token <key>` (the SDK's form)."""

from db.engine import Database
from db.types import utcnow
from db.usecases.api_keys import ActiveKey, find_active, needs_touch, touch

SCHEMES = ("bearer", "token")


def key_from_header(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, key = value.strip().partition(" ")
    if scheme.lower() not in SCHEMES or not key.strip():
        return None
    return key.strip()


async def key_for(db: Database, header: str | None) -> ActiveKey | None:
    """The active key in the header, its use recorded (at most one write a minute)."""
    key = key_from_header(header)
    if key is None:
        return None
    async with db.read() as session:
        found = await find_active(session, key)
    now = utcnow()
    if found is not None and needs_touch(found, now):
        async with db.write() as session:
            await touch(session, found.id, now)
    return found


async def account_for(db: Database, header: str | None) -> int | None:
    found = await key_for(db, header)
    return None if found is None else found.account_id
