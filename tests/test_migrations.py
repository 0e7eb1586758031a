"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL."""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from db.migrate import alembic_config, downgrade, upgrade
from db.models import Base

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

PG_HOST = os.environ.get("CLARION_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CLARION_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CLARION_TEST_PG_USER", "postgres")

NewDatabase = Callable[[], Awaitable[str]]


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


@pytest.fixture(scope="session")
async def new_pg_database() -> AsyncIterator[NewDatabase]:
    """Creates uniquely named PostgreSQL databases on demand; drops them all at the end."""
    try:
        admin = await asyncpg.connect(
            host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres", timeout=5
        )
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL at {PG_USER}@{PG_HOST}:{PG_PORT} is unreachable: {exc!r}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)
    run = uuid.uuid4().hex[:12]
    created: list[str] = []

    async def create() -> str:
        name = f"clarion_test_migrations_{run}_{len(created)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"

    try:
        yield create
    finally:
        for name in created:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> NewDatabase:
    if request.param == "postgresql":
        pg: NewDatabase = request.getfixturevalue("new_pg_database")
        return pg
    count = 0

    async def create() -> str:
        nonlocal count
        count += 1
        path = tmp_path / f"db{count}" / "clarion.db"
        path.parent.mkdir()
        return f"sqlite+aiosqlite:///{path}"

    return create


async def _on(url: str, fn: Callable[[Connection], Any]) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


