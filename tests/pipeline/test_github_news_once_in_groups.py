"""GitHub alerts that are not failures ("CI passed", "CI queued", an issue or pull request
opened, a release) on routes with group_by: told once, then gone from their group, never
repeated at repeat_interval; a failure, and a re-run's update that holds it open, repeat until
the fix resolves them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from github_outcome_bench import MINUTES, GitHubBench, github_bench, github_delivery

from bridge.pipeline.grouping import GROUP_KIND, group_from_record

REPO = "Codertocat/Hello-World"  # the repository of the issue, pull request and release
RUN = "octokit-workflow_run.completed.success.json"
ROUTE = """\
routes:
  - name: gh
    source: github
    to: [alice, bob]
    group_wait: 30s
    group_interval: 5m
    repeat_interval: 20m
    group_by: {group_by}
"""
GROUP_BY = ["[repository]", '["..."]']
GROUP_BY_IDS = ["by-repository", "every-alert-its-own"]


def issue(number: int) -> dict[str, Any]:
    return github_delivery("octokit-issues.opened.json", **{"issue.number": number})


def run(
    branch: str, conclusion: str | None = "success", action: str = "completed"
) -> dict[str, Any]:
    """A workflow run of REPO on `branch`; no conclusion: queued."""
    changes: dict[str, Any] = {
        "action": action,
        "repository.full_name": REPO,
        "workflow_run.head_branch": branch,
        "workflow_run.conclusion": conclusion,
    }
    if conclusion is None:
        changes["workflow_run.status"] = "queued"
    return github_delivery(RUN, **changes)


ACTIVITY: list[tuple[str, dict[str, Any]]] = [
    ("issues", issue(1)),
    ("issues", issue(7)),
    ("pull_request", github_delivery("octokit-pull_request.opened.json")),
    ("release", github_delivery("octokit-release.published.json")),
    ("workflow_run", run("main")),  # "CI passed": a success that ended no failure
    ("workflow_run", run("dev")),
]


async def flush_for(bench: GitHubBench, minutes: float) -> list[str]:
    """Every message of the group flushes due in the next `minutes`, a minute at a time."""
    texts: list[str] = []
    end = bench.clock[0] + minutes * MINUTES
    while bench.clock[0] < end:
        bench.clock[0] += MINUTES
        texts += await bench.flush_due()
    return texts


async def alerts_kept(bench: GitHubBench) -> list[str]:
    """The titles of the alerts the route's group records still hold."""
    records = await bench.store.list_records(GROUP_KIND, bench.clock[0])
    return sorted(
        alert.event.title for _, doc in records for alert in group_from_record(doc).alerts.values()
    )


@pytest.mark.parametrize("group_by", GROUP_BY, ids=GROUP_BY_IDS)
async def test_activity_and_passes_are_told_once_and_leave_their_group(
    tmp_path: Path, group_by: str
) -> None:
    async with github_bench(tmp_path, ROUTE.format(group_by=group_by)) as bench:
        for kind, payload in ACTIVITY:
            await bench.post(kind, payload)
        first = await flush_for(bench, 1)
        groups = 1 if group_by == "[repository]" else len(ACTIVITY)
        assert len(first) == 2 * groups  # each group's one message, to alice and to bob
        assert await flush_for(bench, 3 * 20) == []  # three repeat_intervals: no repeat
        assert await bench.groups() == 0
        await bench.post(*ACTIVITY[0])
        assert len(await flush_for(bench, 1)) == 2  # the same issue again: news again


@pytest.mark.parametrize("group_by", GROUP_BY, ids=GROUP_BY_IDS)
async def test_a_failure_keeps_repeating_without_the_activity_told_with_it(
    tmp_path: Path, group_by: str
) -> None:
    async with github_bench(tmp_path, ROUTE.format(group_by=group_by)) as bench:
        await bench.post("workflow_run", run("main", "failure"))
        await bench.post("issues", issue(1))
        assert len(await flush_for(bench, 1)) == 2 * (1 if group_by == "[repository]" else 2)
        repeats = await flush_for(bench, 20)
        assert [text[0] for text in repeats] == ["🔴", "🔴"]  # the failure alone, to each
        assert await alerts_kept(bench) == ["CI failed: test on main"]
        await bench.post("workflow_run", run("main"))
        assert [text[0] for text in await flush_for(bench, 5)] == ["✅", "✅"]
        assert await bench.groups() == 0


