"""An in-memory copy of the SQLite store's dedupe and keys tables, so reads need no thread hop.

Loaded from the tables when the store opens and written through: every write changes the copy at
once (the SQL is queued as before) and returns an `Undo` that puts the old values back should the
SQL fail, so the copy always equals the tables as committed or about to be. It holds exactly the
tables' rows, expired ones included until purged, so memory is bounded by expiry as theirs is.
One process owns the file's dedupe state (the bridge); other processes only read or touch the
outbox.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from bridge.store.base import DedupeEntry

# Puts back what one write changed; run on the event loop, latest write first.
Undo = Callable[[], None]
_Stored = tuple[DedupeEntry, float]  # (entry, expires_at)
T = TypeVar("T")


class DedupeMirror:
    """The dedupe table (key -> entry and expiry) and the keys table (key -> expiry)."""

    def __init__(self) -> None:
        self.dedupe: dict[str, _Stored] = {}
        self.keys: dict[str, float] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        """Read both tables whole (the store's worker thread, at open)."""
        dedupe: dict[str, _Stored] = {}
        sql = "SELECT key, status, at, notification_id, expires_at FROM dedupe"
        for key, status, at, notification_id, expires_at in conn.execute(sql):
            dedupe[key] = (DedupeEntry(sys.intern(status), at, notification_id), expires_at)
        keys = {
            key: expires_at for key, expires_at in conn.execute("SELECT key, expires_at FROM keys")
        }
        self.dedupe, self.keys = dedupe, keys

    # --- reads ---
    def get_dedupe(self, keys: Iterable[str], now: float) -> dict[str, DedupeEntry]:
        found: dict[str, DedupeEntry] = {}
        for key in keys:
            stored = self.dedupe.get(key)
            if stored is not None and stored[1] > now:
                found[key] = stored[0]
        return found

    def contains(self, key: str, now: float) -> bool:
        expires_at = self.keys.get(key)
        return expires_at is not None and expires_at > now

    # --- writes ---
    def put_dedupe(self, rows: Sequence[tuple[str, DedupeEntry, float]]) -> Undo:
        """Write (key, entry, expires_at) rows."""
        table = self.dedupe
        written: list[tuple[str, _Stored | None, _Stored]] = []
        for key, entry, expires_at in rows:
            stored = (entry, expires_at)
            written.append((key, table.get(key), stored))
            table[key] = stored

        def undo() -> None:
            for key, before, stored in reversed(written):
                if table.get(key) is stored:
                    _restore(table, key, before)

        return undo

    def set_key(self, key: str, expires_at: float) -> Undo:
        return self._set_key(key, expires_at)

    def drop_key(self, key: str) -> Undo:
        return self._set_key(key, None)

    def purge(self, now: float) -> Undo:
        """Drop what expired at `now`; the undo brings back what a failed purge left stored."""
        dropped_keys = {key: exp for key, exp in self.keys.items() if exp <= now}
        dropped_dedupe = {key: stored for key, stored in self.dedupe.items() if stored[1] <= now}
        for key in dropped_keys:
            del self.keys[key]
        for key in dropped_dedupe:
            del self.dedupe[key]

        def undo() -> None:
            for key, exp in dropped_keys.items():
                self.keys.setdefault(key, exp)
            for key, stored in dropped_dedupe.items():
                self.dedupe.setdefault(key, stored)

        return undo

    def _set_key(self, key: str, expires_at: float | None) -> Undo:
        """Store a key's expiry, or drop the key when it is None."""
        table = self.keys
        before = table.get(key)
        if expires_at is None:
            table.pop(key, None)
        else:
            table[key] = expires_at

        def undo() -> None:
            if table.get(key) == expires_at:
                _restore(table, key, before)

        return undo


def _restore(table: dict[str, T], key: str, before: T | None) -> None:
    if before is None:
        table.pop(key, None)
    else:
        table[key] = before
