"""How long a refused send waits: a 503's Retry-After (capped at backoff_max) over the plain
backoff, and 429s without one backing off further each time, up to backoff_max."""

from __future__ import annotations

import itertools

import pytest
from blueticks_standin_faults import Fault
from conftest import BridgeHarness, StartBridge, due_notification, queue, state_of, wait_until

from bridge.config.schema import BluetickConfig
from bridge.delivery.retry_policy import Retry, RetryPolicy
from bridge.errors import TransientDeliveryError

# Attempt 1's plain backoff is at most backoff_initial (1 s): any longer wait is Retry-After's.
POLICY = RetryPolicy(
    BluetickConfig(
        api="v1", base_url="http://blueticks.test", backoff_initial=1.0, backoff_max=60.0
    )
)


def unavailable(retry_after: float | None) -> TransientDeliveryError:
    return TransientDeliveryError("HTTP 503", status=503, retry_after=retry_after)


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [(None, 0.5, 1.0), (0.0, 0.5, 1.0), (30.0, 30.0, 30.0), (120.0, 60.0, 60.0)],
    ids=["none-plain-backoff", "zero-plain-backoff", "waits-retry-after", "capped-at-backoff-max"],
)
def test_server_unavailable_waits_its_retry_after_capped_at_backoff_max(
    retry_after: float | None, low: float, high: float
) -> None:
    decision = POLICY.after_transient(unavailable(retry_after), attempt=1)

    assert isinstance(decision, Retry)
    assert low <= decision.delay <= high


@pytest.mark.parametrize(
    ("refusals", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (4, 4.0, 8.0), (7, 30.0, 60.0), (30, 30.0, 60.0)],
    ids=["first", "second", "fourth", "reaches-the-cap", "stays-at-the-cap"],
)
def test_repeated_rate_limits_without_retry_after_back_off_further_up_to_the_cap(
    refusals: int, low: float, high: float
) -> None:
    hold = POLICY.after_rate_limit(TransientDeliveryError("HTTP 429", status=429), refusals)

    assert hold.pause is None
    assert low <= hold.delay <= high


def send_times(h: BridgeHarness) -> list[float]:
    return [call.at for call in h.standin.state.calls if call.method == "POST"]


async def test_a_503_retry_after_beyond_backoff_max_waits_backoff_max(
    start_bridge: StartBridge,
) -> None:
    """Retry-After 120 s with backoff_max 1 s: the retry comes after about 1 s, neither after
    the plain 25-50 ms backoff nor two minutes later."""
    h = await start_bridge(api="v1", blueticks_extra="  backoff_initial: 50ms\n  backoff_max: 1s\n")
    h.standin.state.faults.push(Fault.error(503, retry_after="120").on(method="POST"))
    alert = due_notification()

    await queue(h, alert)

    async def sent() -> bool:
        return await state_of(h, alert.id) == "sent"

    await wait_until(sent, timeout=5.0, what="the retry, a backoff_max after the 503")
    refused, retried = send_times(h)
    assert retried - refused >= 0.95


async def test_429s_without_retry_after_wait_longer_each_time(start_bridge: StartBridge) -> None:
    """backoff_initial 50 ms, backoff_max 400 ms: waits of at least 25, 50, 100, 200 and 200 ms
    (half of each doubling ceiling); the same short wait every time would hammer Blueticks."""
    h = await start_bridge(
        api="v1", blueticks_extra="  backoff_initial: 50ms\n  backoff_max: 400ms\n"
    )
    h.standin.state.faults.push(Fault.error(429).on(method="POST"), times=5)
    alert = due_notification()

    await queue(h, alert)

    async def sent() -> bool:
        return await state_of(h, alert.id) == "sent"

    await wait_until(sent, timeout=5.0, what="the alert sent after five 429s")
    gaps = [later - earlier for earlier, later in itertools.pairwise(send_times(h))]
    floors = [0.025, 0.05, 0.1, 0.2, 0.2]
    assert all(gap >= floor for gap, floor in zip(gaps, floors, strict=True)), gaps
