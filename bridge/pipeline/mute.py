"""The time-mute stage's decision: is a route muted now by its time intervals, and until when."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

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
    until = next_flip([*active, *mute], now, muted_at)
    return MuteState(muted=True, until=until, reason=reason)


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
