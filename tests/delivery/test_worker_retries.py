"""Retries through the real outbox worker, real senders and the Blueticks stand-in."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from blueticks_standin import CallRecord
from blueticks_standin_faults import Fault
from conftest import (
    BOB_PHONE,
    BridgeHarness,
    StartBridge,
    am_headers,
    due_notification,
    queue,
    wait_until,
)

from bridge.config.schema import BluetickConfig
from bridge.delivery.retry_policy import backoff_delay
from bridge.delivery.sender import DryRunSender
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification, NotificationState
from bridge.store.sqlite import SqliteStore

SHORT_TIMEOUT = "  timeout: 300ms\n"


async def queue_one(h: BridgeHarness, text: str = "disk full on db-1") -> Notification:
    """Put one notification in the outbox, as the pipeline does after a 202."""
    n = due_notification(text=text)
    await queue(h, n)
    return n


async def wait_state(
    h: BridgeHarness, notification_id: str, state: NotificationState, timeout: float = 5.0
) -> Notification:
    async def reached() -> bool:
        n = await h.bridge.store.get_notification(notification_id)
        return n is not None and n.state == state

    await wait_until(reached, timeout, f"notification {notification_id} to be {state}")
    n = await h.bridge.store.get_notification(notification_id)
    assert n is not None
    return n


def on_send(fault: Fault) -> Fault:
    """The fault for message sends only (v1 also pings Blueticks for the session state)."""
    return fault.on(method="POST")


def sends(h: BridgeHarness) -> list[CallRecord]:
    return [call for call in h.standin.state.calls if call.method == "POST"]


def sample(h: BridgeHarness, name: str, **labels: str) -> float:
    return h.bridge.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("api", "fault"),
    [
        ("v1", Fault.error(500)),
        ("v1", Fault.error(503)),
        ("v1", Fault.html(502)),
        ("v1", Fault.error(504)),
        ("legacy", Fault.error(503)),  # "unable to handle": the legacy send was not processed
    ],
    ids=["v1-500", "v1-503", "v1-html-502-page", "v1-504", "legacy-503"],
)
async def test_failures_with_a_status_are_retried_until_sent(
    start_bridge: StartBridge, fault: Fault, api: str
) -> None:
    h = await start_bridge(api=api)
    h.standin.state.faults.push(on_send(fault), times=3)
    n = await queue_one(h)
    sent = await wait_state(h, n.id, "sent")
    assert sent.attempts == 4
    assert len(sends(h)) == 4
    assert h.texts() == ["disk full on db-1"]
    assert sample(h, "alertbridge_notifications_total", route="alerts", outcome="retried") == 3


@pytest.mark.parametrize("retry_after", [None, "0"], ids=["without-retry-after", "retry-after"])
@pytest.mark.parametrize("api", ["legacy", "v1"])
async def test_rate_limited_sends_do_not_count_toward_max_attempts(
    start_bridge: StartBridge, api: str, retry_after: str | None
) -> None:
    """A 429 is Blueticks not taking the message yet, not a failure of it: ten in a row do
    not dead-letter a notification allowed three attempts."""
    h = await start_bridge(api=api, blueticks_extra="  max_attempts: 3\n")
    h.standin.state.faults.push(on_send(Fault.error(429, retry_after=retry_after)), times=10)
    n = await queue_one(h)
    sent = await wait_state(h, n.id, "sent", timeout=10.0)
    assert sent.attempts == 1
    assert len(sends(h)) == 11
    assert len(h.standin.state.messages) == 1
    assert sample(h, "alertbridge_notifications_total", route="alerts", outcome="retried") == 10


async def test_retry_after_holds_sends_to_every_recipient(start_bridge: StartBridge) -> None:
    """Blueticks' limit is the account's: after a 429 with Retry-After, no lane sends until
    then, so the others do not run into the limit too."""
    h = await start_bridge(api="v1", blueticks_extra="  backoff_max: 5s\n")
    h.standin.state.faults.push(on_send(Fault.error(429, retry_after="1")))
    first = await queue_one(h)
    [refused] = await h.standin.state.wait_for_calls(1)

    async def refusal_seen() -> bool:
        return sample(h, "alertbridge_rate_limit_waits_total", scope="retry_after") == 1

    await wait_until(refusal_seen, what="the worker to take the 429")
    other = due_notification(phone=BOB_PHONE, text="bob's alert")
    await queue(h, other)
    await wait_state(h, other.id, "sent")
    await wait_state(h, first.id, "sent")
    bob_send = next(call for call in sends(h) if call.path.endswith(BOB_PHONE))
    assert bob_send.at - refused.at >= 0.95
    assert sample(h, "alertbridge_rate_limit_waits_total", scope="retry_after") == 1


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_legacy_server_error_after_processing_is_not_sent_twice(
    start_bridge: StartBridge, status: int
) -> None:
    """The legacy API has no idempotency and may fail after it sent the message (§A: never
    auto-retry it): a 5xx other than 503 leaves the outcome unknown, so no second send."""
    h = await start_bridge(api="legacy")
    h.standin.state.faults.push(on_send(Fault.error_after_processing(status)))
    n = await queue_one(h)
    dead = await wait_state(h, n.id, "dead")
    assert len(sends(h)) == 1
    assert len(h.standin.state.messages) == 1
    assert dead.last_error is not None
    assert f"HTTP {status}" in dead.last_error and "outcome is unknown" in dead.last_error


async def test_legacy_server_error_is_retried_when_opted_in(start_bridge: StartBridge) -> None:
    h = await start_bridge(api="legacy", blueticks_extra="  retry_unknown_outcome: true\n")
    h.standin.state.faults.push(on_send(Fault.error(500)))
    n = await queue_one(h)
    sent = await wait_state(h, n.id, "sent")
    assert sent.attempts == 2


@pytest.mark.parametrize(
    ("api", "blueticks_extra"),
    [("v1", ""), ("legacy", "  retry_unknown_outcome: true\n")],
    ids=["v1", "legacy-opted-in"],
)
async def test_connection_reset_is_retried(
    start_bridge: StartBridge, api: str, blueticks_extra: str
) -> None:
    h = await start_bridge(api=api, blueticks_extra=blueticks_extra)
    h.standin.state.faults.push(on_send(Fault.reset()))
    n = await queue_one(h)
    sent = await wait_state(h, n.id, "sent")
    assert sent.attempts == 2
    assert len(h.standin.state.messages) == 1


def http_date_in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "at_least"),
    [(lambda: "1", 0.95), (lambda: http_date_in(2), 0.95)],
    ids=["seconds", "http-date"],
)
async def test_retry_after_is_honoured(
    start_bridge: StartBridge, retry_after: object, at_least: float
) -> None:
    h = await start_bridge(api="v1", blueticks_extra="  backoff_max: 5s\n")
    assert callable(retry_after)
    h.standin.state.faults.push(on_send(Fault.error(429, retry_after=retry_after())))
    n = await queue_one(h)
    await wait_state(h, n.id, "sent")
    first, second = sends(h)[:2]
    # A lower bound only: the second attempt is never earlier than Retry-After allows.
    assert second.at - first.at >= at_least
    assert sample(h, "alertbridge_rate_limit_waits_total", scope="retry_after") == 1


async def test_retry_after_beyond_backoff_max_is_capped(start_bridge: StartBridge) -> None:
    h = await start_bridge(api="v1")  # backoff_max: 200ms in the harness
    h.standin.state.faults.push(on_send(Fault.error(429, retry_after="3600")))
    n = await queue_one(h)
    await wait_state(h, n.id, "sent", timeout=3.0)  # an uncapped wait would be an hour


async def test_legacy_send_without_an_answer_is_dead_lettered_as_outcome_unknown(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(api="legacy", blueticks_extra=SHORT_TIMEOUT)
    h.standin.state.faults.push(on_send(Fault.slow(2.0)))
    n = await queue_one(h)
    dead = await wait_state(h, n.id, "dead")
    assert dead.last_error is not None
    assert "outcome is unknown" in dead.last_error
    assert "retry_unknown_outcome" in dead.last_error
    assert len(sends(h)) == 1


async def test_legacy_send_without_an_answer_is_retried_when_opted_in(
    start_bridge: StartBridge,
) -> None:
    extra = SHORT_TIMEOUT + "  retry_unknown_outcome: true\n"
    h = await start_bridge(api="legacy", blueticks_extra=extra)
    h.standin.state.faults.push(on_send(Fault.slow(2.0)))
    n = await queue_one(h)
    sent = await wait_state(h, n.id, "sent")
    assert sent.attempts == 2


async def test_v1_retry_after_a_lost_answer_replays_without_a_second_message(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(api="v1", blueticks_extra=SHORT_TIMEOUT)
    h.standin.state.faults.push(on_send(Fault.drop_response(delay=2.0)))
    n = await queue_one(h)
    sent = await wait_state(h, n.id, "sent")
    assert sent.attempts == 2
    calls = sends(h)
    assert len(calls) == 2
    assert calls[0].headers["Idempotency-Key"] == calls[1].headers["Idempotency-Key"]
    assert len(h.standin.state.messages) == 1
    assert sent.provider_id == h.standin.state.messages[0].id


@pytest.mark.parametrize("status", [400, 401], ids=["bad-request", "unauthorized"])
async def test_permanent_errors_are_dead_lettered_at_once_with_the_reason(
    start_bridge: StartBridge, status: int
) -> None:
    h = await start_bridge(api="v1")
    h.standin.state.faults.push(on_send(Fault.error(status)), times=5)
    n = await queue_one(h)
    dead = await wait_state(h, n.id, "dead")
    assert len(sends(h)) == 1
    assert dead.attempts == 1
    assert dead.last_error is not None
    assert f"HTTP {status}" in dead.last_error
    assert sample(h, "alertbridge_notifications_total", route="alerts", outcome="dead") == 1
    assert sample(h, "alertbridge_send_attempts_total", outcome="permanent") == 1


@pytest.mark.parametrize(
    ("status", "says"), [(401, "wrong or revoked"), (403, "messages:write")], ids=["401", "403"]
)
async def test_rejected_key_is_shown_by_readiness_but_keeps_the_bridge_ready(
    start_bridge: StartBridge, status: int, says: str
) -> None:
    """Readiness is config and store (DESIGN.md): a bridge taken out of its Service after a
    401 would get no webhooks, send nothing and never see the key work again."""
    h = await start_bridge(api="v1")
    h.standin.state.faults.push(on_send(Fault.error(status)))
    await wait_state(h, (await queue_one(h)).id, "dead")
    assert sample(h, "alertbridge_sender_ready") == 0
    ready = await h.get("/readyz")
    assert ready.status == 200
    assert str(status) in ready.body["checks"]["sender"] and says in ready.body["checks"]["sender"]
    await wait_state(h, (await queue_one(h, "second")).id, "sent")
    assert sample(h, "alertbridge_sender_ready") == 1
    assert (await h.get("/readyz")).body["checks"]["sender"] == "ok"


async def test_conflict_is_retried_only_after_a_lost_answer(start_bridge: StartBridge) -> None:
    """A 409 right after an attempt that got no answer: that attempt (same key, same body) may
    still be in progress at Blueticks, and a later retry gets the original's 200 replay. After
    an attempt whose outcome is known, a 409 stays a dead letter."""
    h = await start_bridge(api="v1", blueticks_extra=SHORT_TIMEOUT)
    h.standin.state.faults.push(on_send(Fault.drop_response()))
    h.standin.state.faults.push(on_send(Fault.error(409)))
    lost = await queue_one(h)
    sent = await wait_state(h, lost.id, "sent")
    assert sent.attempts == 3
    assert len(h.standin.state.messages) == 1
    assert sent.provider_id == h.standin.state.messages[0].id

    h.standin.state.faults.push(on_send(Fault.error(503)))
    h.standin.state.faults.push(on_send(Fault.error(409)))
    known = await queue_one(h, "second")
    dead = await wait_state(h, known.id, "dead")
    assert dead.attempts == 2
    assert dead.last_error is not None and "HTTP 409" in dead.last_error


def lowest(low: float, high: float) -> float:
    return low


def highest(low: float, high: float) -> float:
    return high


async def test_resolved_never_overtakes_its_firing_while_the_firing_waits_to_retry(
    start_bridge: StartBridge,
) -> None:
    """One failed send must not reorder a recipient's messages: the last one they read is the
    alert's real state."""
    routes = "routes:\n  - name: alerts\n    source: alertmanager\n    to: [alice]\n"
    h = await start_bridge(routes=routes)
    h.standin.state.faults.push(on_send(Fault.error(503)), times=1)
    for status in ("firing", "resolved"):
        body = am_webhook(am_alert("db-1", status))
        assert (await h.post("/webhook/alertmanager", body, am_headers())).status == 202
    await h.standin.state.wait_for_messages(2)
    assert ["FIRING" in t for t in h.texts()] == [True, False]
    assert "RESOLVED" in h.texts()[1]


