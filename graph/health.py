"""GET /health: 200 when this API can serve and campaigns can send, else 503, with each
check's state in words an operator can act on:

    {"status": "unavailable",
     "checks": {"database": "ok", "redis": "unreachable", "worker": "unknown: ..."}}

A worker is always expected (campaigns need one): it is seen working when the sweeper has
ticked within `worker_stale_s` (jobs/heartbeat.py), whichever process it runs in, so an
API-only process reports on the workers elsewhere. Until the first tick (a second after a
worker starts) it is unavailable too. The answer never carries an exception's
text (it can name internal hosts, paths or credentials): that goes to the log.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable

from arq.connections import ArqRedis
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from db.engine import Database
from jobs.heartbeat import since_last_tick

log = logging.getLogger(__name__)

OK = "ok"
# Each check gives up after this long: a hung database or Redis is reported, not waited on.
CHECK_TIMEOUT_S = 2.0


def health_endpoint(worker_stale_s: float) -> Callable[[Request], Awaitable[Response]]:
    async def health(request: Request) -> Response:
        db: Database = request.state.db
        queue: ArqRedis = request.state.queue
        checks = {"database": await _database(db), "redis": await _redis(queue)}
        if checks["redis"] == OK:
            checks["worker"] = await _worker(queue, worker_stale_s)
        else:
            checks["worker"] = "unknown while Redis is unreachable"
        healthy = all(state == OK for state in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unavailable", "checks": checks},
            status_code=200 if healthy else 503,
        )

    return health


async def _database(db: Database) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), db.read() as session:
            # A table, not SELECT 1: SQLite answers that without reading its file.
            await session.execute(text("SELECT version_num FROM alembic_version"))
    except TimeoutError:
        log.warning("health: the database did not answer within %.0f s", CHECK_TIMEOUT_S)
        return f"not answering within {CHECK_TIMEOUT_S:.0f} s"
    except Exception:
        log.warning("health: the database is unreachable", exc_info=True)
        return "unreachable"
    return OK


async def _redis(queue: ArqRedis) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await queue.ping()
    except TimeoutError:
        log.warning("health: Redis did not answer within %.0f s", CHECK_TIMEOUT_S)
        return f"not answering within {CHECK_TIMEOUT_S:.0f} s"
    except Exception as exc:
        log.warning("health: Redis is unreachable: %s", exc)
        return "unreachable"
    return OK


async def _worker(queue: ArqRedis, stale_s: float) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            since = await since_last_tick(queue)
    except Exception as exc:
        log.warning("health: could not read the sweeper's heartbeat: %s", exc)
        return "unknown: its heartbeat could not be read"
    if not since.ticked:  # none yet, or Redis restarted empty and no worker is back
        return f"no sweeper tick since Redis started {since.seconds:.0f} s ago"
    if since.seconds > stale_s:
        return f"no sweeper tick for {since.seconds:.0f} s"
    return OK
