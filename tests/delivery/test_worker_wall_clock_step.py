"""A wall clock stepped back an hour (an NTP step, a VM resumed) stops nothing the worker waits
for in memory: on the real worker, SQLite file and stand-in, with the wall clock the worker sees
stepped back mid-run, paced sends keep their pace, a paced backlog is still digested, a
Retry-After pause and a session hold end when they should. Notifications queued after the step
are stamped with the stepped clock, as the pipeline would stamp them."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from blueticks_standin import RunningStandin
from blueticks_standin_faults import Fault
from conftest import ALICE_PHONE, blueticks_config, due_notification, wait_until

from bridge.config.schema import PacingConfig, RateConfig
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.worker import Clock, OutboxWorker
from bridge.metrics import Metrics
from bridge.model import Notification, NotificationState
from bridge.store.sqlite import SqliteStore

HOUR = 3600.0
GENEROUS = RateConfig(per_minute=60000, burst=1000)


class SteppedWallClock:
    """The wall clock the worker sees: the real one, until the test steps it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def step(self, seconds: float) -> None:
        self.offset += seconds


class ManualClock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@dataclass
class SteppedWorker:
    store: SqliteStore
    worker: OutboxWorker
    wall: SteppedWallClock
    standin: RunningStandin

    async def queue(self, count: int, text: str = "alert") -> list[Notification]:
        """`count` notifications to alice, due now on the worker's wall clock."""
        notifications = []
        for i in range(count):
            n = due_notification(text=f"{text} {i}", fingerprint=f"{text}-{i}")
            n.created_at = n.next_attempt_at = self.wall() + i / 1000
            notifications.append(n)
        await self.store.enqueue(notifications)
        self.worker.wake()
        return notifications

    def send_times(self) -> list[float]:
        return [call.at for call in self.standin.state.calls if call.method == "POST"]

    async def wait_for_states(
        self, notifications: list[Notification], state: NotificationState
    ) -> None:
        async def all_in_state() -> bool:
            found = [await self.store.get_notification(n.id) for n in notifications]
            return all(f is not None and f.state == state for f in found)

        await wait_until(all_in_state, 5.0, f"{len(notifications)} notifications {state}")


StartWorker = Callable[..., Awaitable[SteppedWorker]]


@pytest.fixture
async def start_worker(tmp_path: Path, standin: RunningStandin) -> AsyncIterator[StartWorker]:
    async with AsyncExitStack() as stack:

        async def start(pacing: PacingConfig, monotonic: Clock = time.monotonic) -> SteppedWorker:
            store = SqliteStore(str(tmp_path / "alertbridge.db"))
            await store.open()
            stack.push_async_callback(store.close)
            session = await stack.enter_async_context(aiohttp.ClientSession())
            config = blueticks_config(standin.url)
            wall = SteppedWallClock()
            worker = OutboxWorker(
                store,
                V1BlueticksClient(session, config),
                Metrics(),
                config,
                pacing,
                clock=wall,
                monotonic=monotonic,
            )
            await worker.start()
            stack.push_async_callback(worker.stop, 1.0)
            return SteppedWorker(store, worker, wall, standin)

        yield start


async def test_paced_sends_keep_their_pace_after_the_wall_clock_steps_back(
    start_worker: StartWorker,
) -> None:
    one_a_second = RateConfig(per_minute=60, burst=1)
    w = await start_worker(PacingConfig(global_rate=GENEROUS, per_recipient=one_a_second))
    await w.queue(1, "before")
    await w.standin.state.wait_for_messages(1)
    w.wall.step(-HOUR)
    await w.queue(3, "after")
    # A bucket refilled on the wall clock would stay empty until it caught up: an hour.
    await w.standin.state.wait_for_messages(4, timeout=6.0)
    times = w.send_times()
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(gap >= 0.9 for gap in gaps), f"faster than 1 a second: {gaps}"


async def test_a_paced_backlog_is_digested_after_the_wall_clock_steps_back(
    start_worker: StartWorker,
) -> None:
    one_per_ten_seconds = RateConfig(per_minute=6, burst=1)
    w = await start_worker(
        PacingConfig(global_rate=GENEROUS, per_recipient=one_per_ten_seconds, digest_after=3)
    )
    await w.queue(1, "before")
    await w.standin.state.wait_for_messages(1)

    async def backlog_watched() -> bool:
        return ALICE_PHONE in w.worker._digests.watched

    await wait_until(backlog_watched, what="the worker to look at alice's paced backlog")
    w.wall.step(-HOUR)
    backlog = await w.queue(3, "storm")
    # Looked at once per digest interval: measured on the wall clock, the next look is an hour
    # away.
    await w.wait_for_states(backlog, "merged")


async def test_a_retry_after_pause_ends_after_the_wall_clock_steps_back(
    start_worker: StartWorker,
) -> None:
    w = await start_worker(PacingConfig(global_rate=GENEROUS, per_recipient=GENEROUS))
    w.standin.state.faults.push(Fault.error(429, retry_after="1").on(method="POST"))
    await w.queue(1)

    async def refusal_taken() -> bool:
        registry = w.worker.metrics.registry
        labels = {"scope": "retry_after"}
        return registry.get_sample_value("alertbridge_rate_limit_waits_total", labels) == 1

    await wait_until(refusal_taken, what="the worker to take the 429")
    w.wall.step(-HOUR)
    await w.standin.state.wait_for_messages(1, timeout=5.0)
    refused, sent = w.send_times()
    assert sent - refused >= 0.95


async def test_a_session_hold_ends_after_the_wall_clock_steps_back(
    start_worker: StartWorker,
) -> None:
    """A disconnect seen once (an event) holds sends for a minute of the monotonic clock, not
    until the wall clock comes back to a minute after it was seen."""
    monotonic = ManualClock()
    generous = PacingConfig(global_rate=GENEROUS, per_recipient=GENEROUS)
    w = await start_worker(generous, monotonic=monotonic)
    w.worker.session.observe(False, via="session.disconnected")
    w.wall.step(-HOUR)
    await w.queue(1)
    assert w.worker.session.holds_sends()
    monotonic.now += 61.0  # past the unconfirmed hold (60 s)
    w.worker.wake()
    await w.standin.state.wait_for_messages(1, timeout=5.0)
