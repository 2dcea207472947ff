"""The `render` fixture of the chart tests: see chart_render.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from chart_render import Render, rendering


@pytest.fixture
async def render() -> AsyncIterator[Render]:
    async with rendering() as install:
        yield install
