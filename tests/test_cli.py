"""The clarion command, run as a user runs it (a real subprocess)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Runs no Clarion server or database of the run's choosing: the PostgreSQL pass skips it.
pytestmark = pytest.mark.database_independent

CLARION = [sys.executable, "-m", "graph.cli"]


def run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLARION, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CLARION_DATA_DIR": str(data_dir), **env},
        check=False,
    )


def test_create_account_prints_a_key_that_authenticates(tmp_path: Path) -> None:
    result = run(["create-account", "Acme"], tmp_path)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip()
    assert key.startswith("clr_")
    assert len(key) > 40
    assert (tmp_path / "clarion.db").exists()


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = run(["migrate"], tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "database is up to date"


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    result = run(["migrate"], tmp_path, CLARION_DATABASE_URL="mysql://nope")
    assert result.returncode != 0
    assert "CLARION_DATABASE_URL" in result.stderr


@pytest.mark.parametrize("args", [["create-account", ""], ["create-account", "x" * 256]])
def test_invalid_account_name_is_refused(tmp_path: Path, args: list[str]) -> None:
    result = run(args, tmp_path)
    assert result.returncode != 0
    assert "name" in result.stderr


def test_export_schema_writes_the_sdl(tmp_path: Path) -> None:
    out = tmp_path / "schema.graphql"
    result = run(["export-schema", "--output", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "type Mutation" in out.read_text()
