"""Secrets at rest: SMTP passwords encrypted with CLARION_SECRET_KEY (or a generated key
file, 0600), the SQLite file private, clear passwords of older versions encrypted at start,
keys rotated, a wrong key refused at start by name, and no credentials in config errors."""

import contextlib
import logging
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url

from db import models
from db.engine import connect
from db.enums import EmailChannelType
from db.migrate import upgrade
from db.secrets import KEY_FILE, SECRET_KEY_VAR, SecretKeyError, load_keyring
from db.settings import ConfigError, Settings
from graph.app import create_app
from tests.support import GraphQLClient, Server, make_channel, stable_secret_key

PASSWORD = "hunter2-correct-horse"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


async def raw_password(server: Server, channel_code: str, account_id: int) -> str:
    async with server.db.read() as session:
        stored = await session.scalar(
            text("SELECT smtp_password FROM email_channels WHERE account_id = :a AND code = :c"),
            {"a": account_id, "c": channel_code},
        )
    assert isinstance(stored, str)
    return stored


async def test_smtp_passwords_are_stored_encrypted(client: GraphQLClient) -> None:
    await make_channel(client, code="secret", smtpPassword=PASSWORD)
    await make_channel(client, code="changed")
    payload = await client.mutate(
        "updateEmailChannel",
        {"id": (await channel_id(client, "changed")), "smtpPassword": PASSWORD + "-2"},
        "emailChannel { hasSmtpPassword }",
    )
    assert payload == {"emailChannel": {"hasSmtpPassword": True}, "userErrors": []}

    for code in ("secret", "changed"):
        stored = await raw_password(client.server, code, client.account_id)
        assert stored.startswith("fernet:")
        assert PASSWORD not in stored
    path = sqlite_path(client.server.settings.database_url)
    if path is not None:  # nowhere in the file or its write-ahead log, either
        for part in (path, Path(f"{path}-wal")):
            if part.exists():
                assert PASSWORD.encode() not in part.read_bytes()


async def channel_id(client: GraphQLClient, code: str) -> str:
    data = await client.gql("{ emailChannels { edges { node { id code } } } }")
    (found,) = [
        e["node"]["id"] for e in data["emailChannels"]["edges"] if e["node"]["code"] == code
    ]
    return str(found)


async def test_the_key_file_and_the_database_file_are_private(server: Server) -> None:
    if not server.settings.secret_keys:  # else the key is CLARION_SECRET_KEY's
        assert mode(server.settings.data_dir / KEY_FILE) == 0o600
    path = sqlite_path(server.settings.database_url)
    if path is not None:
        assert mode(path) == 0o600


@contextlib.asynccontextmanager
async def started(data_dir: Path, **env: str) -> AsyncIterator[None]:
    """The app's start-up and shutdown (lifespan), on an SQLite file in `data_dir`."""
    settings = Settings.from_env(
        {"CLARION_DATA_DIR": str(data_dir), "CLARION_EMBEDDED_WORKER": "false", **env}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield


async def stored_passwords(data_dir: Path) -> list[str]:
    db = connect(f"sqlite+aiosqlite:///{data_dir / 'clarion.db'}")
    try:
        async with db.read() as session:
            found = await session.scalars(
                select(models.EmailChannel.smtp_password).order_by(models.EmailChannel.id)
            )
            return list(found)
    finally:
        await db.dispose()


def temporary_key_files(data_dir: Path) -> list[str]:
    return [name for name in os.listdir(data_dir) if name.startswith(f".{KEY_FILE}")]


def opens(key: bytes, stored: str) -> str:
    assert stored.startswith("fernet:")
    return Fernet(key).decrypt(stored.removeprefix("fernet:").encode()).decode()


async def test_clear_passwords_are_encrypted_at_start_then_rotated(tmp_path: Path) -> None:
    # A database of the version before encryption, with a password in clear.
    url = f"sqlite+aiosqlite:///{tmp_path / 'clarion.db'}"
    await upgrade(url, "0002")
    db = connect(url)
    try:
        async with db.write() as session:
            account = (
                await session.execute(
                    insert(models.Account).values(name="Old").returning(models.Account.id)
                )
            ).scalar_one()
            await session.execute(
                text(
                    "INSERT INTO email_channels (account_id, code, channel_type, status, "
                    "daily_quota, enable_engagement_tracking, smtp_host, smtp_port, "
                    "smtp_security, smtp_username, smtp_password, default_from_email, "
                    "default_from_name, default_reply_to_email, default_reply_to_name, "
                    "created_at, updated_at) VALUES (:a, 'old', :t, 'active', 10, 0, 'h', 25, "
                    "'none', 'u', :p, '', '', '', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"a": account, "t": EmailChannelType.MARKETING.value, "p": PASSWORD},
            )
    finally:
        await db.dispose()
    old, new = Fernet.generate_key(), Fernet.generate_key()

    async with started(tmp_path, **{SECRET_KEY_VAR: old.decode()}):
        (stored,) = await stored_passwords(tmp_path)
    assert opens(old, stored) == PASSWORD

    # Rotation: the new key first, the old one after; start-up re-encrypts with the new.
    async with started(tmp_path, **{SECRET_KEY_VAR: f"{new.decode()}, {old.decode()}"}):
        (stored,) = await stored_passwords(tmp_path)
    assert opens(new, stored) == PASSWORD

    # A key that opens nothing stored stops the start, naming the variable.
    with pytest.raises(SecretKeyError, match=SECRET_KEY_VAR):
        async with started(tmp_path, **{SECRET_KEY_VAR: old.decode()}):
            pass
    assert await stored_passwords(tmp_path) == [stored]


async def test_without_a_key_one_is_generated_once_into_the_data_dir(tmp_path: Path) -> None:
    async with started(tmp_path):
        key = (tmp_path / KEY_FILE).read_bytes()
    assert mode(tmp_path / KEY_FILE) == 0o600
    assert mode(tmp_path / "clarion.db") == 0o600
    async with started(tmp_path):
        assert (tmp_path / KEY_FILE).read_bytes() == key
    assert temporary_key_files(tmp_path) == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLARION_DATABASE_URL", "mysql://clarion:hunter2@db.internal/clarion"),
        ("CLARION_REDIS_URL", "http://:hunter2@redis.internal:6379/0"),
    ],
)
def test_configuration_errors_do_not_print_passwords(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({variable: value})
    assert variable in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("value", ["not-a-key", "a,b", ","])
def test_a_malformed_secret_key_is_a_configuration_error_naming_it(value: str) -> None:
    with pytest.raises(ConfigError, match=SECRET_KEY_VAR):
        Settings.from_env({SECRET_KEY_VAR: value})


def test_the_key_file_is_not_world_readable_even_with_a_loose_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        load_keyring((), tmp_path / "fresh")
    finally:
        os.umask(previous)
    assert mode(tmp_path / "fresh" / KEY_FILE) == 0o600


@pytest.mark.skipif(
    not os.environ.get("CLARION_TEST_DATABASE_URL"), reason="needs a database URL with a password"
)
async def test_logs_never_show_the_database_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = os.environ["CLARION_TEST_DATABASE_URL"]
    with_password = make_url(url).set(password="hunter2").render_as_string(hide_password=False)
    caplog.set_level(logging.DEBUG)
    async with started(
        tmp_path,
        CLARION_DATABASE_URL=with_password,
        CLARION_SECRET_KEY=stable_secret_key(url),
    ):
        pass
    assert "Clarion ready" in caplog.text
    assert "hunter2" not in caplog.text
