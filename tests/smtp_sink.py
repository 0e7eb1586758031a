"""A real SMTP server for tests and benchmarks (aiosmtpd on 127.0.0.1, plain SMTP, no auth
unless asked).

`SmtpSink` runs in a background thread of this process, keeps every accepted message and can
inject failures (refused recipients, failed DATA, slowness, an outage via `down()`/`up()`,
a connection dropped after the message data arrived, a required login).
`SinkProcess` runs a counting-only sink in a separate process for benchmarks: it keeps no
message bytes, only how many arrived and when the first and last did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import logging
import mmap
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
import weakref
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"
# A fixed name: aiosmtpd otherwise calls socket.getfqdn() (a DNS lookup) per connection.
SERVER_NAME = "sink.clarion.test"
DATA_SIZE_LIMIT = 64 * 1024 * 1024

# aiosmtpd logs every command at INFO; formatting those records dominates its cost.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def _smtp(handler: object, protocol: type[SMTP] = SMTP, **options: Any) -> SMTP:
    return protocol(
        handler,
        hostname=SERVER_NAME,
        enable_SMTPUTF8=True,
        data_size_limit=DATA_SIZE_LIMIT,
        loop=asyncio.get_running_loop(),
        **options,
    )


@dataclass(frozen=True, slots=True)
class Received:
    """One message accepted with 250 after DATA; `at` is time.time() when DATA completed."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float

    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


@dataclass(slots=True)
class _Failure:
    reply: str
    times: int | None  # None: every time


