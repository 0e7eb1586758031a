"""Group commit for status callbacks, the API's direct path while Redis is unreachable
(callbacks are otherwise queued on Redis and applied by the workers, jobs/status_queue.py):
the events of concurrent requests are applied in one write transaction, and each request
answers only after its batch committed (Twilio gets 200 for a change that is durable).

Twilio sends up to three callbacks per message; at a campaign's pace that is thousands a
second, and one transaction each would spend most of its time committing (on SQLite, one
writer at a time). One task applies whatever has gathered while the previous batch was
being written, so a quiet server commits each event at once and a busy one commits many
per transaction. After the commit, the changed leads are announced (coalesced, off the
requests' path: a Redis outage delays no answer)."""

import asyncio
import contextlib
import logging

from redis.asyncio import Redis

from db.engine import Database
from db.usecases.message_status import Applied, StatusEvent
from jobs.status_apply import Announcer, apply_batch

log = logging.getLogger(__name__)

# Events per transaction at most (a bigger backlog is split into several).
MAX_BATCH = 1000

_Waiter = tuple[StatusEvent, asyncio.Future[None]]


class StatusBatcher:
    """One per API process, started and stopped by the app's lifespan."""

    def __init__(self, db: Database, redis: Redis) -> None:
        self._db = db
        self._pending: list[_Waiter] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._announcer = Announcer(db, redis)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._announcer.stop()
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
        return await apply_batch(self._db, events)

    def _announce(self, applied: Applied) -> None:
        self._announcer.add(applied)
