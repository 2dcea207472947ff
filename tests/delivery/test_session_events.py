"""Session events through the real callback endpoint: late, out-of-order deliveries do not undo
a newer state (Blueticks retries a delivery for up to 12 h, blueticks.md §C.2), and a
per-notification callback URL cannot move the session at all."""

from __future__ import annotations

import json
import time

from blueticks_standin_webhooks import build_event
from conftest import BridgeHarness, StartBridge

from bridge.delivery.callbacks import notification_token
from bridge.delivery.session import SessionMonitor
from bridge.metrics import Metrics

TOKEN = "cb-session-token-5e8b2d0f7a1c3e9b4d6f"
ROUTES = "routes:\n  - name: alerts\n    source: alertmanager\n    to: [alice]\n"


async def start(start_bridge: StartBridge, api: str = "v1") -> BridgeHarness:
    return await start_bridge(
        routes=ROUTES,
        api=api,
        blueticks_extra=f"  callback_token: {TOKEN}\n",
        server_extra=", public_url: https://bridge.example",
    )


async def post_session_event(
    h: BridgeHarness, connected: bool, at: float, token: str = TOKEN
) -> str:
    """Deliver one session.* envelope as Blueticks does; the outcome the bridge reports."""
    kind = "session.connected" if connected else "session.disconnected"
    event = build_event(kind, {"id": "engine-1", "type": "gateway", "connected": connected}, at)
    headers = {"Content-Type": "application/json", "Blueticks-Webhook-Id": "6a380a8258bece30"}
    reply = await h.post(f"/callbacks/blueticks/{token}", json.dumps(event).encode(), headers)
    assert reply.status == 200, reply.body
    return str(reply.body["status"])


async def session_detail(h: BridgeHarness) -> str:
    return str((await h.get("/readyz")).body["checks"]["whatsapp_session"])


def session_gauge(h: BridgeHarness) -> float | None:
    return h.bridge.metrics.registry.get_sample_value("alertbridge_whatsapp_session_up")


async def test_late_retried_disconnect_does_not_undo_a_newer_connect(
    start_bridge: StartBridge,
) -> None:
    h = await start(start_bridge)
    now = time.time()

    assert await post_session_event(h, True, now) == "accepted"  # 10:00
    assert await post_session_event(h, False, now - 3600) == "stale"  # 09:00, retried late

    assert await session_detail(h) == "connected"
    assert session_gauge(h) == 1
    assert await post_session_event(h, False, now + 1) == "accepted"  # a newer one still counts
    assert await session_detail(h) == "disconnected"
    assert session_gauge(h) == 0


async def test_per_notification_callback_url_cannot_change_the_session(
    start_bridge: StartBridge,
) -> None:
    """That URL is handed out for one message's status reports (legacy callbackUrl)."""
    h = await start(start_bridge, api="legacy")
    token = notification_token(TOKEN, "n-1")

    outcome = await post_session_event(h, False, time.time(), token=token)

    assert outcome == "unknown_event"
    assert await session_detail(h) == "unknown"
    assert session_gauge(h) == 1


def test_event_older_than_a_ping_is_ignored_and_a_current_one_applies() -> None:
    monitor = SessionMonitor(Metrics(), interval=0)
    monitor.observe(True, via="ping")

    assert monitor.observe(False, via="session.disconnected", at=time.time() - 120) is False
    assert monitor.state == "connected"
    assert monitor.observe(False, via="session.disconnected", at=time.time()) is True
    assert monitor.state == "disconnected"
