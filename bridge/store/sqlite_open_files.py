"""Whether the files the SQLite connection has open are still the files at store.path.

Removing the store's directory, or its `-wal` file, while the bridge runs leaves the connection
writing to files no longer linked anywhere: every commit succeeds and is gone at the next start.
The connection thread asks before each batch (a stat or two per batch, not per statement), so
nothing is written, nor answered as persisted, once the files at the path are others.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass

__all__ = ["OpenFiles", "save_unlinked_wal"]

# Paths SQLite keeps in memory or in a temporary file: nothing at a path to lose.
_NO_FILE = ("", ":memory:")
# An identity no file has.
_GONE = (-2, -2)
# What _identity answers when it cannot tell (a directory made unreadable): not taken for a
# loss, since the file may well still be there.
_UNKNOWN = (-1, -1)


@dataclass(frozen=True, slots=True)
class OpenFiles:
    """The (device, inode) of the database file and of its WAL, taken once the file is set up."""

    path: str
    database: tuple[int, int]
    # SQLite puts the WAL next to the file the path resolves to (symlinks followed).
    wal_path: str
    # None when the file is not in WAL mode (or has no WAL yet): nothing to watch.
    wal: tuple[int, int] | None

    @classmethod
    def of(cls, conn: sqlite3.Connection, path: str) -> OpenFiles | None:
        """The files conn has open at path; None for an in-memory or temporary database."""
        if path in _NO_FILE:
            return None
        wal_path = os.path.realpath(path) + "-wal"
        in_wal_mode = conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        wal = _identity(wal_path) if in_wal_mode else None
        # Gone between connecting and now: the first check reports it.
        database = _identity(path) or _GONE
        return cls(path, database, wal_path, wal)

    def database_problem(self) -> str | None:
        """Why path no longer names the database file the connection writes, or None."""
        now = _identity(self.path)
        if now is None:
            return f"{self.path} was removed (it or its directory) while the store had it open"
        if now not in (self.database, _UNKNOWN):
            return f"{self.path} was replaced or moved while the store had it open"
        return None

    def wal_problem(self) -> str | None:
        """Why the WAL the connection writes is no longer at `<path>-wal`, or None."""
        if self.wal is None:
            return None
        now = _identity(self.wal_path)
        if now is None:
            return f"its write-ahead log {self.wal_path} was deleted while the store had it open"
        if now not in (self.wal, _UNKNOWN):
            return f"its write-ahead log {self.wal_path} was replaced while the store had it open"
        return None


def save_unlinked_wal(conn: sqlite3.Connection) -> bool:
    """Copy what the deleted WAL holds into the database file, still at its path: the commits
    already answered survive a restart (even a kill -9). True when all of it was copied."""
    try:
        busy: int = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    except sqlite3.Error:
        return False
    return busy == 0


def _identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at path; None when nothing is there."""
    try:
        found = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return _UNKNOWN
    return found.st_dev, found.st_ino
