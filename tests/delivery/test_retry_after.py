"""Retry-After parsing: delay-seconds and HTTP-dates, bounded so a server cannot park us."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.delivery.retry_after import MAX_RETRY_AFTER, parse_retry_after

NOW = datetime(2026, 7, 20, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        (" 10 ", 10.0),
        ("1.5", 1.5),
        ("7200", MAX_RETRY_AFTER),
        ("Mon, 20 Jul 2026 12:02:00 GMT", 120.0),
        ("Mon, 20 Jul 2026 11:00:00 GMT", 0.0),
        ("Tue, 21 Jul 2026 12:00:00 GMT", MAX_RETRY_AFTER),
        (None, None),
        ("", None),
        ("-3", None),
        ("soon", None),
        ("nan", None),
    ],
    ids=[
        "seconds",
        "zero",
        "padded",
        "fractional",
        "seconds-capped",
        "http-date",
        "http-date-in-past-is-now",
        "http-date-capped",
        "absent",
        "empty",
        "negative",
        "garbage",
        "nan",
    ],
)
def test_retry_after_is_parsed(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


def test_cap_can_be_lowered() -> None:
    assert parse_retry_after("600", cap=60.0) == 60.0
