"""Alembic environment, configured in code by `db.migrate` (there is no alembic.ini).

`db.migrate` opens the connection itself (inside its own event loop) and passes it in as
`config.attributes["connection"]`; this file then runs synchronously on it. Without one
(Alembic driven some other way) it opens its own with `asyncio.run`.
"""

import asyncio
from typing import Any, Literal

import sqlalchemy
from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.operations.ops import MigrationScript
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.types import TypeDecorator

from db.models import Base

# Held for the whole migration transaction on PostgreSQL, so that processes starting at
# once upgrade one after the other (the later ones find the schema at head).
# On SQLite, `BEGIN IMMEDIATE` serialises them in the same way.
PG_ADVISORY_LOCK_KEY = 0x434C4152_494F4E  # "CLARION"

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Renders our TypeDecorators (e.g. UtcDateTime) as their plain SQLAlchemy type.

    Revisions then depend on SQLAlchemy only, never on application code that may change.
    """
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance
        if getattr(sqlalchemy, type(impl).__name__, None) is type(impl):
            return f"sa.{impl!r}"
    return False


def skip_empty_revision(
    _context: MigrationContext, _revision: Any, directives: list[MigrationScript]
) -> None:
    """An autogenerate that finds no difference writes no file."""
    script = directives[0]
    if script.upgrade_ops is not None and script.upgrade_ops.is_empty():
        directives[:] = []
        print("No changes in the models; no revision written.")


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        process_revision_directives=skip_empty_revision,
        **kwargs,
    )


def run_migrations(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    _configure(
        connection=connection,
        # SQLite cannot ALTER most things: batch mode copies the table instead.
        render_as_batch=is_sqlite,
        # db.migrate begins SQLite transactions itself, so DDL is transactional there too.
        transactional_ddl=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_ADVISORY_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_migrations_own_connection() -> None:
    from db.migrate import migration_engine

    url = config.get_main_option("sqlalchemy.url")
    assert url is not None, "sqlalchemy.url is not set"
    engine = migration_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_migrations(given)
else:
    asyncio.run(_run_migrations_own_connection())
