"""GitHub outcomes through the real pipeline and the recorded GitHub deliveries: a failure is
always news after a success, repeats are deduped, a success after a failure is "resolved"."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import fixture_bytes, write_config

from bridge.commands.explain import explain
from bridge.metrics import Metrics
from bridge.pipeline.event_record import event_from_record, event_to_record
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.ingest import IngestResult, Pipeline
from bridge.pipeline.locks import KeyedLocks
from bridge.routes_test import parse_payload
from bridge.runtime import Runtime, load_runtime
from bridge.store import SqliteStore

CI = """\
routes:
  - name: ci
    source: github
    to: [alice]
"""
FAILED = fixture_bytes("github", "octokit-workflow_job.completed.failure.with-organization.json")
PASSED = fixture_bytes("github", "octokit-workflow_job.completed.success.with-organization.json")
MINUTES = 60.0


@dataclass
class GitHubPipeline:
    runtime: Runtime
    store: SqliteStore
    pipeline: Pipeline
    clock: list[float]

    async def post(self, body: bytes, kind: str = "workflow_job") -> IngestResult:
        webhook = parse_payload(self.runtime, "github", body, kind)
        result = await self.pipeline.ingest(webhook, self.runtime.routes, self.runtime.renderer)
        self.clock[0] += 10 * MINUTES
        return result


def sent(result: IngestResult) -> list[str]:
    """The first line of each message sent to alice."""
    return [n.text.splitlines()[0] for n in result.notifications]


@pytest.fixture
async def github(tmp_path: Path) -> AsyncIterator[GitHubPipeline]:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", CI)))
    store = SqliteStore(str(tmp_path / "outcomes.db"))
    await store.open()
    clock = [1_000_000.0]
    try:
        yield GitHubPipeline(
            runtime, store, Pipeline(store, Metrics(), clock=lambda: clock[0]), clock
        )
    finally:
        await store.close()


async def test_a_failure_after_a_success_is_sent_and_repeats_are_deduped(
    github: GitHubPipeline,
) -> None:
    first = await github.post(PASSED)
    assert sent(first) == ["✅ *CI passed: CodeQL / linters on main*"]
    assert (await github.post(PASSED)).outcomes[0].suppressed[0][1].reason == "duplicate"

    failed = await github.post(FAILED)  # ten minutes later, the same job fails
    assert sent(failed) == ["🔴 *CI failed: CodeQL / linters on main*"]
    again = await github.post(FAILED)
    assert sent(again) == [] and again.outcomes[0].suppressed[0][1].reason == "duplicate"

    fixed = await github.post(PASSED)
    assert [e.status for e in fixed.outcomes[0].events] == ["resolved"]
    assert sent(fixed) == ["✅ *CI passed: CodeQL / linters on main*"]
    assert sent(await github.post(PASSED)) == []  # already told it passes


async def test_a_dependabot_alert_reopened_after_it_was_dismissed_is_sent(
    github: GitHubPipeline,
) -> None:
    alert = json.loads(fixture_bytes("github", "octokit-dependabot_alert.fixed.json"))
    dismissed = json.dumps({**alert, "action": "dismissed"}).encode()
    reopened = json.dumps({**alert, "action": "reopened"}).encode()

    assert len(sent(await github.post(dismissed, "dependabot_alert"))) == 1
    back = await github.post(reopened, "dependabot_alert")
    assert [e.outcome for e in back.outcomes[0].events] == ["failure"]
    assert len(sent(back)) == 1
    assert sent(await github.post(reopened, "dependabot_alert")) == []


async def test_explain_runs_the_outcome_step_without_changing_the_store(
    github: GitHubPipeline,
) -> None:
    await github.post(FAILED)
    now = github.clock[0]
    report = await explain(
        github.runtime, github.store, "github", PASSED, github_event="workflow_job", now=now
    )
    verdict = report["routes"][0]["verdicts"][0]
    assert (verdict["status"], verdict["verdict"]) == ("resolved", "sent")
    # The open failure explain read is still there: the real success resolves it.
    fixed = await github.post(PASSED)
    assert [e.status for e in fixed.outcomes[0].events] == ["resolved"]


def test_a_stored_event_keeps_its_github_outcome(tmp_path: Path) -> None:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", CI)))
    event = parse_payload(runtime, "github", FAILED, "workflow_job").events[0]
    record = event_to_record(event)
    assert event_from_record(record).outcome == "failure"
    record.pop("outcome")  # a record written before outcomes were kept
    assert event_from_record(record).outcome is None


async def test_a_grouped_ci_failure_keeps_its_failure_icon(tmp_path: Path) -> None:
    routes = CI + "    group_by: [repository]\n    group_wait: 30s\n"
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", routes)))
    store = SqliteStore(str(tmp_path / "grouped.db"))
    await store.open()
    clock = [1_000_000.0]
    locks = KeyedLocks()
    pipeline = Pipeline(store, Metrics(), locks, clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
    try:
        webhook = parse_payload(runtime, "github", FAILED, "workflow_job")
        await pipeline.ingest(webhook, runtime.routes, runtime.renderer)
        clock[0] += MINUTES
        [(key, _)] = await store.list_records("group", clock[0])
        [message] = await flusher.flush(key)
        assert message.text.startswith("🔴 *CI failed: CodeQL / linters on main*")
    finally:
        await store.close()


RUN_PASSED = fixture_bytes("github", "octokit-workflow_run.completed.success.json")
_run = json.loads(RUN_PASSED)
RUN_FAILED = json.dumps(
    {**_run, "workflow_run": {**_run["workflow_run"], "conclusion": "failure"}}
).encode()
GROUPED_CI = CI + "    group_by: [repository]\n    group_wait: 30s\n    group_interval: 5m\n"


@pytest.mark.parametrize(
    ("kind", "passed", "failed"),
    [("workflow_job", PASSED, FAILED), ("workflow_run", RUN_PASSED, RUN_FAILED)],
    ids=["workflow_job", "workflow_run"],
)
async def test_a_grouped_failure_after_a_success_is_sent_at_the_next_flush(
    tmp_path: Path, kind: str, passed: bytes, failed: bytes
) -> None:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", GROUPED_CI)))
    store = SqliteStore(str(tmp_path / "grouped.db"))
    await store.open()
    clock = [1_000_000.0]
    locks = KeyedLocks()
    pipeline = Pipeline(store, Metrics(), locks, clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])

    async def explained(body: bytes) -> str:
        report = await explain(runtime, store, "github", body, github_event=kind, now=clock[0])
        return str(report["routes"][0]["verdicts"][0]["verdict"])

    async def post_then_flush(body: bytes) -> list[str]:
        """Post one delivery, then flush its group once it is due (ten minutes later)."""
        webhook = parse_payload(runtime, "github", body, kind)
        await pipeline.ingest(webhook, runtime.routes, runtime.renderer)
        clock[0] += 10 * MINUTES
        messages = []
        for key, _ in await store.list_records("group", clock[0]):
            messages += await flusher.flush(key)
        return [n.text.splitlines()[0].split(":")[0] for n in messages]

    try:
        assert await post_then_flush(passed) == ["✅ *CI passed"]
        assert await explained(passed) == "deduped"  # explain agrees with what happens next
        assert await post_then_flush(passed) == []  # already told it passes
        assert await explained(failed) == "grouped"
        assert await post_then_flush(failed) == ["🔴 *CI failed"]  # news, not a 4h repeat
        assert await explained(failed) == "deduped"
        assert await post_then_flush(failed) == []  # a repeated failure is not news
        clock[0] += 4 * 60 * MINUTES  # until repeat_interval (4h) has passed
        assert await post_then_flush(failed) == ["🔴 *CI failed"]  # the reminder
        assert await post_then_flush(passed) == ["✅ *CI passed"]  # resolves the failure
        assert await store.list_records("group", clock[0]) == []
    finally:
        await store.close()


async def test_group_by_everything_keeps_a_ci_failure_and_its_fix_in_one_group(
    tmp_path: Path,
) -> None:
    """A GitHub alert's labels change over its life (conclusion, state), its fingerprint does
    not: with `...` the fix must end the failure's group, not open its own."""
    routes = CI + '    group_by: ["..."]\n    group_wait: 30s\n    repeat_interval: 4h\n'
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", routes)))
    store = SqliteStore(str(tmp_path / "grouped.db"))
    await store.open()
    clock = [1_000_000.0]
    pipeline = Pipeline(store, Metrics(), clock=lambda: clock[0])
    flusher = GroupFlusher(pipeline, lambda: runtime, clock=lambda: clock[0])
    headlines: list[str] = []
    try:
        for body in (FAILED, PASSED):
            webhook = parse_payload(runtime, "github", body, "workflow_job")
            await pipeline.ingest(webhook, runtime.routes, runtime.renderer)
            clock[0] += 10 * MINUTES
            for key, _ in await store.list_records("group", clock[0]):
                headlines += [n.text.split(":")[0] for n in await flusher.flush(key)]
        clock[0] += 9 * 60 * MINUTES
        for key, _ in await store.list_records("group", clock[0]):
            headlines += [n.text.split(":")[0] for n in await flusher.flush(key)]

        assert headlines == ["🔴 *CI failed", "✅ *CI passed"]  # and no FIRING every 4 hours
        assert await store.list_records("group", clock[0]) == []
    finally:
        await store.close()
