"""The API's direct path for status callbacks while Redis is unreachable (they are
otherwise queued on Redis and applied by the workers, jobs/status_queue.py): the events of
concurrent requests are applied in one write transaction (a group commit,
jobs/group_commit.py), and each request answers only after its group committed (Twilio
gets 200 for a change that is durable). Twilio sends up to three callbacks per message; at
a campaign's pace one transaction each would spend most of its time committing.

Its database connections are its own (a batch must not queue for one behind the requests'
reads), made on first use: a server whose Redis never fails never opens them. After the
commit, the changed leads are announced (coalesced, off the requests' path)."""

from redis.asyncio import Redis

from db.engine import Database, connect
from db.usecases.message_status import StatusEvent
from jobs.group_commit import GroupCommit
from jobs.status_apply import Announcer, apply_batch

# Events per transaction at most (a bigger backlog is split into several).
MAX_BATCH = 1000


class StatusBatcher:
    """One per API process, stopped by the app's lifespan."""

    def __init__(self, database_url: str, redis: Redis) -> None:
        self._database_url = database_url
        self._db: Database | None = None
        self._announcer: Announcer | None = None
        self._redis = redis
        self._commits = GroupCommit(self._apply, MAX_BATCH)

    async def submit(self, event: StatusEvent) -> None:
        """Returns once `event` is applied and committed; raises when its batch failed."""
        await self._commits.submit(event)

    async def stop(self) -> None:
        await self._commits.stop()
        if self._announcer is not None:
            await self._announcer.stop()
        if self._db is not None:
            await self._db.dispose()

    async def _apply(self, events: list[StatusEvent]) -> None:
        if self._db is None:
            self._db = connect(self._database_url, pool_size=2, max_overflow=0)
            self._announcer = Announcer(self._db, self._redis)
        applied = await apply_batch(self._db, events)
        assert self._announcer is not None
        self._announcer.add(applied)
