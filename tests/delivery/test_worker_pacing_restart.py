"""Pacing survives a restart: a worker started on a store that recorded sends in the last minute
starts its buckets as those sends left them, not full, so a pod in a crash loop does not send a
burst per restart (the e2e storm: 3 before a SIGTERM, 3 straight after, where 6/min allows 1)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from conftest import ALICE_PHONE, BOB_PHONE, StartBridge, due_notification, queue, wait_until
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.config.schema import BluetickConfig, PacingConfig, RateConfig
from bridge.delivery.sender import DryRunSender
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.store import Store

# The defaults per recipient (a token every 10 s, bursts of 3); a generous global bucket.
PACING = PacingConfig(
    global_rate=RateConfig(per_minute=60000, burst=1000),
    per_recipient=RateConfig(per_minute=6, burst=3),
    digest_after=50,
)
START = 1_800_000_000.0


class ManualClock:
    """The worker's clocks (wall and monotonic alike): still until the test moves them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def record_sends(store: Store, phone: str, times: list[float]) -> None:
    """What an earlier run of the worker left: notifications to `phone` sent at `times`."""
    earlier = [
        make_notification(f"earlier-{phone}-{i}", phone=phone, created_at=at - 1)
        for i, at in enumerate(times)
    ]
    await store.enqueue(earlier)
    await store.claim_due(now=START, limit=len(earlier))
    for n, at in zip(earlier, times, strict=True):
        await store.mark_sent(n.id, now=at)


def pending(phone: str, count: int) -> list[Notification]:
    """`count` notifications to `phone`, due at START, accepted after everything recorded."""
    return [
        make_notification(
            f"new-{phone}-{i}",
            phone=phone,
            recipient="bob" if phone == BOB_PHONE else "alice",
            created_at=START + i / 1000,
            next_attempt_at=START,
        )
        for i in range(count)
    ]


@pytest.fixture
async def worker_on(store: Store) -> AsyncIterator[tuple[OutboxWorker, DryRunSender, ManualClock]]:
    clock = ManualClock(START)
    sender = DryRunSender()
    worker = OutboxWorker(
        store, sender, Metrics(), BluetickConfig(dry_run=True), PACING, clock=clock, monotonic=clock
    )
    try:
        yield worker, sender, clock
    finally:
        await worker.stop(1.0)


def sent_to(sender: DryRunSender, phone: str) -> list[str]:
    return [n.id for n in sender.sent if n.phone == phone]


async def test_recent_sends_hold_a_phone_back_after_a_restart(
    store: Store, worker_on: tuple[OutboxWorker, DryRunSender, ManualClock]
) -> None:
    worker, sender, clock = worker_on
    await record_sends(store, ALICE_PHONE, [START - 1.0] * 3)  # her burst, a second ago
    await record_sends(store, BOB_PHONE, [START - 40.0])  # refilled since
    await store.enqueue(pending(ALICE_PHONE, 3) + pending(BOB_PHONE, 1))
    await worker.start()
    assert worker.pacer.recipient_wait(ALICE_PHONE, START) == pytest.approx(9.0)
    assert worker.pacer.recipient_wait(BOB_PHONE, START) == 0.0
    worker.wake()

    async def bob_sent() -> bool:
        return len(sent_to(sender, BOB_PHONE)) == 1

    await wait_until(bob_sent, 5.0, "bob's message (his bucket refilled) to be sent")
    # Alice's are older, so without her recorded sends they would have gone first.
    assert sent_to(sender, ALICE_PHONE) == []

    clock.now = START + 9.0  # her next token
    worker.wake()

    async def alice_sent_one() -> bool:
        return len(sent_to(sender, ALICE_PHONE)) == 1

    await wait_until(alice_sent_one, 5.0, "alice's first message once her token is back")
    assert sent_to(sender, ALICE_PHONE) == [f"new-{ALICE_PHONE}-0"]  # the oldest
    assert worker.pacer.recipient_wait(ALICE_PHONE, clock.now) == pytest.approx(10.0)


async def test_sends_before_the_minute_leave_the_buckets_full(
    store: Store, worker_on: tuple[OutboxWorker, DryRunSender, ManualClock]
) -> None:
    worker, sender, _ = worker_on
    await record_sends(store, ALICE_PHONE, [START - 61.0] * 3)
    await store.enqueue(pending(ALICE_PHONE, 3))
    await worker.start()
    assert worker.pacer.tracked_recipients == 0
    assert worker.pacer.global_tokens(START) == 1000
    worker.wake()

    async def burst_sent() -> bool:
        return len(sent_to(sender, ALICE_PHONE)) == 3

    await wait_until(burst_sent, 5.0, "alice's burst of 3, the clock standing still")


async def test_recorded_sends_are_placed_on_the_monotonic_clock_by_their_age(store: Store) -> None:
    """The store keeps wall times; the buckets run on the monotonic clock, whose zero is
    unrelated: a send recorded a second ago is a second old on it too."""
    monotonic = ManualClock(1000.0)
    worker = OutboxWorker(
        store,
        DryRunSender(),
        Metrics(),
        BluetickConfig(dry_run=True),
        PACING,
        clock=ManualClock(START),
        monotonic=monotonic,
    )
    await record_sends(store, ALICE_PHONE, [START - 1.0] * 3)  # her burst, a second ago
    await record_sends(store, BOB_PHONE, [START - 40.0])  # refilled since
    try:
        await worker.start()
        assert worker.pacer.recipient_wait(ALICE_PHONE, monotonic.now) == pytest.approx(9.0)
        assert worker.pacer.recipient_wait(BOB_PHONE, monotonic.now) == 0.0
    finally:
        await worker.stop(1.0)


async def test_a_restarted_bridge_keeps_spacing_a_recipients_messages(
    start_bridge: StartBridge,
) -> None:
    """The real bridge, SQLite file and stand-in: 3 sent, a stop, a start, 3 more. A bucket of 3
    refilled at 1 a second lets the (3 + k)-th go no sooner than k s after the first."""
    paced = "pacing:\n  per_recipient: {per_minute: 60, burst: 3}\n  digest_after: 50\n"
    h = await start_bridge(extra=paced)
    await queue(h, *(due_notification(text=f"before {i}") for i in range(3)))
    await h.standin.state.wait_for_messages(3)
    await h.bridge.stop()
    restarted = Bridge(load_runtime(str(h.config_path)))
    await restarted.start()
    try:
        assert restarted.worker is not None
        await restarted.store.enqueue([due_notification(text=f"after {i}") for i in range(3)])
        restarted.worker.wake()
        await h.standin.state.wait_for_messages(6, timeout=10)
    finally:
        await restarted.stop()
    times = [call.at for call in h.standin.state.calls if call.method == "POST"]
    assert len(times) == 6
    assert times == sorted(times)
    # 0.1 s of slack for arrival jitter; without the restored bucket all three go at once.
    for k, at in enumerate(times[3:], start=1):
        assert at - times[0] >= k - 0.1, f"send {3 + k} came {at - times[0]:.2f} s after the first"
