"""Alertmanager `time_intervals`: compiled once, then asked "does this moment match?" and
"when does that next change?" (the end of a mute window, for deferred notifications)."""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from bridge.config.schema import TimeIntervalConfig, TimeIntervalSpec
from bridge.errors import ConfigError, ConfigErrors
from bridge.routing.time_interval_fields import (
    Span,
    parse_clock,
    parse_days_of_month,
    parse_location,
    parse_months,
    parse_weekdays,
    parse_years,
)

MINUTES_PER_DAY = 1440
# How far next_change looks ahead: four years cover every leap-day and weekday combination.
DEFAULT_HORIZON = timedelta(days=4 * 366)

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class IntervalEntry:
    """One entry of a named interval: a moment matches when every given field matches."""

    times: tuple[tuple[int, int], ...] | None  # [start, end) in minutes of the day
    weekdays: tuple[Span, ...] | None
    days_of_month: tuple[Span, ...] | None  # negative: counted from the end of the month
    months: tuple[Span, ...] | None
    years: tuple[Span, ...] | None
    zone: tzinfo = UTC

    def contains(self, moment: datetime) -> bool:
        local = _aware(moment).astimezone(self.zone)
        return self.matches_day(local.date()) and self._matches_minute(
            local.hour * 60 + local.minute
        )

    def matches_day(self, day: date) -> bool:
        """Whether the calendar fields (all but times) match this local date."""
        if self.days_of_month is not None and not self._matches_day_of_month(day):
            return False
        if self.months is not None and not any(day.month in s for s in self.months):
            return False
        if self.weekdays is not None and not any(day.isoweekday() % 7 in s for s in self.weekdays):
            return False
        return self.years is None or any(day.year in s for s in self.years)

    def _matches_minute(self, minute: int) -> bool:
        return self.times is None or any(start <= minute < end for start, end in self.times)

    def _matches_day_of_month(self, day: date) -> bool:
        # As Alertmanager: negative indices count back from the month's last day (-1), a range
        # starting after the month's end matches nothing, other ends are clamped to the month.
        days = calendar.monthrange(day.year, day.month)[1]
        for span in self.days_of_month or ():
            begin = days + span.begin + 1 if span.begin < 0 else span.begin
            end = days + span.end + 1 if span.end < 0 else span.end
            if begin > days:
                continue
            if max(begin, -days) <= day.day <= min(end, days):
                return True
        return False

    def boundaries(self, day: date) -> list[datetime]:
        """The instants during local `day` at which this entry's state may change."""
        walls: set[int] = set()
        starts_matching = self.matches_day(day) and self._matches_minute(0)
        yesterday = day - _DAY
        ended_matching = self.matches_day(yesterday) and self._matches_minute(MINUTES_PER_DAY - 1)
        if starts_matching != ended_matching:
            walls.add(0)
        if self.times is not None and self.matches_day(day):
            walls.update(m for span in self.times for m in span if 0 < m < MINUTES_PER_DAY)
        return [instant for wall in sorted(walls) for instant in self._occurrences(day, wall)]

    def _occurrences(self, day: date, minute: int) -> list[datetime]:
        """The UTC instants whose local reading is `minute` on `day`: none in a DST gap,
        two in a DST fold."""
        wall = datetime.combine(day, time(minute // 60, minute % 60))
        found: list[datetime] = []
        for fold in (0, 1):
            instant = wall.replace(tzinfo=self.zone, fold=fold).astimezone(UTC)
            if instant.astimezone(self.zone).replace(tzinfo=None) == wall and instant not in found:
                found.append(instant)
        return found

    def first_possible_day(self, day: date) -> date | None:
        """The first date from `day` on whose year and month match; None if there is none."""
        year, first = day.year, day
        while year <= date.max.year:
            if self.years is not None and not any(year in s for s in self.years):
                later = [s.begin for s in self.years if s.begin > year]
                if not later or min(later) > date.max.year:
                    return None
                year = min(later)
                first = date(year, 1, 1)
                continue
            for month in range(first.month, 13):
                if self.months is None or any(month in s for s in self.months):
                    return first if month == first.month else date(year, month, 1)
            year += 1
            if year <= date.max.year:
                first = date(year, 1, 1)
        return None


@dataclass(frozen=True, slots=True)
class TimeInterval:
    """A named time interval: matches when any of its entries matches."""

    name: str
    entries: tuple[IntervalEntry, ...]

    def contains(self, moment: datetime) -> bool:
        return any(entry.contains(moment) for entry in self.entries)

    def next_change(
        self, moment: datetime, horizon: timedelta = DEFAULT_HORIZON
    ) -> datetime | None:
        """The first instant after `moment` at which contains() gives the other answer (UTC);
        None if that does not happen within `horizon`."""
        return next_flip([self], moment, self.contains, horizon)


def next_flip(
    intervals: Sequence[TimeInterval],
    moment: datetime,
    state: Callable[[datetime], bool],
    horizon: timedelta = DEFAULT_HORIZON,
) -> datetime | None:
    """The first instant after `moment` at which `state` (a function of these intervals'
    answers only) differs from its value at `moment`; None if not within `horizon`.

    The state can only change where some entry's can: at the local boundaries of its days and
    times and at the zone's UTC offset changes. Those candidates are visited in order, one UTC
    day at a time, jumping over years and months no entry can match.
    """
    start = _aware(moment).astimezone(UTC)
    initial = state(start)
    entries = [entry for interval in intervals for entry in interval.entries]
    window = start.replace(hour=0, minute=0, second=0, microsecond=0)
    limit = start + horizon
    while window <= limit:
        window_end = window + _DAY
        candidates = sorted(
            {c for entry in entries for c in _candidates(entry, window, window_end) if c > start}
        )
        for candidate in candidates:
            if candidate > limit:
                return None
            if state(candidate) != initial:
                return candidate
        following = _next_window(entries, window_end)
        if following is None:
            return None
        window = following
    return None


def _candidates(entry: IntervalEntry, start: datetime, end: datetime) -> Iterator[datetime]:
    """Instants in [start, end) at which the entry's state may change."""
    first = start.astimezone(entry.zone).date() - _DAY  # a DST fold can reach back a day
    last = end.astimezone(entry.zone).date()
    day = first
    while day <= last:
        for instant in entry.boundaries(day):
            if start <= instant < end:
                yield instant
        day += _DAY
    yield from _offset_changes(entry.zone, start, end)


def _offset_changes(zone: tzinfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """The instants in [start, end) where the zone's UTC offset changes, to the second (at
    most one per half of the range, which covers every real zone)."""
    first, last = math.floor(start.timestamp()), math.ceil(end.timestamp())
    middle = (first + last) // 2
    for low, high in ((first, middle), (middle, last)):
        before = _offset(zone, low)
        if before == _offset(zone, high):
            continue
        while high - low > 1:  # invariant: offset(low) == before != offset(high)
            mid = (low + high) // 2
            if _offset(zone, mid) == before:
                low = mid
            else:
                high = mid
        instant = datetime.fromtimestamp(high, UTC)
        if start <= instant < end:
            yield instant


def _offset(zone: tzinfo, timestamp: int) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, zone).utcoffset()


def _next_window(entries: Sequence[IntervalEntry], after: datetime) -> datetime | None:
    """The next UTC day to examine: `after`, or later when no entry can match before then."""
    # From the day before: a day that matched ends with a change at the next midnight.
    possible = [
        found
        for entry in entries
        if (found := entry.first_possible_day(after.astimezone(entry.zone).date() - _DAY))
        is not None
    ]
    if not possible:
        return None
    # Two days early, so a boundary at local midnight in any zone falls inside a window.
    jump = datetime.combine(min(possible), time(), tzinfo=UTC) - 2 * _DAY
    return max(after, jump)


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("time intervals need a timezone-aware datetime")
    return moment


# --- compiling the configuration ---


def compile_time_intervals(configs: Sequence[TimeIntervalConfig]) -> dict[str, TimeInterval]:
    """Named intervals by name; ConfigErrors lists every problem, located by path."""
    errors: list[ConfigError] = []
    compiled: dict[str, TimeInterval] = {}
    for i, config in enumerate(configs):
        path = f"time_intervals[{i}]"
        if config.name in compiled:
            errors.append(
                ConfigError(f"duplicate time interval name {config.name!r}", path=f"{path}.name")
            )
        entries = []
        for j, spec in enumerate(config.time_intervals):
            entry = _compile_entry(spec, f"{path}.time_intervals[{j}]", errors)
            if entry is not None:
                entries.append(entry)
        compiled.setdefault(config.name, TimeInterval(config.name, tuple(entries)))
    if errors:
        raise ConfigErrors(errors)
    return compiled


def _compile_entry(
    spec: TimeIntervalSpec, path: str, errors: list[ConfigError]
) -> IntervalEntry | None:
    before = len(errors)
    times = None
    if spec.times is not None:
        times = tuple(
            found
            for k, span in enumerate(spec.times)
            if (found := _time_range(span.start_time, span.end_time, f"{path}.times[{k}]", errors))
        )
    zone: tzinfo = UTC
    try:
        zone = parse_location(spec.location)
    except ValueError as exc:
        errors.append(ConfigError(str(exc), path=f"{path}.location"))
    entry = IntervalEntry(
        times=times,
        weekdays=_spans(spec.weekdays, f"{path}.weekdays", parse_weekdays, errors),
        days_of_month=_spans(
            spec.days_of_month, f"{path}.days_of_month", parse_days_of_month, errors
        ),
        months=_spans(spec.months, f"{path}.months", parse_months, errors),
        years=_spans(spec.years, f"{path}.years", parse_years, errors),
        zone=zone,
    )
    return entry if len(errors) == before else None


def _spans(
    texts: list[str] | None,
    path: str,
    parse: Callable[[str], Span],
    errors: list[ConfigError],
) -> tuple[Span, ...] | None:
    if texts is None:
        return None
    spans = []
    for k, text in enumerate(texts):
        try:
            spans.append(parse(text))
        except ValueError as exc:
            errors.append(ConfigError(str(exc), path=f"{path}[{k}]"))
    return tuple(spans)


def _time_range(
    start_text: str, end_text: str, path: str, errors: list[ConfigError]
) -> tuple[int, int] | None:
    minutes = []
    for field, text in (("start_time", start_text), ("end_time", end_text)):
        try:
            minutes.append(parse_clock(text))
        except ValueError as exc:
            errors.append(ConfigError(str(exc), path=f"{path}.{field}"))
    if len(minutes) != 2:
        return None
    start, end = minutes
    if start >= end:
        errors.append(
            ConfigError(
                f"start_time {start_text} is not before end_time {end_text} (a range cannot"
                " cross midnight: split it, e.g. 22:00-24:00 and 00:00-06:00)",
                path=path,
            )
        )
        return None
    return start, end
