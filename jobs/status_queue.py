"""Twilio's status callbacks, queued on Redis by the API and applied by the workers.

The webhook verifies the signature, pushes the event (a compact JSON; the events of
concurrent requests in one RPUSH, jobs/group_commit.py) and answers 200 once it is queued:
a callback no longer waits for the database, where on SQLite it would queue for the single
write lock behind the workers' recording transactions. Each worker runs a consumer that
pops up to MAX_BATCH events at a time (LPOP with a count is atomic, so several workers
share the queue without taking an event twice), applies them in one transaction
(db/usecases/message_status.py, a handful of statements per batch) and announces the
changed leads, coalesced.

A worker that dies between the pop and the commit loses those events. That is accepted:
the status catch-up job (jobs/status_catchup.py) fetches the Message of every lead left
unsettled (still only sent), so the lead is settled anyway, only later. (A lost "read" of a
lead already delivered is not fetched again: that lead stays DELIVERED.) While Redis is
unreachable the API applies callbacks itself (graph/hooks/status_batcher.py), so none is refused."""

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from db.engine import Database
from db.enums import ChannelType
from db.usecases.message_status import TWILIO_STATUSES, StatusEvent
from jobs import queue_consumer as queue
from jobs.queue_consumer import QueueConsumer
from jobs.status_apply import Announcer, apply_batch

log = logging.getLogger(__name__)

QUEUE_KEY = "clarion:status-callbacks"
# How many events have been queued, and how many of them applied (committed), ever: the
# difference is the backlog (plus any lost to a crash), for operators and for tests.
QUEUED_KEY = "clarion:status-callbacks:queued"
APPLIED_KEY = "clarion:status-callbacks:applied"
# Events per pop and per transaction at most.
MAX_BATCH = 1000


def encode(event: StatusEvent) -> str:
    """The event, compactly (its time is set when applied: the database's)."""
    return json.dumps(
        [
            event.channel_id,
            event.account_id,
            event.channel_type.value,
            event.message_sid,
            event.status,
            event.error_code,
            event.error_message,
        ],
        separators=(",", ":"),
    )


def decode(raw: str | bytes) -> StatusEvent | None:
    """The event `raw` encodes; None for anything else (logged and dropped)."""
    try:
        channel_id, account_id, channel_type, sid, status, code, message = json.loads(raw)
        if status not in TWILIO_STATUSES:
            raise ValueError(status)
        return StatusEvent(
            channel_id=int(channel_id),
            account_id=int(account_id),
            channel_type=ChannelType(channel_type),
            message_sid=str(sid),
            status=str(status),
            at=datetime.now(UTC),
            error_code=str(code),
            error_message=str(message),
        )
    except (ValueError, TypeError) as exc:
        log.warning("dropped a queued status event that is not one: %s", exc)
        return None


async def push(redis: Redis, events: Sequence[StatusEvent]) -> None:
    """Queues `events`; raises RedisError/OSError/TimeoutError when Redis cannot take them."""
    await queue.push(redis, QUEUE_KEY, QUEUED_KEY, [encode(event) for event in events])


class StatusConsumer(QueueConsumer):
    """Applies queued status events in batches; one per worker process."""

    def __init__(self, db: Database, redis: Redis) -> None:
        super().__init__(redis, QUEUE_KEY, APPLIED_KEY, MAX_BATCH, self._apply_raw)
        self._db = db
        self._announcer = Announcer(db, redis)

    async def stop(self) -> None:
        await super().stop()
        await self._announcer.stop()

    async def _apply_raw(self, raw: list[bytes]) -> None:
        events = [e for e in (decode(r) for r in raw) if e is not None]
        if events:
            self._announcer.add(await apply_batch(self._db, events))
