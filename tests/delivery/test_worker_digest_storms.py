"""A storm to a paced recipient, on the real worker, SQLite file and stand-in, with the worker's
clock moved by hand so each look at the backlog and each bucket refill happens when the test
says: a digest that waits takes in what comes after it and lists every update it carries, and a
refilled bucket gets one message claimed, not a lane full that escapes the digest."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from blueticks_standin import RunningStandin
from conftest import ALICE_PHONE, blueticks_config, wait_until

from bridge.config.schema import PacingConfig, RateConfig
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.digest import build_digest
from bridge.delivery.worker import OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification, NotificationState
from bridge.store.sqlite import SqliteStore

# One message every 5 s to a recipient (the worker's clock moves only when the test moves it);
# the worker looks at a paced backlog once per second of that clock.
PACING = PacingConfig(
    global_rate=RateConfig(per_minute=60000, burst=1000),
    per_recipient=RateConfig(per_minute=12, burst=1),
    digest_after=5,
)
REFILL = 5.0
START = time.time()


class ManualClock:
    """The worker's clocks (wall and monotonic alike): still until the test moves them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class PacedWorker:
    store: SqliteStore
    worker: OutboxWorker
    clock: ManualClock
    standin: RunningStandin

    def texts(self) -> list[str]:
        return [m.request.get("text") or "" for m in self.standin.state.messages]

    async def queue(self, *notifications: Notification) -> None:
        await self.store.enqueue(list(notifications))
        self.worker.wake()

    async def move_clock_to(self, at: float) -> None:
        """Move the clock `at` seconds past START and wake the worker, as time passing would."""
        self.clock.now = START + at
        self.worker.wake()

    async def sent(self, count: int) -> None:
        await self.standin.state.wait_for_messages(count)

    async def wait_for_states(
        self, notifications: list[Notification], state: NotificationState
    ) -> list[Notification]:
        async def all_in_state() -> bool:
            found = [await self.store.get_notification(n.id) for n in notifications]
            return all(f is not None and f.state == state for f in found)

        await wait_until(all_in_state, 5.0, f"{len(notifications)} notifications {state}")
        found = [await self.store.get_notification(n.id) for n in notifications]
        return [f for f in found if f is not None]


@pytest.fixture
async def paced(tmp_path: Path, standin: RunningStandin) -> AsyncIterator[PacedWorker]:
    store = SqliteStore(str(tmp_path / "alertbridge.db"))
    await store.open()
    async with aiohttp.ClientSession() as session:
        sender = V1BlueticksClient(session, blueticks_config(standin.url))
        clock = ManualClock(START)
        worker = OutboxWorker(
            store,
            sender,
            Metrics(),
            blueticks_config(standin.url),
            PACING,
            clock=clock,
            monotonic=clock,
        )
        await worker.start()
        try:
            yield PacedWorker(store, worker, clock, standin)
        finally:
            await worker.stop(1.0)
            await store.close()


def alert(number: int, at: float = 0.0) -> Notification:
    """One firing alert's message (several lines, as the default template renders one),
    accepted `at` seconds past START."""
    text = (
        f"🔥 FIRING alert{number}\n"
        f"summary: disk {number} is full on host-{number}.example.com\n"
        "value: 99% of /var/lib/postgresql used\n"
        f"runbook: https://runbooks.example.com/disk-full/{number}"
    )
    return Notification(
        id=f"n{number:03}",
        route="alerts",
        recipient="alice",
        phone=ALICE_PHONE,
        text=text,
        created_at=START + at + number / 1000,
        next_attempt_at=START + at,
        event_keys=[(f"fp{number}", "firing")],
    )


async def send_first_and_empty_the_bucket(paced: PacedWorker) -> None:
    await paced.queue(alert(0))
    await paced.sent(1)


async def test_a_waiting_digest_takes_in_later_alerts_and_lists_every_one(
    paced: PacedWorker,
) -> None:
    await send_first_and_empty_the_bucket(paced)
    first_wave = [alert(i) for i in range(1, 6)]
    await paced.queue(*first_wave)
    await paced.move_clock_to(1.0)  # the next look at the paced backlog
    merged = await paced.wait_for_states(first_wave, "merged")
    digest_id = merged[0].merged_into
    assert digest_id is not None
    second_wave = [alert(i, at=1.5) for i in range(6, 11)]
    await paced.queue(*second_wave)
    await paced.move_clock_to(2.0)  # another look, the bucket still empty
    await paced.wait_for_states(second_wave, "merged")

    await paced.move_clock_to(REFILL)
    await paced.sent(2)
    digest = paced.texts()[1]
    assert digest.startswith("📋 *10 updates in one digest* — 10 firing, 0 resolved")
    assert all(f"alert{i}\n" in digest for i in range(1, 11)), digest
    assert "more lines" not in digest
    # Every original points at the one message that carried it, and that message went out.
    originals = [await paced.store.get_notification(n.id) for n in first_wave + second_wave]
    assert {(o.state, o.merged_into) for o in originals if o} == {("merged", digest_id)}
    sent = await paced.store.get_notification(digest_id)
    assert sent is not None and sent.state == "sent"
    assert len(await paced.store.list_notifications("merged")) == 10  # no digest in a digest


async def test_a_digest_left_waiting_by_an_earlier_run_takes_in_later_alerts(
    paced: PacedWorker,
) -> None:
    """What the digest carries is read back from the store: the worker that merged it is gone."""
    carried = [alert(i) for i in range(1, 6)]
    earlier_digest = build_digest(carried, digest_id="earlier-digest", now=START)
    await paced.store.enqueue(carried)
    assert await paced.store.merge_into([n.id for n in carried], earlier_digest) == 5
    # A requeued dead letter (accepted before them) goes first and empties the bucket.
    await paced.queue(alert(0, at=-60.0))
    await paced.sent(1)
    later = [alert(i, at=0.5) for i in range(6, 11)]
    await paced.queue(*later)
    await paced.move_clock_to(1.0)
    merged = await paced.wait_for_states(later, "merged")
    assert {n.merged_into for n in merged} == {"earlier-digest"}

    await paced.move_clock_to(REFILL)
    await paced.sent(2)
    digest = paced.texts()[1]
    assert digest.startswith("📋 *10 updates in one digest* — 10 firing, 0 resolved")
    assert all(f"alert{i}\n" in digest for i in range(1, 11)), digest


async def test_a_refilled_bucket_gets_one_message_claimed_and_the_rest_digested(
    paced: PacedWorker,
) -> None:
    await send_first_and_empty_the_bucket(paced)
    below_digest_after = [alert(i) for i in range(1, 5)]
    await paced.queue(*below_digest_after)
    await paced.move_clock_to(REFILL)  # one token: one message may go
    await paced.sent(2)
    assert paced.texts()[1].startswith("🔥 FIRING alert1\n")
    # The rest waits in the outbox, where the next digest can merge it, not in the worker.
    await paced.wait_for_states(below_digest_after[1:], "pending")

    storm = [alert(i, at=REFILL) for i in range(5, 25)]
    await paced.queue(*storm)
    await paced.move_clock_to(REFILL + 1.0)
    await paced.wait_for_states(below_digest_after[1:] + storm, "merged")
    await paced.move_clock_to(2 * REFILL)
    await paced.sent(3)
    assert paced.texts()[2].startswith("📋 *23 updates in one digest*")
