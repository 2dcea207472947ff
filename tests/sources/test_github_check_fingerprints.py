"""A check's fingerprint names its app by id: GitHub leaves the slug out of some deliveries
(the recorded check_run success has none, its failure does), and a failure must pair with its
fix whichever of the two carries it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from github_outcome_bench import github_bench, github_delivery, headlines

from bridge.sources.github import parse_github

RUN_FAILED = "octokit-check_run.completed.failure.json"
RUN_PASSED = "octokit-check_run.completed.success.json"
SUITE = "octokit-check_suite.completed.json"
CHECKS = """\
routes:
  - name: checks
    source: github
    to: [alice]
"""


def fingerprint(kind: str, payload: dict[str, Any]) -> str:
    body = json.dumps(payload).encode()
    webhook = parse_github({"X-GitHub-Event": kind}, body, datetime(2026, 1, 2, tzinfo=UTC))
    return webhook.events[0].fingerprint


@pytest.mark.parametrize(
    ("kind", "with_slug", "without_slug", "other_app"),
    [
        (
            "check_run",
            github_delivery(RUN_FAILED),
            github_delivery(RUN_PASSED),
            github_delivery(RUN_FAILED, **{"check_run.app.id": 1}),
        ),
        (
            "check_suite",
            github_delivery(SUITE, **{"check_suite.app.slug": "github-actions"}),
            github_delivery(SUITE),
            github_delivery(SUITE, **{"check_suite.app.id": 1}),
        ),
    ],
    ids=["check_run", "check_suite"],
)
def test_a_check_with_and_without_its_app_slug_has_one_fingerprint(
    kind: str,
    with_slug: dict[str, Any],
    without_slug: dict[str, Any],
    other_app: dict[str, Any],
) -> None:
    assert fingerprint(kind, with_slug) == fingerprint(kind, without_slug)
    assert fingerprint(kind, other_app) != fingerprint(kind, with_slug)


async def test_a_check_run_success_resolves_its_failure(tmp_path: Path) -> None:
    async with github_bench(tmp_path, CHECKS) as bench:
        failed = await bench.post("check_run", github_delivery(RUN_FAILED))
        assert headlines(failed) == ["🔴 *Check failed: Octocoders-linter on changes*"]
        fixed = await bench.post("check_run", github_delivery(RUN_PASSED))
        assert [e.status for e in fixed.outcomes[0].events] == ["resolved"]
