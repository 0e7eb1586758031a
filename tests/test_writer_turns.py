"""db/engine.py's writer turns: on SQLite, this process's write transactions queue on an
asyncio lock (first come, first served) instead of polling SQLite's lock with the busy
handler's growing sleeps; a write opened inside another never gets it and fails as SQLite
would, "database is locked"."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from db.engine import WriterTurns, connect

pytestmark = pytest.mark.database_independent


async def test_writers_of_one_file_take_turns_in_arrival_order(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    first, second = connect(url), connect(url)  # two engines, one file: one queue
    try:
        assert first.writer_turns is second.writer_turns is not None
        async with first.write() as session:
            await session.execute(text("CREATE TABLE log (n INTEGER)"))
        order: list[str] = []
        holding = asyncio.Event()

        async def writer(db_name: str, n: int) -> None:
            db = first if db_name == "first" else second
            async with db.write() as session:
                order.append(f"{db_name}-{n} in")
                holding.set()
                await asyncio.sleep(0.05)  # holds SQLite's write lock meanwhile
                await session.execute(text("INSERT INTO log VALUES (:n)"), {"n": n})
                order.append(f"{db_name}-{n} out")

        holder = asyncio.create_task(writer("first", 1))
        await holding.wait()
        queued = [asyncio.create_task(writer(name, n)) for name, n in (("second", 2), ("first", 3))]
        await asyncio.gather(holder, *queued)
        turns = [(name, n) for name, n in (("first", 1), ("second", 2), ("first", 3))]
        assert order == [f"{name}-{n} {way}" for name, n in turns for way in ("in", "out")]
        async with first.read() as session:
            assert (await session.execute(text("SELECT n FROM log"))).scalars().all() == [1, 2, 3]
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_turn_not_given_in_time_is_sqlites_database_is_locked() -> None:
    turns = WriterTurns(timeout_s=0.1)
    async with turns.turn():
        with pytest.raises(OperationalError, match="database is locked"):
            async with turns.turn():  # a write inside a write: never its turn
                pass
    async with turns.turn():  # released: the next one goes
        pass


async def test_postgresql_has_no_turns() -> None:
    db = connect("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        assert db.writer_turns is None
    finally:
        await db.dispose()
