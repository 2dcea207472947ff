"""While the WhatsApp session is down the bridge sends nothing; the backlog goes when it is back.

blueticks.md §B.8: what a send gets while no session is connected is undocumented (the stand-in
either keeps it pending or answers 422 "No WhatsApp session is connected"), so the bridge checks
the session first. Either way an alert is neither dead-lettered nor "sent" into the void.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import aiohttp
import pytest
from blueticks_standin import RunningStandin
from blueticks_standin_faults import Fault
from conftest import (
    BridgeHarness,
    StartBridge,
    blueticks_config,
    due_notification,
    queue,
    state_of,
    wait_until,
)

from bridge.commands.blueticks import callback_url, register_webhook
from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.session import UNCONFIRMED_HOLD
from bridge.delivery.worker import MAX_SESSION_REFUSALS, OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.sqlite import SqliteStore

SEND_PATH = "/v1/scheduled-messages/"
PING_PATH = "/v1/ping"
POLLED = "  session_check_interval: 0.2s\n"
TOKEN = "cb-session-hold-token-8c1f3a5e7b9d2c4e"


def send_calls(h: BridgeHarness) -> list:
    return [c for c in h.standin.state.calls if c.path.startswith(SEND_PATH)]


def pings(h: BridgeHarness) -> int:
    return sum(c.path == PING_PATH for c in h.standin.state.calls)


async def wait_for_pings(h: BridgeHarness, more: int) -> None:
    """Let the monitor ping `more` times: the worker has been woken meanwhile (by the queue,
    then every idle_poll), so what it would send, it has sent."""
    target = pings(h) + more

    async def pinged() -> bool:
        return pings(h) >= target

    await wait_until(pinged, what=f"{more} more pings")


async def wait_for_state(h: BridgeHarness, notifications: list[Notification], state: str) -> None:
    async def reached() -> bool:
        return all([await state_of(h, n.id) == state for n in notifications])

    await wait_until(reached, what=f"every notification {state}")


def session_gauge(h: BridgeHarness) -> float | None:
    return h.bridge.metrics.registry.get_sample_value("alertbridge_whatsapp_session_up")


@pytest.mark.parametrize("mode", ["error", "hold"], ids=["sends-refused-422", "sends-kept-pending"])
async def test_nothing_is_sent_while_the_session_is_down_and_all_goes_when_it_is_back(
    start_bridge: StartBridge, mode: Literal["error", "hold"]
) -> None:
    h = await start_bridge(api="v1", blueticks_extra=POLLED)
    h.standin.state.disconnected_sends = mode
    await h.standin.set_session(False)

    async def seen_down() -> bool:
        return h.bridge.session.state == "disconnected"

    await wait_until(seen_down, what="the bridge to see the session down")
    alerts = [due_notification(text=f"disk full on db-{i}") for i in range(3)]
    await queue(h, *alerts)
    await wait_for_pings(h, 3)

    assert send_calls(h) == []
    assert [await state_of(h, n.id) for n in alerts] == ["pending"] * 3
    assert session_gauge(h) == 0

    reconnected_at = time.time()
    await h.standin.set_session(True)
    await wait_for_state(h, alerts, "sent")

    assert sorted(h.texts()) == sorted(n.text for n in alerts)
    assert all(c.at >= reconnected_at for c in send_calls(h))
    assert session_gauge(h) == 1


async def test_a_send_refused_for_the_session_waits_for_it_and_is_not_an_attempt(
    start_bridge: StartBridge,
) -> None:
    """No pings: the bridge learns of the disconnect from the 422 itself, and of the reconnect
    from the session.connected event; the alert then goes, never dead-lettered."""
    h = await start_bridge(
        api="v1",
        blueticks_extra=f"  callback_token: {TOKEN}\n  max_attempts: 1\n",
    )
    config = h.bridge.runtime.config
    await register_webhook(V1BlueticksClient(h.http, config.blueticks), callback_url(config, h.url))
    h.standin.state.disconnected_sends = "error"
    h.standin.state.session_connected = False  # no event: the bridge does not know yet
    first, second = due_notification(text="disk full"), due_notification(text="cpu high")

    await queue(h, first)

    async def seen_down() -> bool:
        return h.bridge.session.state == "disconnected"

    await wait_until(seen_down, what="the refused send to tell the session is down")
    await queue(h, second)
    assert [c.headers["Idempotency-Key"] for c in send_calls(h)] == [first.idempotency_key]
    assert await state_of(h, second.id) == "pending"

    await h.standin.set_session(True)
    await wait_for_state(h, [first, second], "sent")

    sent = await h.bridge.store.get_notification(first.id)
    assert sent is not None and sent.attempts == 1  # max_attempts 1: the 422 was not one
    assert h.texts() == ["disk full", "cpu high"]
    registry = h.bridge.metrics.registry
    responses = "alertbridge_blueticks_responses_total"
    assert registry.get_sample_value(responses, {"status": "422"}) == 1


async def test_a_disconnect_no_ping_confirms_any_more_stops_holding_sends(
    start_bridge: StartBridge,
) -> None:
    """Pings fail after the disconnect was seen: the stale state must not stop sending for
    good; after a few ping intervals sends are tried again."""
    h = await start_bridge(api="v1", blueticks_extra=POLLED)
    await h.standin.set_session(False)

    async def seen_down() -> bool:
        return h.bridge.session.state == "disconnected"

    await wait_until(seen_down, what="the bridge to see the session down")
    h.standin.state.faults.push(Fault.error(500).on(path_prefix=PING_PATH), times=10_000)
    h.standin.state.session_connected = True  # back, but no ping can tell
    alert = due_notification()

    await queue(h, alert)

    await wait_for_state(h, [alert], "sent")
    assert h.bridge.session.state == "disconnected"
    assert h.bridge.session.last_error is not None


@pytest.mark.parametrize(
    ("message", "ends_dead"),
    [
        ("The recipient number has no WhatsApp account", True),
        ("No WhatsApp session is connected", False),
    ],
    ids=["message-problem-dead-letter", "session-down-waits"],
)
async def test_only_a_refusal_that_names_the_session_waits_for_it(
    start_bridge: StartBridge, message: str, ends_dead: bool
) -> None:
    h = await start_bridge(api="v1", blueticks_extra="  max_attempts: 1\n")
    h.standin.state.faults.push(Fault.error(422, message=message).on(path_prefix=SEND_PATH))
    alert = due_notification()

    await queue(h, alert)

    if ends_dead:
        await wait_for_state(h, [alert], "dead")
        assert h.bridge.session.state != "disconnected"
    else:
        await wait_until(
            lambda: _is(h.bridge.session.state, "disconnected"), what="the session seen down"
        )
        assert await state_of(h, alert.id) in ("pending", "sending")


async def _is(value: str, expected: str) -> bool:
    return value == expected


async def test_session_refusals_the_pings_never_explain_end_as_a_dead_letter(
    start_bridge: StartBridge,
) -> None:
    """Every send is refused "for want of a session" while the pings say it is connected: after
    MAX_SESSION_REFUSALS waits the refusals count as attempts, and the alert is dead-lettered
    (a wait forever would hide it)."""
    h = await start_bridge(
        api="v1", blueticks_extra="  session_check_interval: 0.05s\n  max_attempts: 1\n"
    )
    refusal = Fault.error(422, message="No WhatsApp session is connected")
    h.standin.state.faults.push(refusal.on(path_prefix=SEND_PATH), times=10_000)
    alert = due_notification()

    await queue(h, alert)

    await wait_until(
        lambda: _state_is(h, alert, "dead"), timeout=30.0, what="the alert to be dead-lettered"
    )
    assert len(send_calls(h)) == MAX_SESSION_REFUSALS + 1


async def _state_is(h: BridgeHarness, n: Notification, state: str) -> bool:
    return await state_of(h, n.id) == state


class ManualClock:
    """A monotonic clock that moves only when the test moves it: an outage of many hold
    periods passes in no time."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


