"""A restarted worker's buckets resume from the sends the store recorded (`Pacer.resume`), on an
injected clock: a restart must not allow a burst more than the buckets would have."""

from __future__ import annotations

import pytest

from bridge.config.schema import PacingConfig, RateConfig
from bridge.delivery.pacing import Pacer

ALICE, BOB = "+14155550123", "+4915112345678"
NOW = 10_000.0


def pacer(
    global_rate: tuple[float, int] = (600, 100), per_recipient: tuple[float, int] = (6, 3)
) -> Pacer:
    config = PacingConfig(
        global_rate=RateConfig(per_minute=global_rate[0], burst=global_rate[1]),
        per_recipient=RateConfig(per_minute=per_recipient[0], burst=per_recipient[1]),
    )
    return Pacer(config, now=NOW)


@pytest.mark.parametrize(
    "sent",
    [{}, {ALICE: [NOW - 61.0, NOW - 60.5]}, {ALICE: [NOW - 35.0] * 3}],
    ids=["nothing-sent", "only-before-the-minute", "refilled-since"],
)
def test_nothing_sent_lately_resumes_as_a_fresh_pacer(sent: dict[str, list[float]]) -> None:
    fresh, resumed = pacer(), pacer()
    resumed.resume(sent, NOW)
    for at in (NOW, NOW + 1.0):
        assert resumed.global_tokens(at) == fresh.global_tokens(at) == 100
        assert resumed.check(ALICE, at) == fresh.check(ALICE, at)
    assert resumed.tracked_recipients == 0


@pytest.mark.parametrize(
    ("sends", "expected_wait"),
    [
        ([NOW - 2.0] * 3, 8.0),  # the burst used 2 s ago: the next token 10 s after it
        ([NOW - 0.2, NOW - 0.1, NOW], 9.8),  # the e2e storm: 3 sent just before the restart
        ([NOW - 25.0, NOW - 20.0, NOW - 15.0, NOW - 5.0], 0.0),  # 1.5 tokens by now
        ([NOW - 8.0] * 6, 2.0),  # a looser rate before: an empty bucket stays empty
        ([NOW + 30.0] * 3, 10.0),  # sent "later" (a clock that went back): counted now
    ],
    ids=["burst-2s-ago", "burst-just-now", "spread-out", "more-than-a-burst", "future-times"],
)
def test_recent_sends_to_a_phone_leave_its_bucket_as_they_would_have(
    sends: list[float], expected_wait: float
) -> None:
    p = pacer()
    p.resume({ALICE: sends}, NOW)
    assert p.recipient_wait(ALICE, NOW) == pytest.approx(expected_wait)
    assert p.recipient_wait(BOB, NOW) == 0.0


@pytest.mark.parametrize(
    ("wall_now", "expected_wait"),
    [(1_800_000_000.0, 8.0), (1_800_000_000.0 - 3600.0, 10.0)],
    ids=["sent-2s-ago", "wall-clock-stepped-back-since"],
)
def test_recorded_wall_times_are_placed_by_their_age_on_the_pacers_clock(
    wall_now: float, expected_wait: float
) -> None:
    """The store's wall times, the pacer on another clock (`now`: the monotonic one): a send
    recorded 2 s ago counts 2 s before `now`; one "later" than the wall clock counts at `now`."""
    p = pacer()
    p.resume({ALICE: [1_800_000_000.0 - 2.0] * 3}, NOW, wall_now=wall_now)
    assert p.recipient_wait(ALICE, NOW) == pytest.approx(expected_wait)


def test_the_global_bucket_resumes_from_every_phones_sends() -> None:
    p = pacer(global_rate=(20, 4), per_recipient=(600, 100))  # a token every 3 s overall
    p.resume({ALICE: [NOW - 1.0, NOW - 1.0], BOB: [NOW - 1.0, NOW - 1.0]}, NOW)
    assert p.global_tokens(NOW) == 0
    assert p.check(BOB, NOW).scope == "global"
    assert p.global_wait(NOW) == pytest.approx(2.0)


def test_the_bucket_allows_no_more_than_its_rate_after_the_restart() -> None:
    """Three sent just before the restart, then as many as the pacer lets go, each the moment
    it may: over the minute since the first, no more than burst + rate allow (3 + 6 = 9)."""
    p = pacer()
    first = NOW - 0.2
    p.resume({ALICE: [first, NOW - 0.1, NOW]}, NOW)
    at, sent = NOW, 3
    while (at := at + p.recipient_wait(ALICE, at)) <= first + 60.0:
        p.take(ALICE, at)
        sent += 1
    assert sent <= 3 + 6


@pytest.mark.parametrize(
    ("global_rate", "per_recipient", "horizon", "limit"),
    [
        ((20, 10), (6, 3), 60.0, 30),  # the defaults: each bucket fills in 30 s
        ((20, 10), (6, 30), 300.0, 110),  # a recipient's burst of 30 takes 5 min to fill
        ((2, 10), (6, 3), 300.0, 20),
    ],
    ids=["defaults", "slow-recipient-bucket", "slow-global-bucket"],
)
def test_the_sends_read_span_a_minute_or_a_bucket_filling(
    global_rate: tuple[float, int], per_recipient: tuple[float, int], horizon: float, limit: int
) -> None:
    p = pacer(global_rate, per_recipient)
    assert p.horizon == pytest.approx(horizon)
    assert p.resume_limit == limit
