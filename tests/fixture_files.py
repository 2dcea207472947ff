"""Where the captured webhook payloads live, for every test that replays one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_path(*parts: str) -> Path:
    """tests/fixtures/<parts...>, e.g. fixture_path("github", "octokit-ping.repository.json")."""
    return FIXTURES.joinpath(*parts)


def load_fixture(*parts: str) -> bytes:
    """The fixture's exact bytes (signatures are computed over them)."""
    return fixture_path(*parts).read_bytes()


def load_fixture_json(*parts: str) -> Any:
    """The fixture decoded, for tests that derive a variant from a captured payload."""
    return json.loads(load_fixture(*parts))
