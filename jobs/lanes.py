"""Background work in lanes of its own, apart from sending.

A worker's arq job slots are shared by the send jobs (which only adopt a campaign into the
worker's runs: jobs/run_set.py) and the background work: approval follows, the status
catch-up, the sweeper. Each background kind has a lane: it never overlaps itself across
workers when it is periodic (`alone`: a runner lock per lane, so its work is done once per
tick, not once per worker), it holds at most a few slots of a worker at once, and at most
one or two of them for any one channel (`Lane`), so that one account's slow or silent
provider endpoint slows its own work only, and sending always has slots left.
"""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Hashable, Iterator

from redis.asyncio import Redis

from jobs.runner_lock import TTL_S, RunnerLock

# Approval follows: reads of a worker at once, and of one Twilio account.
FOLLOWS = (4, 2)


class Lane:
    """At most `size` items at once in a worker, and at most `per_key` of one key."""

    def __init__(self, size: int, per_key: int) -> None:
        self.size = size
        self.per_key = per_key
        self._busy: Counter[Hashable] = Counter()

    def busy(self) -> int:
        return self._busy.total()

    @contextlib.contextmanager
    def enter(self, key: Hashable) -> Iterator[bool]:
        """True (and a place held for the block) when there is room for `key` now."""
        if self._busy.total() >= self.size or self._busy[key] >= self.per_key:
            yield False
            return
        self._busy[key] += 1
        try:
            yield True
        finally:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]


@contextlib.asynccontextmanager
async def alone(redis: Redis, lane: str, ttl_s: float = TTL_S) -> AsyncIterator[bool]:
    """True for the block when no worker runs `lane`'s work now (the lock is renewed while
    the block runs and lapses within its TTL if its holder dies); False: another does,
    skip this tick."""
    lock = RunnerLock(redis, f"clarion:lane:{lane}", ttl_s)
    if not await lock.acquire(0):
        yield False
        return
    renewing = asyncio.create_task(lock.keep())
    try:
        yield True
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        with contextlib.suppress(Exception):
            await lock.release()
