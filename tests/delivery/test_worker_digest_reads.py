"""A storm to a paced recipient: its backlog is read about once a second, not once per wake,
and still merged into one digest before the recipient's bucket lets the next message go; the
claim query is not run for wakes that name only that recipient."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from conftest import ALICE_PHONE, BOB_PHONE, due_notification, wait_until

from bridge.config.schema import BluetickConfig, PacingConfig, RateConfig
from bridge.delivery.sender import DryRunSender
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.memory import MemoryStore


class BacklogReadCountingStore(MemoryStore):
    """The memory store, counting the backlog reads (pending_for) and claims the worker makes."""

    def __init__(self) -> None:
        super().__init__()
        self.backlog_reads = 0
        self.claims = 0

    async def pending_for(self, phone: str, limit: int = 1000) -> list[Notification]:
        self.backlog_reads += 1
        return await super().pending_for(phone, limit)

    async def claim_due(
        self,
        now: float,
        limit: int,
        exclude_phones: Collection[str] = (),
        per_phone: int | None = None,
    ) -> list[Notification]:
        self.claims += 1
        return await super().claim_due(now, limit, exclude_phones, per_phone)


async def test_a_storm_to_a_paced_recipient_reads_its_backlog_now_and_then() -> None:
    store = BacklogReadCountingStore()
    await store.open()
    sender = DryRunSender()
    # One message a second to the recipient; the global bucket never holds anything back.
    pacing = PacingConfig(
        global_rate=RateConfig(per_minute=60000, burst=1000),
        per_recipient=RateConfig(per_minute=60, burst=1),
        digest_after=3,
    )
    worker = OutboxWorker(store, sender, Metrics(), BluetickConfig(dry_run=True), pacing)
    await worker.start()
    try:
        first = due_notification(text="first")
        await store.enqueue([first])
        worker.wake()

        async def first_sent() -> bool:
            return len(sender.sent) == 1

        await wait_until(first_sent, 3.0, "the first message to be sent")
        reads_before = store.backlog_reads
        storm = [due_notification(text=f"update {i}", fingerprint=f"fp{i}") for i in range(40)]
        for n in storm:  # one webhook after another, each waking the worker
            await store.enqueue([n])
            worker.wake()
            await asyncio.sleep(0.001)
        reads_during_storm = store.backlog_reads - reads_before

        async def digest_sent() -> bool:
            return len(sender.sent) == 2

        await wait_until(digest_sent, 3.0, "one digest once the bucket refills")
    finally:
        await worker.stop(1.0)
    # 40 wakes in well under a second: one look at the backlog (two if a second passed).
    assert reads_during_storm <= 2
    digest = sender.sent[1]
    assert digest.text.startswith("📋 *40 updates in one digest*")
    merged = [await store.get_notification(n.id) for n in storm]
    assert {m.state for m in merged if m} == {"merged"}
    assert {m.merged_into for m in merged if m} == {digest.id}


async def test_wakes_naming_only_a_paced_recipient_skip_the_claim_query() -> None:
    store = BacklogReadCountingStore()
    await store.open()
    sender = DryRunSender()
    pacing = PacingConfig(
        global_rate=RateConfig(per_minute=60000, burst=1000),
        per_recipient=RateConfig(per_minute=60, burst=1),
        digest_after=3,
    )
    # No poll for 30 s: every claim below must come from a wake or from alice's bucket refilling.
    worker = OutboxWorker(
        store, sender, Metrics(), BluetickConfig(dry_run=True), pacing, idle_poll=30.0
    )
    await worker.start()
    try:
        await store.enqueue([due_notification(text="first")])
        worker.wake({ALICE_PHONE})

        async def sent(count: int) -> bool:
            return len(sender.sent) == count

        await wait_until(lambda: sent(1), 3.0, "the first message to alice")
        claims_before = store.claims
        for i in range(40):  # alice's bucket is empty: nothing of hers can be claimed now
            await store.enqueue([due_notification(text=f"update {i}", fingerprint=f"fp{i}")])
            worker.wake({ALICE_PHONE})
            await asyncio.sleep(0.001)
        claims_during_storm = store.claims - claims_before
        # A wake naming a phone that can send is claimed at once, mid-storm.
        await store.enqueue([due_notification(phone=BOB_PHONE, text="to bob")])
        worker.wake({BOB_PHONE})
        await wait_until(lambda: sent(2), 3.0, "bob's message, without waiting for a poll")
        # Alice's backlog goes as one digest when her bucket refills (about a second).
        await wait_until(lambda: sent(3), 3.0, "alice's digest once her bucket refills")
    finally:
        await worker.stop(1.0)
    assert claims_during_storm <= 2  # 40 wakes: none of them ran the claim query
    assert [n.phone for n in sender.sent] == [ALICE_PHONE, BOB_PHONE, ALICE_PHONE]
    assert sender.sent[2].text.startswith("📋 *40 updates in one digest*")
