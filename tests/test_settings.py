"""Configuration is validated at start-up with a message naming the bad variable."""

from pathlib import Path

import pytest

from db.settings import ConfigError, Settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite+aiosqlite:///.clarion/clarion.db"
    assert settings.redis_url is None
    assert (settings.host, settings.port, settings.embedded_worker) == ("127.0.0.1", 8000, True)
    assert settings.data_dir == Path(".clarion")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CLARION_DATABASE_URL": "mysql://x/y"}, "CLARION_DATABASE_URL"),
        ({"CLARION_DATABASE_URL": "sqlite:///x.db"}, "CLARION_DATABASE_URL"),
        ({"CLARION_REDIS_URL": "http://localhost"}, "CLARION_REDIS_URL"),
        ({"CLARION_PORT": "eighty"}, "CLARION_PORT"),
        ({"CLARION_PORT": "70000"}, "CLARION_PORT"),
        ({"CLARION_EMBEDDED_WORKER": "maybe"}, "CLARION_EMBEDDED_WORKER"),
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
        }
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.port == 9000
    assert settings.embedded_worker is False
    assert settings.allowed_origins == ("https://a.test", "https://b.test")
