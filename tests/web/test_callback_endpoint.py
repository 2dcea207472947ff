"""`POST /callbacks/blueticks/{token}` end to end: the stand-in delivers webhook events about
messages the real bridge sent, and bad input is refused without changing anything."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from alertmanager_webhooks import one_alert_webhook
from blueticks_standin_webhooks import WebhookSigning, sign_webhook
from conftest import ADMIN_TOKEN, BridgeHarness, StartBridge, am_headers, wait_until

from bridge.commands.blueticks import callback_url, register_webhook
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.callbacks import SUBSCRIBED_EVENTS, notification_token
from bridge.model import Notification

TOKEN = "cb-test-token-3f9a1c7e5b2d4a6c8e0f"
SECRET = "whsec_test_secret"
ROUTES = """\
routes:
  - name: alerts
    source: alertmanager
    to: [alice]
"""


def am_alert(instance: str = "db-1") -> bytes:
    return one_alert_webhook(instance, alertname="DiskFull", generatorURL="http://prom:9090/graph")


async def start_v1(
    start_bridge: StartBridge, blueticks_extra: str = "", register: bool = True
) -> BridgeHarness:
    """A v1 bridge with callbacks on, subscribed at the stand-in the way the CLI does it."""
    h = await start_bridge(
        routes=ROUTES,
        api="v1",
        blueticks_extra=f"  callback_token: {TOKEN}\n  session_check_interval: 0s\n"
        + blueticks_extra,
    )
    if register:
        config = h.bridge.runtime.config
        client = V1BlueticksClient(h.http, config.blueticks)
        await register_webhook(client, callback_url(config, h.url))
    return h


async def send_one(h: BridgeHarness, instance: str = "db-1") -> tuple[Notification, str]:
    """Post one alert; wait until it is sent. Returns the notification and the stand-in's id."""
    count = len(h.standin.state.messages)
    reply = await h.post("/webhook/alertmanager", am_alert(instance), am_headers())
    assert reply.status == 202, reply.body
    messages = await h.standin.state.wait_for_messages(count + 1)
    message_id = messages[-1].id

    async def sent() -> bool:
        found = await h.bridge.store.find_notification(provider_id=message_id)
        return found is not None and found.state == "sent"

    await wait_until(sent, what="the notification to be marked sent")
    notification = await h.bridge.store.find_notification(provider_id=message_id)
    assert notification is not None
    return notification, message_id


async def reload(h: BridgeHarness, notification: Notification) -> Notification:
    found = await h.bridge.store.get_notification(notification.id)
    assert found is not None
    return found


def counted(h: BridgeHarness, name: str, **labels: str) -> float:
    value = h.bridge.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_read_receipt_reaches_the_notification(start_bridge: StartBridge) -> None:
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)

    deliveries = await h.standin.advance(message_id, "read")

    assert [d.status for d in deliveries] == [200, 200, 200]
    stored = await reload(h, notification)
    wire_key = h.standin.state.message(message_id).data["waMessageKey"]["_serialized"]
    assert (stored.delivery_status, stored.provider_key) == ("read", wire_key)
    for status in ("confirmed", "received", "read"):
        assert counted(h, "alertbridge_delivery_statuses_total", status=status) == 1
    assert counted(h, "alertbridge_callbacks_total", outcome="accepted") == 3


async def test_a_late_read_receipt_keeps_the_time_it_happened(start_bridge: StartBridge) -> None:
    """Blueticks retries a delivery for hours (blueticks.md §C.2): the status time stored is
    the event's created_at, not when the retry happened to arrive."""
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)
    read_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    envelope = {"id": "evt_late_read", "type": "message.read", "created_at": read_at.isoformat()}
    body = json.dumps(envelope | {"data": {"id": message_id, "status": "read"}}).encode()

    reply = await h.post(f"/callbacks/blueticks/{TOKEN}", body, {})

    assert (reply.status, reply.body["status"]) == (200, "accepted")
    stored = await reload(h, notification)
    assert (stored.delivery_status, stored.delivery_status_at) == ("read", read_at.timestamp())


async def test_duplicated_events_are_applied_once(start_bridge: StartBridge) -> None:
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)
    h.standin.state.webhook_duplicates = True

    deliveries = await h.standin.advance(message_id, "received")

    assert [d.status for d in deliveries] == [200] * 4
    assert (await reload(h, notification)).delivery_status == "received"
    assert counted(h, "alertbridge_callbacks_total", outcome="duplicate") == 2
    assert counted(h, "alertbridge_delivery_statuses_total", status="received") == 1


async def test_out_of_order_events_never_move_the_status_back(start_bridge: StartBridge) -> None:
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)
    h.standin.state.webhook_reverse_order = True

    deliveries = await h.standin.advance(message_id, "read")

    assert [d.event["type"] for d in deliveries] == [
        "message.read",
        "message.delivered",
        "message.sending",
    ]
    assert all(d.status == 200 for d in deliveries)
    assert (await reload(h, notification)).delivery_status == "read"
    assert counted(h, "alertbridge_callbacks_total", outcome="stale") == 2


