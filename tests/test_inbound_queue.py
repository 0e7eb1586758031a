"""jobs/inbound_queue.py: the inbound messages the API queues for the workers, encoded
and decoded whole (anything else on the list is dropped, not applied), and a message a
worker cannot apply queued again, up to ATTEMPTS tries, against a real Redis."""

from datetime import timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from db.engine import connect
from db.enums import ChannelType
from db.inbound_message import read_inbound
from jobs import inbound_queue
from jobs.inbound_queue import InboundConsumer, QueuedInbound, decode, encode, push
from tests.redis_process import RedisProcess

pytestmark = pytest.mark.database_independent


def message_item(**params: str) -> QueuedInbound:
    message = read_inbound(
        {
            "MessageSid": "SM" + "a" * 32,
            "From": "whatsapp:+14155550100",
            "Body": "Yes ✓ please\n(twice)",
            "NumMedia": "1",
            "MediaUrl0": "https://api.twilio.com/media/1",
            "ButtonPayload": "buy",
            **params,
        }
    )
    assert message is not None
    return QueuedInbound(7, 3, ChannelType.WHATSAPP, message, 1_795_000_000.25)


def test_an_item_comes_back_whole() -> None:
    item = message_item()
    assert decode(encode(item)) == item
    assert decode(encode(item).encode()) == item


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2, 3]",
        b'[1, 2, "WHATSAPP", {"message_sid": "SM"}, 1]',  # fields missing
        b'[1, 2, "FAX", {}, 1]',
        b'{"account_id": 1}',
        b'[1, 2, "SMS", [], 1.0, 1]',
        b'[1, 2, "SMS", {}, "soon", 1]',
    ],
)
def test_anything_else_is_dropped(raw: bytes) -> None:
    assert decode(raw) is None


def test_an_extra_field_is_not_an_item() -> None:
    good = encode(message_item())
    assert decode(good.replace('"opt_out_type"', '"extra":1,"opt_out_type"')) is None


async def test_a_message_no_worker_can_apply_is_tried_three_times_then_dropped(
    tmp_path: Path,
) -> None:
    redis_server = RedisProcess(tmp_path / "redis")
    await redis_server.start()
    redis = Redis.from_url(redis_server.url)
    # A database without its tables: every try fails, as with the database away.
    db = connect(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    consumer = InboundConsumer(db, redis, window=timedelta(days=7))
    try:
        await push(redis, [message_item()])
        for attempt in range(1, inbound_queue.ATTEMPTS + 1):
            queued = [decode(raw) for raw in await redis.lrange(inbound_queue.QUEUE_KEY, 0, -1)]
            assert [item.attempt if item else None for item in queued] == [attempt]
            assert await consumer.take() == 1
        assert await redis.llen(inbound_queue.QUEUE_KEY) == 0
        counts = await redis.mget(inbound_queue.QUEUED_KEY, inbound_queue.APPLIED_KEY)
        assert [int(c) for c in counts] == [inbound_queue.ATTEMPTS] * 2
        assert await consumer.take() == 0
    finally:
        await consumer.stop()
        await redis.aclose()
        await db.dispose()
        await redis_server.stop()
