"""Time intervals: Alertmanager's matching rules, time zones and DST, and when the answer next
changes (configuration errors: test_time_interval_config_errors.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import yaml

from bridge.config.schema import TimeIntervalConfig
from bridge.routing.time_intervals import TimeInterval, compile_time_intervals

BUSINESS_BERLIN = {
    "weekdays": ["monday:friday"],
    "times": [{"start_time": "09:00", "end_time": "17:00"}],
    "location": "Europe/Berlin",
}
NIGHTLY_BERLIN = {
    "times": [{"start_time": "02:00", "end_time": "03:00"}],
    "location": "Europe/Berlin",
}
NINE_TO_FIVE_BERLIN = {
    "times": [{"start_time": "09:00", "end_time": "17:00"}],
    "location": "Europe/Berlin",
}
BUSINESS_NEW_YORK = {**BUSINESS_BERLIN, "location": "America/New_York"}
EMPTY_LOCATION_9_TO_5 = {"location": "", "times": [{"start_time": "09:00", "end_time": "17:00"}]}


def interval(*entries: dict[str, Any]) -> TimeInterval:
    config = TimeIntervalConfig.model_validate({"name": "t", "time_intervals": list(entries)})
    return compile_time_intervals([config])["t"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


CONTAINS = [
    # weekdays
    ({"weekdays": ["monday:friday"]}, "2026-03-06T23:59:00Z", True, "friday-last-minute"),
    ({"weekdays": ["monday:friday"]}, "2026-03-07T00:00:00Z", False, "saturday-midnight"),
    ({"weekdays": ["saturday", "sunday"]}, "2026-03-08T12:00:00Z", True, "sunday-in-list"),
    ({"weekdays": ["Monday"]}, "2026-03-09T12:00:00Z", True, "weekday-case-insensitive"),
    # times: start inclusive, end exclusive, 24:00 allowed
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}]},
        "2026-03-09T09:00:00Z",
        True,
        "start-inclusive",
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}]},
        "2026-03-09T16:59:59Z",
        True,
        "last-second",
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}]},
        "2026-03-09T17:00:00Z",
        False,
        "end-exclusive",
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "17:00"}]},
        "2026-03-09T08:59:00Z",
        False,
        "before-start",
    ),
    (
        {"times": [{"start_time": "22:00", "end_time": "24:00"}]},
        "2026-03-09T23:59:00Z",
        True,
        "until-24:00",
    ),
    (
        {"times": [{"start_time": "22:00", "end_time": "24:00"}]},
        "2026-03-10T00:00:00Z",
        False,
        "24:00-is-next-midnight",
    ),
    (
        {
            "times": [
                {"start_time": "01:00", "end_time": "02:00"},
                {"start_time": "05:00", "end_time": "06:00"},
            ]
        },
        "2026-03-09T05:30:00Z",
        True,
        "second-time-range",
    ),
    # days of month: negatives count from the end, ranges clamp to the month
    ({"days_of_month": ["-1"]}, "2026-02-28T12:00:00Z", True, "last-day-february"),
    ({"days_of_month": ["-1"]}, "2024-02-29T12:00:00Z", True, "last-day-leap-february"),
    ({"days_of_month": ["-1"]}, "2024-02-28T12:00:00Z", False, "not-last-day-leap-year"),
    ({"days_of_month": ["-1"]}, "2026-04-30T12:00:00Z", True, "last-day-april"),
    ({"days_of_month": ["1:7"]}, "2026-03-07T12:00:00Z", True, "range-end-inclusive"),
    ({"days_of_month": ["1:7"]}, "2026-03-08T00:00:00Z", False, "after-range"),
    ({"days_of_month": ["-7:-1"]}, "2026-04-24T00:00:00Z", True, "last-week-of-april"),
    ({"days_of_month": ["-7:-1"]}, "2026-04-23T23:59:00Z", False, "before-last-week"),
    ({"days_of_month": ["29:31"]}, "2026-02-28T12:00:00Z", False, "range-after-short-month"),
    ({"days_of_month": ["28:31"]}, "2026-02-28T12:00:00Z", True, "range-end-clamped"),
    # months and years
    ({"months": ["january:march"]}, "2026-03-31T23:59:00Z", True, "month-range-end"),
    ({"months": ["january:march"]}, "2026-04-01T00:00:00Z", False, "after-month-range"),
    ({"months": ["12"]}, "2026-12-01T00:00:00Z", True, "month-number"),
    ({"months": ["December"]}, "2026-12-31T00:00:00Z", True, "month-name-case"),
    ({"years": ["2025:2026"]}, "2026-12-31T23:59:00Z", True, "year-range-end"),
    ({"years": ["2025:2026"]}, "2027-01-01T00:00:00Z", False, "after-year-range"),
    # every field must match
    (
        {"weekdays": ["monday"], "times": [{"start_time": "09:00", "end_time": "10:00"}]},
        "2026-03-10T09:30:00Z",
        False,
        "all-fields-must-match",
    ),
    # locations
    (BUSINESS_BERLIN, "2026-01-15T08:00:00Z", True, "berlin-winter-09:00"),
    (BUSINESS_BERLIN, "2026-07-15T07:00:00Z", True, "berlin-summer-09:00"),
    (BUSINESS_BERLIN, "2026-07-15T15:00:00Z", False, "berlin-summer-17:00"),
    (BUSINESS_BERLIN, "2026-01-15T16:30:00Z", False, "berlin-winter-17:30"),
    (
        {"weekdays": ["monday"], "location": "America/New_York"},
        "2026-03-10T03:00:00Z",
        True,
        "new-york-still-monday",
    ),
    (
        {"days_of_month": ["1"], "location": "Asia/Tokyo"},
        "2026-04-30T15:00:00Z",
        True,
        "tokyo-already-may-1",
    ),
    (
        {"location": "UTC", "times": [{"start_time": "00:00", "end_time": "01:00"}]},
        "2026-04-30T00:30:00+02:00",
        False,
        "moment-offset-respected",
    ),
    # location '' is UTC, as Go's time.LoadLocation (checked against Alertmanager 0.25)
    (EMPTY_LOCATION_9_TO_5, "2024-01-01T08:59:59Z", False, "empty-location-utc-before"),
    (EMPTY_LOCATION_9_TO_5, "2024-01-01T09:00:00Z", True, "empty-location-utc-start"),
    (EMPTY_LOCATION_9_TO_5, "2024-01-01T16:59:59Z", True, "empty-location-utc-last"),
    (EMPTY_LOCATION_9_TO_5, "2024-01-01T17:00:00Z", False, "empty-location-utc-end"),
    # DST in Berlin: 2026-03-29 02:00-03:00 does not exist; 2026-10-25 02:00-03:00 happens twice
    (NIGHTLY_BERLIN, "2026-03-29T00:59:00Z", False, "spring-01:59-cet"),
    (NIGHTLY_BERLIN, "2026-03-29T01:00:00Z", False, "spring-03:00-cest"),
    (NIGHTLY_BERLIN, "2026-10-25T00:30:00Z", True, "autumn-first-02:30"),
    (NIGHTLY_BERLIN, "2026-10-25T01:30:00Z", True, "autumn-second-02:30"),
    (NIGHTLY_BERLIN, "2026-10-25T02:00:00Z", False, "autumn-03:00-cet"),
    # America/New_York: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00
    (BUSINESS_NEW_YORK, "2026-03-09T13:00:00Z", True, "new-york-edt-09:00"),
    (BUSINESS_NEW_YORK, "2026-03-06T13:00:00Z", False, "new-york-est-08:00"),
    (BUSINESS_NEW_YORK, "2026-11-02T14:00:00Z", True, "new-york-est-09:00"),
    # an entry without fields matches everything
    ({}, "2026-06-01T12:00:00Z", True, "empty-entry"),
]


@pytest.mark.parametrize(
    ("entry", "moment", "expected"), [c[:3] for c in CONTAINS], ids=[c[3] for c in CONTAINS]
)
def test_contains(entry: dict[str, Any], moment: str, expected: bool) -> None:
    assert interval(entry).contains(at(moment)) is expected


def test_named_interval_matches_when_any_entry_matches() -> None:
    either = interval({"weekdays": ["saturday"]}, {"weekdays": ["sunday"]})
    assert either.contains(at("2026-03-07T10:00:00Z"))
    assert either.contains(at("2026-03-08T10:00:00Z"))
    assert not either.contains(at("2026-03-09T10:00:00Z"))


def test_interval_without_entries_matches_nothing() -> None:
    assert not interval().contains(at("2026-03-09T10:00:00Z"))
    assert interval().next_change(at("2026-03-09T10:00:00Z")) is None


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        interval({}).contains(datetime(2026, 3, 9, 10, 0))


def test_unquoted_yaml_times_and_ranges_read_as_written() -> None:
    # YAML 1.1 reads 17:00 as 1020 and 1:5 as 65; Alertmanager's examples leave them unquoted.
    document = yaml.safe_load(
        """
        name: t
        time_intervals:
          - times: [{start_time: 17:00, end_time: 24:00}]
            days_of_month: [1:5, 28]
            months: [1:3]
            years: [2026]
        """
    )
    compiled = compile_time_intervals([TimeIntervalConfig.model_validate(document)])["t"]
    assert compiled.contains(at("2026-03-05T17:00:00Z"))
    assert compiled.contains(at("2026-01-28T23:59:00Z"))
    assert not compiled.contains(at("2026-03-06T17:00:00Z"))
    assert not compiled.contains(at("2026-03-05T16:59:00Z"))
    assert not compiled.contains(at("2026-04-01T18:00:00Z"))


NEXT_CHANGE = [
    (BUSINESS_BERLIN, "2026-03-06T15:00:00Z", "2026-03-06T16:00:00Z", "berlin-friday-ends-17:00"),
    (BUSINESS_BERLIN, "2026-03-06T16:30:00Z", "2026-03-09T08:00:00Z", "berlin-weekend-to-monday"),
    (
        NINE_TO_FIVE_BERLIN,
        "2026-03-28T16:30:00Z",
        "2026-03-29T07:00:00Z",
        "berlin-across-spring-dst",
    ),
    (
        NINE_TO_FIVE_BERLIN,
        "2026-10-24T15:30:00Z",
        "2026-10-25T08:00:00Z",
        "berlin-across-autumn-dst",
    ),
    (NIGHTLY_BERLIN, "2026-03-28T12:00:00Z", "2026-03-30T00:00:00Z", "berlin-skips-missing-hour"),
    (
        NIGHTLY_BERLIN,
        "2026-10-25T00:30:00Z",
        "2026-10-25T02:00:00Z",
        "berlin-repeated-hour-twice-long",
    ),
    (NIGHTLY_BERLIN, "2026-10-24T12:00:00Z", "2026-10-25T00:00:00Z", "berlin-before-repeated-hour"),
    (
        BUSINESS_NEW_YORK,
        "2026-03-07T23:00:00Z",
        "2026-03-09T13:00:00Z",
        "new-york-weekend-into-edt",
    ),
    (
        BUSINESS_NEW_YORK,
        "2026-10-30T22:00:00Z",
        "2026-11-02T14:00:00Z",
        "new-york-weekend-into-est",
    ),
    ({"months": ["december"]}, "2026-11-15T00:00:00Z", "2026-12-01T00:00:00Z", "month-starts"),
    ({"months": ["december"]}, "2026-12-15T00:00:00Z", "2027-01-01T00:00:00Z", "year-end"),
    (
        {"months": ["december"], "location": "Europe/Berlin"},
        "2026-12-15T00:00:00Z",
        "2026-12-31T23:00:00Z",
        "year-end-berlin",
    ),
    (
        {"months": ["december"], "location": "Asia/Tokyo"},
        "2026-11-20T00:00:00Z",
        "2026-11-30T15:00:00Z",
        "month-starts-a-day-early-in-utc-tokyo",
    ),
    (
        {"times": [{"start_time": "02:30", "end_time": "04:00"}], "location": "Europe/Berlin"},
        "2026-03-29T00:30:00Z",
        "2026-03-29T01:00:00Z",  # 02:30 never comes: 02:00 is 03:00, inside the range
        "berlin-range-starting-in-the-missing-hour",
    ),
    ({"years": ["2030"]}, "2026-05-01T00:00:00Z", "2030-01-01T00:00:00Z", "years-ahead"),
    ({"years": ["2026"]}, "2026-05-01T00:00:00Z", "2027-01-01T00:00:00Z", "year-ends"),
    (
        {"days_of_month": ["-1"], "location": "Europe/Berlin"},
        "2026-02-10T00:00:00Z",
        "2026-02-27T23:00:00Z",
        "last-day-of-month-berlin",
    ),
    (
        {"months": ["february"], "days_of_month": ["29"]},
        "2026-03-01T00:00:00Z",
        "2028-02-29T00:00:00Z",
        "next-leap-day",
    ),
    (
        {"days_of_month": ["-1"], "times": [{"start_time": "23:00", "end_time": "24:00"}]},
        "2026-12-31T23:30:00Z",
        "2027-01-01T00:00:00Z",
        "ends-at-new-year",
    ),
    ({}, "2026-05-01T00:00:00Z", None, "always-matches"),
    ({"years": ["2020"]}, "2026-05-01T00:00:00Z", None, "never-again"),
]


@pytest.mark.parametrize(
    ("entry", "moment", "expected"), [c[:3] for c in NEXT_CHANGE], ids=[c[3] for c in NEXT_CHANGE]
)
def test_next_change(entry: dict[str, Any], moment: str, expected: str | None) -> None:
    found = interval(entry).next_change(at(moment))
    assert found == (at(expected) if expected else None)


BRUTE_FORCE = [
    (NIGHTLY_BERLIN, "2026-03-27T00:00:00Z", "berlin-spring"),
    (NIGHTLY_BERLIN, "2026-10-23T00:00:00Z", "berlin-autumn"),
    (
        {
            "times": [
                {"start_time": "00:30", "end_time": "01:30"},
                {"start_time": "01:15", "end_time": "02:45"},
            ],
            "weekdays": ["sunday"],
            "location": "America/New_York",
        },
        "2026-10-30T00:00:00Z",
        "new-york-overlapping-ranges-autumn",
    ),
    (BUSINESS_NEW_YORK, "2026-03-05T00:00:00Z", "new-york-spring"),
    (
        {"times": [{"start_time": "01:10", "end_time": "01:20"}], "location": "America/New_York"},
        "2026-10-30T00:00:00Z",
        "new-york-repeated-hour-matches-twice",
    ),
    (
        {"days_of_month": ["-1"], "location": "Australia/Lord_Howe"},
        "2026-04-01T00:00:00Z",
        "half-hour-dst",
    ),
]


@pytest.mark.parametrize(
    ("entry", "start"), [c[:2] for c in BRUTE_FORCE], ids=[c[2] for c in BRUTE_FORCE]
)
def test_next_change_agrees_with_a_minute_by_minute_scan(entry: dict[str, Any], start: str) -> None:
    compiled = interval(entry)
    moment, end = at(start), at(start) + timedelta(days=5)
    while moment < end:
        found = compiled.next_change(moment)
        assert found is not None
        scan = moment + timedelta(minutes=1)
        while compiled.contains(scan) == compiled.contains(moment):
            scan += timedelta(minutes=1)
        assert found == scan, f"from {moment}"
        moment = found


def test_an_interval_that_always_matches_never_changes() -> None:
    assert interval({}).next_change(at("2026-01-01T00:00:00Z")) is None
