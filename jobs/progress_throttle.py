"""Progress published at most a few times a second per process, for callers that may come
thousands of times a second (status callbacks and replies announcing lead changes, every
batch of every campaign a worker sends): subscribers take at most 2 updates a second
anyway, and the campaigns asked for meanwhile are published together, from one read of
the database (jobs/progress.py: `publish_many`).

A request adds its campaign to the next publish unless that one is already on its way;
it waits until PUBLISH_INTERVAL_S after the last publish began. The campaigns stop being
"on their way" just before their snapshots are read, so a change committed before any
request is in the snapshot that request's publish (or a later one) reads: the latest
state is always published, at most PUBLISH_INTERVAL_S late.

The state is per event loop (a process normally has one) and database. Publishes still
waiting when a process stops are lost, as a lost pub/sub message is: the next change, or
a subscriber's first snapshot, makes it good.
"""

import asyncio
import logging
import time
import weakref

from redis.asyncio import Redis

from db.engine import Database
from jobs.progress import publish_many

log = logging.getLogger(__name__)

PUBLISH_INTERVAL_S = 0.25
# The most campaigns published from one read.
MAX_PUBLISHED = 500


class ProgressThrottle:
    """The coming publishes of one database's campaigns."""

    def __init__(self, db: Database, redis: Redis, interval_s: float = PUBLISH_INTERVAL_S) -> None:
        self.db = db
        self.redis = redis
        self.interval_s = interval_s
        self._coming: set[int] = set()
        self._last = -interval_s  # monotonic: when the last publish began
        self._task: asyncio.Task[None] | None = None

    def request(self, campaign_id: int) -> None:
        """Has the campaign's progress published soon (now, if nothing was just now)."""
        self._coming.add(campaign_id)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._publish())

    async def _publish(self) -> None:
        while self._coming:
            await asyncio.sleep(max(self._last + self.interval_s - time.monotonic(), 0.0))
            campaigns = sorted(self._coming)[:MAX_PUBLISHED]
            self._coming.difference_update(campaigns)  # later requests need a new read
            self._last = time.monotonic()
            try:
                await publish_many(self.db, self.redis, campaigns)
            except Exception:  # the database is away: the next change publishes again
                log.exception("could not publish the progress of %d campaign(s)", len(campaigns))


# Per event loop, the throttle of each database (by its id: a test may run several in turn).
_per_loop: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[int, ProgressThrottle]]" = (
    weakref.WeakKeyDictionary()
)


def publish_soon(db: Database, redis: Redis, campaign_id: int) -> None:
    """Requests a throttled publish of the campaign's progress (see the module's doc)."""
    throttles = _per_loop.setdefault(asyncio.get_running_loop(), {})
    throttle = throttles.get(id(db))
    if throttle is None or throttle.db is not db:
        throttle = throttles[id(db)] = ProgressThrottle(db, redis)
    throttle.request(campaign_id)
