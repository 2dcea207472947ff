"""Time intervals in the configuration: errors located by path, all at once, and routes that
name intervals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.config.schema import TimeIntervalConfig
from bridge.errors import ConfigErrors
from bridge.routing.time_intervals import compile_time_intervals
from bridge.runtime import load_runtime


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


ERRORS = [
    ({"weekdays": ["funday"]}, "weekdays[0]", "'funday' is not a weekday"),
    ({"weekdays": ["saturday:sunday"]}, "weekdays[0]", "runs backwards: weeks start on sunday"),
    ({"weekdays": ["monday:tuesday:friday"]}, "weekdays[0]", "is not a value or a range"),
    ({"days_of_month": ["0"]}, "days_of_month[0]", "0 is not a day of the month"),
    ({"days_of_month": ["1", "32"]}, "days_of_month[1]", "32 is not a day of the month"),
    ({"days_of_month": ["-1:5"]}, "days_of_month[0]", "must end so too"),
    ({"days_of_month": ["10:5"]}, "days_of_month[0]", "runs backwards"),
    ({"days_of_month": ["-1:-7"]}, "days_of_month[0]", "runs backwards"),
    ({"days_of_month": ["first"]}, "days_of_month[0]", "'first' is not a day of the month"),
    ({"months": ["13"]}, "months[0]", "13 is not a month"),
    ({"months": ["smarch"]}, "months[0]", "'smarch' is not a month"),
    ({"months": ["november:february"]}, "months[0]", "cannot wrap around the year"),
    ({"years": ["20x6"]}, "years[0]", "'20x6' is not a year"),
    ({"years": ["2027:2026"]}, "years[0]", "runs backwards: 2026 is before 2027"),
    (
        {"times": [{"start_time": "9:00", "end_time": "17:00"}]},
        "times[0].start_time",
        "'9:00' is not a time of day",
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "24:30"}]},
        "times[0].end_time",
        "'24:30' is not a time of day",
    ),
    (
        {"times": [{"start_time": "17:00", "end_time": "09:00"}]},
        "times[0]",
        "cannot cross midnight",
    ),
    (
        {"times": [{"start_time": "09:00", "end_time": "09:00"}]},
        "times[0]",
        "is not before end_time",
    ),
    ({"location": "Mars/Olympus_Mons"}, "location", "unknown time zone 'Mars/Olympus_Mons'"),
    ({"location": "Local"}, "location", "name an IANA time zone"),
    # Alertmanager 0.25 refuses a blank (not empty) location too.
    ({"location": " "}, "location", "unknown time zone ' '"),
]


@pytest.mark.parametrize(
    ("entry", "field", "message"), ERRORS, ids=[f"{e[1]}-{e[2][:24]}" for e in ERRORS]
)
def test_bad_entry_is_a_located_config_error(
    entry: dict[str, Any], field: str, message: str
) -> None:
    configs = [
        TimeIntervalConfig(name="fine", time_intervals=[]),
        TimeIntervalConfig.model_validate({"name": "bad", "time_intervals": [{}, entry]}),
    ]
    with pytest.raises(ConfigErrors) as caught:
        compile_time_intervals(configs)
    [error] = caught.value.errors
    assert error.path == f"time_intervals[1].time_intervals[1].{field}"
    assert message in error.message


def test_every_error_is_reported_at_once_and_duplicates_are_named() -> None:
    configs = [
        TimeIntervalConfig.model_validate({"name": "a", "time_intervals": [{"weekdays": ["x"]}]}),
        TimeIntervalConfig.model_validate({"name": "a", "time_intervals": [{"months": ["y"]}]}),
    ]
    with pytest.raises(ConfigErrors) as caught:
        compile_time_intervals(configs)
    assert [e.path for e in caught.value.errors] == [
        "time_intervals[0].time_intervals[0].weekdays[0]",
        "time_intervals[1].name",
        "time_intervals[1].time_intervals[0].months[0]",
    ]
    assert "duplicate time interval name 'a'" in caught.value.errors[1].message


CONFIG = """\
store: {{backend: memory}}
recipients:
  alice: "+14155550123"
time_intervals:
  - name: weekends
    time_intervals: [{{weekdays: [saturday, sunday], location: Europe/Berlin}}]
routes:
  - name: first
    to: [alice]
    mute_time_intervals: [weekends]
  - name: second
    to: [alice]
    active_time_intervals: [{active}]
    mute_time_intervals: [weekends, {mute}]
"""


def test_runtime_compiles_intervals_routes_name(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(active="weekends", mute="weekends"), encoding="utf-8")
    runtime = load_runtime(str(path))
    assert list(runtime.time_intervals) == ["weekends"]
    assert runtime.time_intervals["weekends"].contains(at("2026-03-07T12:00:00Z"))


def test_route_naming_an_unknown_interval_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(active="office-hours", mute="holidays"), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_runtime(str(path))
    assert [(e.file, e.path, e.message) for e in caught.value.errors] == [
        (
            str(path),
            "routes[1].active_time_intervals[0]",
            "unknown time interval 'office-hours' (defined: weekends)",
        ),
        (
            str(path),
            "routes[1].mute_time_intervals[1]",
            "unknown time interval 'holidays' (defined: weekends)",
        ),
    ]
