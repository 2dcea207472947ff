"""A real pipeline, SQLite store and group flusher on a test clock, for GitHub deliveries in
sequence: what each delivery sends at once, and what its group flush sends once due.

Imported by name (`from github_outcome_bench import ...`) by the tests that use it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conftest import fixture_json, write_config

from bridge.metrics import Metrics
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.grouping import GROUP_KIND
from bridge.pipeline.ingest import IngestResult, Pipeline
from bridge.routes_test import parse_payload
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore

MINUTES = 60.0
HOURS = 60 * MINUTES


@dataclass
class GitHubBench:
    tmp_path: Path
    runtime: Runtime
    store: SqliteStore
    metrics: Metrics
    pipeline: Pipeline
    flusher: GroupFlusher
    clock: list[float]

    async def post(self, kind: str, payload: dict[str, Any]) -> IngestResult:
        """Ingest one delivery, then move the clock on ten minutes."""
        webhook = parse_payload(self.runtime, "github", json.dumps(payload).encode(), kind)
        result = await self.pipeline.ingest(
            webhook, self.runtime.routes, self.runtime.renderer, self.runtime.time_intervals
        )
        self.clock[0] += 10 * MINUTES
        return result

    async def flush_due(self) -> list[str]:
        """Flush every group that is due now; the first line of each message."""
        texts: list[str] = []
        for key, _ in await self.store.list_records(GROUP_KIND, self.clock[0]):
            texts += [n.text.splitlines()[0] for n in await self.flusher.flush(key)]
        return texts

    async def reload(self, routes: str) -> list[str]:
        """The new routes in use, then every group read at once, as Bridge.reload has it."""
        self.runtime = load_runtime(str(write_config(self.tmp_path, "http://127.0.0.1:9", routes)))
        texts: list[str] = []
        for key, _ in await self.store.list_records(GROUP_KIND, self.clock[0]):
            texts += [n.text.splitlines()[0] for n in await self.flusher.flush(key)]
        return texts

    async def groups(self) -> int:
        return len(await self.store.list_records(GROUP_KIND, self.clock[0]))


def headlines(result: IngestResult) -> list[str]:
    """The first line of each message a delivery sent at once."""
    return [n.text.splitlines()[0] for n in result.notifications]


@asynccontextmanager
async def github_bench(tmp_path: Path, routes: str) -> AsyncIterator[GitHubBench]:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", routes)))
    store = SqliteStore(str(tmp_path / "github.db"))
    await store.open()
    clock = [1_000_000.0]
    metrics = Metrics()
    pipeline = Pipeline(store, metrics, clock=lambda: clock[0])
    benches: list[GitHubBench] = []  # the flusher reads the runtime in use, after a reload too
    flusher = GroupFlusher(pipeline, lambda: benches[0].runtime, clock=lambda: clock[0])
    benches.append(GitHubBench(tmp_path, runtime, store, metrics, pipeline, flusher, clock))
    try:
        yield benches[0]
    finally:
        await store.close()


def github_delivery(fixture: str, **changes: Any) -> dict[str, Any]:
    """A recorded delivery with changes by dotted path: `workflow_run.conclusion="failure"`
    is written `**{"workflow_run.conclusion": "failure"}`."""
    payload: dict[str, Any] = fixture_json("github", fixture)
    for path, value in changes.items():
        *parents, name = path.split(".")
        target = payload
        for parent in parents:
            target = target[parent]
        target[name] = value
    return payload
