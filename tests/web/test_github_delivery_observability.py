"""GitHub deliveries in the metrics and logs: a redelivery is logged with its id and counted once
(as a duplicate webhook), and the event label takes only GitHub's event names."""

from __future__ import annotations

import json

import pytest
from conftest import StartBridge, fixture_bytes, github_headers

from bridge.metrics import GITHUB_EVENT_NAMES, github_event_label
from bridge.sources.github import NORMALISERS

FAILED_JOB = ("github", "octokit-workflow_job.completed.failure.with-organization.json")


async def test_a_redelivery_is_logged_with_its_id_and_counted_once(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str]
) -> None:
    h = await start_bridge()
    body = fixture_bytes(*FAILED_JOB)
    for _ in range(2):
        reply = await h.post("/webhook/github", body, github_headers("workflow_job", body, "g-1"))
        assert reply.status == 202
    assert reply.body["status"] == "duplicate"

    sample = h.bridge.metrics.registry.get_sample_value
    webhooks = {"source": "github", "outcome": "duplicate"}
    assert sample("alertbridge_webhooks_received_total", webhooks) == 1
    suppressed = {"route": "", "reason": "github_redelivery"}
    assert sample("alertbridge_dedupe_suppressed_total", suppressed) is None  # not twice
    lines = [json.loads(x) for x in json_logs.readouterr().err.splitlines() if x.startswith("{")]
    [redelivery] = [line for line in lines if line["event"] == "github.redelivery"]
    assert redelivery["delivery"] == "7:g-1" and redelivery["kind"] == "workflow_job"
    assert redelivery["request_id"]


HEADERS = [
    ("workflow_job", "workflow_job", "handled"),
    ("fork", "fork", "not-handled-but-github's"),
    ("x-made-up-by-anyone-4711", "other", "made-up"),
]


@pytest.mark.parametrize(("header", "label"), [c[:2] for c in HEADERS], ids=[c[2] for c in HEADERS])
async def test_github_events_are_labelled_by_known_event_names(
    start_bridge: StartBridge, header: str, label: str
) -> None:
    h = await start_bridge()
    body = fixture_bytes(*FAILED_JOB)  # the signature covers the body, not the event header
    reply = await h.post("/webhook/github", body, github_headers(header, body, f"g-{header}"))
    assert reply.status == 202
    sample = h.bridge.metrics.registry.get_sample_value
    assert sample("alertbridge_github_events_total", {"event": label}) == 1
    if label == "other":
        assert sample("alertbridge_github_events_total", {"event": header}) is None


def test_every_event_the_github_source_handles_has_its_own_label() -> None:
    assert set(NORMALISERS) | {"ping"} <= GITHUB_EVENT_NAMES
    assert {github_event_label(name) for name in NORMALISERS} == set(NORMALISERS)
