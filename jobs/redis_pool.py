"""Connections to a Redis that may come and go (restarted, failed over, briefly unreachable).

Redis holds nothing the database cannot rebuild (the queue is a hint, locks and markers
expire), so every client treats losing it as the normal case: a command whose connection
broke is retried on a fresh one with backoff, and what outlives those retries (an outage
of seconds) is survived one level up: the worker supervisor (jobs/worker.py) and the
progress hub (graph/progress_hub.py) start again once Redis answers.
"""

from urllib.parse import urlsplit, urlunsplit

from arq.connections import ArqRedis, RedisSettings, create_pool
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

# A broken connection is retried 4 times, 0.05 to 0.4 s apart: enough for a server that
# restarts or fails over within a second, short enough not to stall a caller for long.
COMMAND_RETRIES = 4
# Tries to connect at start-up, a second apart, before giving up (arq's create_pool).
CONNECT_TRIES = 30


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.retry = Retry(ExponentialBackoff(cap=0.4, base=0.05), COMMAND_RETRIES)
    settings.retry_on_error = [ConnectionError, TimeoutError]
    settings.conn_timeout = 2
    settings.conn_retries = CONNECT_TRIES
    return settings


async def connect_queue(url: str) -> ArqRedis:
    """The process' pool for the queue, the locks, pacing and progress."""
    return await create_pool(redis_settings(url))


def masked(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
