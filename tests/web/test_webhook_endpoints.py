"""The webhook endpoints end to end: real server, real SQLite, the Blueticks stand-in."""

from __future__ import annotations

import copy
import json
import time
import urllib.parse

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import (
    ADMIN_TOKEN,
    BridgeHarness,
    StartBridge,
    am_headers,
    fixture_bytes,
    fixture_json,
    github_headers,
    grafana_headers,
    outbox_state_count,
    wait_until,
)

AM_FIRING = ("alertmanager", "zulip-alert-firing-2alerts.json")


async def _sent(h: BridgeHarness, n: int) -> bool:
    return await outbox_state_count(h, "sent") == n


async def post_am(h: BridgeHarness, body: bytes) -> dict:
    reply = await h.post("/webhook/alertmanager", body, am_headers())
    assert reply.status == 202, reply.body
    return reply.body


async def test_alertmanager_group_is_one_message_per_recipient(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    reply = await post_am(h, am_webhook(am_alert("db-1"), am_alert("db-2"), am_alert("db-3")))
    assert reply["events"] == 3 and reply["notifications"] == 2
    messages = await h.standin.state.wait_for_messages(2)
    assert sorted(m.request["to"] for m in messages) == ["+14155550123", "+4915112345678"]
    for text in h.texts():
        assert all(f"db-{i}" in text for i in (1, 2, 3)), text
        assert "FIRING" in text


async def test_repost_of_the_same_group_sends_only_what_is_new(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    await post_am(h, am_webhook(am_alert("db-1")))
    await h.standin.state.wait_for_messages(2)
    again = await post_am(h, am_webhook(am_alert("db-1")))
    assert again["notifications"] == 0
    grown = await post_am(h, am_webhook(am_alert("db-1"), am_alert("db-2")))
    assert grown["notifications"] == 2
    messages = await h.standin.state.wait_for_messages(4)
    new_texts = [m.request["message"] for m in messages[2:]]
    assert all("db-2" in t and "db-1" not in t for t in new_texts), new_texts
    assert len(h.standin.state.messages) == 4


async def test_resolved_after_firing_is_sent(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    await post_am(h, am_webhook(am_alert("db-1")))
    await h.standin.state.wait_for_messages(2)
    resolved = await post_am(h, am_webhook(am_alert("db-1", "resolved")))
    assert resolved["notifications"] == 2
    messages = await h.standin.state.wait_for_messages(4)
    assert all("RESOLVED" in m.request["message"] for m in messages[2:])


async def test_real_alertmanager_fixtures_firing_and_resolved(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    await post_am(h, fixture_bytes(*AM_FIRING))
    resolved = await post_am(h, fixture_bytes("alertmanager", "zulip-single_alert-resolved.json"))
    assert resolved["notifications"] == 2
    await h.standin.state.wait_for_messages(4)
    assert sum("RESOLVED" in t for t in h.texts()) == 2


async def test_old_alertmanager_payload_without_fingerprints_is_accepted(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    reply = await post_am(
        h, fixture_bytes("alertmanager", "msteams-firing-12alerts-nested-route-groupkey.json")
    )
    assert reply["events"] == 12 and reply["notifications"] == 2


async def test_grafana_firing_with_image_sends_the_image(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    body = fixture_bytes("grafana", "zulip-alert_values_v11-values-image.json")
    reply = await h.post("/webhook/grafana", body, grafana_headers())
    assert reply.status == 202
    messages = await h.standin.state.wait_for_messages(2)
    image = fixture_json("grafana", "zulip-alert_values_v11-values-image.json")["alerts"][0][
        "imageURL"
    ]
    assert all(m.request.get("fileUrl") == image for m in messages)
    assert all(m.request.get("mimeType", "").startswith("image/") for m in messages)


async def test_grafana_resolved_is_sent(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    body = fixture_bytes("grafana", "zulip-alert-9-resolved.json")
    reply = await h.post("/webhook/grafana", body, grafana_headers())
    assert reply.status == 202 and reply.body["notifications"] == 2
    await h.standin.state.wait_for_messages(2)
    assert all("RESOLVED" in t for t in h.texts())


async def test_github_failure_is_sent_and_redelivery_is_not(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    body = fixture_bytes("github", "octokit-workflow_job.completed.failure.with-organization.json")
    first = await h.post("/webhook/github", body, github_headers("workflow_job", body, "guid-1"))
    assert first.status == 202 and first.body["notifications"] == 1
    again = await h.post("/webhook/github", body, github_headers("workflow_job", body, "guid-1"))
    assert again.status == 202 and again.body["status"] == "duplicate"
    assert again.body["notifications"] == 0
    await h.standin.state.wait_for_messages(1)
    assert "format-check" in h.texts()[0]


async def test_github_form_encoded_delivery_is_accepted(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    payload = fixture_bytes("github", "octokit-release.published.json")
    body = urllib.parse.urlencode({"payload": payload.decode()}).encode()
    headers = github_headers("release", body, "guid-form")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    reply = await h.post("/webhook/github", body, headers)
    assert reply.status == 202 and reply.body["notifications"] == 1
    await h.standin.state.wait_for_messages(1)
    assert "0.0.1" in h.texts()[0]


async def test_github_ping_is_answered(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    body = fixture_bytes("github", "octokit-ping.repository.json")
    reply = await h.post("/webhook/github", body, github_headers("ping", body, "guid-ping"))
    assert reply.status == 200 and reply.body["status"] == "ping"


async def test_github_secret_scanning_never_shows_the_secret(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    doc = fixture_json("github", "octokit-secret_scanning_alert.reopened.json")
    doc["alert"]["secret"] = "ghp_leakedSecretValue1234567890"
    body = json.dumps(doc).encode()
    reply = await h.post(
        "/webhook/github", body, github_headers("secret_scanning_alert", body, "guid-s")
    )
    assert reply.status == 202 and reply.body["notifications"] == 1
    await h.standin.state.wait_for_messages(1)
    assert "ghp_leakedSecretValue" not in h.texts()[0]


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "message"),
    [
        ("/webhook/alertmanager", b"{not json", am_headers(), 400, "malformed JSON"),
        ("/webhook/alertmanager", b'{"version": "4"}', am_headers(), 400, "alerts"),
        ("/webhook/alertmanager", b"[]", am_headers(), 400, "object"),
        (
            "/webhook/alertmanager",
            b"{}",
            {"Content-Type": "application/json"},
            401,
            "Authorization",
        ),
        (
            "/webhook/alertmanager",
            b"{}",
            {**am_headers(), "Authorization": "Bearer nope"},
            401,
            "bearer",
        ),
        (
            "/webhook/alertmanager",
            b"{}",
            {**am_headers(), "Content-Type": "text/plain"},
            415,
            "application/json",
        ),
        ("/webhook/alertmanager", b"x" * 70000, am_headers(), 413, "max_body_bytes"),
        ("/webhook/grafana", b"{}", {"Content-Type": "application/json"}, 401, "Authorization"),
        (
            "/webhook/github",
            b"{}",
            {"X-GitHub-Event": "push", "Content-Type": "application/json"},
            401,
            "signature",
        ),
        (
            "/webhook/github",
            b"{}",
            {**github_headers("push", b"{}"), "X-Hub-Signature-256": "sha256=" + "0" * 64},
            401,
            "signature",
        ),
    ],
    ids=[
        "malformed-json",
        "missing-alerts",
        "not-an-object",
        "no-auth",
        "wrong-token",
        "content-type",
        "too-large",
        "grafana-no-auth",
        "github-no-signature",
        "github-bad-signature",
    ],
)
async def test_bad_requests_get_a_specific_error(
    start_bridge: StartBridge, path: str, body: bytes, headers: dict, status: int, message: str
) -> None:
    h = await start_bridge()
    reply = await h.post(path, body, headers)
    assert reply.status == status, reply.body
    assert message.lower() in reply.body["error"].lower(), reply.body
    assert reply.headers.get("X-Request-Id") == reply.body["request_id"]


async def test_bad_request_loses_nothing_already_accepted(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    await post_am(h, am_webhook(am_alert("db-1")))
    bad = await h.post("/webhook/alertmanager", b"{broken", am_headers())
    assert bad.status == 400
    await wait_until(lambda: _sent(h, 2), what="2 sent notifications")
    assert len(h.standin.state.messages) == 2


async def test_health_readiness_and_metrics(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    await post_am(h, am_webhook(am_alert("db-1")))
    await h.standin.state.wait_for_messages(2)
    assert (await h.get("/healthz")).status == 200
    ready = await h.get("/readyz")
    assert ready.status == 200 and ready.body["checks"]["store"] == "ok"
    await h.post("/webhook/alertmanager", b"{broken", am_headers())
    metrics = (await h.get("/metrics")).body
    assert (
        'alertbridge_webhooks_received_total{outcome="accepted",source="alertmanager"} 1.0'
        in metrics
    )
    assert (
        'alertbridge_webhooks_received_total{outcome="bad_request",source="alertmanager"} 1.0'
        in metrics
    )
    assert 'alertbridge_notifications_total{outcome="queued",route="alerts"} 2.0' in metrics
    assert "alertbridge_delivery_latency_seconds_count" in metrics


async def test_reload_keeps_the_old_config_when_the_new_one_is_bad(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await h.post("/-/reload", b"", {})).status == 401
    original = h.config_path.read_text()
    h.config_path.write_text(original.replace("to: [oncall]", "to: [nobody]"))
    refused = await h.post("/-/reload", b"", admin)
    assert refused.status == 400
    assert any("unknown recipient 'nobody'" in e for e in refused.body["errors"])
    assert (await post_am(h, am_webhook(am_alert("db-1"))))["notifications"] == 2
    h.config_path.write_text(original.replace("to: [oncall]", "to: [bob]"))
    assert (await h.post("/-/reload", b"", admin)).status == 200
    assert (await post_am(h, am_webhook(am_alert("db-9"))))["notifications"] == 1
    metrics = (await h.get("/metrics")).body
    assert 'alertbridge_config_reloads_total{outcome="failure"} 1.0' in metrics
    assert "alertbridge_config_last_reload_successful 1.0" in metrics


async def test_two_replicas_posting_the_same_group_at_once_send_once(
    start_bridge: StartBridge,
) -> None:
    import asyncio

    h = await start_bridge()
    body = am_webhook(am_alert("db-1"), am_alert("db-2"))
    replies = await asyncio.gather(*(post_am(h, copy.copy(body)) for _ in range(5)))
    assert sorted(r["notifications"] for r in replies) == [0, 0, 0, 0, 2]


async def test_github_success_after_a_failure_is_sent_as_resolved(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    failed = fixture_bytes(
        "github", "octokit-workflow_job.completed.failure.with-organization.json"
    )
    passed = fixture_bytes(
        "github", "octokit-workflow_job.completed.success.with-organization.json"
    )
    first = await h.post("/webhook/github", failed, github_headers("workflow_job", failed, "g-f"))
    assert first.status == 202 and first.body["notifications"] == 1
    fixed = await h.post("/webhook/github", passed, github_headers("workflow_job", passed, "g-s"))
    assert fixed.status == 202 and fixed.body["notifications"] == 1
    await h.standin.state.wait_for_messages(2)
    assert "🔴" in h.texts()[0] and "✅" in h.texts()[1]
    statuses = {tuple(n.event_keys) for n in await h.bridge.store.list_notifications(limit=10)}
    assert statuses == {(("78348d75ba8c5e40", "firing"),), (("78348d75ba8c5e40", "resolved"),)}
    # The failure is settled: the same success again is ordinary news, not a second resolution.
    again = await h.post("/webhook/github", passed, github_headers("workflow_job", passed, "g-s2"))
    assert again.status == 202
    assert await h.bridge.store.get_record("gh-open", "78348d75ba8c5e40", time.time()) is None


async def test_reload_applies_a_new_admin_token_at_once(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    h.config_path.write_text(h.config_path.read_text().replace(ADMIN_TOKEN, "rotated-token-1"))
    assert (
        await h.post("/-/reload", b"", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    ).status == 200
    assert (await h.get("/api/v1/outbox", {"Authorization": f"Bearer {ADMIN_TOKEN}"})).status == 401
    assert (
        await h.get("/api/v1/outbox", {"Authorization": "Bearer rotated-token-1"})
    ).status == 200
