"""The `store` fixture: each test runs on memory, and on SQLite in a real file.

Imported by name by the modules that use it (a conftest.py in a subfolder would shadow
tests/conftest.py, which the tests import as `conftest`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.store import MemoryStore, SqliteStore, Store


@pytest.fixture(name="store", params=["memory", "sqlite"])
async def store_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened: Store = (
        MemoryStore() if request.param == "memory" else SqliteStore(str(tmp_path / "bridge.db"))
    )
    await opened.open()
    yield opened
    await opened.close()
