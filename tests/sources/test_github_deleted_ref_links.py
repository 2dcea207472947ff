"""A deleted tag or branch links the repository's tags or branches: GitHub's compare link for
it ends at 000000 and shows nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from github_outcome_bench import github_delivery

from bridge.sources.github import parse_github

TAG_DELETED = "octokit-push.tag-deleted.json"
REPO = "https://github.com/Codertocat/Hello-World"


@pytest.mark.parametrize(
    ("ref", "title", "url"),
    [
        ("refs/tags/simple-tag", "Tag simple-tag deleted", f"{REPO}/tags"),
        ("refs/heads/feature", "Branch feature deleted", f"{REPO}/branches"),
    ],
    ids=["tag", "branch"],
)
def test_a_deleted_ref_links_where_the_others_are_listed(ref: str, title: str, url: str) -> None:
    body = json.dumps(github_delivery(TAG_DELETED, ref=ref)).encode()
    webhook = parse_github({"X-GitHub-Event": "push"}, body, datetime(2026, 1, 2, tzinfo=UTC))
    [event] = webhook.events
    assert event.title == f"{title} in Codertocat/Hello-World"
    assert event.url == url
