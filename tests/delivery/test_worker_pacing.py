"""Pacing and digests through the real worker and the stand-in (real, generous rates)."""

from __future__ import annotations

import itertools
import time

from blueticks_standin import CallRecord
from conftest import (
    ALICE_PHONE,
    BOB_PHONE,
    BridgeHarness,
    StartBridge,
    due_notification,
    queue,
    state_of,
    wait_until,
)

from bridge.config.schema import BluetickConfig, PacingConfig, RateConfig
from bridge.delivery.sender import DryRunSender
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.store.memory import MemoryStore


def pacing(
    per_recipient: str, global_rate: str = "{per_minute: 60000, burst: 1000}", **more: int
) -> str:
    lines = [
        "pacing:",
        f"  global_rate: {global_rate}",
        f"  per_recipient: {per_recipient}",
        *(f"  {key}: {value}" for key, value in more.items()),
    ]
    return "\n".join(lines) + "\n"


def sends(h: BridgeHarness) -> list[CallRecord]:
    return [call for call in h.standin.state.calls if call.method == "POST"]


def sample(h: BridgeHarness, name: str, **labels: str) -> float:
    return h.bridge.metrics.registry.get_sample_value(name, labels) or 0.0


async def test_sends_to_one_recipient_are_spaced_by_its_bucket(start_bridge: StartBridge) -> None:
    h = await start_bridge(extra=pacing("{per_minute: 120, burst: 1}", digest_after=50))
    batch = [due_notification(text=f"update {i}") for i in range(4)]
    await queue(h, *batch)
    await h.standin.state.wait_for_messages(4, timeout=10)
    times = [call.at for call in sends(h)]
    # A lower bound only: one token every 0.5 s, so never two arrivals much closer (0.1 s of
    # slack for a send that took longer to arrive than the next, on a busy machine).
    assert all(later - earlier >= 0.4 for earlier, later in itertools.pairwise(times))
    assert h.texts() == [f"update {i}" for i in range(4)]  # in order
    for n in batch:
        stored = await h.bridge.store.get_notification(n.id)
        assert stored is not None
        assert (stored.state, stored.attempts) == ("sent", 1)  # waiting is not an attempt
    assert sample(h, "alertbridge_rate_limit_waits_total", scope="recipient") >= 1


async def test_the_global_bucket_spaces_sends_to_everyone(start_bridge: StartBridge) -> None:
    h = await start_bridge(
        extra=pacing("{per_minute: 60000, burst: 1000}", global_rate="{per_minute: 120, burst: 1}")
    )
    await queue(
        h, due_notification(ALICE_PHONE), due_notification(BOB_PHONE), due_notification(ALICE_PHONE)
    )
    await h.standin.state.wait_for_messages(3, timeout=10)
    times = [call.at for call in sends(h)]
    # One token every 0.5 s for everyone (0.1 s of slack for arrival jitter).
    assert all(later - earlier >= 0.4 for earlier, later in itertools.pairwise(times))
    assert sample(h, "alertbridge_rate_limit_waits_total", scope="global") >= 1


async def test_a_paced_recipient_does_not_hold_up_the_others(start_bridge: StartBridge) -> None:
    h = await start_bridge(extra=pacing("{per_minute: 6, burst: 1}", digest_after=50))
    alice = [due_notification(ALICE_PHONE, f"alice {i}") for i in range(3)]
    bob = due_notification(BOB_PHONE, "bob 0")
    await queue(h, *alice)
    await queue(h, bob)

    async def bob_sent() -> bool:
        return await state_of(h, bob.id) == "sent"

    await wait_until(bob_sent, 3.0, "bob's message, queued behind alice's, to be sent")
    # Alice's bucket allows one message per 10 s: her second is still waiting, not failed.
    assert await state_of(h, alice[0].id) == "sent"
    assert await state_of(h, alice[1].id) in ("pending", "sending")
    assert sorted(h.texts()) == ["alice 0", "bob 0"]


