from datetime import UTC, datetime

import pytest

from bridge.sources.timestamps import parse_rfc3339, parse_timestamp


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-02-06T00:17:58.432911368Z", datetime(2020, 2, 6, 0, 17, 58, 432911, UTC)),
        ("2018-03-07T06:33:21.873077559-05:00", datetime(2018, 3, 7, 11, 33, 21, 873077, UTC)),
        ("2024-03-01T02:09:00Z", datetime(2024, 3, 1, 2, 9, tzinfo=UTC)),
        ("2019-05-15T15:20:55+00:00", datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)),
        ("2024-03-01t02:09:00z", datetime(2024, 3, 1, 2, 9, tzinfo=UTC)),
        ("2024-03-01 02:09:00", datetime(2024, 3, 1, 2, 9, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
    ],
    ids=["nanoseconds-z", "nanoseconds-offset", "whole-seconds", "plus-zero-offset",
         "lowercase", "no-offset-is-utc", "go-zero-time-is-none", "empty-is-none"],
)  # fmt: skip
def test_rfc3339_is_parsed_to_aware_utc(text: str, expected: datetime | None) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("text", ["yesterday", "2020-13-01T00:00:00Z", "12:00"])
def test_garbage_timestamp_raises_naming_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not an RFC 3339 timestamp"):
        parse_rfc3339(text)


@pytest.mark.parametrize(
    "text",
    ["9999-12-31T23:59:59-05:00", "00010101T003000+0100"],
    ids=["after-year-9999-in-utc", "before-year-1-in-utc"],
)
def test_timestamp_outside_the_years_python_holds_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"is out of range \(years 1 to 9999 in UTC\)"):
        parse_rfc3339(text)


def test_a_long_bad_timestamp_is_quoted_short() -> None:
    with pytest.raises(ValueError) as caught:
        parse_rfc3339("x" * 100_000)
    assert len(str(caught.value)) < 120
    assert str(caught.value).endswith("… is not an RFC 3339 timestamp")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1557933455, datetime(2019, 5, 15, 15, 17, 35, tzinfo=UTC)),
        (0, None),
        (None, None),
        ("2019-05-15T15:20:55Z", datetime(2019, 5, 15, 15, 20, 55, tzinfo=UTC)),
    ],
    ids=["unix-seconds", "zero-is-none", "null-is-none", "string"],
)
def test_timestamp_accepts_unix_seconds_as_github_push_sends(
    value: object, expected: datetime | None
) -> None:
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize("value", [True, [], {}], ids=["bool", "list", "object"])
def test_timestamp_of_other_types_raises(value: object) -> None:
    with pytest.raises(ValueError, match="is not a timestamp"):
        parse_timestamp(value)
