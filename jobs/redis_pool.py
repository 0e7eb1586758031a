"""Connections to a Redis that may come and go (restarted, failed over, briefly unreachable).

Redis holds nothing the database cannot rebuild (the queue is a hint, locks and markers
expire), so every client treats losing it as the normal case: a command whose connection
broke is retried on a fresh one with backoff, a command that gets no answer gives up after
`SOCKET_TIMEOUT_S` (a host that vanished without closing its connections), and what
outlives those retries (an outage of seconds) is survived one level up: the worker
supervisor (jobs/worker.py) and the progress hub (graph/progress_hub.py) start again once
Redis answers.
"""

import asyncio
import logging

from arq.connections import ArqRedis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, RedisError, TimeoutError

from db.settings import redact_url

log = logging.getLogger(__name__)

# A broken connection is retried 4 times, 0.05 to 0.4 s apart: enough for a server that
# restarts or fails over within a second, short enough not to stall a caller for long.
COMMAND_RETRIES = 4
# No command of ours blocks on the server (arq polls; pub/sub reads pass their own
# timeout), so an answer that takes this long is a lost server.
SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
# Tries to connect at start-up, a second apart, before giving up.
CONNECT_TRIES = 30


async def connect_queue(url: str) -> ArqRedis:
    """The process' pool for the queue, the locks, pacing and progress."""
    queue: ArqRedis = ArqRedis.from_url(
        url,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.4, base=0.05), COMMAND_RETRIES),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    for _ in range(CONNECT_TRIES - 1):
        try:
            await queue.ping()
            return queue
        except (RedisError, OSError) as exc:
            log.warning("Redis at %s is not answering (%s); trying again", redact_url(url), exc)
            await asyncio.sleep(1)
    await queue.ping()
    return queue
