"""A Redis list that webhooks fill: what the API pushes, and its consumer, one per worker
process and list.

`push` appends items and counts them under the list's queued key in one transaction, or
raises within PUSH_TIMEOUT_S (the webhook then applies its item itself). The consumer pops
up to `max_batch` items at a time (LPOP with a count is atomic, so several workers share a
list without taking an item twice), hands them to `apply`, and counts them under
`applied_key` once applied (beside the pusher's count of what it queued: the difference is
the backlog, for operators and for tests). It rides out Redis and database errors, trying
again after RETRY_S; when the list runs dry it looks again after POLL_S."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobs.tasks import cancel_and_wait

log = logging.getLogger(__name__)

# A push that Redis has not taken by then fails (a frozen Redis must not hold a webhook).
PUSH_TIMEOUT_S = 2.0
# A consumer that found its list short of a full batch looks again after this long.
POLL_S = 0.2
# After a Redis or database error, it tries again after this long.
RETRY_S = 1.0


async def push(redis: Redis, key: str, queued_key: str, items: Sequence[str]) -> None:
    """Appends `items` to the list `key`, counted under `queued_key`; raises RedisError,
    OSError or TimeoutError when Redis cannot take them."""
    async with asyncio.timeout(PUSH_TIMEOUT_S), redis.pipeline(transaction=True) as pipe:
        pipe.rpush(key, *items)
        pipe.incrby(queued_key, len(items))
        await pipe.execute()


class QueueConsumer:
    def __init__(
        self,
        redis: Redis,
        key: str,
        applied_key: str,
        max_batch: int,
        apply: Callable[[list[bytes]], Awaitable[None]],
    ) -> None:
        self._redis = redis
        self._key = key
        self._applied_key = applied_key
        self._max_batch = max_batch
        self._apply = apply
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            try:
                taken = await self.take()
            except (RedisError, OSError) as exc:
                log.warning("%s: Redis unavailable (%s)", self._key, exc)
                await asyncio.sleep(RETRY_S)
                continue
            except Exception:
                log.exception("%s: a batch could not be applied", self._key)
                await asyncio.sleep(RETRY_S)
                continue
            if taken < self._max_batch:  # a full batch: more are likely waiting
                await asyncio.sleep(POLL_S)

    async def take(self) -> int:
        """Pops and applies one batch; how many items it popped."""
        popped = self._redis.lpop(self._key, self._max_batch)
        raw = await cast(Awaitable[list[bytes] | None], popped)
        if not raw:
            return 0
        began = asyncio.get_running_loop().time()
        # Popped and not yet applied: lost if this process dies now (each list's module
        # says what makes up for it).
        await self._apply(raw)
        log.debug(
            "%s: applied %d item(s) in %.1f ms",
            self._key,
            len(raw),
            (asyncio.get_running_loop().time() - began) * 1000,
        )
        with contextlib.suppress(RedisError, OSError):
            await self._redis.incrby(self._applied_key, len(raw))
        return len(raw)
