"""The time-mute stage's decision: is a route muted now by its time intervals, and until when."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.routing.router import Route
from bridge.routing.time_intervals import TimeInterval, next_flip


@dataclass(frozen=True, slots=True)
class MuteState:
    """Whether a route is muted now; `until` is when that ends (None: not within the horizon,
    or not muted); `reason` names the interval, for logs and `explain`."""

    muted: bool
    until: datetime | None = None
    reason: str = ""


NOT_MUTED = MuteState(muted=False)


def mute_state(
    active: Sequence[TimeInterval], mute: Sequence[TimeInterval], now: datetime
) -> MuteState:
    """As Alertmanager: muted when any mute interval contains now, or when active intervals
    are given and none contains now."""

    def muted_at(moment: datetime) -> bool:
        in_mute = any(interval.contains(moment) for interval in mute)
        outside_active = bool(active) and not any(interval.contains(moment) for interval in active)
        return in_mute or outside_active

    if not muted_at(now):
        return NOT_MUTED
    muting = [interval.name for interval in mute if interval.contains(now)]
    if muting:
        reason = f"in mute_time_intervals {', '.join(muting)}"
    else:
        reason = f"outside active_time_intervals {', '.join(i.name for i in active)}"
    return MuteState(muted=True, until=_mute_end(active, mute, now, muted_at), reason=reason)


# When a mute ends, by the intervals (held, so their ids are not reused) -> (found at, reused
# until, the end). A mute holds until its end, so the search (a walk over up to four years of
# days: ~10 ms for a mute with no end) runs once per mute, not for every webhook and flush.
_MUTE_ENDS: dict[
    tuple[int, ...], tuple[tuple[TimeInterval, ...], datetime, datetime, datetime | None]
] = {}
_MAX_MUTE_ENDS = 1024
# How long an end beyond the search horizon (None) is reused before searching again.
_NO_END_REUSE = timedelta(hours=1)


def _mute_end(
    active: Sequence[TimeInterval],
    mute: Sequence[TimeInterval],
    now: datetime,
    muted_at: Callable[[datetime], bool],
) -> datetime | None:
    intervals = (*active, *mute)
    key = (len(active), *map(id, intervals))
    known = _MUTE_ENDS.get(key)
    if known is not None:
        held, found_at, reused_until, end = known
        if found_at <= now < reused_until and all(
            a is b for a, b in zip(held, intervals, strict=True)
        ):
            return end
    end = next_flip(intervals, now, muted_at)
    if len(_MUTE_ENDS) >= _MAX_MUTE_ENDS:
        _MUTE_ENDS.clear()
    _MUTE_ENDS[key] = (intervals, now, end if end is not None else now + _NO_END_REUSE, end)
    return end


def route_mute_state(
    route: Route, intervals: Mapping[str, TimeInterval], now: datetime
) -> MuteState:
    """The route's mute state by the intervals it names (unknown names are ignored)."""
    if not (route.active_time_intervals or route.mute_time_intervals):
        return NOT_MUTED
    return mute_state(
        [intervals[n] for n in route.active_time_intervals if n in intervals],
        [intervals[n] for n in route.mute_time_intervals if n in intervals],
        now,
    )
