"""`alertbridge serve` runs on uvloop when it is installed, on asyncio's own loop otherwise."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

from bridge.cli import use_uvloop_if_installed


@pytest.fixture
def default_policy() -> Iterator[None]:
    yield
    asyncio.set_event_loop_policy(None)


def test_serve_uses_uvloop_when_installed(default_policy: None) -> None:
    uvloop = pytest.importorskip("uvloop")
    assert use_uvloop_if_installed() == "uvloop"
    assert isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)


def test_serve_falls_back_to_asyncio_without_uvloop(
    default_policy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    before = asyncio.get_event_loop_policy()
    assert use_uvloop_if_installed() == "asyncio"
    assert asyncio.get_event_loop_policy() is before
