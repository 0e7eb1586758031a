"""Waiting for what the webhooks queued on Redis (status callbacks, inbound messages) to
be applied by a worker: the webhook answers once an item is queued, before that."""

import asyncio

from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobs import inbound_queue, status_queue


async def queue_counts(redis_url: str, queued_key: str, applied_key: str) -> tuple[int, int]:
    """How many items the API queued and how many a worker applied, ever."""
    redis = Redis.from_url(redis_url)
    try:
        queued, applied = await redis.mget(queued_key, applied_key)
    finally:
        await redis.aclose()
    return int(queued or 0), int(applied or 0)


async def queue_drained(
    redis_url: str, queued_key: str, applied_key: str, within: float = 30.0
) -> None:
    """Waits until a worker has applied everything queued under `queued_key`. With Redis
    away nothing was queued meanwhile (the API applied it itself): no wait."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        try:
            queued, applied = await queue_counts(redis_url, queued_key, applied_key)
        except (RedisError, OSError):
            return
        if applied >= queued:
            return
        assert loop.time() < give_up, f"{queued - applied} queued item(s) never applied"
        await asyncio.sleep(0.05)


async def callbacks_drained(redis_url: str, within: float = 30.0) -> None:
    await queue_drained(redis_url, status_queue.QUEUED_KEY, status_queue.APPLIED_KEY, within)


async def inbound_drained(redis_url: str, within: float = 30.0) -> None:
    await queue_drained(redis_url, inbound_queue.QUEUED_KEY, inbound_queue.APPLIED_KEY, within)
