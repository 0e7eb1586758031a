"""Group commit for status callbacks: the events of concurrent requests are applied in one
write transaction, and each request answers only after its batch committed (Twilio gets
200 for a change that is durable).

Twilio sends up to three callbacks per message; at a campaign's pace that is thousands a
second, and one transaction each would spend most of its time committing (on SQLite, one
writer at a time). One task applies whatever has gathered while the previous batch was
being written, so a quiet server commits each event at once and a busy one commits many
per transaction. After the commit, the changed leads are announced (coalesced, off the
requests' path: a Redis outage delays no answer)."""

import asyncio
import contextlib
import dataclasses
import logging

from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError

from db.clock import db_now
from db.engine import Database
from db.usecases.message_status import Applied, StatusEvent, apply_statuses
from jobs.lead_events import announce

log = logging.getLogger(__name__)

# Events per transaction at most (a bigger backlog is split into several).
MAX_BATCH = 1000
# A batch that meets a deadlock or a serialisation failure (PostgreSQL, two API processes
# applying overlapping batches) is tried again this many times.
ATTEMPTS = 3

_Waiter = tuple[StatusEvent, asyncio.Future[None]]


class StatusBatcher:
    """One per API process, started and stopped by the app's lifespan."""

    def __init__(self, db: Database, redis: Redis) -> None:
        self._db = db
        self._redis = redis
        self._pending: list[_Waiter] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._to_announce: dict[int, dict[int, set[int]]] = {}
        self._announcer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in (self._task, self._announcer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for _, waiter in self._pending:
            if not waiter.done():
                waiter.set_exception(RuntimeError("shutting down"))
        self._pending.clear()

    async def submit(self, event: StatusEvent) -> None:
        """Returns once `event` is applied and committed; raises when its batch failed."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((event, waiter))
        self._wake.set()
        await waiter

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                await self._commit(batch)

    async def _commit(self, batch: list[_Waiter]) -> None:
        events = [event for event, _ in batch]
        began = asyncio.get_running_loop().time()
        try:
            applied = await self._apply(events)
            log.debug(
                "applied %d status callback(s) in %.1f ms",
                len(events),
                (asyncio.get_running_loop().time() - began) * 1000,
            )
        except Exception as exc:
            log.exception("could not apply %d status callback(s)", len(batch))
            for _, waiter in batch:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for _, waiter in batch:
            if not waiter.done():  # its request may have gone (the client hung up)
                waiter.set_result(None)
        self._announce(applied)

    async def _apply(self, events: list[StatusEvent]) -> Applied:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._db.write() as session:
                    now = await db_now(session)  # the one clock: the database's
                    timed = [dataclasses.replace(e, at=now) for e in events]
                    return await apply_statuses(session, timed)
            except DBAPIError:
                if attempt == ATTEMPTS:
                    raise
                log.warning("status batch failed (attempt %d); trying again", attempt)
        raise AssertionError("unreachable")

    def _announce(self, applied: Applied) -> None:
        for account_id, campaigns in applied.changed.items():
            mine = self._to_announce.setdefault(account_id, {})
            for campaign_id, leads in campaigns.items():
                mine.setdefault(campaign_id, set()).update(leads)
        if self._to_announce and (self._announcer is None or self._announcer.done()):
            self._announcer = asyncio.create_task(self._announce_all())

    async def _announce_all(self) -> None:
        """Announces what changed, then what changed meanwhile, until nothing is left."""
        while self._to_announce:
            batch, self._to_announce = self._to_announce, {}
            for account_id, campaigns in batch.items():
                changed = {c: sorted(ids) for c, ids in campaigns.items()}
                try:
                    await announce(self._db, self._redis, account_id, changed)
                except Exception as exc:  # subscribers miss it; the database has it
                    log.warning("could not announce lead changes: %s", exc)
