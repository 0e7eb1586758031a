"""Schema migrations: Alembic, configured in code (the revisions live in db/migrations/).

    python -m db.migrate upgrade URL [--revision REV]   apply revisions (default: head)
    python -m db.migrate revision "add foo to bars"     autogenerate the next revision
    python -m db.migrate regenerate-initial             rewrite 0001 from the models

`revision` and `regenerate-initial` compare the models with a scratch SQLite database
(upgraded to head), write `versions/NNNN_<slug>.py` and format it with ruff. Review what
they write. `regenerate-initial` is only allowed while 0001 is the only revision.

On SQLite a whole upgrade is one `BEGIN IMMEDIATE` transaction (concurrent upgraders wait
for each other, a failed upgrade leaves nothing behind) and foreign keys are off while it
runs: batch ALTERs copy and drop tables, which with foreign keys on would cascade deletes.
"""

import argparse
import asyncio
import importlib.util
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
_SQLITE_BUSY_TIMEOUT_MS = 60_000

# Alembic's `context` is module-global: one migration at a time per event loop.
_locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()


def alembic_config(url: str) -> Config:
    cfg = Config()
    # Config values go through configparser interpolation: a literal % must be %%.
    cfg.set_main_option("script_location", _escape(str(MIGRATIONS_DIR)))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.set_main_option("sqlalchemy.url", _escape(url))
    return cfg


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrades the database at `url`; safe inside a running event loop, and when at head."""
    await _run(url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(url: str, revision: str) -> None:
    await _run(url, lambda cfg: command.downgrade(cfg, revision))


def migration_engine(url: str) -> AsyncEngine:
    """A one-connection engine; for SQLite, creates the file's directory first."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, poolclass=pool.NullPool)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, poolclass=pool.NullPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def _run(url: str, action: Callable[[Config], object]) -> None:
    cfg = alembic_config(url)
    engine = migration_engine(url)
    lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    try:
        async with lock, engine.begin() as connection:
            await connection.run_sync(_run_on, cfg, action)
    finally:
        await engine.dispose()


def _run_on(connection: Connection, cfg: Config, action: Callable[[Config], object]) -> None:
    cfg.attributes["connection"] = connection
    action(cfg)


def _escape(value: str) -> str:
    return value.replace("%", "%%")


# --- autogenerate (development only) -------------------------------------------------


async def _autogenerate(message: str, rev_id: str) -> None:
    with tempfile.TemporaryDirectory(prefix="clarion-migrate-") as scratch:
        url = f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}"
        await upgrade(url)
        await _run(
            url,
            lambda cfg: command.revision(
                _with_ruff_hooks(cfg), message, autogenerate=True, rev_id=rev_id
            ),
        )


def _with_ruff_hooks(cfg: Config) -> Config:
    if importlib.util.find_spec("ruff") is None:
        return cfg
    section = "post_write_hooks"
    cfg.set_section_option(section, "hooks", "ruff_fix, ruff_format")
    for name, options in (
        ("ruff_fix", "check --quiet --exit-zero --fix --select I"),
        ("ruff_format", "format"),
    ):
        cfg.set_section_option(section, f"{name}.type", "module")
        cfg.set_section_option(section, f"{name}.module", "ruff")
        cfg.set_section_option(section, f"{name}.options", f"{options} REVISION_SCRIPT_FILENAME")
    return cfg


def _revision_files() -> list[Path]:
    return sorted(VERSIONS_DIR.glob("*.py"))


def _next_rev_id() -> str:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    # Revisions are named "0012_status": numbered by their leading digits.
    found = (re.match(r"\d+", r.revision) for r in script.walk_revisions())
    numbers = [int(match.group()) for match in found if match]
    return f"{max(numbers, default=0) + 1:04d}"


def _regenerate_initial() -> None:
    others = [p.name for p in _revision_files() if not p.name.startswith("0001_")]
    if others:
        sys.exit(f"refusing: revisions after 0001 exist ({', '.join(others)})")
    for path in _revision_files():
        path.unlink()
    asyncio.run(_autogenerate("initial", "0001"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m db.migrate", description="Clarion schema migrations."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="apply revisions to a database")
    up.add_argument("url", help="e.g. sqlite+aiosqlite:///.clarion/clarion.db")
    up.add_argument("--revision", default="head")
    rev = sub.add_parser("revision", help="autogenerate the next revision from the models")
    rev.add_argument("message")
    sub.add_parser("regenerate-initial", help="delete and re-autogenerate 0001 (pre-release)")
    args = parser.parse_args(argv)

    if args.command == "upgrade":
        asyncio.run(upgrade(args.url, args.revision))
    elif args.command == "revision":
        asyncio.run(_autogenerate(args.message, _next_rev_id()))
    else:
        _regenerate_initial()


if __name__ == "__main__":
    main()