async def test_failure_reported_after_delivery_is_ignored(start_bridge: StartBridge) -> None:
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)
    await h.standin.advance(message_id, "received")

    await h.standin.advance(message_id, "failed")

    assert (await reload(h, notification)).delivery_status == "received"


async def test_failure_while_in_flight_is_stored(start_bridge: StartBridge) -> None:
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)

    await h.standin.advance(message_id, "failed", failure_reason="not on WhatsApp")

    assert (await reload(h, notification)).delivery_status == "failed"
    assert counted(h, "alertbridge_delivery_statuses_total", status="failed") == 1


def only_wire_key(data: dict[str, Any]) -> dict[str, Any]:
    return {"waMessageKey": data["waMessageKey"], "status": data["status"]}


def only_secret(data: dict[str, Any]) -> dict[str, Any]:
    return {"secret": data["secret"], "status": data["status"]}


@pytest.mark.parametrize(
    "shape",
    [only_wire_key, only_secret],
    ids=["by-wire-key-once-known", "by-secret-the-notification-id"],
)
async def test_events_without_the_message_id_still_correlate(
    start_bridge: StartBridge, shape: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    h = await start_v1(start_bridge)
    notification, message_id = await send_one(h)
    await h.standin.advance(message_id, "confirmed")  # full data: the wire key is learnt
    h.standin.state.message_event_data = shape

    await h.standin.advance(message_id, "read")

    assert (await reload(h, notification)).delivery_status == "read"


@pytest.mark.parametrize(
    ("signing", "expected_http", "expected_status"),
    [
        (None, 200, "received"),
        (WebhookSigning(SECRET), 200, "received"),
        (WebhookSigning(SECRET, scheme="v0_then_v1"), 200, "received"),
        (WebhookSigning("whsec_wrong"), 401, None),
        (WebhookSigning(SECRET, timestamp_skew=-301), 401, None),
        (WebhookSigning(SECRET, scheme="missing_v1"), 401, None),
    ],
    ids=["unsigned", "signed", "v0-then-v1", "wrong-secret", "stale-timestamp", "no-v1"],
)
async def test_legacy_signature_is_checked_when_present(
    start_bridge: StartBridge,
    signing: WebhookSigning | None,
    expected_http: int,
    expected_status: str | None,
) -> None:
    h = await start_v1(start_bridge, blueticks_extra=f"  webhook_secret: {SECRET}\n")
    notification, message_id = await send_one(h)
    h.standin.state.webhook_signing = signing

    deliveries = await h.standin.advance(message_id, "received")

    assert [d.status for d in deliveries] == [expected_http] * 2
    assert (await reload(h, notification)).delivery_status == expected_status


def event_body(event_type: str, data: dict[str, Any], event_id: str = "evt_bad_1") -> bytes:
    envelope = {"id": event_id, "type": event_type, "created_at": "2026-11-25T10:00:00Z"}
    return json.dumps(envelope | {"data": data}).encode()


def signed(body: bytes, secret: str = SECRET, skew: int = 0) -> dict[str, str]:
    timestamp = int(time.time()) + skew
    return {
        "Blueticks-Webhook-Timestamp": str(timestamp),
        "Blueticks-Webhook-Signature": sign_webhook(secret, timestamp, body),
    }


# (path token, body, headers, expected status, expected outcome); "{id}" is the message id.
BAD_INPUT: list[tuple[str, str, str, dict[str, str] | None, int, str]] = [
    ("wrong-token", "wrong-token", "message.read", None, 401, "unauthorized"),
    ("token-prefix", TOKEN[:-1], "message.read", None, 401, "unauthorized"),
    ("wrong-signature", TOKEN, "message.read", {"secret": "whsec_wrong"}, 401, "bad_signature"),
    ("stale-timestamp", TOKEN, "message.read", {"skew": "-400"}, 401, "bad_signature"),
    ("malformed-json", TOKEN, "malformed", None, 400, "bad_request"),
    ("deeply-nested-json", TOKEN, "nested", None, 400, "bad_request"),
    ("not-an-envelope", TOKEN, "no-envelope", None, 400, "bad_request"),
    ("unpaired-surrogate-id", TOKEN, "surrogate", None, 400, "bad_request"),
    ("unknown-event-type", TOKEN, "campaign.completed", None, 200, "unknown_event"),
    ("unknown-message-id", TOKEN, "unknown-message", None, 200, "unknown_message"),
]


@pytest.mark.parametrize(
    ("token", "kind", "signing", "expected_http", "outcome"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
async def test_bad_input_changes_nothing(
    start_bridge: StartBridge,
    token: str,
    kind: str,
    signing: dict[str, str] | None,
    expected_http: int,
    outcome: str,
) -> None:
    h = await start_v1(start_bridge, blueticks_extra=f"  webhook_secret: {SECRET}\n")
    notification, message_id = await send_one(h)
    # What each request would do if it were accepted: mark the message read.
    read = {"id": message_id, "status": "read"}
    bodies = {
        "message.read": event_body("message.read", read),
        "campaign.completed": event_body("campaign.completed", read),
        "unknown-message": event_body("message.read", {"id": "f" * 24, "status": "read"}),
        "malformed": b'{"id": "evt_1", "type": "message.read", "data": {',
        "nested": b"[" * 30_000,
        "no-envelope": json.dumps(read).encode(),
        "surrogate": event_body("message.read", read).replace(b'"evt_bad_1"', b'"evt_\\ud800"'),
    }
    body = bodies[kind]
    headers = {"Content-Type": "application/json"}
    if signing is not None:
        headers |= signed(body, signing.get("secret", SECRET), int(signing.get("skew", "0")))

    reply = await h.post(f"/callbacks/blueticks/{token}", body, headers)

    assert reply.status == expected_http, reply.body
    if expected_http >= 400:
        assert reply.body["error"]
    else:
        assert reply.body["status"] == outcome
    assert (await reload(h, notification)).delivery_status is None
    assert counted(h, "alertbridge_callbacks_total", outcome=outcome) == 1
    assert counted(h, "alertbridge_delivery_statuses_total", status="read") == 0


async def test_callbacks_are_off_without_a_configured_token(start_bridge: StartBridge) -> None:
    h = await start_bridge(routes=ROUTES, api="v1")

    reply = await h.post("/callbacks/blueticks/anything", event_body("message.read", {}), {})

    assert reply.status == 404
    assert "blueticks.callback_token" in reply.body["error"]


async def test_session_events_drive_the_gauge_and_readiness(start_bridge: StartBridge) -> None:
    h = await start_v1(start_bridge)

    await h.standin.set_session(False)

    ready = await h.get("/readyz")
    assert ready.status == 200
    assert ready.body["checks"]["whatsapp_session"] == "disconnected"
    assert counted(h, "alertbridge_whatsapp_session_up") == 0

    await h.standin.set_session(True)

    assert (await h.get("/readyz")).body["checks"]["whatsapp_session"] == "connected"
    assert counted(h, "alertbridge_whatsapp_session_up") == 1


async def test_legacy_messages_name_their_own_callback_url(start_bridge: StartBridge) -> None:
    h = await start_bridge(
        routes=ROUTES,
        api="legacy",
        blueticks_extra=f"  callback_token: {TOKEN}\n",
        server_extra=", public_url: 'https://bridge.example.com/'",
    )
    reply = await h.post("/webhook/alertmanager", am_alert(), am_headers())
    assert reply.status == 202, reply.body
    [message] = await h.standin.state.wait_for_messages(1)
    [notification] = await h.bridge.store.list_notifications()
    url = urlsplit(message.request["callbackUrl"])
    expected = f"/callbacks/blueticks/{notification_token(TOKEN, notification.id)}"
    assert (url.scheme, url.netloc, url.path) == ("https", "bridge.example.com", expected)

    # The legacy callback body is undocumented: a plain status object is read defensively.
    first = await h.post(url.path, b'{"status": "delivered"}', {})
    again = await h.post(url.path, b'{"status": "delivered"}', {})
    forged = notification_token(TOKEN, "another-notification").rpartition(".")[2]
    refused = await h.post(f"/callbacks/blueticks/n.{notification.id}.{forged}", b"{}", {})

    assert (first.status, first.body["status"]) == (200, "accepted")
    assert (again.status, again.body["status"]) == (200, "duplicate")
    assert refused.status == 401
    assert (await reload(h, notification)).delivery_status == "received"


async def test_a_callback_token_rotated_by_reload_is_the_one_new_messages_carry(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(
        routes=ROUTES,
        api="legacy",
        blueticks_extra=f"  callback_token: {TOKEN}\n",
        server_extra=", public_url: 'https://bridge.example.com/'",
    )
    rotated = "cb-rotated-token-7d1e9b3a5c2f4e6a8b0d"
    config = h.config_path.read_text()
    h.config_path.write_text(config.replace(TOKEN, rotated))
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await h.post("/-/reload", b"", admin)).status == 200

    assert (await h.post("/webhook/alertmanager", am_alert(), am_headers())).status == 202
    [message] = await h.standin.state.wait_for_messages(1)
    [notification] = await h.bridge.store.list_notifications()
    path = urlsplit(message.request["callbackUrl"]).path
    assert path == f"/callbacks/blueticks/{notification_token(rotated, notification.id)}"
    reply = await h.post(path, b'{"status": "delivered"}', {})  # the endpoint takes it
    assert (reply.status, reply.body["status"]) == (200, "accepted")


async def test_registration_subscribes_delivery_and_session_events(
    start_bridge: StartBridge,
) -> None:
    h = await start_v1(start_bridge)

    [hook] = h.standin.state.webhooks.values()

    assert hook.url == f"{h.url}/callbacks/blueticks/{TOKEN}"
    assert sorted(hook.events) == sorted(SUBSCRIBED_EVENTS)
