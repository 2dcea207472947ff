"""A check failure recorded before the upgrade to app-id fingerprints (6c9e16b: they were by
app slug) still ends with the fix that arrives after it: its open-failure record, its dedupe
entries and, on a grouped route, its group alert, all kept under the old fingerprint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from github_outcome_bench import HOURS, GitHubBench, github_bench, github_delivery, headlines

from bridge.pipeline.ingest import IngestResult
from bridge.pipeline.outcomes import OPEN_FAILURE_KIND
from bridge.pipeline.staged_writes import StagedWrites
from bridge.routes_test import parse_payload
from bridge.sources.github_delivery import github_fingerprint

CHECK = "octokit-check_run.completed.failure.json"
SUITE = "octokit-check_suite.completed.json"
SLUG = "github-actions"
ROUTES = """\
routes:
  - name: checks
    source: github
    to: [alice]
"""
GROUPED = """\
routes:
  - name: checks-grouped
    source: github
    to: [alice]
    group_by: [repository]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
"""

# (kind, failure, its fix): the fix says what the failure said about its app (the old code
# paired them only then), with the slug or, like the recorded check_suite, without one.
CHECKS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "check_run",
        github_delivery(CHECK),
        github_delivery(
            CHECK, **{"check_run.conclusion": "success", "check_run.output.title": "all good"}
        ),
    ),
    (
        "check_suite",
        github_delivery(
            SUITE, **{"check_suite.conclusion": "failure", "check_suite.app.slug": SLUG}
        ),
        github_delivery(SUITE, **{"check_suite.app.slug": SLUG}),
    ),
    (
        "check_suite",
        github_delivery(SUITE, **{"check_suite.conclusion": "failure"}),
        github_delivery(SUITE),
    ),
]
IDS = ["check_run", "check_suite", "check_suite-without-slug"]


def fingerprint_before_upgrade(kind: str, payload: dict[str, Any]) -> str:
    """What the code before 6c9e16b computed: the app's slug where the id is now."""
    check = payload[kind]
    slug = (check.get("app") or {}).get("slug") or ""
    repository = payload["repository"]["full_name"]
    if kind == "check_run":
        branch = check["check_suite"]["head_branch"]
        return github_fingerprint(kind, repository, slug, check["name"], branch)
    return github_fingerprint(kind, repository, slug, check["head_branch"])


async def post_before_upgrade(bench: GitHubBench, kind: str, payload: dict[str, Any]) -> str:
    """Ingest a failure as the code before the upgrade did: under its old fingerprint, and its
    open-failure record without labels (they were kept from 6c9e16b on). The fingerprint."""
    webhook = parse_payload(bench.runtime, "github", json.dumps(payload).encode(), kind)
    [event] = webhook.events
    event.fingerprint = fingerprint_before_upgrade(kind, payload)
    result: IngestResult = await bench.pipeline.ingest(
        webhook, bench.runtime.routes, bench.runtime.renderer, bench.runtime.time_intervals
    )
    assert [e.status for o in result.outcomes for e in o.events + o.grouped] == ["firing"]
    older = StagedWrites()
    older.put_record(OPEN_FAILURE_KIND, event.fingerprint, {"at": bench.clock[0]}, None)
    await older.commit(bench.store)
    bench.clock[0] += 10 * 60
    return event.fingerprint


@pytest.mark.parametrize(("kind", "failure", "fix"), CHECKS, ids=IDS)
async def test_a_fix_after_the_upgrade_resolves_a_failure_recorded_before_it(
    tmp_path: Path, kind: str, failure: dict[str, Any], fix: dict[str, Any]
) -> None:
    async with github_bench(tmp_path, ROUTES) as bench:
        old = await post_before_upgrade(bench, kind, failure)
        fixed = await bench.post(kind, fix)
        [event] = fixed.outcomes[0].events
        assert (event.status, event.fingerprint) == ("resolved", old)
        assert len(headlines(fixed)) == 1
        assert await bench.store.get_record(OPEN_FAILURE_KIND, old, bench.clock[0]) is None


@pytest.mark.parametrize(("kind", "failure", "fix"), CHECKS, ids=IDS)
async def test_a_grouped_failure_from_before_the_upgrade_ends_with_its_fix(
    tmp_path: Path, kind: str, failure: dict[str, Any], fix: dict[str, Any]
) -> None:
    async with github_bench(tmp_path, GROUPED) as bench:
        await post_before_upgrade(bench, kind, failure)
        [failed] = await bench.flush_due()
        assert failed.startswith("🔴")
        await bench.post(kind, fix)
        [fixed] = await bench.flush_due()
        assert fixed.startswith("✅")
        assert await bench.groups() == 0
        bench.clock[0] += 5 * HOURS  # past repeat_interval: nothing left to repeat
        assert await bench.flush_due() == []


async def test_a_failure_again_after_the_upgrade_stays_the_same_alert(tmp_path: Path) -> None:
    """Failed before the upgrade and again after it: one alert in the group, which the fix
    ends (under today's fingerprint the old one would repeat until the group expired)."""
    kind, failure, fix = CHECKS[0]
    async with github_bench(tmp_path, GROUPED) as bench:
        old = await post_before_upgrade(bench, kind, failure)
        assert len(await bench.flush_due()) == 1
        again = await bench.post(kind, failure)
        assert [e.fingerprint for e in again.outcomes[0].grouped] == [old]
        await bench.post(kind, fix)
        [fixed] = await bench.flush_due()
        assert fixed.startswith("✅")
        assert await bench.groups() == 0
