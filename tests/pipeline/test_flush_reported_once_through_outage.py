"""A flush (or an ingest) retried while the store cannot commit is counted and logged once, when
its writes are kept: its failed tries queued and held nothing, so they report nothing. A real
SQLite file whose write lock another connection holds, as when the disk is full."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import structlog
import test_flush_logs_name_notifications as logged
from alertmanager_webhooks import am_alert, am_flapping
from test_flush_logs_name_notifications import EVENING, Bench, open_bench

from bridge.errors import StoreUnavailable
from bridge.model import Notification

FAILED_TRIES = 3


def to_alice(routes: str) -> str:
    """The same route to one recipient: each report then comes once per success."""
    return routes.replace("to: [oncall]", "to: [alice]")


GROUPED, FLAPPING, DEFERRED = map(to_alice, (logged.GROUPED, logged.FLAPPING, logged.DEFERRED))

# (routes, (minute, alert) posted, minute of the flush, groups_flushed reason, its log line)
CASES: list[tuple[str, list[tuple[int, dict[str, Any]]], int, str, str]] = [
    (GROUPED, [(0, am_alert("db-1")), (0, am_alert("db-2"))], 1, "first", "group.flushed"),
    (
        FLAPPING,
        list(enumerate(am_flapping("db-1", "firing", "resolved", "firing"))),  # the third held
        13,
        "flapped",
        "flapping.flushed",
    ),
    (DEFERRED, [(20, am_alert("db-1"))], 6 * 60 + 10, "deferred", "deferred.released"),
]


def count(bench: Bench, name: str, **labels: str) -> float:
    value = bench.metrics.registry.get_sample_value(f"alertbridge_{name}_total", labels)
    return value or 0.0


@contextmanager
def write_locked(bench: Bench) -> Iterator[None]:
    """Another connection holds the file's write lock: the store reads but cannot commit."""
    other = sqlite3.connect(bench.store.path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


async def retried_through_outage(bench: Bench, attempt: Callable[[], Awaitable[object]]) -> None:
    """`attempt` fails while the store is locked, as often as retried, then succeeds."""
    with write_locked(bench):
        for _ in range(FAILED_TRIES):
            with pytest.raises(StoreUnavailable):
                await attempt()
    await attempt()


@pytest.fixture
async def bench(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Bench]:
    opened = await open_bench(tmp_path, request.param, busy_timeout=0.05)  # fail fast
    yield opened
    await opened.store.close()


@pytest.mark.parametrize(
    ("bench", "posts", "flush_minute", "reason", "event"),
    CASES,
    ids=[c[4] for c in CASES],
    indirect=["bench"],
)
async def test_a_flush_retried_through_a_store_outage_is_reported_once(
    bench: Bench,
    posts: list[tuple[int, dict[str, Any]]],
    flush_minute: int,
    reason: str,
    event: str,
) -> None:
    for minute, alert in posts:
        await bench.post(minute, alert)
    bench.clock[0] = EVENING + flush_minute * 60
    (key,) = [key for key, _ in await bench.store.list_records("group", bench.clock[0])]
    queued_before = count(bench, "notifications", route="disks", outcome="queued")
    queued: list[Notification] = []

    async def flush() -> None:
        queued.extend(await bench.flusher.flush(key))

    with structlog.testing.capture_logs() as logs:
        await retried_through_outage(bench, flush)

    assert [n.recipient for n in queued] == ["alice"]
    assert await bench.store.get_notification(queued[0].id) is not None
    flushed = [line for line in logs if line["event"] == event]
    assert [line["notifications"] for line in flushed] == [[queued[0].id]]
    assert count(bench, "groups_flushed", route="disks", reason=reason) == 1
    assert count(bench, "notifications", route="disks", outcome="queued") == queued_before + 1


# (routes, alerts posted before, the one retried, its suppressed_total reason, its log line)
HOLDS: list[tuple[str, list[dict[str, Any]], dict[str, Any], str, str]] = [
    (
        FLAPPING,
        am_flapping("db-1", "firing", "resolved"),
        am_alert("db-1"),
        "flapping",
        "flapping.held",
    ),
    (DEFERRED, [], am_alert("db-1"), "deferred", "events.deferred"),
    (GROUPED, [], am_alert("db-1"), "grouped", "group.updated"),
]


@pytest.mark.parametrize(
    ("bench", "before", "retried", "reason", "event"),
    HOLDS,
    ids=[c[4] for c in HOLDS],
    indirect=["bench"],
)
async def test_an_ingest_retried_through_a_store_outage_counts_its_hold_once(
    bench: Bench,
    before: list[dict[str, Any]],
    retried: dict[str, Any],
    reason: str,
    event: str,
) -> None:
    """The sender posts again a webhook the bridge could not keep (it answered 503)."""
    for minute, alert in enumerate(before, start=8):
        await bench.post(minute, alert)
    with structlog.testing.capture_logs() as logs:  # at 18:02: muted, for the deferred route
        await retried_through_outage(bench, lambda: bench.post(12, retried))

    assert [line["event"] for line in logs if line["event"] == event] == [event]
    assert count(bench, "suppressed", route="disks", reason=reason) == 1
