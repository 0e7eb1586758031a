"""Messages people send (Twilio's "A message comes in" webhook), queued on Redis by the
API and applied by the workers, as status callbacks are (jobs/status_queue.py).

Applying one is a write transaction of several statements (db/usecases/replies.py). In the
API, on SQLite, that transaction held the single write lock across as many trips through
an event loop busy with a thousand callbacks a second, and the workers' claims and
recording waited behind it (tests/benchmarks/bench_twilio_feedback.py: a tenth of the
leads replying cost most of the send rate). So the webhook checks the signature, reads the
message (db/inbound_message.py: cleaned and capped), queues it with the channel it came to
and answers; the workers' consumers apply what they pop together, PER_TRANSACTION messages
to a transaction, at the database's time, and announce the leads they changed (coalesced,
as status events are). One transaction per message made the worker apply replies slower
than a tenth of a fast campaign's leads sent them (the benchmark's queue was applied 20 s
after the campaign ended).

When a transaction fails, its messages are applied again one at a time, so one that
cannot be applied holds back none popped with it; that one goes back to the end of the
queue, up to ATTEMPTS times (the database away), then is logged and dropped. One that
quotes a message no lead holds yet, while a lead to its sender is being sent, goes back
too, for up to QUOTE_WAIT_S after it was queued: the reply can come before the sender
records the sid of the message it answers (a quick-reply tap within a second), and applied
then it would be tied by the fallbacks, to an older lead or to none. A worker that dies
between the pop and the commit loses what it popped: Twilio is not asked again, as it got
its 200. While Redis is unreachable the API applies the message itself (`apply_inbound`),
so none is refused. Two messages from one sender applied by two workers at once may commit
in either order, as two of Twilio's concurrent posts could before."""

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from redis.asyncio import Redis
from redis.exceptions import RedisError

from db.clock import db_now
from db.engine import Database
from db.enums import ChannelType
from db.inbound_message import InboundMessage
from db.usecases.message_status import Applied
from db.usecases.replies import record_reply
from jobs import queue_consumer as queue
from jobs.lead_events import announce
from jobs.queue_consumer import QueueConsumer
from jobs.status_apply import Announcer

log = logging.getLogger(__name__)

QUEUE_KEY = "clarion:inbound-messages"
# How many messages have been queued, and how many of them applied (or given up), ever.
QUEUED_KEY = "clarion:inbound-messages:queued"
APPLIED_KEY = "clarion:inbound-messages:applied"
# Messages per pop at most.
MAX_BATCH = 200
# Messages per transaction at most (each is about a dozen statements; on SQLite the
# worker's sending waits for the write lock meanwhile).
PER_TRANSACTION = 50
# Tries of a message before it is dropped.
ATTEMPTS = 3
# How long a message quoting a sid no lead holds waits for it (a send batch is recorded
# within seconds of its sends).
QUOTE_WAIT_S = 60.0


@dataclass(frozen=True)
class QueuedInbound:
    """A message that came to a channel, as queued."""

    account_id: int
    channel_id: int
    channel_type: ChannelType
    message: InboundMessage
    # When the API queued it (time.time()).
    queued_at: float
    attempt: int = 1


def encode(item: QueuedInbound) -> str:
    message = dataclasses.asdict(item.message)
    return json.dumps(
        [
            item.account_id,
            item.channel_id,
            item.channel_type.value,
            message,
            item.queued_at,
            item.attempt,
        ],
        separators=(",", ":"),
    )


def decode(raw: str | bytes) -> QueuedInbound | None:
    """The item `raw` encodes; None for anything else (logged and dropped)."""
    try:
        account_id, channel_id, channel_type, message, queued_at, attempt = json.loads(raw)
        fields = {f.name for f in dataclasses.fields(InboundMessage)}
        if not isinstance(message, dict) or set(message) != fields:
            raise ValueError("not an inbound message")
        message["media_urls"] = tuple(str(url) for url in message["media_urls"])
        return QueuedInbound(
            int(account_id),
            int(channel_id),
            ChannelType(channel_type),
            InboundMessage(**message),
            float(queued_at),
            int(attempt),
        )
    except (ValueError, TypeError) as exc:
        log.warning("dropped a queued inbound message that is not one: %s", exc)
        return None


