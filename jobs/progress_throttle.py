"""Progress published at most a few times a second per campaign and process, for callers
that may come thousands of times a second (status callbacks and replies announcing lead
changes): each publish costs a snapshot's database read, and subscribers take at most 2
updates a second anyway.

A request starts a publish unless one is already on its way for the campaign; that one
waits until PUBLISH_INTERVAL_S after the campaign's last publish began. It stops being
"on its way" just before it reads the snapshot, so a change committed before any request
is in the snapshot that request's publish (or a later one) reads: the latest state is
always published, at most PUBLISH_INTERVAL_S late.

The state is per event loop (a process normally has one). Publishes still waiting when a
process stops are lost, as a lost pub/sub message is: the next change, or a subscriber's
first snapshot, makes it good.
"""

import asyncio
import logging
import time
import weakref

from redis.asyncio import Redis

from db.engine import Database
from jobs.progress import publish

log = logging.getLogger(__name__)

PUBLISH_INTERVAL_S = 0.25
# Campaigns whose last publish is remembered before old ones are forgotten.
_REMEMBERED = 1_000

# A campaign of one database (a process has one; a test may run several in turn).
Key = tuple[int, int]  # (id of the Database, campaign id)


class ProgressThrottle:
    def __init__(self, interval_s: float = PUBLISH_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._coming: dict[Key, asyncio.Task[None]] = {}  # campaign -> its publish
        self._last: dict[Key, float] = {}  # campaign -> when its last publish began
        self._tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references

    def request(self, db: Database, redis: Redis, campaign_id: int) -> None:
        """Has the campaign's progress published soon (now, if it was not just now)."""
        key = (id(db), campaign_id)
        if key in self._coming:
            return  # it reads the database after this request's change
        if len(self._last) > _REMEMBERED:
            self._forget_old()
        wait = self._last.get(key, -self.interval_s) + self.interval_s - time.monotonic()
        task = asyncio.create_task(self._publish(db, redis, key, max(wait, 0.0)))
        self._coming[key] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, db: Database, redis: Redis, key: Key, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
        finally:
            del self._coming[key]  # later requests need a publish of their own
        self._last[key] = time.monotonic()
        campaign_id = key[1]
        try:
            await publish(db, redis, campaign_id)
        except Exception:  # the database is away: the next change publishes again
            log.exception("could not publish progress of campaign %s", campaign_id)

    def _forget_old(self) -> None:
        stale = time.monotonic() - self.interval_s
        self._last = {c: at for c, at in self._last.items() if at > stale}


_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ProgressThrottle]" = (
    weakref.WeakKeyDictionary()
)


def publish_soon(db: Database, redis: Redis, campaign_id: int) -> None:
    """Requests a throttled publish of the campaign's progress (see the module's doc)."""
    loop = asyncio.get_running_loop()
    throttle = _per_loop.get(loop)
    if throttle is None:
        throttle = _per_loop[loop] = ProgressThrottle()
    throttle.request(db, redis, campaign_id)
