"""GitHub updates with no outcome yet (a run requested, a job or deployment in progress, a
pending commit status) share the fingerprint of the failure that follows: they are deduped
under a status of their own, so that failure is news, at once or at the group's next flush."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from github_outcome_bench import github_bench, github_delivery, headlines

from bridge.commands.explain import explain

RUN = "octokit-workflow_run.completed.success.json"
JOB = "octokit-workflow_job.completed.failure.with-organization.json"
DEPLOY = "zulip-deployment_status__failure.json"
STATUS = "octokit-status.success.json"


class Case(NamedTuple):
    """One GitHub event kind: an update with no outcome, a failure and a success, all of one
    fingerprint."""

    kind: str  # X-GitHub-Event
    update: dict[str, Any]
    failure: dict[str, Any]
    success: dict[str, Any]


CASES = [
    Case(
        "workflow_run",
        github_delivery(
            RUN,
            action="requested",
            **{"workflow_run.conclusion": None, "workflow_run.status": "queued"},
        ),
        github_delivery(RUN, **{"workflow_run.conclusion": "failure"}),
        github_delivery(RUN),
    ),
    Case(
        "workflow_job",
        github_delivery(
            JOB,
            action="in_progress",
            **{"workflow_job.conclusion": None, "workflow_job.status": "in_progress"},
        ),
        github_delivery(JOB),
        github_delivery(JOB, **{"workflow_job.conclusion": "success"}),
    ),
    Case(
        "deployment_status",
        github_delivery(DEPLOY, **{"deployment_status.state": "in_progress"}),
        github_delivery(DEPLOY),
        github_delivery(DEPLOY, **{"deployment_status.state": "success"}),
    ),
    Case(
        "status",
        github_delivery(STATUS, state="pending"),
        github_delivery(STATUS, state="failure"),
        github_delivery(STATUS),
    ),
]
IDS = ["workflow_run-requested", "workflow_job-in_progress", "deployment-in_progress", "pending"]
CI = """\
routes:
  - name: ci
    source: github
    to: [alice]
"""
GROUPED_CI = CI + "    group_by: [repository]\n    group_wait: 30s\n    group_interval: 5m\n"


@pytest.fixture(params=CASES, ids=IDS)
def case(request: pytest.FixtureRequest) -> Case:
    """Each test runs once per event kind."""
    chosen: Case = request.param
    return chosen


def icons(texts: list[str]) -> list[str]:
    return [text[0] for text in texts]


async def test_a_failure_after_an_update_without_outcome_is_sent_at_once(
    tmp_path: Path, case: Case
) -> None:
    async with github_bench(tmp_path, CI) as bench:
        assert icons(headlines(await bench.post(case.kind, case.update))) == ["🔔"]
        failed = await bench.post(
            case.kind, case.failure
        )  # ten minutes later: within dedupe_window
        assert icons(headlines(failed)) == ["🔴"]
        assert (
            headlines(await bench.post(case.kind, case.failure)) == []
        )  # a repeat is still deduped
        fixed = await bench.post(case.kind, case.success)
        assert [e.status for e in fixed.outcomes[0].events] == ["resolved"]


async def test_a_repeated_update_is_a_duplicate_and_a_success_after_it_is_sent(
    tmp_path: Path, case: Case
) -> None:
    async with github_bench(tmp_path, CI) as bench:
        assert icons(headlines(await bench.post(case.kind, case.update))) == ["🔔"]
        again = await bench.post(case.kind, case.update)
        assert headlines(again) == []
        assert again.outcomes[0].suppressed[0][1].reason == "duplicate"
        passed = await bench.post(
            case.kind, case.success
        )  # no failure before it: "passed", as before
        assert [e.status for e in passed.outcomes[0].events] == ["firing"]
        assert icons(headlines(passed)) == ["✅"]
        assert icons(headlines(await bench.post(case.kind, case.failure))) == ["🔴"]


async def test_a_rerun_update_after_a_failure_is_sent_within_the_dedupe_window(
    tmp_path: Path, case: Case
) -> None:
    async with github_bench(tmp_path, CI) as bench:
        assert icons(headlines(await bench.post(case.kind, case.failure))) == ["🔴"]
        rerun = await bench.post(case.kind, case.update)  # ten minutes later
        assert icons(headlines(rerun)) == ["🔔"]


async def test_a_grouped_failure_after_an_update_is_sent_at_the_next_flush(
    tmp_path: Path, case: Case
) -> None:
    async with github_bench(tmp_path, GROUPED_CI) as bench:
        await bench.post(case.kind, case.update)  # each post moves the clock past the group's wait
        assert icons(await bench.flush_due()) == ["🔔"]
        await bench.post(case.kind, case.update)
        assert await bench.flush_due() == []  # the same update again is not news
        await bench.post(case.kind, case.failure)
        assert icons(await bench.flush_due()) == ["🔴"]  # news, not a repeat_interval away
        await bench.post(case.kind, case.update)  # a re-run starts: the failure stays open
        assert icons(await bench.flush_due()) == ["🔔"]
        await bench.post(case.kind, case.success)
        assert icons(await bench.flush_due()) == ["✅"]  # resolves the failure told before
        assert await bench.groups() == 0


async def test_a_grouped_success_after_only_an_update_is_sent(tmp_path: Path, case: Case) -> None:
    async with github_bench(tmp_path, GROUPED_CI) as bench:
        await bench.post(case.kind, case.update)
        assert icons(await bench.flush_due()) == ["🔔"]
        await bench.post(case.kind, case.success)
        assert icons(await bench.flush_due()) == ["✅"]


async def test_an_update_a_group_told_is_not_told_again_when_the_route_loses_group_by(
    tmp_path: Path, case: Case
) -> None:
    async with github_bench(tmp_path, GROUPED_CI) as bench:
        await bench.post(case.kind, case.update)
        assert icons(await bench.flush_due()) == ["🔔"]
        assert await bench.reload(CI) == []  # the group dissolves: alice heard it already
        assert headlines(await bench.post(case.kind, case.update)) == []
        assert icons(headlines(await bench.post(case.kind, case.failure))) == ["🔴"]


async def test_explain_agrees_that_a_grouped_update_told_is_deduped(
    tmp_path: Path, case: Case
) -> None:
    async with github_bench(tmp_path, GROUPED_CI) as bench:

        async def verdict(payload: dict[str, Any]) -> dict[str, Any]:
            body = json.dumps(payload).encode()
            now = bench.clock[0]
            report = await explain(
                bench.runtime, bench.store, "github", body, github_event=case.kind, now=now
            )
            return dict(report["routes"][0]["verdicts"][0])

        await bench.post(case.kind, case.update)
        assert icons(await bench.flush_due()) == ["🔔"]
        told = await verdict(case.update)
        assert told["verdict"] == "deduped"
        # Told once, it leaves the group at the next flush: it will not be repeated.
        assert "repeat_at" not in told and told["leaves_group_at"] is not None
        assert (await verdict(case.failure))["verdict"] == "grouped"
        await bench.post(case.kind, case.failure)
        assert icons(await bench.flush_due()) == ["🔴"]
        failing = await verdict(case.failure)
        assert failing["verdict"] == "deduped" and failing["repeat_at"] is not None
