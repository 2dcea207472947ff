"""Token buckets and the pacer, on an injected clock: no waiting."""

from __future__ import annotations

import pytest

from bridge.config.schema import PacingConfig, RateConfig
from bridge.delivery.pacing import Pacer, TokenBucket

ALICE, BOB = "+14155550123", "+4915112345678"


def bucket(per_minute: float, burst: int, now: float = 1000.0) -> TokenBucket:
    return TokenBucket(RateConfig(per_minute=per_minute, burst=burst), now)


def pacer(
    global_rate: tuple[float, int] = (600, 100), per_recipient: tuple[float, int] = (60, 2)
) -> Pacer:
    config = PacingConfig(
        global_rate=RateConfig(per_minute=global_rate[0], burst=global_rate[1]),
        per_recipient=RateConfig(per_minute=per_recipient[0], burst=per_recipient[1]),
    )
    return Pacer(config, now=1000.0)


def test_a_full_bucket_allows_a_burst_then_makes_the_next_wait_one_interval() -> None:
    b = bucket(per_minute=60, burst=3)
    for _ in range(3):
        assert b.time_until_available(1000.0) == 0.0
        b.take(1000.0)
    assert b.time_until_available(1000.0) == pytest.approx(1.0)
    assert b.time_until_available(1000.4) == pytest.approx(0.6)
    assert b.time_until_available(1001.0) == 0.0


@pytest.mark.parametrize(
    ("per_minute", "burst", "sends", "expected_wait"),
    [
        (6, 1, 1, 10.0),
        (6, 3, 3, 10.0),
        (6, 3, 5, 30.0),
        (600, 1, 1, 0.1),
        (30, 2, 4, 6.0),
    ],
    ids=["6-per-min-one-send", "burst-used-up", "two-beyond-burst", "fast-rate", "30-per-min"],
)
def test_wait_after_sends_at_one_instant_follows_rate_and_burst(
    per_minute: float, burst: int, sends: int, expected_wait: float
) -> None:
    b = bucket(per_minute, burst)
    for _ in range(sends):
        b.take(1000.0)
    assert b.time_until_available(1000.0) == pytest.approx(expected_wait)


def test_refill_never_exceeds_the_burst() -> None:
    b = bucket(per_minute=60, burst=2)
    assert b.tokens(1_000_000.0) == 2.0
    b.take(1_000_000.0)
    assert b.tokens(1_000_000.0) == pytest.approx(1.0)


def test_a_clock_going_backwards_refills_nothing() -> None:
    b = bucket(per_minute=60, burst=1)
    b.take(1000.0)
    assert b.time_until_available(990.0) == pytest.approx(1.0)
    b.take(990.0)  # taking on an earlier clock must not rewind the bucket's time
    assert b.time_until_available(1000.0) == pytest.approx(2.0)


def test_one_recipient_being_paced_leaves_the_others_free() -> None:
    p = pacer(per_recipient=(60, 2))
    p.take(ALICE, 1000.0)
    p.take(ALICE, 1000.0)
    alice, bob = p.check(ALICE, 1000.0), p.check(BOB, 1000.0)
    assert (alice.ready, alice.scope, alice.wait) == (False, "recipient", pytest.approx(1.0))
    assert (bob.ready, bob.scope) == (True, None)
    assert p.paced_recipients(1000.0) == [ALICE]


def test_the_global_bucket_holds_everyone_back() -> None:
    p = pacer(global_rate=(60, 2), per_recipient=(600, 10))
    p.take(ALICE, 1000.0)
    p.take(BOB, 1000.0)
    decision = p.check("+33612345678", 1000.0)
    assert (decision.ready, decision.scope, decision.wait) == (False, "global", pytest.approx(1.0))


def test_the_longer_of_the_two_waits_is_reported() -> None:
    p = pacer(global_rate=(60, 1), per_recipient=(6, 1))
    p.take(ALICE, 1000.0)
    decision = p.check(ALICE, 1000.0)
    assert (decision.scope, decision.wait) == ("recipient", pytest.approx(10.0))


def test_buckets_of_idle_recipients_are_forgotten_once_full() -> None:
    p = pacer(per_recipient=(60, 1))
    p.take(ALICE, 1000.0)
    p.take(BOB, 1000.5)
    assert p.forget_idle(1001.0) == 1  # alice refilled, bob not yet
    assert p.tracked_recipients == 1
    assert p.check(ALICE, 1001.0).ready
    assert not p.check(BOB, 1001.0).ready


def test_a_pause_holds_every_recipient_until_it_ends() -> None:
    """Blueticks' Retry-After is the account's: every lane waits, with full buckets too."""
    p = pacer()
    p.pause(1005.0)
    p.pause(1002.0)  # an earlier end does not shorten it
    for phone in (ALICE, BOB):
        decision = p.check(phone, 1000.0)
        assert (decision.ready, decision.scope) == (False, "retry_after")
        assert decision.wait == pytest.approx(5.0)
    assert (p.global_tokens(1000.0), p.global_wait(1004.0)) == (0, pytest.approx(1.0))
    assert p.check(ALICE, 1005.0).ready
    assert p.global_tokens(1005.0) == 100