def max_in_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most timestamps that lie in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _poll(done: Callable[[], bool], seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            # What we wait on lives in another thread or process: there is no event to await.
            while not done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    except TimeoutError:
        return False
    return True


class SmtpSink:
    """An SMTP server in a background thread with its own event loop; see the module doc.

    The port (free if 0) is kept for the sink's lifetime, so `down()`/`up()` and
    `stop()`/`start()` bring it back where clients expect it.
    """

    def __init__(self, port: int = 0) -> None:
        self.host = HOST
        self.port = port
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._rcpt_failures: dict[str, _Failure] = {}
        self._data_failures: dict[str, _Failure] = {}  # one key, "", for every message
        self._delay = 0.0
        self._drops_after_data = 0
        self._login: tuple[str, str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()  # open connections, to drop

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        assert self._loop is None, "already started"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join()
        self._loop.close()
        self._loop = self._thread = None

    def up(self) -> None:
        """Listen (again) on the sink's port."""
        self._call(self._listen())

    def down(self) -> None:
        """Stop listening and drop open connections: clients see connection errors."""
        self._call(self._close())

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None, "not started"
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        # reuse_address (the POSIX default) lets us rebind while old connections sit in TIME_WAIT.
        self._server = await loop.create_server(self._new_session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def _new_session(self) -> SMTP:
        options: dict[str, Any] = {}
        if self._login is not None:
            options = {
                "auth_required": True,
                "auth_require_tls": False,
                "authenticator": self._authenticate,
            }
        with warnings.catch_warnings():  # a loopback test server needs no TLS
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            smtp = _smtp(self, **options)
        self._sessions.add(smtp)
        return smtp

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self._login == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself

    async def _open_connections(self) -> int:
        return sum(
            1 for s in self._sessions if s.transport is not None and not s.transport.is_closing()
        )

    async def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        # Server.close() leaves accepted connections open (Server.abort_clients() is 3.13+),
        # and from 3.12 wait_closed() waits for them: drop them first.
        for smtp in list(self._sessions):
            if isinstance(smtp.transport, asyncio.Transport):
                smtp.transport.abort()
        self._sessions.clear()
        if server is not None:
            await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost() cancel the session tasks

    async def _shutdown(self) -> None:
        await self._close()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- aiosmtpd handler hooks (run on the sink's loop) --------------------------------

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self._take_failure(self._rcpt_failures, address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self._delay > 0:
            await asyncio.sleep(self._delay)
        reply = self._take_failure(self._data_failures, "")
        if reply is not None:
            return reply
        assert envelope.mail_from is not None
        assert isinstance(envelope.content, bytes)  # decode_data is off
        with self._lock:  # stamped under the lock so `at` is ordered like the list
            received = Received(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.content, time.time()
            )
            self._messages.append(received)
            drop = self._drops_after_data > 0
            self._drops_after_data -= drop
        if drop and isinstance(server.transport, asyncio.Transport):
            # The message is in (a real server may deliver it) but the reply never leaves.
            server.transport.abort()
        return "250 OK"

    # --- what arrived ----------------------------------------------------------------

    @property
    def messages(self) -> list[Received]:
        """A snapshot of the accepted messages, in arrival order."""
        with self._lock:
            return list(self._messages)

    def recipients(self) -> Counter[str]:
        """How many accepted messages each (lowercased) address received."""
        return Counter(rcpt.lower() for m in self.messages for rcpt in m.rcpt_tos)

    def count_for(self, address: str) -> int:
        return self.recipients()[address.lower()]

    def max_in_window(self, window: float = 1.0) -> int:
        return max_in_window([m.at for m in self.messages], window)

    async def wait_for(self, count: int, timeout: float = 5.0) -> bool:  # noqa: ASYNC109
        """Wait (from any event loop) until at least `count` messages arrived; False on timeout."""
        return await _poll(lambda: len(self._messages) >= count, timeout)

    async def quiet(self, seconds: float, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Wait until no message has arrived for `seconds` (between two paced batches)."""
        last = -1
        since = time.monotonic()
        give_up = since + timeout
        while time.monotonic() < give_up:
            if (count := len(self._messages)) != last:
                last, since = count, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return True
            await asyncio.sleep(0.02)
        return False

    def reset(self) -> None:
        with self._lock:
            self._messages.clear()
        self.clear_failures()

    # --- failure injection (thread-safe, effective immediately) -----------------------

    def fail_recipient(
        self,
        address: str,
        code: int = 450,
        message: str = "Try again later",
        times: int | None = None,
    ) -> None:
        """Answer RCPT TO for `address` with `code` the next `times` times (None: always)."""
        with self._lock:
            self._rcpt_failures[address.lower()] = _Failure(f"{code} {message}", times)

    def fail_data(
        self, code: int = 451, message: str = "Try again later", times: int | None = 1
    ) -> None:
        """Answer DATA with `code` for the next `times` messages (None: always)."""
        with self._lock:
            self._data_failures[""] = _Failure(f"{code} {message}", times)

    def drop_after_data(self, times: int = 1) -> None:
        """For the next `times` messages: accept (and keep) the message data, then drop the
        connection before answering, so the client cannot know it arrived."""
        with self._lock:
            self._drops_after_data = times

    def require_login(self, username: str, password: str) -> None:
        """Connections from now on must log in (AUTH PLAIN/LOGIN, no TLS) as given."""
        self._login = (username, password)

    def open_connections(self) -> int:
        """Client connections open right now."""
        assert self._loop is not None, "not started"
        future = asyncio.run_coroutine_threadsafe(self._open_connections(), self._loop)
        return future.result(timeout=10)

    def delay(self, seconds: float) -> None:
        """Wait this long before answering each DATA (a slow server)."""
        self._delay = seconds

    def clear_failures(self) -> None:
        with self._lock:
            self._rcpt_failures.clear()
            self._data_failures.clear()
            self._delay = 0.0
            self._drops_after_data = 0

    def _take_failure(self, failures: dict[str, _Failure], key: str) -> str | None:
        with self._lock:
            failure = failures.get(key)
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del failures[key]
            return failure.reply


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


# --- counting sink in its own process ------------------------------------------------

# Slots of the stats, doubles in a small file both processes map; the child is the only writer.
_PORT, _COUNT, _FIRST, _LAST = range(4)
_STATS_SIZE = 4 * 8
_ROOT = Path(__file__).resolve().parents[1]


class _Stats(Protocol):  # a list in the CLI, a memoryview of the mapped file otherwise
    def __getitem__(self, slot: int, /) -> float: ...
    def __setitem__(self, slot: int, value: float, /) -> None: ...


class _CountingSMTP(SMTP):
    """aiosmtpd's SMTP minus its per-message costs, for counting only (tied to aiosmtpd 1.4).

    Its DATA handles the message line by line (~3.5 µs a line, so ~2 ms for a 50 KB HTML
    mail) and its address parser builds a class on every call; both dwarf the rest.
    """

    line_length_limit = 1 << 20  # the StreamReader's limit: DATA is read in large chunks

    def _getaddr(self, arg: str) -> tuple[str | None, str]:
        arg = arg.strip()
        if arg.startswith("<"):
            address, closed, rest = arg[1:].partition(">")
            return (address, rest.strip()) if closed else (None, "")
        address, _, rest = arg.partition(" ")
        return address, rest.strip()

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        # The end is a line holding only "."; data starts at a line start, hence the tail.
        tail = b"\r\n"
        while True:
            try:
                chunk = await self._reader.readuntil(b".\r\n")
            except asyncio.LimitOverrunError as overrun:
                chunk = await self._reader.readexactly(overrun.consumed)
            if (tail + chunk).endswith(b"\r\n.\r\n"):
                break
            tail = (tail + chunk)[-2:]
        status = await self.event_handler.handle_DATA(self, self.session, self.envelope)
        self.envelope = self._create_envelope()  # what _set_post_data_state() does
        await self.push(status)


class _CountingHandler:
    def __init__(self, stats: _Stats) -> None:
        self._stats = stats

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        stats, now = self._stats, time.time()
        if stats[_COUNT] == 0:
            stats[_FIRST] = now
        stats[_LAST] = now
        stats[_COUNT] += 1  # last, so a reader that sees the count also sees the times
        return "250 OK"


def _serve_counting(port: int, stats: _Stats, until_stdin_closes: bool) -> None:
    loop = asyncio.new_event_loop()
    handler = _CountingHandler(stats)
    server = loop.run_until_complete(
        loop.create_server(lambda: _smtp(handler, _CountingSMTP), HOST, port)
    )
    stats[_PORT] = server.sockets[0].getsockname()[1]
    if until_stdin_closes:  # the parent closes our stdin to stop us, or dies and closes it
        fd = sys.stdin.fileno()
        loop.add_reader(fd, lambda: os.read(fd, 4096) or loop.stop())
    loop.run_forever()


class SinkProcess:
    """A counting-only SMTP sink in a child process; reading its counters is a memory read.

    The child is `python -m tests.smtp_sink --stats FILE`; a subprocess rather than
    multiprocessing, whose spawn would re-run the caller's `__main__` module.
    """

    def __init__(self, port: int = 0) -> None:
        self.host = HOST
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None
        fd, self._path = tempfile.mkstemp(prefix="smtp-sink-", suffix=".stats")
        try:
            os.ftruncate(fd, _STATS_SIZE)
            self._stats = memoryview(mmap.mmap(fd, _STATS_SIZE)).cast("d")
        finally:
            os.close(fd)

    def start(self, timeout: float = 30.0) -> None:
        assert self._stats[_PORT] == 0, "a SinkProcess starts once"
        command = [sys.executable, "-m", "tests.smtp_sink", "--port", str(self.port)]
        self._process = subprocess.Popen(
            [*command, "--stats", self._path], cwd=_ROOT, stdin=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while self._stats[_PORT] == 0:  # the child publishes its port once it listens
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("SMTP sink process did not start")
            time.sleep(0.01)
        self.port = int(self._stats[_PORT])
        os.unlink(self._path)  # both processes have it mapped; nothing left to clean up

    def stop(self) -> None:
        if self._process is None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def count(self) -> int:
        return int(self._stats[_COUNT])

    @property
    def first_at(self) -> float | None:
        """time.time() when the first message was accepted."""
        return self._stats[_FIRST] if self.count else None

    @property
    def last_at(self) -> float | None:
        return self._stats[_LAST] if self.count else None

    async def wait_for(self, count: int, timeout: float = 30.0) -> bool:  # noqa: ASYNC109
        return await _poll(lambda: self.count >= count, timeout)


def main() -> None:
    """A counting SMTP sink; reports once a second, or with --stats writes to a mapped file."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--stats", help="file of 4 doubles: port, count, first, last")
    args = parser.parse_args()
    if args.stats:
        with open(args.stats, "r+b") as file, mmap.mmap(file.fileno(), _STATS_SIZE) as mapped:
            stats = memoryview(mapped).cast("d")
            try:
                _serve_counting(args.port, stats, until_stdin_closes=True)
            finally:
                stats.release()
        return

    counts = [0.0] * 4

    def report() -> None:
        while True:
            time.sleep(1)
            count, span = int(counts[_COUNT]), counts[_LAST] - counts[_FIRST]
            print(f"{count} messages, {count / span if span else 0:.0f}/s", flush=True)

    threading.Thread(target=report, daemon=True).start()
    print(f"counting SMTP sink on {HOST}:{args.port}", flush=True)
    _serve_counting(args.port, counts, until_stdin_closes=False)


if __name__ == "__main__":
    main()
