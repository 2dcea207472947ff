"""An event no route takes is logged, so grepping the logs for an alert finds where it ended."""

from __future__ import annotations

import json

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import StartBridge, am_headers

from bridge.logs import LOGGED_FINGERPRINTS

DISKS_ONLY = """\
routes:
  - name: disks
    source: alertmanager
    matchers: ['alertname="Disk"']
    to: [alice]
"""
LONG_NAME = "Memory" + "x" * 500


async def test_an_unrouted_event_is_logged_with_its_fingerprint_and_name(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str]
) -> None:
    h = await start_bridge(DISKS_ONLY)
    body = am_webhook(am_alert("db-1"), am_alert("db-2", alertname=LONG_NAME))
    headers = {**am_headers(), "X-Request-Id": "unrouted-1"}
    reply = await h.post("/webhook/alertmanager", body, headers)
    assert reply.status == 202 and reply.body["notifications"] == 1

    lines = [json.loads(x) for x in json_logs.readouterr().err.splitlines() if x.startswith("{")]
    [unrouted] = [line for line in lines if line["event"] == "events.unrouted"]
    assert (unrouted["source"], unrouted["events"], unrouted["fingerprints"]) == (
        "alertmanager",
        1,
        ["fp-db-2"],
    )
    assert unrouted["request_id"] == "unrouted-1"
    [name] = unrouted["names"]
    assert LONG_NAME.startswith(name) and 0 < len(name) <= 200
    labels = {"source": "alertmanager"}
    sample = h.bridge.metrics.registry.get_sample_value
    assert sample("alertbridge_unrouted_events_total", labels) == 1


async def test_a_webhook_no_route_takes_is_one_line_however_many_alerts(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str]
) -> None:
    h = await start_bridge(DISKS_ONLY)
    body = am_webhook(*(am_alert(f"db-{i}", alertname="Memory") for i in range(30)))
    reply = await h.post("/webhook/alertmanager", body, am_headers())
    assert reply.status == 202 and reply.body["notifications"] == 0

    lines = [json.loads(x) for x in json_logs.readouterr().err.splitlines() if x.startswith("{")]
    [unrouted] = [line for line in lines if "unrouted" in line["event"]]
    assert (unrouted["events"], len(unrouted["fingerprints"]), unrouted["names"]) == (
        30,
        LOGGED_FINGERPRINTS,
        ["Memory"],
    )
