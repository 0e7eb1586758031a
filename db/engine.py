"""Engine and session factories.

On SQLite an API process and a worker write at once, so: WAL (readers never block the
writer), a busy timeout (a writer waits instead of failing), and `BEGIN IMMEDIATE` for
write transactions (a deferred BEGIN that later upgrades to a write lock can fail with
"database is locked" or lose an update). Read transactions stay deferred.
"""

import asyncio
import sqlite3
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

SQLITE_BUSY_TIMEOUT_MS = 30_000
_BEGIN_OPTION = "clarion_sqlite_begin"


class WriterTurns:
    """SQLite's writers of this process, one at a time, first come first served. A lock
    per event loop: a Database may outlive a loop (tests), an asyncio.Lock may not."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout_s = timeout_s
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            async with asyncio.timeout(self._timeout_s):
                await lock.acquire()
        except TimeoutError:
            # What SQLite itself raises when its busy timeout runs out.
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        try:
            yield
        finally:
            lock.release()


_TURNS: dict[str, WriterTurns] = {}


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    # Sessions for work that writes: BEGIN IMMEDIATE on SQLite.
    writer: async_sessionmaker[AsyncSession]
    # Sessions for work that only reads.
    reader: async_sessionmaker[AsyncSession]
    # SQLite only: this process's writers, in turns (see the module docstring).
    writer_turns: WriterTurns | None = field(default=None, repr=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: commits on success, rolls back on any exception."""
        if self.writer_turns is None:
            async with self.writer.begin() as session:
                yield session
            return
        async with self.writer_turns.turn(), self.writer.begin() as session:
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self.reader() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def connect(url: str, **engine_kwargs: Any) -> Database:
    parsed = make_url(url)
    turns = None
    if parsed.get_backend_name() == "sqlite":
        # One per file and process, whatever the number of engines on it.
        turns = _TURNS.setdefault(parsed.database or "", WriterTurns(SQLITE_BUSY_TIMEOUT_MS / 1000))
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, **engine_kwargs)
        _configure_sqlite(engine)
    else:
        engine_kwargs.setdefault("pool_size", 10)
        engine_kwargs.setdefault("pool_pre_ping", True)
        engine = create_async_engine(url, **engine_kwargs)
    writer_bind = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    return Database(
        engine=engine,
        writer=async_sessionmaker(writer_bind, expire_on_commit=False),
        reader=async_sessionmaker(engine, expire_on_commit=False),
        writer_turns=turns,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself, in the mode we choose.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")