@pytest.mark.parametrize("group_by", GROUP_BY, ids=GROUP_BY_IDS)
async def test_a_re_run_queued_after_a_failure_stays_until_its_fix_is_told(
    tmp_path: Path, group_by: str
) -> None:
    async with github_bench(tmp_path, ROUTE.format(group_by=group_by)) as bench:
        await bench.post("workflow_run", run("main", "failure"))
        assert [text[0] for text in await flush_for(bench, 1)] == ["🔴", "🔴"]
        await bench.post("workflow_run", run("main", None, "requested"))
        assert [text[0] for text in await flush_for(bench, 5)] == ["🔔", "🔔"]
        # Flushes and a repeat_interval later the re-run still holds the failure open.
        assert [text[0] for text in await flush_for(bench, 20)] == ["🔔", "🔔"]
        assert await alerts_kept(bench) == ["CI queued: test on main"]
        await bench.post("workflow_run", run("main"))
        assert [text[0] for text in await flush_for(bench, 5)] == ["✅", "✅"]
        assert await bench.groups() == 0


async def test_a_re_run_queued_in_a_group_stored_before_the_upgrade_still_gets_its_fix(
    tmp_path: Path,
) -> None:
    """The same as above with the record written by the release before `failure_open`."""
    async with github_bench(tmp_path, ROUTE.format(group_by="[repository]")) as bench:
        await bench.post("workflow_run", run("main", "failure"))
        assert [text[0] for text in await flush_for(bench, 1)] == ["🔴", "🔴"]
        await bench.post("workflow_run", run("main", None, "requested"))
        assert [text[0] for text in await flush_for(bench, 5)] == ["🔔", "🔔"]
        [(key, doc)] = await bench.store.list_records(GROUP_KIND, bench.clock[0])
        for alert in doc["alerts"].values():
            del alert["failure_open"]
        await bench.store.put_record(GROUP_KIND, key, doc)
        await flush_for(bench, 20)
        assert await alerts_kept(bench) == ["CI queued: test on main"]
        await bench.post("workflow_run", run("main"))
        assert [text[0] for text in await flush_for(bench, 5)] == ["✅", "✅"]


@pytest.mark.parametrize("group_by", GROUP_BY, ids=GROUP_BY_IDS)
async def test_a_failure_after_a_pass_that_left_its_group_is_news(
    tmp_path: Path, group_by: str
) -> None:
    async with github_bench(tmp_path, ROUTE.format(group_by=group_by)) as bench:
        await bench.post("workflow_run", run("main"))
        assert [text[0] for text in await flush_for(bench, 1)] == ["✅", "✅"]
        assert await flush_for(bench, 20) == [] and await bench.groups() == 0
        await bench.post("workflow_run", run("main", "failure"))
        assert [text[0] for text in await flush_for(bench, 1)] == ["🔴", "🔴"]


@pytest.mark.parametrize(
    ("kind", "payload", "told_as", "open_"),
    [
        ("workflow_run", run("main", "failure"), None, True),
        ("workflow_run", run("main", None, "requested"), "firing", True),
        # What real flushes write after a failure and its re-run's "queued": told as queued.
        ("workflow_run", run("main", None, "requested"), "no_outcome", True),
        ("workflow_run", run("main", None, "requested"), None, False),
        ("issues", issue(1), None, False),
        ("issues", issue(1), "no_outcome", False),
    ],
    ids=[
        "failure",
        "re-run-after-a-told-failure",
        "re-run-told-as-queued",
        "queued",
        "issue-opened",
        "issue-told",
    ],
)
async def test_a_group_stored_before_failures_were_kept_open_reads_them_from_what_was_told(
    tmp_path: Path, kind: str, payload: dict[str, Any], told_as: str | None, open_: bool
) -> None:
    async with github_bench(tmp_path, ROUTE.format(group_by="[repository]")) as bench:
        await bench.post(kind, payload)
        [(_, doc)] = await bench.store.list_records(GROUP_KIND, bench.clock[0])
        [(fp, alert)] = doc["alerts"].items()
        del alert["failure_open"]  # as written before the field was kept
        told: dict[str, Any] = {"firing": [], "resolved": [], "at": bench.clock[0]}
        if told_as is not None:
            told[told_as] = [fp]
        doc["notified"] = {"alice": told}
        assert group_from_record(doc).alerts[fp].failure_open is open_
