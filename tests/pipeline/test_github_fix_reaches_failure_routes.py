"""A GitHub fix is "resolved" with the labels its failure fired with (as Alertmanager resolves
an alert), so the routes that filter on conclusion or state, like the shipped
`ci-failures-main`, hear that CI was fixed, and their groups end instead of repeating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import ALICE_PHONE, BOB_PHONE
from github_outcome_bench import HOURS, github_bench, github_delivery, headlines

from bridge.pipeline.outcomes import OPEN_FAILURE_KIND
from bridge.pipeline.staged_writes import StagedWrites

SHIPPED_RULES = Path(__file__).parents[2] / "rules" / "github.yaml"
SHIPPED = f"rule_files: ['{SHIPPED_RULES}']\n"
RECIPIENTS = f"""\
recipients:
  alice: "{ALICE_PHONE}"
  bob: "{BOB_PHONE}"
  sre: [alice]
  platform: [bob]
"""
# ci-failures-main's matchers, on a route that groups and repeats.
GROUPED_CI_FAILURES = """\
routes:
  - name: ci-failures-grouped
    source: github
    matchers:
      - 'event="workflow_run"'
      - 'conclusion=~"failure|timed_out|startup_failure"'
      - 'branch=~"main|master"'
    to: [alice]
    group_by: [repository]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 4h
"""
RUN = "octokit-workflow_run.completed.success.json"
RUN_FAILED = github_delivery(RUN, **{"workflow_run.conclusion": "failure"})
RUN_FIXED = github_delivery(RUN)


async def test_the_shipped_ci_failures_route_hears_that_ci_was_fixed(tmp_path: Path) -> None:
    async with github_bench(tmp_path, SHIPPED + RECIPIENTS) as bench:
        failed = await bench.post("workflow_run", RUN_FAILED)
        assert [o.route for o in failed.outcomes] == ["ci-failures-main"]
        assert headlines(failed) == ["🔴 *CI failed: test on master*"]

        fixed = await bench.post("workflow_run", RUN_FIXED)
        assert fixed.unrouted == 0
        [event] = fixed.outcomes[0].events
        assert (event.status, event.labels["conclusion"]) == ("resolved", "failure")
        assert event.url == RUN_FIXED["workflow_run"]["html_url"]  # the fix's own run
        assert headlines(fixed) == ["✅ *CI passed: test on master*"]


async def test_a_grouped_failure_ends_with_its_fix_instead_of_repeating(tmp_path: Path) -> None:
    async with github_bench(tmp_path, GROUPED_CI_FAILURES) as bench:
        await bench.post("workflow_run", RUN_FAILED)
        assert await bench.flush_due() == ["🔴 *CI failed: test on master*"]
        await bench.post("workflow_run", RUN_FIXED)
        assert await bench.flush_due() == ["✅ *CI passed: test on master*"]
        assert await bench.groups() == 0
        bench.clock[0] += 5 * HOURS  # past repeat_interval: nothing left to repeat
        assert await bench.flush_due() == []


async def test_a_fix_of_a_failure_recorded_without_labels_keeps_its_own(tmp_path: Path) -> None:
    """An open failure remembered before its labels were: the fix routes as it did then."""
    async with github_bench(tmp_path, SHIPPED + RECIPIENTS) as bench:
        failed = await bench.post("workflow_run", RUN_FAILED)
        fingerprint = failed.outcomes[0].events[0].fingerprint
        older = StagedWrites()
        older.put_record(OPEN_FAILURE_KIND, fingerprint, {"at": bench.clock[0]}, None)
        await older.commit(bench.store)

        fixed = await bench.post("workflow_run", RUN_FIXED)
        assert fixed.unrouted == 1  # resolved, but conclusion=success: no route takes it
        assert await bench.store.get_record(OPEN_FAILURE_KIND, fingerprint, bench.clock[0]) is None


async def test_a_fix_counts_as_a_resolved_event(tmp_path: Path) -> None:
    async with github_bench(tmp_path, SHIPPED + RECIPIENTS) as bench:
        await bench.post("workflow_run", RUN_FAILED)
        await bench.post("workflow_run", RUN_FIXED)
        events = bench.metrics.events
        assert events.labels("github", "firing")._value.get() == 1
        assert events.labels("github", "resolved")._value.get() == 1


SUITE = "octokit-check_suite.completed.json"
JOB = "octokit-workflow_job.completed.failure.with-organization.json"
ACTIONS_FAILURE_ON_MAIN: list[tuple[str, dict[str, Any]]] = [
    (
        "workflow_run",
        github_delivery(
            RUN, **{"workflow_run.conclusion": "failure", "workflow_run.head_branch": "main"}
        ),
    ),
    (
        "check_suite",
        github_delivery(
            SUITE, **{"check_suite.conclusion": "failure", "check_suite.head_branch": "main"}
        ),
    ),
    ("workflow_job", github_delivery(JOB)),  # on main
]


async def test_one_actions_failure_on_main_is_one_message_from_the_shipped_rules(
    tmp_path: Path,
) -> None:
    """An Actions run that fails is a workflow_run, a check_suite and a workflow_job each; the
    shipped route matches branches on workflow_run alone, the only one that says whether the
    code came from a fork."""
    async with github_bench(tmp_path, SHIPPED + RECIPIENTS) as bench:
        sent = [headlines(await bench.post(kind, p)) for kind, p in ACTIONS_FAILURE_ON_MAIN]
        assert sent == [["🔴 *CI failed: test on main*"], [], []]


async def test_a_fix_says_who_fixed_it_not_who_broke_it(tmp_path: Path) -> None:
    """The fix routes with the failure's labels (its `sender` among them); the message still
    names the fix's own sender."""
    async with github_bench(tmp_path, SHIPPED + RECIPIENTS) as bench:
        await bench.post("workflow_run", {**RUN_FAILED, "sender": {"login": "breaker"}})
        fixed = await bench.post("workflow_run", {**RUN_FIXED, "sender": {"login": "fixer"}})
        [text] = [n.text for n in fixed.notifications]
        assert "by fixer" in text
        assert "breaker" not in text
