"""The channel a webhook names, with its auth token, kept for a few seconds.

Twilio calls back up to three times per message: at a campaign's pace, reading the
channel (and decrypting its token) for every request would cost more than the rest of
the request. A token changed by updateTwilioChannel is used within TTL_S (and one read);
a channel the database does not have is never kept (each such request reads again: it is
refused).

One read per channel at a time: the requests that arrive while it is under way wait for
it rather than each reading too (a thousand callbacks a second would otherwise queue a
read each for the database's connections, every TTL_S). A kept channel whose time is up
answers while it is read again."""

import asyncio
import time
from dataclasses import dataclass, field

from sqlalchemy import select

from db.engine import Database
from db.enums import TwilioChannelType
from db.models import TwilioChannel
from db.secrets import reveal

TTL_S = 5.0
# Channels kept at most; more are forgotten all at once (a process has a handful).
MAX_KEPT = 10_000


@dataclass(frozen=True)
class HookChannel:
    id: int
    account_id: int
    channel_type: TwilioChannelType
    token: str = field(repr=False)


async def read_channel(db: Database, channel_id: int) -> HookChannel | None:
    async with db.read() as session:
        found = (
            await session.execute(
                select(
                    TwilioChannel.id,
                    TwilioChannel.account_id,
                    TwilioChannel.channel_type,
                    TwilioChannel.auth_token,
                ).where(TwilioChannel.id == channel_id)
            )
        ).one_or_none()
        token = reveal(session, found.auth_token) if found else ""
    if found is None or not token:
        return None
    return HookChannel(found.id, found.account_id, found.channel_type, token)


class HookChannels:
    """One per API process (made in the lifespan)."""

    def __init__(self, db: Database, ttl_s: float = TTL_S) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._kept: dict[int, tuple[float, HookChannel]] = {}
        self._reading: dict[int, asyncio.Task[HookChannel | None]] = {}

    async def get(self, channel_id: int) -> HookChannel | None:
        kept = self._kept.get(channel_id)
        if kept is not None and time.monotonic() - kept[0] < self._ttl_s:
            return kept[1]
        reading = self._reading.get(channel_id)
        if reading is None:
            reading = asyncio.create_task(self._read(channel_id))
            self._reading[channel_id] = reading
            reading.add_done_callback(self._done)
        if kept is not None:  # read again meanwhile
            return kept[1]
        # Shielded: a request that goes away does not cancel the read the others wait for.
        return await asyncio.shield(reading)

    def _done(self, reading: "asyncio.Task[HookChannel | None]") -> None:
        for channel_id, task in list(self._reading.items()):
            if task is reading:
                del self._reading[channel_id]
        if not reading.cancelled():
            reading.exception()  # retrieved: the requests waiting for it have it too

    async def _read(self, channel_id: int) -> HookChannel | None:
        began = time.monotonic()
        channel = await read_channel(self._db, channel_id)
        if channel is None:
            self._kept.pop(channel_id, None)
            return None
        if len(self._kept) >= MAX_KEPT:
            self._kept.clear()
        self._kept[channel_id] = (began, channel)
        return channel
