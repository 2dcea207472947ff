"""Where pipeline state lives: pick the Store implementation the configuration names."""

from __future__ import annotations

from bridge.config.schema import StoreConfig
from bridge.errors import ConfigError
from bridge.store.base import DedupeEntry, Store
from bridge.store.memory import MemoryStore
from bridge.store.sqlite import SqliteStore

__all__ = ["DedupeEntry", "MemoryStore", "SqliteStore", "Store", "build_store"]


def build_store(config: StoreConfig) -> Store:
    """The configured store, not yet opened (the caller opens and closes it)."""
    if config.backend == "memory":
        return MemoryStore()
    if config.backend == "sqlite":
        return SqliteStore(config.path)
    raise ConfigError("the redis backend is not available yet", path="store.backend")
