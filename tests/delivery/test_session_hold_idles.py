"""A session hold that begins while the global bucket is empty leaves the worker idle: a bucket
that refills meanwhile must not wake it every millisecond until the session is back."""

from __future__ import annotations

import time

from conftest import ALICE_PHONE, BOB_PHONE, due_notification, wait_until

from bridge.config.schema import BluetickConfig, PacingConfig, RateConfig
from bridge.delivery.sender import DryRunSender
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.store.memory import MemoryStore

IDLE_POLL = 1.0


async def test_a_hold_begun_with_the_global_bucket_empty_sleeps_until_a_poll() -> None:
    store = MemoryStore()
    await store.open()
    sender = DryRunSender()
    pacing = PacingConfig(
        global_rate=RateConfig(per_minute=600, burst=1),  # a token every 0.1 s
        per_recipient=RateConfig(per_minute=600, burst=1),
    )
    worker = OutboxWorker(
        store, sender, Metrics(), BluetickConfig(dry_run=True), pacing, idle_poll=IDLE_POLL
    )
    await store.enqueue([due_notification(ALICE_PHONE), due_notification(BOB_PHONE)])
    await worker.start()
    try:
        worker.wake()

        async def one_sent_one_waiting_for_the_bucket() -> bool:
            return len(sender.sent) == 1 and worker._lanes.global_blocked

        await wait_until(one_sent_one_waiting_for_the_bucket, what="the global bucket to empty")
        worker.session.observe(False, via="event")  # session.disconnected: sends are held
        assert worker.session.holds_sends()

        async def bucket_refilled() -> bool:
            return worker.pacer.global_wait(time.monotonic()) == 0

        await wait_until(bucket_refilled, what="the global bucket to refill")
        assert worker._next_wake(time.monotonic()) > IDLE_POLL / 2
        assert len(sender.sent) == 1  # and still nothing more went out
    finally:
        await worker.stop(1.0)
        await store.close()