@pytest.mark.parametrize(
    ("attempt", "initial", "cap", "low", "high"),
    [
        (1, 1.0, 300.0, 0.5, 1.0),
        (2, 1.0, 300.0, 1.0, 2.0),
        (4, 1.0, 300.0, 4.0, 8.0),
        (10, 1.0, 300.0, 150.0, 300.0),
        (5000, 1.0, 300.0, 150.0, 300.0),
        (3, 1.0, 0.2, 0.1, 0.2),
    ],
    ids=["first", "second", "fourth", "capped", "absurd-attempt", "cap-below-initial"],
)
def test_backoff_doubles_up_to_the_cap_with_jitter_between_bounds(
    attempt: int, initial: float, cap: float, low: float, high: float
) -> None:
    assert backoff_delay(attempt, initial=initial, cap=cap, jitter=lowest) == low
    assert backoff_delay(attempt, initial=initial, cap=cap, jitter=highest) == high
    for _ in range(50):
        assert low <= backoff_delay(attempt, initial=initial, cap=cap) <= high


async def test_a_send_that_crashes_is_put_back_to_retry(tmp_path: Path) -> None:
    """A bug in a send (not a delivery error) must not strand the notification in 'sending'
    until the next restart: it goes back to pending, and out on the next try."""
    store = SqliteStore(str(tmp_path / "outbox.db"))
    await store.open()
    crashes: list[str] = []

    def crash_once(n: Notification) -> None:
        if not crashes:
            crashes.append(n.id)
            raise RuntimeError("a bug in the sender")

    sender = DryRunSender(on_send=crash_once)
    worker = OutboxWorker(store, sender, Metrics(), BluetickConfig(dry_run=True), idle_poll=0.5)
    alert = due_notification()
    await store.enqueue([alert])
    await worker.start()
    try:
        worker.wake()

        async def put_back() -> bool:
            n = await store.get_notification(alert.id)
            return n is not None and (n.state, n.last_error) == ("pending", "internal error")

        await wait_until(put_back, what="the crashed send back in pending")

        async def sent() -> bool:
            n = await store.get_notification(alert.id)
            return n is not None and n.state == "sent"

        await wait_until(sent, what="the retry to send it")
    finally:
        await worker.stop(1.0)
        await store.close()
    assert crashes == [alert.id]
    assert [n.id for n in sender.sent] == [alert.id] * 2  # the crashed try, then the retry
