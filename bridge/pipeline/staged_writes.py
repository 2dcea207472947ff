"""What one ingest or one flush persists, gathered by its stages and committed in one transaction.

Stages decide in memory and stage their writes here; `commit` hands everything to
`Store.enqueue` at once, so a notification, the dedupe entries that point at it and the group
state that says it was sent are kept together or not at all. What the writes say happened (a
metric, a log line) is reported once they are kept (`on_commit`), so a try that failed, and is
retried, reports nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.model import Notification
from bridge.store.base import DedupeEntry, RecordWrite, Store


@dataclass(slots=True)
class StagedWrites:
    notifications: list[Notification] = field(default_factory=list)
    # ttl -> key -> entry (Store.enqueue takes the entries grouped by ttl).
    dedupe: defaultdict[float, dict[str, DedupeEntry]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    # (kind, key) -> (value or None to delete, expires_at); the last write to a key wins.
    records: dict[tuple[str, str], tuple[dict[str, Any] | None, float | None]] = field(
        default_factory=dict
    )
    # Group record key -> when it flushes: for the flusher, once the records are committed.
    flush_at: dict[str, float] = field(default_factory=dict)
    # Metrics and log lines about these writes, in order: run by `commit` once they are kept.
    reports: list[Callable[[], object]] = field(default_factory=list)

    def put_dedupe(self, key: str, entry: DedupeEntry, ttl: float) -> None:
        """Stage a dedupe entry; the last write to a key wins, whatever its ttl."""
        for other_ttl, entries in self.dedupe.items():
            if other_ttl != ttl:
                entries.pop(key, None)
        self.dedupe[ttl][key] = entry

    def on_commit(self, report: Callable[[], object]) -> None:
        """Count or log `report` once the writes are committed, never for a commit that fails."""
        self.reports.append(report)

    def put_record(
        self, kind: str, key: str, value: dict[str, Any], expires_at: float | None
    ) -> None:
        self.records[(kind, key)] = (value, expires_at)

    def delete_record(self, kind: str, key: str) -> None:
        self.records[(kind, key)] = (None, None)

    async def read_record(
        self, store: Store, kind: str, key: str, now: float
    ) -> dict[str, Any] | None:
        """The record as this transaction will leave it: staged here, else as stored."""
        staged = self.records.get((kind, key))
        if staged is not None:
            return staged[0]
        return await store.get_record(kind, key, now)

    def __bool__(self) -> bool:
        return bool(self.notifications or self.dedupe or self.records)

    async def commit(self, store: Store) -> None:
        """Persist everything staged in one Store.enqueue (none when nothing is staged), then
        run the reports (`on_commit`); an enqueue that raises runs none."""
        if self:
            records: list[RecordWrite] = [
                (kind, key, value, expires_at)
                for (kind, key), (value, expires_at) in self.records.items()
            ]
            dedupe = [(entries, ttl) for ttl, entries in self.dedupe.items()]
            await store.enqueue(self.notifications, dedupe, records)
        reports, self.reports = self.reports, []
        for report in reports:
            report()
