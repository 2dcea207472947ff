"""Turn a Retry-After header (delay-seconds or an HTTP-date) into a bounded wait in seconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 3600.0


def parse_retry_after(
    value: str | None, *, now: datetime | None = None, cap: float = MAX_RETRY_AFTER
) -> float | None:
    """Seconds to wait, capped at `cap` so a hostile or broken server cannot park us for days.

    None when the header is absent or unreadable; a date in the past means "now" (0.0).
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_date(text, now or datetime.now(UTC), cap)
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, cap)


def _seconds_until_date(text: str, now: datetime, cap: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an offset-less date is taken as UTC
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), cap)
