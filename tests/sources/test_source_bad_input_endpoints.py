"""Bad webhook bodies through the real endpoints: a 4xx naming the problem, never a 500
(Alertmanager retries a 5xx forever) and never a reply that copies the body back."""

from __future__ import annotations

import json

import pytest
from conftest import StartBridge, am_headers, fixture_json, github_headers, grafana_headers

OUT_OF_RANGE = "9999-12-31T23:59:59-05:00"  # the year 10000 in UTC


def _alerts(**alert: object) -> bytes:
    alert = {"status": "firing", "labels": {"alertname": "A"}, **alert}
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert]}).encode()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/webhook/alertmanager", b'{"alerts": [], "n": ' + b"7" * 5000 + b"}",
         "malformed JSON: Exceeds the limit (4300 digits)"),
        ("/webhook/alertmanager", _alerts(endsAt=OUT_OF_RANGE),
         f"alerts[0].endsAt: '{OUT_OF_RANGE}' is out of range"),
        ("/webhook/grafana", _alerts(endsAt=OUT_OF_RANGE),
         f"alerts[0].endsAt: '{OUT_OF_RANGE}' is out of range"),
    ],
    ids=["5000-digit-number", "alertmanager-end-after-9999", "grafana-end-after-9999"],
)  # fmt: skip
async def test_bad_body_is_a_400_naming_what_is_wrong(
    start_bridge: StartBridge, path: str, body: bytes, message: str
) -> None:
    h = await start_bridge()
    headers = grafana_headers() if path.endswith("grafana") else am_headers()
    reply = await h.post(path, body, headers)
    assert reply.status == 400, reply.body
    assert reply.body["error"].startswith(message), reply.body


async def test_a_400_quotes_only_the_start_of_a_long_value(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    reply = await h.post("/webhook/alertmanager", _alerts(status="x" * 60_000), am_headers())
    assert reply.status == 400, reply.body
    assert reply.body["error"].startswith("alerts[0].status must be 'firing' or 'resolved'")
    assert reply.body["error"].endswith("…") and len(reply.body["error"]) < 200


async def test_github_run_with_a_start_time_after_9999_is_accepted(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    data = fixture_json("github", "octokit-workflow_run.completed.success.json")
    data["workflow_run"]["run_started_at"] = OUT_OF_RANGE
    body = json.dumps(data).encode()
    reply = await h.post("/webhook/github", body, github_headers("workflow_run", body))
    assert reply.status == 202, reply.body
