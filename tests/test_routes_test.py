"""`routes test` guesses which GitHub event a payload file is, from the real captured payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixture_files import FIXTURES

from bridge.routes_test import guess_github_event

GITHUB_FIXTURES = sorted((FIXTURES / "github").glob("*.json"))


def event_in_name(path: Path) -> str:
    """octokit-deployment_status.created.success.json -> deployment_status."""
    return path.name.split("-", 1)[1].split(".")[0].split("__")[0]


@pytest.mark.parametrize("path", GITHUB_FIXTURES, ids=[p.name for p in GITHUB_FIXTURES])
def test_every_captured_github_payload_is_guessed_as_its_event(path: Path) -> None:
    assert guess_github_event(path.read_bytes()) == event_in_name(path)


# Top-level keys of deliveries there is no captured fixture for, as GitHub's docs list them.
SHAPES = [
    (["action", "review", "pull_request", "repository", "sender"], "pull_request_review"),
    (["action", "comment", "pull_request", "repository", "sender"], "pull_request_review_comment"),
    (["action", "thread", "pull_request", "repository", "sender"], "pull_request_review_thread"),
    (["action", "comment", "issue", "repository", "sender"], "issue_comment"),
    (["action", "comment", "discussion", "repository", "sender"], "discussion_comment"),
    (["action", "comment", "repository", "sender"], "commit_comment"),
    (["action", "deployment", "workflow", "workflow_run", "repository", "sender"], "deployment"),
    (["action", "starred_at", "repository", "sender"], "star"),
    (["forkee", "repository", "sender"], "fork"),
]


@pytest.mark.parametrize(("keys", "expected"), SHAPES, ids=[expected for _, expected in SHAPES])
def test_specific_keys_win_over_the_generic_ones_they_come_with(
    keys: list[str], expected: str
) -> None:
    body = json.dumps({key: {} for key in keys}).encode()
    assert guess_github_event(body) == expected
