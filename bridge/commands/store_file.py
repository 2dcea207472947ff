"""The SQLite store a config names, opened from outside the bridge by `outbox --config` and
`explain`: refused, in one line, when its state cannot be the bridge's (a memory store, no file
at the path), so a command never answers from an empty store as if it were the real one."""

from __future__ import annotations

from pathlib import Path

from bridge.config.schema import StoreConfig
from bridge.store.sqlite import SqliteStore


class CommandError(Exception):
    """A problem to report on one line of stderr, exiting 1."""


def store_file(config_file: str, settings: StoreConfig, *, memory_hint: str) -> SqliteStore:
    """The config's SQLite store, not yet opened; `memory_hint` says what to do instead when
    the config keeps state in memory (only the running bridge can see it)."""
    if settings.backend != "sqlite":
        raise CommandError(
            f"error: {config_file}: store.backend is {settings.backend}: only a sqlite store can "
            f"be read from outside the bridge; {memory_hint}"
        )
    path = Path(settings.path)
    if not path.is_file():
        where = "" if path.is_absolute() else f" ({path.absolute()} from this directory)"
        raise CommandError(
            f"error: {config_file}: store.path: no store at {settings.path}{where}; has the "
            "bridge run with this config, from this directory?"
        )
    return SqliteStore(settings.path)


def store_error(config_file: str, exc: Exception) -> CommandError:
    """A StoreUnavailable (not a database, unreadable, busy) as the one line to print."""
    return CommandError(f"error: {config_file}: store.path: {exc}")
