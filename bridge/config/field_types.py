"""The value types of config fields: durations, URLs, phone numbers, credentials, each
refusing a mistake with a message that says what to write instead."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, SecretStr

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# Alertmanager's durations end near 292y (int64 nanoseconds); times a few thousand years ahead
# are past what a datetime holds.
_LONGEST = 100 * _UNIT_SECONDS["y"]


def parse_duration(value: Any) -> float:
    """Prometheus-style durations ("30s", "1h30m") or a number of seconds, to seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"expected a duration such as 30s, 5m or 1h, not {value}")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        total = float(value)
    else:
        total = _parse_duration_text(value)
    if total > _LONGEST:
        raise ValueError(f"{value!r} is longer than 100y")
    return total


def _parse_duration_text(value: Any) -> float:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a duration such as 30s, 5m or 1h")
    text = value.strip()
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        raise ValueError(
            f"{value!r} is not a duration (use units ms, s, m, h, d, w, y: e.g. 1h30m)"
        )
    return total


Duration = Annotated[float, BeforeValidator(parse_duration)]


def _longer_than_zero(value: float) -> float:
    if value <= 0:
        raise ValueError("must be longer than 0s")
    return value


def _whole_seconds(value: float) -> float:
    # Signed timestamps are whole seconds: under 1s refuses nearly every request.
    if value < 1:
        raise ValueError("must be at least 1s (signature timestamps are whole seconds)")
    return value


# Zero is the trap in each: a busy loop (a backoff of 0 retries a 429 at once, without end) or no
# limit at all (aiohttp reads a timeout of 0 as none).
PositiveDuration = Annotated[Duration, AfterValidator(_longer_than_zero)]
SignatureAge = Annotated[Duration, AfterValidator(_whole_seconds)]


def _group_interval(value: float) -> float:
    if value <= 0:
        raise ValueError("must be longer than 0s: 0 would send the group again without pause")
    return value


def _repeat_interval(value: float) -> float:
    if value <= 0:
        raise ValueError(
            "must be longer than 0s: to never repeat a notification, set a long "
            "repeat_interval (e.g. 1y), as in Alertmanager"
        )
    return value


# Alertmanager refuses 0 for both: the group would be flushed (and repeated) in a busy loop.
GroupInterval = Annotated[Duration, AfterValidator(_group_interval)]
RepeatInterval = Annotated[Duration, AfterValidator(_repeat_interval)]


def _http_url(value: str) -> str:
    """An absolute http(s) URL other paths are appended to (a base URL)."""
    parts = urlsplit(value)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{value!r} has an invalid port") from None
    if value != value.strip() or parts.scheme not in ("http", "https") or not parts.hostname:
        bare_host = re.fullmatch(r"[\w.-]+(:\d+)?(/\S*)?", value.strip())
        hint = f" (e.g. https://{value.strip()})" if bare_host else ""
        raise ValueError(f"{value!r} is not an absolute http(s) URL{hint}")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} is a base URL: it cannot have a ?query or #fragment")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


def kind_of(value: Any) -> str:
    """How a YAML value reads, for messages: `the integer 5`, `a list`."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, str):
        return f"the text {value!r}"
    return "a list" if isinstance(value, list) else f"a {type(value).__name__}"


def not_a_number(value: Any) -> Any:
    """YAML 1.1 reads `+972501234567` unquoted as the integer 972501234567, but `0541234567` as
    octal (92617079) and `1:30` as base 60 (90): the number is not echoed, it may be wrong."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            'quote it as written (e.g. "+14155550123"): YAML reads an unquoted number as an '
            "integer, and not always the one written (a leading 0 is octal)"
        )
    return value


# A phone number, JID or recipient name: refused with a hint when YAML made it a number.
Address = Annotated[str, BeforeValidator(not_a_number)]

# Tags of the unions by_shape picks from: pydantic puts them in error locations; the loader
# drops them.
UNION_TAGS = frozenset({"<text>", "<mapping>", "<list>"})


def by_shape(*tags: str) -> Callable[[Any], str | None]:
    """The union member a value is written as (text, mapping or list), so a mistake is
    reported against that member alone, not as one line per member."""

    def shape(value: Any) -> str | None:
        tag = None
        if isinstance(value, str):
            tag = "<text>"
        elif isinstance(value, dict | BaseModel):
            tag = "<mapping>"
        elif isinstance(value, list):
            tag = "<list>"
        return tag if tag in tags else None

    return shape


def _not_blank(value: SecretStr) -> SecretStr:
    if not value.get_secret_value().strip():
        raise ValueError("must not be empty")
    return value


# A credential requests are checked against. Empty (`${TOKEN:-}`, an empty *_file) would accept
# `Bearer ` or bodies signed with an empty key, while counting as configured: refused at load.
Credential = Annotated[SecretStr, AfterValidator(_not_blank)]
