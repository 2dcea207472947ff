"""The memory store's expiring tables: one-shot keys, dedupe entries and records.

Memory stays bounded: expired entries are purged lazily, after a number of writes that grows
with the tables, so the cost is amortised O(1) per write. The clock for those purges is the
latest time callers passed in (`saw`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bridge.store.base import DedupeEntry

_MIN_WRITES_BETWEEN_PURGES = 1024


class ExpiringTables:
    """Keys, dedupe entries and records (kept as JSON) with their expiry times; nothing awaits."""

    def __init__(self) -> None:
        self._keys: dict[str, float] = {}  # key -> expires_at
        self._dedupe: dict[str, tuple[DedupeEntry, float]] = {}  # key -> (entry, expires_at)
        # kind -> key -> (value as JSON, expires_at or None for never)
        self._records: dict[str, dict[str, tuple[str, float | None]]] = {}
        self._latest_now = 0.0
        self._writes_since_purge = 0
        self._writes_before_purge = _MIN_WRITES_BETWEEN_PURGES

    def saw(self, now: float) -> None:
        """Track the latest time callers passed in, the clock for lazy purges."""
        self._latest_now = max(self._latest_now, now)

    # --- one-shot keys ---
    def remember(self, key: str, ttl: float, now: float) -> bool:
        self.saw(now)
        expires_at = self._keys.get(key)
        if expires_at is not None and expires_at > now:
            return False
        self._keys[key] = now + ttl
        self._count_write()
        return True

    def forget(self, key: str) -> bool:
        return self._keys.pop(key, None) is not None

    def contains(self, key: str, now: float) -> bool:
        self.saw(now)
        expires_at = self._keys.get(key)
        return expires_at is not None and expires_at > now

    # --- dedupe entries ---
    def get_dedupe(self, keys: Sequence[str], now: float) -> dict[str, DedupeEntry]:
        self.saw(now)
        found: dict[str, DedupeEntry] = {}
        for key in keys:
            stored = self._dedupe.get(key)
            if stored is not None and stored[1] > now:
                found[key] = stored[0]
        return found

    def put_dedupe(self, entries: dict[str, DedupeEntry], ttl: float) -> None:
        for key, entry in entries.items():
            self._dedupe[key] = (entry, entry.at + ttl)
            self._count_write()

    def dedupe_entries(self) -> int:
        return len(self._dedupe)

    # --- records ---
    def put_encoded(self, kind: str, key: str, value: str, expires_at: float | None) -> None:
        """Keep a record already encoded as JSON."""
        self._records.setdefault(kind, {})[key] = (value, expires_at)
        self._count_write()

    def get_record(self, kind: str, key: str, now: float) -> dict[str, Any] | None:
        self.saw(now)
        stored = self._records.get(kind, {}).get(key)
        if stored is None or not _unexpired(stored[1], now):
            return None
        return _decode(stored[0])

    def list_records(
        self, kind: str, now: float, prefix: str = ""
    ) -> list[tuple[str, dict[str, Any]]]:
        """Unexpired records of one kind whose key starts with `prefix`, ordered by key."""
        self.saw(now)
        of_kind = self._records.get(kind, {})
        return [
            (key, _decode(value))
            for key, (value, expires_at) in sorted(of_kind.items())
            if key.startswith(prefix) and _unexpired(expires_at, now)
        ]

    def delete_record(self, kind: str, key: str) -> bool:
        of_kind = self._records.get(kind, {})
        found = of_kind.pop(key, None) is not None
        if not of_kind:
            self._records.pop(kind, None)
        return found

    # --- purging ---
    def drop_expired(self, now: float) -> int:
        """Drop every entry expired at `now`; how many were dropped."""
        before = self._live_entries()
        self._keys = {key: exp for key, exp in self._keys.items() if exp > now}
        self._dedupe = {key: stored for key, stored in self._dedupe.items() if stored[1] > now}
        records = {
            kind: {key: stored for key, stored in of_kind.items() if _unexpired(stored[1], now)}
            for kind, of_kind in self._records.items()
        }
        self._records = {kind: of_kind for kind, of_kind in records.items() if of_kind}
        after = self._live_entries()
        self._writes_since_purge = 0
        self._writes_before_purge = max(_MIN_WRITES_BETWEEN_PURGES, after)
        return before - after

    def _count_write(self) -> None:
        """Purge after as many writes as there were live entries at the last purge (amortised)."""
        self._writes_since_purge += 1
        if self._writes_since_purge >= self._writes_before_purge:
            self.drop_expired(self._latest_now)

    def _live_entries(self) -> int:
        records = sum(len(of_kind) for of_kind in self._records.values())
        return len(self._keys) + len(self._dedupe) + records


def _unexpired(expires_at: float | None, now: float) -> bool:
    return expires_at is None or expires_at > now


def _decode(value: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(value)
    return decoded
