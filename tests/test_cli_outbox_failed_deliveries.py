"""`alertbridge outbox` and failed deliveries: a message Blueticks accepted and later reported
failed (`message.failed`) is listed, and `outbox retry` sends it again as a new message, on the
store file and through the admin API, with the v1 API whose Idempotency-Key would otherwise
answer with the failed message instead of sending."""

from __future__ import annotations

import json
import os

import pytest
from alertmanager_webhooks import one_alert_webhook
from conftest import ADMIN_TOKEN, BridgeHarness, StartBridge, am_headers, wait_until
from test_cli_outbox import alertbridge

from bridge.commands.blueticks import callback_url, register_webhook
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.model import Notification

CALLBACK_TOKEN = "cb-test-token-5e1d9b7a3c8f4e2a6b0d"
ROUTES = """\
routes:
  - name: alerts
    source: alertmanager
    to: [alice]
"""


async def failed_delivery(start_bridge: StartBridge) -> tuple[BridgeHarness, Notification]:
    """A v1 bridge subscribed to Blueticks' webhooks, and one notification it sent that
    Blueticks then reported failed."""
    h = await start_bridge(
        routes=ROUTES, api="v1", blueticks_extra=f"  callback_token: {CALLBACK_TOKEN}\n"
    )
    config = h.bridge.runtime.config
    await register_webhook(V1BlueticksClient(h.http, config.blueticks), callback_url(config, h.url))
    body = one_alert_webhook("db-1", alertname="DiskFull")
    assert (await h.post("/webhook/alertmanager", body, am_headers())).status == 202
    [message] = await h.standin.state.wait_for_messages(1)

    async def reported_failed() -> bool:
        found = await h.bridge.store.find_notification(provider_id=message.id)
        return found is not None and found.delivery_status == "failed"

    await h.standin.advance(message.id, "failed", failure_reason="not on WhatsApp")
    await wait_until(reported_failed, what="the failure callback to be stored")
    found = await h.bridge.store.find_notification(provider_id=message.id)
    assert found is not None and found.state == "sent"
    return h, found


@pytest.mark.parametrize("via", ["--config", "--url"], ids=["store-file", "admin-api"])
async def test_failed_delivery_is_listed_and_retry_sends_it_again(
    start_bridge: StartBridge, via: str
) -> None:
    h, failed = await failed_delivery(start_bridge)
    env = {**os.environ, "ALERTBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN}
    where = [via, str(h.config_path) if via == "--config" else h.url]

    listed = await alertbridge("outbox", "list", *where, env=env)
    assert listed.code == 0, listed.err
    header, *rows = listed.out.splitlines()
    column = header.index("DELIVERY")
    assert [(row.split()[0], row[column:].split()[0]) for row in rows] == [(failed.id, "failed")]
    selected = await alertbridge("outbox", "list", *where, "--state", "failed", "--json", env=env)
    assert [n["id"] for n in json.loads(selected.out)] == [failed.id]

    run = await alertbridge("outbox", "retry", "--id", failed.id, *where, env=env)
    assert run.code == 0, run.err
    [line] = run.out.splitlines()
    resend_id = line.removeprefix(f"resent {failed.id} (Blueticks reported it failed) as ")
    assert resend_id != line and resend_id != failed.id

    [first, again] = await h.standin.state.wait_for_messages(2)
    assert again.id != first.id  # a new message, not the failed one replayed
    assert again.request["text"] == first.request["text"]

    async def resend_sent() -> bool:
        resend = await h.bridge.store.get_notification(resend_id)
        return resend is not None and resend.state == "sent" and resend.provider_id == again.id

    await wait_until(resend_sent, what="the resend to be marked sent")
    after = await alertbridge("outbox", "list", *where, env=env)
    assert after.out.strip() == "no dead letters or failed deliveries"
    twice = await alertbridge("outbox", "retry", "--id", failed.id, *where, env=env)
    assert twice.code == 1 and "not dead letters nor failed deliveries" in twice.err
    assert len(h.standin.state.messages) == 2
