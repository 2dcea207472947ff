"""Alertmanager's time interval field syntax: one weekday, day-of-month, month or year range,
clock time or time zone from its text; ValueError says precisely what is wrong."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Alertmanager numbers weekdays from sunday = 0.
WEEKDAYS = {
    name: number
    for number, name in enumerate(
        ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
    )
}
MONTHS = {name.lower(): number for number, name in enumerate(calendar.month_name) if name}
_TIME = re.compile(r"(?:([01][0-9]|2[0-3]):([0-5][0-9])|(24):(00))")


@dataclass(frozen=True, slots=True)
class Span:
    """An inclusive range of integers (weekdays, days of month, months, years)."""

    begin: int
    end: int

    def __contains__(self, value: int) -> bool:
        return self.begin <= value <= self.end


def parse_weekdays(text: str) -> Span:
    """'monday' or 'monday:friday' (sunday = 0, as Alertmanager)."""

    def member(name: str) -> int:
        if name not in WEEKDAYS:
            raise ValueError(
                f"{name!r} is not a weekday (expected sunday … saturday, or a range such as"
                " monday:friday)"
            )
        return WEEKDAYS[name]

    first, last = _split_range(text)
    span = Span(member(first), member(last))
    if span.begin > span.end:
        raise ValueError(
            f"{text!r} runs backwards: weeks start on sunday, so write two entries"
            f" (e.g. '{first}:saturday' and 'sunday:{last}')"
        )
    return span


def parse_days_of_month(text: str) -> Span:
    """'1', '1:7', '-1' or '-7:-1' (negative: counted back from the month's last day)."""
    first, last = _split_range(text)
    span = Span(_integer(first, "a day of the month"), _integer(last, "a day of the month"))
    for value in (span.begin, span.end):
        if value == 0 or not -31 <= value <= 31:
            raise ValueError(
                f"{value} is not a day of the month (use 1 to 31, or -1 to -31 counting back"
                " from the last day)"
            )
    if span.begin < 0 < span.end:
        raise ValueError(
            f"{text!r}: a range that starts counting from the end of the month must end so"
            " too (e.g. -7:-1)"
        )
    # Negative days are checked as in the shortest month (28 days), as Alertmanager does.
    if (span.begin + 28 if span.begin < 0 else span.begin) > (
        span.end + 28 if span.end < 0 else span.end
    ):
        raise ValueError(f"{text!r} runs backwards: day {span.end} is always before {span.begin}")
    return span


def parse_months(text: str) -> Span:
    """'march', '3', 'january:march' or '1:3'."""

    def member(name: str) -> int:
        number = MONTHS.get(name)
        if number is None:
            number = _integer(name, "a month (january … december, or 1 … 12)")
        if not 1 <= number <= 12:
            raise ValueError(f"{number} is not a month (january … december, or 1 … 12)")
        return number

    first, last = _split_range(text)
    span = Span(member(first), member(last))
    if span.begin > span.end:
        raise ValueError(
            f"{text!r} runs backwards: {calendar.month_name[span.end].lower()} comes before"
            f" {calendar.month_name[span.begin].lower()} (a range cannot wrap around the year;"
            " write two entries)"
        )
    return span


def parse_years(text: str) -> Span:
    """'2026' or '2026:2027'."""
    first, last = _split_range(text)
    span = Span(_integer(first, "a year"), _integer(last, "a year"))
    for value in (span.begin, span.end):
        if not 1 <= value <= 9999:
            raise ValueError(f"{value} is not a year between 1 and 9999")
    if span.begin > span.end:
        raise ValueError(f"{text!r} runs backwards: {span.end} is before {span.begin}")
    return span


def parse_clock(text: str) -> int:
    """'HH:MM' (00:00 to 24:00) to minutes of the day."""
    found = _TIME.fullmatch(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a time of day HH:MM (00:00 to 24:00)")
    if found.group(1):
        return int(found.group(1)) * 60 + int(found.group(2))
    return 24 * 60


def parse_location(name: str | None) -> tzinfo:
    """An IANA time zone name; none or '' means UTC (as Go's time.LoadLocation)."""
    if not name or name == "UTC":
        return UTC
    if name == "Local":
        raise ValueError(
            "'Local' depends on the host; name an IANA time zone such as Europe/Berlin"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (expected an IANA name such as Europe/Berlin)"
        ) from None


def _split_range(text: str) -> tuple[str, str]:
    parts = text.strip().lower().split(":")
    if len(parts) == 1:
        return parts[0], parts[0]
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError(f"{text!r} is not a value or a range START:END")
    return parts[0], parts[1]


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not {what}") from None
