"""The time-mute decision: mute and active intervals as Alertmanager combines them, and until
when a muted route stays muted (what `when_muted: defer` holds notifications for)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bridge.config.schema import TimeIntervalConfig
from bridge.pipeline.mute import mute_state
from bridge.routing.time_intervals import compile_time_intervals

BERLIN = "Europe/Berlin"


def entries(name: str, *specs: dict[str, Any]) -> TimeIntervalConfig:
    return TimeIntervalConfig.model_validate({"name": name, "time_intervals": list(specs)})


INTERVALS = compile_time_intervals(
    [
        entries("weekends", {"weekdays": ["saturday", "sunday"], "location": BERLIN}),
        entries(
            "business",
            {
                "weekdays": ["monday:friday"],
                "times": [{"start_time": "09:00", "end_time": "17:00"}],
                "location": BERLIN,
            },
        ),
        entries(
            "late", {"times": [{"start_time": "16:00", "end_time": "18:00"}], "location": BERLIN}
        ),
        entries(
            "lunch", {"times": [{"start_time": "12:00", "end_time": "13:00"}], "location": BERLIN}
        ),
        entries("always", {}),
    ]
)

# Tuesday 2026-03-10; Berlin is UTC+1 until 2026-03-29.
CASES = [
    ([], [], "2026-03-10T12:00:00Z", False, None, "", "no-intervals"),
    ([], ["weekends"], "2026-03-11T12:00:00Z", False, None, "", "mute-not-in-effect"),
    (
        [],
        ["weekends"],
        "2026-03-07T12:00:00Z",
        True,
        "2026-03-08T23:00:00Z",
        "in mute_time_intervals weekends",
        "muted-until-monday-berlin",
    ),
    (["business"], [], "2026-03-10T10:00:00Z", False, None, "", "inside-active"),
    (
        ["business"],
        [],
        "2026-03-10T19:00:00Z",
        True,
        "2026-03-11T08:00:00Z",
        "outside active_time_intervals business",
        "outside-active-until-morning",
    ),
    (
        ["business"],
        ["lunch"],
        "2026-03-10T11:30:00Z",
        True,
        "2026-03-10T12:00:00Z",
        "in mute_time_intervals lunch",
        "mute-wins-over-active",
    ),
    (
        ["business"],
        ["late"],
        "2026-03-10T15:30:00Z",
        True,
        "2026-03-11T08:00:00Z",
        "in mute_time_intervals late",
        "mute-ends-outside-active-so-next-morning",
    ),
    (
        ["business"],
        ["weekends"],
        "2026-03-27T20:00:00Z",
        True,
        "2026-03-30T07:00:00Z",
        "outside active_time_intervals business",
        "friday-evening-to-monday-across-dst",
    ),
    (
        [],
        ["always"],
        "2026-03-10T12:00:00Z",
        True,
        None,
        "in mute_time_intervals always",
        "never-ends",
    ),
    (
        [],
        ["weekends", "late"],
        "2026-03-07T15:30:00Z",
        True,
        "2026-03-08T23:00:00Z",
        "in mute_time_intervals weekends, late",
        "every-muting-interval-named",
    ),
]


@pytest.mark.parametrize(
    ("active", "mute", "now", "muted", "until", "reason"),
    [c[:6] for c in CASES],
    ids=[c[6] for c in CASES],
)
def test_mute_state(
    active: list[str], mute: list[str], now: str, muted: bool, until: str | None, reason: str
) -> None:
    state = mute_state(
        [INTERVALS[n] for n in active], [INTERVALS[n] for n in mute], datetime.fromisoformat(now)
    )
    assert state.muted is muted
    assert state.until == (datetime.fromisoformat(until) if until else None)
    assert state.reason == reason


def test_route_is_not_muted_at_the_moment_its_mute_ends() -> None:
    active, mute = [INTERVALS["business"]], [INTERVALS["late"]]
    state = mute_state(active, mute, datetime.fromisoformat("2026-03-10T15:30:00Z"))
    assert state.until is not None
    assert not mute_state(active, mute, state.until).muted


def test_a_mute_end_found_once_is_right_for_every_later_and_earlier_question() -> None:
    """The end of a mute is searched once and reused while the mute lasts: asking again before,
    inside and after that mute (and a week later) gives what a fresh search gives."""
    weekends = [INTERVALS["weekends"]]
    asked = [
        "2026-03-07T10:00:00Z",  # Saturday: muted until Sunday 23:00 UTC (Monday, Berlin)
        "2026-03-08T12:00:00Z",  # inside the same weekend
        "2026-03-06T10:00:00Z",  # earlier: Friday, not muted
        "2026-03-09T01:00:00Z",  # after the mute ended
        "2026-03-14T10:00:00Z",  # the next weekend
        "2026-03-07T11:00:00Z",  # back to the first weekend
    ]
    expected = {
        "2026-03-07T10:00:00Z": "2026-03-08T23:00:00+00:00",
        "2026-03-08T12:00:00Z": "2026-03-08T23:00:00+00:00",
        "2026-03-06T10:00:00Z": None,
        "2026-03-09T01:00:00Z": None,
        "2026-03-14T10:00:00Z": "2026-03-15T23:00:00+00:00",
        "2026-03-07T11:00:00Z": "2026-03-08T23:00:00+00:00",
    }
    for moment in asked:
        state = mute_state([], weekends, datetime.fromisoformat(moment))
        end = expected[moment]
        assert state.muted is (end is not None), moment
        assert state.until == (datetime.fromisoformat(end) if end else None), moment