async def push(redis: Redis, items: Sequence[QueuedInbound]) -> None:
    """Queues `items`; raises RedisError/OSError/TimeoutError when Redis cannot take them."""
    await queue.push(redis, QUEUE_KEY, QUEUED_KEY, [encode(item) for item in items])


@dataclass
class Batch:
    """What applying messages changed (leads by account and campaign, to announce), and
    the messages to queue again."""

    applied: Applied = field(default_factory=Applied)
    again: list[QueuedInbound] = field(default_factory=list)

    def merge(self, other: "Batch") -> None:
        self.applied.merge(other.applied)
        self.again.extend(other.again)


async def apply_together(
    db: Database, items: Sequence[QueuedInbound], window: timedelta, *, may_wait: bool
) -> Batch:
    """Keeps and applies `items` in one transaction, at the database's time. A message
    that quotes one still being sent is left for later (changing nothing) when
    `may_wait` and it has not waited QUOTE_WAIT_S yet."""
    batch = Batch()
    async with db.write() as session:
        now = await db_now(session)
        for item in items:
            recorded = await record_reply(
                session,
                item.account_id,
                item.channel_id,
                item.channel_type,
                item.message,
                now=now,
                window=window,
                may_wait=may_wait and time.time() - item.queued_at < QUOTE_WAIT_S,
            )
            if recorded.postponed:
                batch.again.append(item)
            else:
                batch.applied.add_all(item.account_id, recorded.changed)
    return batch


async def apply_inbound(db: Database, redis: Redis, item: QueuedInbound, window: timedelta) -> None:
    """Keeps and applies one message in its own transaction, then announces what it
    changed: the API's path while Redis cannot take the message."""
    batch = await apply_together(db, [item], window, may_wait=False)
    try:  # bounded: a silent Redis must not hold the webhook that applied it directly
        async with asyncio.timeout(queue.PUSH_TIMEOUT_S):
            for account_id, changed in batch.applied.changed.items():
                await announce(db, redis, account_id, changed)
    except (RedisError, OSError, TimeoutError):  # kept; subscribers catch up on their next read
        log.warning("Could not announce the leads a reply changed", exc_info=True)


class InboundConsumer(QueueConsumer):
    """Applies queued inbound messages, PER_TRANSACTION at a time; one per worker process."""

    def __init__(self, db: Database, redis: Redis, window: timedelta) -> None:
        super().__init__(redis, QUEUE_KEY, APPLIED_KEY, MAX_BATCH, self._apply_raw)
        self._db = db
        self._redis = redis
        self._window = window
        self._announcer = Announcer(db, redis)

    async def stop(self) -> None:
        await super().stop()
        await self._announcer.stop()

    async def _apply_raw(self, raw: list[bytes]) -> None:
        items = [item for item in map(decode, raw) if item is not None]
        again: list[QueuedInbound] = []
        for start in range(0, len(items), PER_TRANSACTION):
            chunk = items[start : start + PER_TRANSACTION]
            try:
                batch = await apply_together(self._db, chunk, self._window, may_wait=True)
            except Exception:
                log.warning(
                    "%d inbound messages not applied together; applying them one at a time",
                    len(chunk),
                    exc_info=True,
                )
                batch = await self._one_at_a_time(chunk)
            self._announcer.add(batch.applied)
            again.extend(batch.again)
        if again:
            await push(self._redis, again)

    async def _one_at_a_time(self, items: Sequence[QueuedInbound]) -> Batch:
        """Each of `items` in its own transaction, so one that cannot be applied does not
        hold back the others; it is queued again, up to ATTEMPTS tries."""
        batch = Batch()
        for item in items:
            try:
                batch.merge(await apply_together(self._db, [item], self._window, may_wait=True))
            except Exception:
                if item.attempt >= ATTEMPTS:
                    log.exception(
                        "dropped inbound message %s after %d attempts",
                        item.message.message_sid,
                        item.attempt,
                    )
                else:
                    log.warning(
                        "inbound message %s not applied (attempt %d); queued again",
                        item.message.message_sid,
                        item.attempt,
                        exc_info=True,
                    )
                    batch.again.append(dataclasses.replace(item, attempt=item.attempt + 1))
        return batch
