"""Which branch a commit status is about: a commit can be the head of several branches (the
delivery's `branches`); the repository's default branch is the one routes and people care
about, so it is named whenever it is among them, wherever it is listed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from github_outcome_bench import github_bench, github_delivery, headlines

from bridge.model import Event
from bridge.sources.github import parse_github

STATUS = "octokit-status.success.json"
STATUSES = """\
routes:
  - name: statuses
    source: github
    to: [alice]
"""


def status(state: str, branches: list[str], default_branch: str = "main") -> dict[str, Any]:
    """The recorded status delivery, on a commit at the head of `branches`."""
    return github_delivery(
        STATUS,
        state=state,
        branches=[{"name": name} for name in branches],
        **{"repository.default_branch": default_branch},
    )


def parsed(payload: dict[str, Any]) -> Event:
    body = json.dumps(payload).encode()
    [event] = parse_github({"X-GitHub-Event": "status"}, body, datetime.now(UTC)).events
    return event


@pytest.mark.parametrize(
    ("branches", "branch"),
    [
        (["feature-x", "main"], "main"),
        (["main", "feature-x"], "main"),
        (["feature-x", "release"], "feature-x"),
        (["main"], "main"),
    ],
    ids=["default-listed-second", "default-listed-first", "default-not-listed", "default-only"],
)
def test_a_failed_status_names_the_default_branch_when_the_commit_is_on_it(
    branches: list[str], branch: str
) -> None:
    event = parsed(status("failure", branches))
    assert event.labels["branch"] == branch
    assert event.title == f"Status failed: default on {branch}"


def test_a_status_on_a_commit_of_no_branch_has_no_branch_label() -> None:
    assert "branch" not in parsed(status("failure", [])).labels


async def test_a_failure_listed_with_a_feature_branch_is_resolved_by_main_passing(
    tmp_path: Path,
) -> None:
    """The failure arrives while the commit heads feature-x and main; the fix, once only main:
    both are main's, so the fix resolves the failure."""
    async with github_bench(tmp_path, STATUSES) as bench:
        failed = await bench.post("status", status("failure", ["feature-x", "main"]))
        assert headlines(failed) == ["🔴 *Status failed: default on main*"]
        fixed = await bench.post("status", status("success", ["main"]))
        assert [e.status for e in fixed.outcomes[0].events] == ["resolved"]
