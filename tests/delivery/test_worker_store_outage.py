"""A send goes out while the store cannot be written: the outcome is kept and written once the
store is back, so the message is neither stuck in 'sending' nor sent again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import ALICE_PHONE, BOB_PHONE, due_notification, wait_until

from bridge.config.schema import BluetickConfig
from bridge.delivery.sender import DryRunSender
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.sqlite import SqliteStore


@pytest.mark.parametrize("phones", [[ALICE_PHONE], [ALICE_PHONE, BOB_PHONE]])
async def test_sent_messages_are_recorded_once_the_store_is_back(
    tmp_path: Path, phones: list[str]
) -> None:
    path = str(tmp_path / "outbox.db")
    store = SqliteStore(path, busy_timeout=0.05)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)

    def store_goes_down(_: Notification) -> None:
        # Another process takes the write lock while the message is on its way out.
        if not other.in_transaction:
            other.execute("BEGIN EXCLUSIVE")

    sender = DryRunSender(on_send=store_goes_down)
    worker = OutboxWorker(store, sender, Metrics(), BluetickConfig(dry_run=True), idle_poll=0.1)
    sent = [due_notification(phone=phone) for phone in phones]
    await store.enqueue(sent)
    await worker.start()
    try:
        worker.wake()
        await wait_until(lambda: _sent_count(sender, len(sent)), 3.0, "the sends")

        async def recorded_as(state: str) -> bool:
            found = [await store.get_notification(n.id) for n in sent]
            return all(f is not None and f.state == state for f in found)

        # The write lock holds: the rows still say 'sending' (reads go on in WAL mode).
        await wait_until(lambda: recorded_as("sending"), 1.0, "the rows in 'sending'")
        other.execute("ROLLBACK")
        await wait_until(lambda: recorded_as("sent"), 3.0, "the outcomes written after the outage")
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
        await worker.stop(1.0)
    # Stopping puts 'sending' rows back to pending: the sent ones must not be among them.
    assert await recorded_as("sent")
    assert len(sender.sent) == len(sent)
    await store.close()


async def test_outcomes_still_unwritten_at_stop_leave_the_row_for_the_next_start(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "outbox.db")
    store = SqliteStore(path, busy_timeout=0.05)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    sender = DryRunSender(on_send=lambda _: other.execute("BEGIN EXCLUSIVE"))
    worker = OutboxWorker(store, sender, Metrics(), BluetickConfig(dry_run=True), idle_poll=0.1)
    n = due_notification()
    await store.enqueue([n])
    await worker.start()
    try:
        worker.wake()
        await wait_until(lambda: _sent_count(sender, 1), 3.0, "the send")
        await worker.stop(1.0)  # the store is still locked: stop neither fails nor hangs
    finally:
        if other.in_transaction:
            other.execute("ROLLBACK")
        other.close()
    found = await store.get_notification(n.id)
    assert found is not None and found.state == "sending"  # requeued (and resent) at next start
    await store.close()


async def _sent_count(sender: DryRunSender, count: int) -> bool:
    return len(sender.sent) == count
