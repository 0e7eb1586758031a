"""Configuration is validated at start-up with a message naming the bad variable."""

from pathlib import Path

import pytest

from db.settings import ConfigError, SendSettings, Settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///.clarion/clarion.db"
    assert settings.redis_url is None
    assert (settings.host, settings.port, settings.embedded_worker) == ("127.0.0.1", 8000, True)
    assert settings.data_dir == Path(".clarion")
    assert settings.public_url == "http://127.0.0.1:8000"
    assert settings.max_body_bytes == 2 * 1024 * 1024
    assert settings.reply_attribution_days == 7
    assert settings.sending == SendSettings(
        lease_seconds=60, retry_delays=(60.0, 300.0, 1800.0), halt_seconds=60, smtp_pool_size=4
    )


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CLARION_DATABASE_URL": "mysql://x/y"}, "CLARION_DATABASE_URL"),
        ({"CLARION_DATABASE_URL": "sqlite:///x.db"}, "CLARION_DATABASE_URL"),
        ({"CLARION_REDIS_URL": "http://localhost"}, "CLARION_REDIS_URL"),
        ({"CLARION_PORT": "eighty"}, "CLARION_PORT"),
        ({"CLARION_PORT": "70000"}, "CLARION_PORT"),
        ({"CLARION_EMBEDDED_WORKER": "maybe"}, "CLARION_EMBEDDED_WORKER"),
        ({"CLARION_PUBLIC_URL": "ftp://x"}, "CLARION_PUBLIC_URL"),
        ({"CLARION_PUBLIC_URL": "example.com"}, "CLARION_PUBLIC_URL"),
        ({"CLARION_SEND_LEASE_SECONDS": "1"}, "CLARION_SEND_LEASE_SECONDS"),
        ({"CLARION_SEND_RETRY_DELAYS": "1,soon"}, "CLARION_SEND_RETRY_DELAYS"),
        ({"CLARION_SEND_RETRY_DELAYS": "-1"}, "CLARION_SEND_RETRY_DELAYS"),
        ({"CLARION_SEND_HALT_SECONDS": "0"}, "CLARION_SEND_HALT_SECONDS"),
        ({"CLARION_SMTP_POOL_SIZE": "100"}, "CLARION_SMTP_POOL_SIZE"),
        ({"CLARION_MAX_BODY_BYTES": "2MB"}, "CLARION_MAX_BODY_BYTES"),
        ({"CLARION_MAX_BODY_BYTES": "100"}, "CLARION_MAX_BODY_BYTES"),
        ({"CLARION_REPLY_ATTRIBUTION_DAYS": "0"}, "CLARION_REPLY_ATTRIBUTION_DAYS"),
        ({"CLARION_REPLY_ATTRIBUTION_DAYS": "a week"}, "CLARION_REPLY_ATTRIBUTION_DAYS"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Settings.from_env(env)


def test_explicit_values() -> None:
    settings = Settings.from_env(
        {
            "CLARION_DATABASE_URL": "postgresql+asyncpg://u@h/db",
            "CLARION_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CLARION_PORT": "9000",
            "CLARION_EMBEDDED_WORKER": "false",
            "CLARION_ALLOWED_ORIGINS": "https://a.test, https://b.test",
            "CLARION_PUBLIC_URL": "https://mail.acme.test/",
            "CLARION_SEND_LEASE_SECONDS": "30",
            "CLARION_SEND_RETRY_DELAYS": "0.5, 2",
            "CLARION_SEND_HALT_SECONDS": "5",
            "CLARION_SMTP_POOL_SIZE": "8",
            "CLARION_MAX_BODY_BYTES": "65536",
            "CLARION_REPLY_ATTRIBUTION_DAYS": "30",
        }
    )
    assert settings.public_url == "https://mail.acme.test"
    assert settings.sending == SendSettings(
        lease_seconds=30, retry_delays=(0.5, 2.0), halt_seconds=5, smtp_pool_size=8
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.port == 9000
    assert settings.max_body_bytes == 65536
    assert settings.reply_attribution_days == 30
    assert settings.embedded_worker is False
    assert settings.allowed_origins == ("https://a.test", "https://b.test")


@pytest.mark.parametrize(
    ("variable", "url"),
    [
        ("CLARION_REDIS_URL", "http://user:hunter2@redis.internal:6379/0"),
        ("CLARION_DATABASE_URL", "mysql://clarion:hunter2@db.internal/clarion"),
    ],
)
def test_a_bad_url_is_named_without_its_password(variable: str, url: str) -> None:
    with pytest.raises(ConfigError, match=variable) as refused:
        Settings.from_env({variable: url})
    assert "hunter2" not in str(refused.value)
    assert ":***@" in str(refused.value)
