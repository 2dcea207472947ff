"""Tolerant timestamp parsing for webhook bodies: RFC 3339 from Go senders and Unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.sources.base import excerpt

# Go's zero time.Time marshals as year 1; Alertmanager uses it for "no end yet".
_GO_ZERO_YEAR_PREFIX = "0001-01-01"


def parse_rfc3339(text: str) -> datetime | None:
    """An aware UTC datetime, or None for an empty string or Go's zero time.

    Accepts what Go's time.Time marshals: nanoseconds (truncated to microseconds), `Z` or
    numeric offsets; also a lowercase `t`/`z`, a space separator and a missing offset (UTC).
    Raises ValueError naming the text when it is not a timestamp or is outside the years
    1-9999 once in UTC (Python's datetime cannot hold it).
    """
    stripped = text.strip()
    if not stripped or stripped.startswith(_GO_ZERO_YEAR_PREFIX):
        return None
    try:
        parsed = datetime.fromisoformat(stripped)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(stripped.upper().replace(" ", "T", 1))
        except ValueError:
            raise ValueError(f"{excerpt(repr(text))} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-05:00 is in the year 10000 in UTC
        raise ValueError(
            f"{excerpt(repr(text))} is out of range (years 1 to 9999 in UTC)"
        ) from None


def parse_timestamp(value: object) -> datetime | None:
    """Like parse_rfc3339, but also takes Unix seconds (GitHub push payloads) and None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, int | float):
        if value <= 0:
            return None
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{excerpt(repr(value))} is not a Unix timestamp") from None
    if isinstance(value, str):
        return parse_rfc3339(value)
    raise ValueError(f"{excerpt(repr(value))} is not a timestamp")
