"""The `store` fixture of the contract tests: memory, and SQLite on a real file.

Imported by each contract module (a conftest.py here would shadow tests/conftest.py, which other
tests import as `conftest`).
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
