"""A message in the logs leads back to the webhook and the alerts it came from: the webhook's
access line names the notifications it queued; sent or dead lines give each one's route,
recipient name and alerts' fingerprints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from blueticks_standin_faults import Fault
from conftest import (
    ALICE_PHONE,
    BOB_PHONE,
    BridgeHarness,
    StartBridge,
    am_headers,
    outbox_state_count,
    wait_until,
)

from bridge.logs import LOGGED_FINGERPRINTS


class LogLines:
    """The JSON log lines written so far (capsys hands each line out once: kept here)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._lines: list[dict[str, Any]] = []

    def named(self, event: str) -> list[dict[str, Any]]:
        err = self._capsys.readouterr().err
        self._lines += [json.loads(line) for line in err.splitlines() if line.startswith("{")]
        return [line for line in self._lines if line["event"] == event]


async def post_traced(h: BridgeHarness, alerts: int, request_id: str) -> None:
    body = am_webhook(*(am_alert(f"db-{i}") for i in range(alerts)))
    headers = {**am_headers(), "X-Request-Id": request_id}
    reply = await h.post("/webhook/alertmanager", body, headers)
    assert reply.status == 202 and reply.body["notifications"] == 2, reply.body


@pytest.mark.parametrize("alerts", [2, LOGGED_FINGERPRINTS + 5], ids=["two", "more-than-logged"])
async def test_a_sent_message_traces_back_to_its_webhook_and_alerts(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str], alerts: int
) -> None:
    h = await start_bridge()
    logs = LogLines(json_logs)
    await post_traced(h, alerts, "trace-me-1")

    async def both_sent() -> bool:
        return len(logs.named("notification.sent")) == 2

    await wait_until(both_sent, what="both notifications logged as sent")
    fingerprints = [f"fp-db-{i}" for i in range(min(alerts, LOGGED_FINGERPRINTS))]
    queued = queued_by(logs, "trace-me-1")
    sent = {line["notification"]: line for line in logs.named("notification.sent")}
    assert sent.keys() == queued and len(queued) == 2
    assert sorted(line["recipient"] for line in sent.values()) == ["alice", "bob"]
    for line in sent.values():
        assert (line["route"], line["fingerprints"], line["alerts"]) == (
            "alerts",
            fingerprints,
            alerts,
        )
        assert ALICE_PHONE not in json.dumps(line) and BOB_PHONE not in json.dumps(line)


def queued_by(logs: LogLines, request_id: str) -> set[str]:
    """The notifications the webhook's access line says it queued."""
    [access] = [line for line in logs.named("http.request") if line["request_id"] == request_id]
    return set(access["notifications"])


async def test_a_dead_letter_names_its_alerts(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str]
) -> None:
    h = await start_bridge(api="v1")
    h.standin.state.faults.push(Fault.error(400).on(method="POST"), times=5)
    logs = LogLines(json_logs)
    await post_traced(h, 2, "trace-me-2")

    async def both_dead() -> bool:
        return await outbox_state_count(h, "dead") == 2

    await wait_until(both_dead, what="both notifications dead-lettered")
    queued = queued_by(logs, "trace-me-2")
    dead = logs.named("notification.dead")
    assert {line["notification"] for line in dead} == queued and len(queued) == 2
    assert all(line["fingerprints"] == ["fp-db-0", "fp-db-1"] for line in dead)
