"""The WhatsApp session monitor: `/v1/ping` polls and session events drive the gauge, the
readiness detail and a loud log line; the legacy API cannot tell and is not polled."""

from __future__ import annotations

import aiohttp
import pytest
import structlog
from blueticks_standin import RunningStandin
from blueticks_standin_faults import Fault
from conftest import StartBridge, blueticks_config, wait_until

from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.sender import ApiKeyStatus, SendReceipt
from bridge.delivery.session import SessionMonitor
from bridge.metrics import Metrics
from bridge.model import Notification


def gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("alertbridge_whatsapp_session_up")


async def _is_false(value: bool) -> bool:
    return not value


def ping_calls(standin: RunningStandin) -> int:
    return sum(1 for call in standin.state.calls if call.path == "/v1/ping")


async def test_polling_follows_the_session_down_and_up(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    metrics = Metrics()
    monitor = SessionMonitor(metrics, interval=0.02)
    await monitor.start(V1BlueticksClient(http, blueticks_config(standin.url)))
    try:

        async def state_is(expected: str) -> bool:
            return monitor.state == expected

        await wait_until(lambda: state_is("connected"), what="first ping")
        assert gauge(metrics) == 1

        standin.state.session_connected = False  # no event: only the ping can tell
        await wait_until(lambda: state_is("disconnected"), what="ping to see the session down")
        assert gauge(metrics) == 0

        standin.state.session_connected = True
        await wait_until(lambda: state_is("connected"), what="ping to see the session back")
        assert gauge(metrics) == 1
    finally:
        await monitor.stop()


async def test_failed_ping_keeps_the_last_state_and_says_why(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    monitor = SessionMonitor(Metrics(), interval=0)
    client = V1BlueticksClient(http, blueticks_config(standin.url))
    await monitor.check(client)
    standin.state.faults.push(Fault.error(503))

    assert await monitor.check(client) is True

    assert monitor.state == "connected"
    assert monitor.describe().startswith("connected (last check failed:")
    assert "503" in monitor.describe()


async def test_rejected_key_is_reported_not_mistaken_for_a_session(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    monitor = SessionMonitor(Metrics(), interval=0)

    await monitor.check(
        V1BlueticksClient(http, blueticks_config(standin.url, api_key="bt_live_wrong"))
    )

    assert monitor.state == "unknown"
    assert "401" in monitor.describe()


async def test_legacy_api_is_not_polled(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    metrics = Metrics()
    monitor = SessionMonitor(metrics, interval=0.01)
    legacy = LegacyBlueticksClient(http, blueticks_config(standin.url, api="legacy"))

    await monitor.start(legacy)
    # It stops by itself: the legacy API cannot tell.
    await wait_until(lambda: _is_false(monitor.polling), what="polling to stop")

    assert monitor.state == "unknown" and monitor.describe() == "unknown"
    assert ping_calls(standin) == 0
    assert gauge(metrics) == 1  # unknown is not reported as down


async def test_zero_interval_never_polls(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    monitor = SessionMonitor(Metrics(), interval=0)

    await monitor.start(V1BlueticksClient(http, blueticks_config(standin.url)))

    assert not monitor.polling
    await monitor.stop()
    assert ping_calls(standin) == 0


def test_disconnect_is_logged_loudly_once() -> None:
    monitor = SessionMonitor(Metrics(), interval=0)

    with structlog.testing.capture_logs() as logs:
        monitor.observe(True, via="ping")
        monitor.observe(False, via="session.disconnected")
        monitor.observe(False, via="ping")
        monitor.observe(True, via="session.connected")

    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("whatsapp.session_connected", "info"),
        ("whatsapp.session_disconnected", "error"),
        ("whatsapp.session_connected", "info"),
    ]
    assert "reconnect" in logs[1]["message"]


async def test_readiness_stays_ready_and_shows_the_session_down(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(api="v1", blueticks_extra="  session_check_interval: 20ms\n")

    async def session_is(expected: str) -> bool:
        reply = await h.get("/readyz")
        return reply.status == 200 and reply.body["checks"]["whatsapp_session"] == expected

    await wait_until(lambda: session_is("connected"), what="readiness to show the session")
    h.standin.state.session_connected = False
    await wait_until(lambda: session_is("disconnected"), what="readiness to show it down")
    metrics = await h.get("/metrics")
    assert "alertbridge_whatsapp_session_up 0.0" in metrics.body


def sender_ready(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("alertbridge_sender_ready")


async def test_successful_ping_clears_a_rejected_key_but_not_a_missing_scope(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    """Without this, a bridge whose key was fixed (or whose 401 was a blip) would say so only
    after the next alert happened to be sent. `/v1/ping` needs no scope, so it says nothing
    about messages:write (a 403)."""
    metrics = Metrics()
    key = ApiKeyStatus(metrics)
    monitor = SessionMonitor(metrics, interval=0, key_status=key)
    client = V1BlueticksClient(http, blueticks_config(standin.url))

    key.refused(403)
    await monitor.check(client)
    assert key.refused_with == 403 and "messages:write" in key.describe()
    assert sender_ready(metrics) == 0

    key.refused(401)
    await monitor.check(client)
    assert key.accepted and key.describe() == "ok"
    assert sender_ready(metrics) == 1


async def test_ping_with_a_rejected_key_marks_it_rejected(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    metrics = Metrics()
    key = ApiKeyStatus(metrics)
    monitor = SessionMonitor(metrics, interval=0, key_status=key)

    with structlog.testing.capture_logs() as logs:
        await monitor.check(
            V1BlueticksClient(http, blueticks_config(standin.url, api_key="bt_live_wrong"))
        )

    assert key.refused_with == 401 and sender_ready(metrics) == 0
    assert [e["log_level"] for e in logs if e["event"] == "blueticks.api_key_rejected"] == [
        "critical"
    ]


class CrashingFirstPing:
    """The real v1 client, except that its first ping fails with a bug, not a delivery error."""

    def __init__(self, client: V1BlueticksClient) -> None:
        self.client = client
        self.name = client.name
        self.pings = 0

    async def send(self, notification: Notification) -> SendReceipt:
        return await self.client.send(notification)

    async def ping(self) -> bool | None:
        self.pings += 1
        if self.pings == 1:
            raise RuntimeError("a bug in the ping")
        return await self.client.ping()


async def test_a_ping_that_crashes_does_not_stop_session_monitoring(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    """The session alarm is the only one for a closed WhatsApp session: one bug in a check must
    not end it; the next pings still see the session go down."""
    monitor = SessionMonitor(Metrics(), interval=0.02)
    sender = CrashingFirstPing(V1BlueticksClient(http, blueticks_config(standin.url)))
    standin.state.session_connected = False
    await monitor.start(sender)
    try:

        async def seen_down() -> bool:
            return monitor.state == "disconnected"

        await wait_until(seen_down, what="a ping after the crash to see the session down")
        assert monitor.polling and sender.pings >= 2
    finally:
        await monitor.stop()


@pytest.mark.parametrize("seen_by", ["ping", "event"])
async def test_the_session_seen_again_clears_the_last_failed_check(
    standin: RunningStandin, http: aiohttp.ClientSession, seen_by: str
) -> None:
    """Readiness must not keep showing a check that failed before the session was seen since."""
    monitor = SessionMonitor(Metrics(), interval=0)
    client = V1BlueticksClient(http, blueticks_config(standin.url))
    standin.state.faults.push(Fault.error(503))
    await monitor.check(client)
    assert "last check failed" in monitor.describe()

    if seen_by == "ping":
        await monitor.check(client)
    else:
        monitor.observe(True, via="session.connected")

    assert monitor.describe() == "connected"
    assert monitor.last_error is None
