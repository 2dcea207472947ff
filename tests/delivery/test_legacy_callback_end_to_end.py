"""The legacy API's `callbackUrl` end to end: the stand-in reports a message's status to the URL
the bridge gave it, and the bridge stores it on the notification.

The callback body is invented (blueticks.md §A.2 documents none; §E.12 asks for one clearly
marked so): the stand-in posts the message's status object. The bridge must reach it at its
public_url, so it listens on a socket bound before its config is written.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from alertmanager_webhooks import one_alert_webhook
from blueticks_standin import RunningStandin
from conftest import (
    StartBridge,
    am_headers,
    due_notification,
    queue,
    wait_until,
    write_config,
)

from bridge.delivery.callbacks import notification_token
from bridge.model import Notification
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.web.app import create_app

TOKEN = "cb-legacy-token-2b7e4d9a1c6f3e8b5a0d"
ROUTES = """\
routes:
  - name: alerts
    source: alertmanager
    to: [alice]
"""


@pytest.fixture
async def legacy_bridge(tmp_path: Path, standin: RunningStandin) -> AsyncIterator[Bridge]:
    """A legacy bridge whose server.public_url is where it really listens."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))  # the port is known before the config, and stays ours
    public_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = write_config(
        tmp_path,
        standin.url,
        ROUTES,
        api="legacy",
        blueticks_extra=f"  callback_token: {TOKEN}\n",
        server_extra=f", public_url: '{public_url}'",
    )
    bridge = Bridge(load_runtime(str(config)))
    runner = web.AppRunner(create_app(bridge), access_log=None)
    try:
        await runner.setup()
        await web.SockSite(runner, listener).start()
        yield bridge
    finally:
        await runner.cleanup()
        listener.close()


async def send_alert(bridge: Bridge, standin: RunningStandin) -> tuple[Notification, str]:
    """Post one alert to the bridge; wait until it is sent. The notification, the message id."""
    url = f"{str(bridge.runtime.config.server.public_url).rstrip('/')}/webhook/alertmanager"
    webhook = one_alert_webhook("db-1", alertname="DiskFull")
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=webhook, headers=am_headers()) as r,
    ):
        assert r.status == 202, await r.text()
    [message] = await standin.state.wait_for_messages(1)

    async def sent() -> bool:
        return (await bridge.store.outbox_counts())["sent"] == 1

    await wait_until(sent, what="the alert to be sent")
    [notification] = await bridge.store.list_notifications("sent")
    return notification, message.id


@pytest.mark.parametrize(
    ("target", "reported"),
    [("read", ["confirmed", "received", "read"]), ("failed", ["failed"])],
    ids=["delivered-then-read", "failed"],
)
async def test_status_reports_to_the_callback_url_reach_the_notification(
    legacy_bridge: Bridge, standin: RunningStandin, target: str, reported: list[str]
) -> None:
    notification, message_id = await send_alert(legacy_bridge, standin)
    [message] = standin.state.messages
    path = urlsplit(message.request["callbackUrl"]).path
    assert path == f"/callbacks/blueticks/{notification_token(TOKEN, notification.id)}"

    deliveries = await standin.advance(message_id, target)

    assert [(d.event["status"], d.status) for d in deliveries] == [(s, 200) for s in reported]
    assert standin.state.legacy_callbacks == deliveries
    found = await legacy_bridge.store.get_notification(notification.id)
    assert found is not None
    assert (found.state, found.delivery_status) == ("sent", target)


async def test_the_same_report_to_two_notifications_reaches_both(
    start_bridge: StartBridge,
) -> None:
    """A legacy body carries no id, so its dedupe key is a digest of the body: two messages
    reported in the same words must not be taken for one report delivered twice."""
    h = await start_bridge(
        routes=ROUTES,
        api="legacy",
        blueticks_extra=f"  callback_token: {TOKEN}\n",
        server_extra=", public_url: 'https://bridge.example.com/'",
    )
    alerts = [due_notification(text="disk full"), due_notification(text="cpu high")]
    await queue(h, *alerts)
    messages = await h.standin.state.wait_for_messages(2)

    async def both_sent() -> bool:
        return (await h.bridge.store.outbox_counts())["sent"] == 2

    await wait_until(both_sent, what="both alerts to be sent")
    replies = [
        await h.post(urlsplit(m.request["callbackUrl"]).path, b'{"status": "delivered"}', {})
        for m in messages
    ]

    assert [(r.status, r.body["status"]) for r in replies] == [(200, "accepted")] * 2
    stored = [await h.bridge.store.get_notification(n.id) for n in alerts]
    assert [n.delivery_status if n else None for n in stored] == ["received"] * 2