def _version(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _snapshot(conn: Connection) -> dict[str, Any]:
    """Everything the database reports about our tables, comparable with ==."""
    insp = inspect(conn)

    def by_name(items: Iterable[Mapping[str, object]]) -> list[Mapping[str, object]]:
        return sorted(items, key=lambda item: str(item.get("name")))

    def indexes(table: str) -> list[Mapping[str, object]]:
        # A partial index's condition comes back as a clause object: compared as its text.
        return by_name(
            {**i, "dialect_options": {k: str(v) for k, v in i.get("dialect_options", {}).items()}}
            for i in insp.get_indexes(table)
        )

    return {
        table: {
            "columns": [{**c, "type": str(c["type"])} for c in insp.get_columns(table)],
            "pk": insp.get_pk_constraint(table),
            "fks": by_name(insp.get_foreign_keys(table)),
            "indexes": indexes(table),
            "uniques": by_name(insp.get_unique_constraints(table)),
            "checks": by_name(insp.get_check_constraints(table)),
        }
        for table in sorted(insp.get_table_names())
        if table != "alembic_version"
    }


def test_revisions_form_one_line() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
    assert script.get_base() == "0001"


async def test_upgrade_matches_models(new_database: NewDatabase) -> None:
    url = await new_database()
    await upgrade(url)
    assert await _on(url, _diff) == []
    assert await _on(url, _version) == [_head()]


async def test_upgrade_equals_create_all(new_database: NewDatabase) -> None:
    """Stricter than autogenerate: also CHECK constraints (enums) and constraint names."""
    migrated, created = await new_database(), await new_database()
    await upgrade(migrated)
    engine = create_async_engine(created)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    finally:
        await engine.dispose()

    migrated_schema = await _on(migrated, _snapshot)
    assert migrated_schema == await _on(created, _snapshot)
    assert set(migrated_schema) == set(Base.metadata.tables)
    # Every enum column is guarded by a named CHECK constraint.
    checks = [c["name"] for t in migrated_schema.values() for c in t["checks"]]
    assert "ck_campaigns_campaignstatus" in checks
    assert all(name and name.startswith("ck_") for name in checks)


async def test_upgrade_is_idempotent(new_database: NewDatabase) -> None:
    url = await new_database()
    await upgrade(url)
    await upgrade(url)
    assert await _on(url, _version) == [_head()]
    assert await _on(url, _diff) == []


async def test_downgrade_to_base_then_upgrade(new_database: NewDatabase) -> None:
    url = await new_database()
    await upgrade(url)
    await downgrade(url, "base")
    assert await _on(url, lambda conn: inspect(conn).get_table_names()) == ["alembic_version"]
    assert await _on(url, _version) == []
    await upgrade(url)
    assert await _on(url, _diff) == []


async def test_failed_upgrade_leaves_nothing_behind(new_database: NewDatabase) -> None:
    url = await new_database()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            # Makes the initial revision fail part way, on its last CREATE TABLE.
            await conn.execute(text("CREATE TABLE ltv_entries (x INTEGER)"))
    finally:
        await engine.dispose()
    with pytest.raises(DBAPIError, match="ltv_entries"):
        await upgrade(url)
    assert await _on(url, lambda conn: inspect(conn).get_table_names()) == ["ltv_entries"]


async def test_sqlite_path_with_percent_and_missing_directory(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / '100%' / 'not' / 'yet' / 'clarion.db'}"
    await upgrade(url)
    assert await _on(url, _diff) == []


async def test_contact_ids_are_never_reused(new_database: NewDatabase) -> None:
    """Unsubscribe links name contacts by id: once the largest is deleted, the next contact
    gets a new one (SQLite: 0004_inputs rebuilds the table AUTOINCREMENT, keeping its rows)."""
    url = await new_database()
    await upgrade(url, "0002")
    now = "'2026-01-01 00:00:00'"
    contact = (
        "INSERT INTO contacts (account_id, email, first_name, last_name, phone, whatsapp, "
        "country, source, consent_email, consent_sms, consent_whatsapp, ltv_cents, "
        f"ltv_currency, created_at, updated_at) VALUES (1, :email, '', '', '', '', '', "
        f"'unknown', true, true, true, 0, 'USD', {now}, {now}) RETURNING id"
    )

    def before(conn: Connection) -> list[int]:
        conn.execute(
            text(
                "INSERT INTO accounts (name, default_from_email, default_from_name, "
                "default_reply_to_email, default_reply_to_name, created_at, updated_at) "
                f"VALUES ('A', '', '', '', '', {now}, {now})"
            )
        )
        ids = [conn.execute(text(contact), {"email": f"{n}@x.test"}).scalar_one() for n in "ab"]
        conn.execute(
            text("INSERT INTO contact_tags (contact_id, tag, account_id) VALUES (:c, 'vip', 1)"),
            {"c": ids[1]},
        )
        conn.commit()
        return ids

    first, last = await _on(url, before)
    await upgrade(url)

    def after(conn: Connection) -> tuple[list[Any], int]:
        kept = list(
            conn.execute(
                text(
                    "SELECT c.id, t.tag FROM contacts c "
                    "LEFT JOIN contact_tags t ON t.contact_id = c.id ORDER BY c.id"
                )
            )
        )
        conn.execute(text("DELETE FROM contacts WHERE id = :id"), {"id": last})
        new = conn.execute(text(contact), {"email": "c@x.test"}).scalar_one()
        conn.commit()
        return kept, new

    kept, new = await _on(url, after)
    assert [tuple(row) for row in kept] == [(first, None), (last, "vip")]
    assert new > last


async def test_contacts_migration_keeps_data_and_settles_shared_phones(
    new_database: NewDatabase,
) -> None:
    """0008_contacts: an empty phone becomes NULL; of contacts of one account that share a
    number the oldest keeps it (before, phones were not unique); numbers the old rule let
    in are kept as they are. Downgrading refuses while a contact has no email."""
    url = await new_database()
    await upgrade(url, "0005_exact")
    now = "'2026-01-01 00:00:00'"
    contact = (
        "INSERT INTO contacts (account_id, email, first_name, last_name, phone, whatsapp, "
        "country, source, consent_email, consent_sms, consent_whatsapp, ltv_cents, "
        f"ltv_currency, created_at, updated_at) VALUES (:account, :email, '', '', :phone, '', "
        f"'', 'unknown', true, true, true, 0, 'USD', {now}, {now})"
    )
    rows = [
        (1, "a@x.test", "+14155550123"),
        (1, "b@x.test", "+14155550123"),  # shares a's number: cleared
        (1, "c@x.test", ""),
        (1, "d@x.test", "+15551234567"),  # E.164's shape, no such number: kept
        (2, "a@x.test", "+14155550123"),  # another account: kept
        (1, "e@x.test", "+14155550123"),  # shares a's number: cleared
    ]

    def before(conn: Connection) -> None:
        for _ in range(2):
            conn.execute(
                text(
                    "INSERT INTO accounts (name, default_from_email, default_from_name, "
                    "default_reply_to_email, default_reply_to_name, created_at, updated_at) "
                    f"VALUES ('A', '', '', '', '', {now}, {now})"
                )
            )
        for account, email, phone in rows:
            conn.execute(text(contact), {"account": account, "email": email, "phone": phone})
        conn.commit()

    def contacts(conn: Connection) -> list[tuple[Any, ...]]:
        found = conn.execute(text("SELECT account_id, email, phone FROM contacts ORDER BY id"))
        return [tuple(row) for row in found]

    await _on(url, before)
    await upgrade(url)
    assert await _on(url, contacts) == [
        (1, "a@x.test", "+14155550123"),
        (1, "b@x.test", None),
        (1, "c@x.test", None),
        (1, "d@x.test", "+15551234567"),
        (2, "a@x.test", "+14155550123"),
        (1, "e@x.test", None),
    ]
    assert await _on(url, _diff) == []

    def add_phone_only(conn: Connection) -> None:
        conn.execute(text(contact), {"account": 1, "email": None, "phone": "+14155550124"})
        conn.commit()

    await _on(url, add_phone_only)
    with pytest.raises(RuntimeError, match="1 contacts have no email"):
        await downgrade(url, "0005_exact")
    assert await _on(url, _version) == [_head()]

    def remove_phone_only(conn: Connection) -> None:
        conn.execute(text("DELETE FROM contacts WHERE email IS NULL"))
        conn.commit()

    await _on(url, remove_phone_only)
    await downgrade(url, "0005_exact")
    assert await _on(url, contacts) == [
        (1, "a@x.test", "+14155550123"),
        (1, "b@x.test", ""),
        (1, "c@x.test", ""),
        (1, "d@x.test", "+15551234567"),
        (2, "a@x.test", "+14155550123"),
        (1, "e@x.test", ""),
    ]


async def test_contacts_need_an_email_or_a_phone_and_phones_are_unique(
    new_database: NewDatabase,
) -> None:
    """The constraints the API's checks rely on hold in the database itself."""
    url = await new_database()
    await upgrade(url)
    now = "'2026-01-01 00:00:00'"
    insert = (
        "INSERT INTO contacts (account_id, email, first_name, last_name, phone, whatsapp, "
        "country, source, consent_email, consent_sms, consent_whatsapp, ltv_cents, "
        f"ltv_currency, created_at, updated_at) VALUES (1, :email, '', '', :phone, '', "
        f"'', 'unknown', true, true, true, 0, 'USD', {now}, {now})"
    )

    def attempt(email: str | None, phone: str | None) -> Callable[[Connection], None]:
        def run(conn: Connection) -> None:
            conn.execute(
                text(
                    "INSERT INTO accounts (name, default_from_email, default_from_name, "
                    "default_reply_to_email, default_reply_to_name, created_at, updated_at) "
                    f"SELECT 'A', '', '', '', '', {now}, {now} "
                    "WHERE NOT EXISTS (SELECT 1 FROM accounts)"
                )
            )
            conn.execute(text(insert), {"email": email, "phone": phone})
            conn.commit()

        return run

    await _on(url, attempt("a@x.test", None))
    await _on(url, attempt(None, "+14155550123"))
    await _on(url, attempt("b@x.test", None))  # NULL phones never collide
    with pytest.raises(DBAPIError, match="reachable"):
        await _on(url, attempt(None, None))
    with pytest.raises(DBAPIError, match="phone"):
        await _on(url, attempt("c@x.test", "+14155550123"))