async def test_backlog_of_a_paced_recipient_is_merged_into_one_digest(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(extra=pacing("{per_minute: 60, burst: 1}", digest_after=3))
    first = due_notification(text="first")
    await queue(h, first)

    async def first_sent() -> bool:
        return await state_of(h, first.id) == "sent"

    await wait_until(first_sent, 3.0, "the first message to be sent")
    backlog = [due_notification(text=f"db-{i} down", fingerprint=f"fp{i % 3}") for i in range(5)]
    await queue(h, *backlog)
    await h.standin.state.wait_for_messages(2, timeout=5.0)
    digest_text = h.texts()[1]
    assert digest_text.startswith("📋 *5 updates in one digest* — 3 firing, 0 resolved")
    assert "db-4 down" in digest_text
    merged = [await h.bridge.store.get_notification(n.id) for n in backlog]
    assert {m.state for m in merged if m} == {"merged"}
    digest_ids = {m.merged_into for m in merged if m}
    assert len(digest_ids) == 1
    (digest_id,) = digest_ids
    assert digest_id is not None
    assert await state_of(h, digest_id) == "sent"
    assert sample(h, "alertbridge_digests_total") == 1
    assert sample(h, "alertbridge_digest_merged_notifications_total") == 5


class CountingStore(MemoryStore):
    """The memory store, counting the outbox count queries the worker makes."""

    def __init__(self) -> None:
        super().__init__()
        self.count_queries = 0

    async def outbox_counts(self):  # type: ignore[no-untyped-def]
        self.count_queries += 1
        return await super().outbox_counts()


async def test_outbox_depth_is_refreshed_about_once_a_second_not_per_send() -> None:
    store = CountingStore()
    await store.open()
    metrics = Metrics()
    generous = RateConfig(per_minute=60000, burst=1000)
    worker = OutboxWorker(
        store,
        DryRunSender(),
        metrics,
        BluetickConfig(dry_run=True),
        PacingConfig(global_rate=generous, per_recipient=generous),
    )
    await worker.start()
    try:
        batch = [due_notification(text=f"n{i}") for i in range(40)]
        await store.enqueue(batch)
        worker.wake()

        async def all_sent() -> bool:
            return len(await store.list_notifications("sent", 100)) == 40

        started = time.monotonic()
        await wait_until(all_sent, 5.0, "40 dry-run sends")
        queries_while_sending = store.count_queries
        elapsed = time.monotonic() - started

        def depth(state: str) -> float:
            sample = metrics.registry.get_sample_value("alertbridge_outbox_depth", {"state": state})
            return sample or 0.0

        async def gauge_caught_up() -> bool:
            return depth("sent") == 40

        await wait_until(gauge_caught_up, 3.0, "the depth gauge to show 40 sent")
        assert depth("pending") == 0
    finally:
        await worker.stop(1.0)
    # 40 sends, but the count query runs about once a second (plus once at the start).
    assert queries_while_sending <= elapsed + 2


async def test_a_retried_notification_is_not_folded_into_a_digest(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(extra=pacing("{per_minute: 60, burst: 1}", digest_after=3))
    first = due_notification(text="first")
    await queue(h, first)

    async def first_sent() -> bool:
        return await state_of(h, first.id) == "sent"

    await wait_until(first_sent, 3.0, "the first message to be sent")
    retried = due_notification(text="tried before", fingerprint="fp-r")
    retried.attempts = 1  # an earlier attempt may have reached WhatsApp
    backlog = [due_notification(text=f"db-{i} down", fingerprint=f"fp{i}") for i in range(3)]
    await queue(h, retried, *backlog)

    async def retried_sent() -> bool:
        return await state_of(h, retried.id) == "sent"

    await wait_until(retried_sent, 8.0, "the retried message to be sent on its own")
    assert {await state_of(h, n.id) for n in backlog} == {"merged"}
