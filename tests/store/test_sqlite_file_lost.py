"""A SQLite file removed or replaced under the running store: writes and pings fail, never
acknowledged into a file a restart will not find."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import structlog
from alertmanager_webhooks import am_alert, am_webhook
from conftest import StartBridge, am_headers
from notification_factory import make_notification

from bridge.errors import StoreUnavailable
from bridge.store import SqliteStore

REPO_ROOT = Path(__file__).resolve().parents[2]


def remove_directory(path: Path) -> None:
    shutil.rmtree(path.parent)


def delete_database_file(path: Path) -> None:
    path.unlink()


def delete_wal(path: Path) -> None:
    Path(f"{path}-wal").unlink()


def replace_database_file(path: Path) -> None:
    """A copy moved over the path, as a restore from backup would."""
    copy = path.with_name("copy.db")
    shutil.copyfile(path, copy)
    os.replace(copy, path)


LOSSES: list[tuple[Callable[[Path], None], str]] = [
    (remove_directory, "was removed"),
    (delete_database_file, "was removed"),
    (delete_wal, "write-ahead log .* was deleted"),
    (replace_database_file, "was replaced or moved"),
]
LOSS_IDS = ["directory-removed", "database-file-deleted", "wal-deleted", "database-replaced"]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    (tmp_path / "store").mkdir()
    return tmp_path / "store" / "bridge.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(str(db_path))
    await opened.open()
    yield opened
    await opened.close()


@pytest.mark.parametrize(("lose", "problem"), LOSSES, ids=LOSS_IDS)
async def test_writes_and_ping_fail_once_the_open_file_is_no_longer_at_the_path(
    store: SqliteStore, db_path: Path, lose: Callable[[Path], None], problem: str
) -> None:
    await store.enqueue([make_notification("before")])
    lose(db_path)
    with structlog.testing.capture_logs() as logs:
        with pytest.raises(StoreUnavailable, match=f"{problem}.*restart alertbridge"):
            await store.enqueue([make_notification("after")])
        with pytest.raises(StoreUnavailable, match=problem):
            await store.ping()
        with pytest.raises(StoreUnavailable, match=problem):
            await store.put_record("group", "g1", {"v": 1})
    lost = [e for e in logs if e["event"] == "store.file_lost"]
    assert [e["log_level"] for e in lost] == ["critical"]  # once, not once per call
    assert "restart alertbridge" in lost[0]["message"]


async def test_an_untouched_file_keeps_working(store: SqliteStore, db_path: Path) -> None:
    """Another connection opening and closing the file does not change the files ours has."""
    (db_path.parent / "other-file").write_text("unrelated")
    await store.enqueue([make_notification("n1")])
    other = SqliteStore(str(db_path))
    await other.open()
    await other.close()
    await store.enqueue([make_notification("n2")])
    await store.ping()
    assert (await store.outbox_counts())["pending"] == 2


_ENQUEUE_DELETE_WAL_THEN_SIGKILL = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from bridge.errors import StoreUnavailable
    from bridge.model import Notification
    from bridge.store.sqlite import SqliteStore

    def notification(nid: str) -> Notification:
        return Notification(id=nid, route="r", recipient="alice", phone="+972501234567",
                            text="t", created_at=1000.0)

    async def main(path: str) -> None:
        store = SqliteStore(path)
        await store.open()
        for i in range(5):
            await store.enqueue([notification(f"n{i}")])
        os.unlink(path + "-wal")
        try:
            await store.enqueue([notification("after")])
        except StoreUnavailable:
            print("refused", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_what_was_acknowledged_before_the_wal_was_deleted_survives_sigkill(
    db_path: Path,
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-c", _ENQUEUE_DELETE_WAL_THEN_SIGKILL, str(db_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        check=False,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    assert "refused" in crashed.stdout.splitlines()

    reopened = SqliteStore(str(db_path))
    await reopened.open()
    try:
        kept = [n.id for n in await reopened.list_notifications()]
        assert sorted(kept) == [f"n{i}" for i in range(5)]
    finally:
        await reopened.close()


@pytest.mark.parametrize(
    "lose", [remove_directory, delete_wal], ids=["directory-removed", "wal-deleted"]
)
async def test_webhook_after_the_store_file_is_lost_is_503_and_not_ready(
    start_bridge: StartBridge, tmp_path: Path, lose: Callable[[Path], None]
) -> None:
    db_path = tmp_path / "store" / "alertbridge.db"
    db_path.parent.mkdir()
    h = await start_bridge(extra=f"store: {{backend: sqlite, path: {db_path}}}")
    accepted = await h.post("/webhook/alertmanager", am_webhook(am_alert("db-1")), am_headers())
    assert accepted.status == 202, accepted.body

    lose(db_path)
    refused = await h.post("/webhook/alertmanager", am_webhook(am_alert("db-2")), am_headers())
    assert refused.status == 503, refused.body
    ready = await h.get("/readyz")
    assert ready.status == 503
    assert "restart alertbridge" in ready.body["checks"]["store"]
    # Stopping cannot put in-flight sends back to pending in a lost file, yet stops (the next
    # start requeues them): a shutdown that raised here left serve exiting 1.
    await h.bridge.stop()
