"""build_store picks the implementation the configuration names."""

from __future__ import annotations

import pytest

from bridge.config.schema import StoreConfig
from bridge.errors import ConfigError
from bridge.store import MemoryStore, SqliteStore, build_store


def test_memory_backend_is_a_memory_store() -> None:
    assert isinstance(build_store(StoreConfig(backend="memory")), MemoryStore)


def test_sqlite_backend_uses_the_configured_path() -> None:
    store = build_store(StoreConfig(backend="sqlite", path="/var/lib/alertbridge/a.db"))
    assert isinstance(store, SqliteStore)
    assert store.path == "/var/lib/alertbridge/a.db"


def test_redis_backend_is_refused_for_now() -> None:
    with pytest.raises(ConfigError, match="redis backend is not available yet"):
        build_store(StoreConfig(backend="redis"))
