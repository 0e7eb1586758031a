"""One batch of status events applied in one write transaction, stamped with the
database's time, and the leads it changed announced afterwards (coalesced). Shared by the
worker's queue consumer (jobs/status_queue.py) and the API's direct group commit
(graph/hooks/status_batcher.py, used while Redis is unreachable)."""

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from db.clock import db_now
from db.engine import Database
from db.usecases.message_status import Applied, StatusEvent, apply_statuses
from jobs.lead_events import announce
from jobs.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# A batch that meets a deadlock or a serialisation failure (PostgreSQL, two processes
# applying overlapping batches) is tried again this many times.
ATTEMPTS = 3


async def apply_batch(db: Database, events: Sequence[StatusEvent]) -> Applied:
    """Applies `events` in one transaction, each at the database's time (the one clock)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with db.write() as session:
                now = await db_now(session)
                timed = [dataclasses.replace(e, at=now) for e in events]
                return await apply_statuses(session, timed)
        except DBAPIError:
            if attempt == ATTEMPTS:
                raise
            log.warning("status batch failed (attempt %d); trying again", attempt)
    raise AssertionError("unreachable")


class Announcer:
    """Announces changed leads off the caller's path: what changes while an announcement
    is being made is merged and announced next, so a busy stream costs few PUBLISHes and a
    Redis outage delays nothing but the announcement."""

    def __init__(self, db: Database, redis: Redis) -> None:
        self._db = db
        self._redis = redis
        self._pending: dict[int, dict[int, set[int]]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, applied: Applied) -> None:
        for account_id, campaigns in applied.changed.items():
            mine = self._pending.setdefault(account_id, {})
            for campaign_id, leads in campaigns.items():
                mine.setdefault(campaign_id, set()).update(leads)
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._announce_all())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _announce_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            for account_id, campaigns in batch.items():
                changed = {c: sorted(ids) for c, ids in campaigns.items()}
                try:
                    await announce(self._db, self._redis, account_id, changed)
                except Exception as exc:  # subscribers miss it; the database has it
                    log.warning("could not announce lead changes: %s", exc)
