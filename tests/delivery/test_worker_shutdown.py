"""Graceful shutdown: in-flight sends finish within the grace period, the rest stays pending."""

from __future__ import annotations

import time

import pytest
from blueticks_standin_faults import Fault
from conftest import (
    BridgeHarness,
    StartBridge,
    due_notification,
    outbox_state_count,
    queue,
    state_of,
    wait_until,
)

from bridge.model import Notification
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.store.sqlite import SqliteStore


async def send_in_flight(h: BridgeHarness, answer_after: float) -> Notification:
    """Queue one notification whose send Blueticks answers only after `answer_after` s."""
    h.standin.state.faults.push(Fault.drop_response(delay=answer_after).on(method="POST"))
    n = due_notification()
    await queue(h, n)
    await h.standin.state.wait_for_messages(1)  # received: the answer is on its way
    return n


async def test_in_flight_send_finishes_within_the_grace_period(start_bridge: StartBridge) -> None:
    h = await start_bridge(api="v1")
    n = await send_in_flight(h, answer_after=0.4)
    assert h.bridge.worker is not None
    await h.bridge.worker.stop(grace=5.0)
    assert await state_of(h, n.id) == "sent"


@pytest.mark.parametrize(
    ("api", "blueticks_extra"),
    [("v1", ""), ("legacy", "  retry_unknown_outcome: true\n")],
    ids=["v1", "legacy-retry-unknown-outcome"],
)
async def test_send_cut_off_at_the_deadline_goes_back_to_pending(
    start_bridge: StartBridge, api: str, blueticks_extra: str
) -> None:
    h = await start_bridge(api=api, blueticks_extra=blueticks_extra)
    n = await send_in_flight(h, answer_after=30.0)
    assert h.bridge.worker is not None
    started = time.monotonic()
    await h.bridge.worker.stop(grace=0.2)
    assert time.monotonic() - started < 5.0, "stop waited for the send, not the grace period"
    stored = await h.bridge.store.get_notification(n.id)
    assert stored is not None
    # Nothing is left in 'sending'; the next start sends it again (with v1, with the same
    # Idempotency-Key; with legacy, the config accepts a possible duplicate).
    assert (stored.state, stored.attempts) == ("pending", 0)
    assert await outbox_state_count(h, "sending") == 0


async def test_legacy_send_cut_off_at_the_deadline_is_a_dead_letter_not_sent_again(
    start_bridge: StartBridge,
) -> None:
    """Blueticks got the message; its answer did not come before the deadline. The legacy API
    has no idempotency: sending it again at the next start would be a second message."""
    h = await start_bridge(api="legacy")
    n = await send_in_flight(h, answer_after=30.0)
    h.bridge.shutdown_grace = 0.2  # what `alertbridge serve --grace 0.2` passes
    await h.bridge.stop()
    restarted = Bridge(load_runtime(str(h.config_path)))
    await restarted.start()
    try:
        stored = await restarted.store.get_notification(n.id)
        assert stored is not None
        assert stored.state == "dead"
        assert stored.last_error is not None
        assert "outcome is unknown" in stored.last_error
        assert "`alertbridge outbox retry` sends it again" in stored.last_error
        assert (await restarted.store.outbox_counts())["pending"] == 0  # nothing left to send
        # `outbox retry` is the way to send it again, knowingly.
        assert (await restarted.store.requeue([n.id], now=time.time())).requeued == 1
        assert restarted.worker is not None
        restarted.worker.wake()
        await h.standin.state.wait_for_messages(2)
    finally:
        await restarted.stop()
    assert len(h.standin.state.messages) == 2


async def test_notifications_held_by_pacing_stay_pending_for_the_next_start(
    start_bridge: StartBridge,
) -> None:
    paced = "pacing:\n  per_recipient: {per_minute: 6, burst: 1}\n  digest_after: 50\n"
    h = await start_bridge(extra=paced)
    batch = [due_notification(text=f"update {i}") for i in range(3)]
    await queue(h, *batch)
    await h.standin.state.wait_for_messages(1)

    async def first_sent() -> bool:
        return await state_of(h, batch[0].id) == "sent"

    await wait_until(first_sent, 3.0, "the first message to be sent")
    assert h.bridge.worker is not None
    await h.bridge.worker.stop(grace=1.0)
    assert [await state_of(h, n.id) for n in batch[1:]] == ["pending", "pending"]
    assert await outbox_state_count(h, "sending") == 0


async def test_nothing_is_claimed_after_stop(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    assert h.bridge.worker is not None
    await h.bridge.worker.stop(grace=1.0)
    n = due_notification()
    await queue(h, n)
    # The worker is stopped: a claim would have to happen within this await, if ever.
    assert (await h.bridge.store.claim_due(time.time() + 1, 10))[0].id == n.id
    assert h.standin.state.messages == []


async def test_bridge_stop_uses_the_grace_given_to_serve(start_bridge: StartBridge) -> None:
    h = await start_bridge(api="v1")
    n = await send_in_flight(h, answer_after=30.0)
    h.bridge.shutdown_grace = 0.2  # what `alertbridge serve --grace 0.2` passes
    started = time.monotonic()
    await h.bridge.stop()
    assert time.monotonic() - started < 5.0, "Bridge.stop did not use shutdown_grace"
    reopened = SqliteStore(h.bridge.runtime.config.store.path)
    await reopened.open()
    try:
        stored = await reopened.get_notification(n.id)
    finally:
        await reopened.close()
    assert stored is not None
    assert stored.state == "pending"
