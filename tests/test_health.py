"""/health tells the truth: 503 with readable reasons while the database or Redis is
unreachable or no worker is working (the sweeper's heartbeat is stale), 200 after; never an
exception's text (no hosts, ports, paths or credentials)."""

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.redis_process import PASSWORD
from tests.sending_stack import SendingStack, sending_stack, stop_process

HEALTHY = {"status": "ok", "checks": {"database": "ok", "redis": "ok", "worker": "ok"}}
# Every state a check may report: fixed words, and figures in seconds.
READABLE = re.compile(
    r"ok|unreachable|not answering within \d+ s|unknown while Redis is unreachable"
    r"|unknown: its heartbeat could not be read"
    r"|no sweeper tick (for|since Redis started) \d+ s( ago)?"
)


async def health(stack: SendingStack) -> tuple[int, dict[str, Any]]:
    async with httpx.AsyncClient(base_url=stack.server.url) as http:
        response = await http.get("/health")
    body: dict[str, Any] = response.json()
    # Readable, and nothing from an exception: no host, port, path or secret.
    assert set(body) == {"status", "checks"}
    assert set(body["checks"]) == {"database", "redis", "worker"}
    for state in body["checks"].values():
        assert READABLE.fullmatch(state), state
    for leak in ("127.0.0.1", str(stack.log_dir), PASSWORD, "Error", "rror "):
        assert leak not in response.text
    return response.status_code, body


async def health_until(stack: SendingStack, status: int, within: float = 45) -> dict[str, Any]:
    """Polls /health until it answers `status`; returns that answer."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while True:
        code, body = await health(stack)
        if code == status:
            return body
        if loop.time() > give_up:
            raise AssertionError(f"/health never answered {status}: {code} {body}")
        await asyncio.sleep(0.2)


async def test_redis_down_then_back(tmp_path: Path) -> None:
    async with sending_stack(tmp_path, workers=1, redis="tcp") as stack:
        assert stack.redis is not None
        assert await health_until(stack, 200) == HEALTHY
        await stack.redis.kill()
        assert await health_until(stack, 503) == {
            "status": "unavailable",
            "checks": {
                "database": "ok",
                "redis": "unreachable",
                "worker": "unknown while Redis is unreachable",
            },
        }
        await stack.redis.start()  # empty: until a worker reconnects and ticks, not healthy
        code, body = await health(stack)
        if code == 503:
            assert body["checks"]["redis"] == "ok"
            assert body["checks"]["worker"].startswith("no sweeper tick since Redis started")
        assert await health_until(stack, 200) == HEALTHY


async def test_stale_sweeper(tmp_path: Path) -> None:
    """The API runs no worker; the worker elsewhere stops (SIGSTOP: alive, doing nothing)."""
    async with sending_stack(tmp_path, workers=1, CLARION_WORKER_STALE_SECONDS="3") as stack:
        assert await health_until(stack, 200) == HEALTHY
        stack.workers[0].send_signal(signal.SIGSTOP)
        try:
            body = await health_until(stack, 503)
        finally:
            stack.workers[0].send_signal(signal.SIGCONT)
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == body["checks"]["redis"] == "ok"
        assert re.fullmatch(r"no sweeper tick for \d+ s", body["checks"]["worker"])
        assert await health_until(stack, 200) == HEALTHY
        # Gone for good: a new worker (anywhere) brings it back.
        await stop_process(stack.workers[0])
        await health_until(stack, 503)
        stack.start_worker()
        assert await health_until(stack, 200) == HEALTHY


@pytest.mark.skipif(
    not os.environ.get("CLARION_TEST_DATABASE_URL"),
    reason="PostgreSQL only: an SQLite file cannot become unreachable under open connections",
)
async def test_database_unreachable(tmp_path: Path) -> None:
    async with sending_stack(tmp_path, workers=1) as stack:
        assert await health_until(stack, 200) == HEALTHY
        url = make_url(stack.env["CLARION_DATABASE_URL"])
        admin = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            database=make_url(os.environ["CLARION_TEST_DATABASE_URL"]).database,
        )
        try:
            name = url.database
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                name,
            )
            body = await health_until(stack, 503)
            assert body["checks"]["database"] == "unreachable"
            assert body["checks"]["redis"] == "ok"
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            assert await health_until(stack, 200) == HEALTHY
        finally:
            await admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
            await admin.close()