async def test_legacy_refusals_through_a_long_session_outage_never_dead_letter(
    standin: RunningStandin, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """The legacy API cannot ping, so no ping ever contradicts its refusals: through an outage
    of more than MAX_SESSION_REFUSALS hold periods the alert waits, no attempt counted (the
    config allows one), and goes once the session is back."""
    monotonic = ManualClock()
    store = SqliteStore(str(tmp_path / "alertbridge.db"))
    await store.open()
    config = blueticks_config(standin.url, api="legacy").model_copy(update={"max_attempts": 1})
    worker = OutboxWorker(
        store, LegacyBlueticksClient(http, config), Metrics(), config, monotonic=monotonic
    )
    refusals = MAX_SESSION_REFUSALS + 5
    refusal = Fault.error(422, message="No WhatsApp session is connected")
    standin.state.faults.push(refusal.on(path_prefix="/messages"), times=refusals)
    alert = due_notification()
    await store.enqueue([alert])
    await worker.start()
    try:
        worker.wake()
        for refused in range(1, refusals + 1):

            async def refusal_taken(refused: int = refused) -> bool:
                n = await store.get_notification(alert.id)
                taken = len(standin.state.calls) == refused and worker.session.holds_sends()
                return taken or (n is not None and n.state == "dead")

            await wait_until(refusal_taken, what=f"refusal {refused} to hold sends")
            n = await store.get_notification(alert.id)
            assert n is not None and n.state != "dead", f"dead-lettered at refusal {refused}"
            monotonic.now += UNCONFIRMED_HOLD + 1  # the hold lapses: the send is tried again
            worker.wake()

        async def sent() -> bool:
            n = await store.get_notification(alert.id)
            return n is not None and n.state == "sent"

        await wait_until(sent, what="the alert sent once the session is back")
        n = await store.get_notification(alert.id)
        assert n is not None and n.attempts == 1
        assert len(standin.state.messages) == 1
    finally:
        await worker.stop(1.0)
        await store.close()
