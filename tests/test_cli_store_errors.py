"""`outbox --config` and `explain` on a store file they cannot open: one line naming the config
and store.path, exit 1, never a StoreUnavailable traceback."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, write_config

ROOT = Path(__file__).parent.parent
PAYLOAD = FIXTURES / "alertmanager" / "zulip-single_alert-resolved.json"
COMMANDS = {
    "outbox-list": ["outbox", "list"],
    "outbox-retry": ["outbox", "retry", "--all"],
    "explain": ["explain", "--source", "alertmanager", str(PAYLOAD)],
}


def not_a_database(db: Path) -> str:
    db.write_text("these are not the bytes of a SQLite file\n" * 200)
    return "file is not a database"


def newer_schema(db: Path) -> str:
    """A file a newer alertbridge wrote (after a downgrade, say)."""
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version (version) VALUES (99)")
    conn.close()
    return "schema version 99 is newer than this alertbridge supports"


PROBLEMS: dict[str, Callable[[Path], str]] = {
    "not-a-database": not_a_database,
    "newer-schema": newer_schema,
}


@pytest.fixture
def locked_store(tmp_path: Path) -> Iterator[Path]:
    """The test config's store file, held under an exclusive lock by this process while the
    command runs in another (a rollback-journal file: WAL would let readers in)."""
    db = tmp_path / "alertbridge.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("BEGIN EXCLUSIVE")
        yield db
    finally:
        conn.close()


def run(args: list[str], config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "bridge", *args, "--config", str(config)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("command", list(COMMANDS), ids=list(COMMANDS))
@pytest.mark.parametrize("problem", list(PROBLEMS), ids=list(PROBLEMS))
def test_a_store_that_cannot_be_opened_is_one_line(
    tmp_path: Path, command: str, problem: str
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    said = PROBLEMS[problem](tmp_path / "alertbridge.db")
    result = run(COMMANDS[command], config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {config}: store.path: sqlite store ") and said in line


@pytest.mark.parametrize("command", ["outbox-list", "explain"])
def test_a_store_locked_by_another_process_is_one_line(
    tmp_path: Path, command: str, locked_store: Path
) -> None:
    """After store.busy_timeout (5 s) of waiting."""
    config = write_config(tmp_path, "http://127.0.0.1:9")
    result = run(COMMANDS[command], config)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line == f"error: {config}: store.path: sqlite store {locked_store}: database is locked"
