"""Local silences (Alertmanager's shape and meaning): what they are, which events they hold
back, and how they are kept as store records."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bridge.errors import PayloadError
from bridge.model import Event
from bridge.routing.matchers import Matcher, MatchOp, parse_matchers
from bridge.store.base import Store

SilenceState = Literal["pending", "active", "expired"]
RECORD_KIND = "silence"
# Expired silences stay listable this long, as Alertmanager's default --data.retention.
RETENTION = timedelta(hours=120)
# endsAt must come before this: its record expires RETENTION later, which must still be a date.
LATEST_END = datetime(9999, 12, 1, tzinfo=UTC)
MAX_MATCHERS = 64
MAX_COMMENT = 4096
MAX_CREATED_BY = 256
# (isRegex, isEqual) of Alertmanager's API matchers -> our operator.
_OPS: dict[tuple[bool, bool], MatchOp] = {
    (False, True): "=",
    (False, False): "!=",
    (True, True): "=~",
    (True, False): "!~",
}


@dataclass(frozen=True, slots=True)
class Silence:
    """Holds back every event whose labels match all matchers, from starts_at to ends_at."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime | None = None

    def state(self, now: datetime) -> SilenceState:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(matcher.matches(labels) for matcher in self.matchers)

    def to_record(self) -> dict[str, Any]:
        """Alertmanager's v2 silence shape (without status): also what the store keeps."""
        return {
            "id": self.id,
            "matchers": [_matcher_to_api(m) for m in self.matchers],
            "startsAt": _format_time(self.starts_at),
            "endsAt": _format_time(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "createdAt": _format_time(self.created_at),
            "updatedAt": _format_time(self.updated_at or self.created_at),
        }

    def to_api(self, now: datetime) -> dict[str, Any]:
        return {**self.to_record(), "status": {"state": self.state(now)}}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Silence:
        return cls(
            id=record["id"],
            matchers=tuple(
                _matcher_from_api(m, f"matchers[{i}]") for i, m in enumerate(record["matchers"])
            ),
            starts_at=_parse_time(record["startsAt"], "startsAt"),
            ends_at=_parse_time(record["endsAt"], "endsAt"),
            created_by=record["createdBy"],
            comment=record["comment"],
            created_at=_parse_time(record["createdAt"], "createdAt"),
            updated_at=_parse_time(record["updatedAt"], "updatedAt"),
        )


def new_silence_id() -> str:
    return str(uuid.uuid4())


def parse_silence(
    body: Any, *, now: datetime, silence_id: str, created_at: datetime | None = None
) -> Silence:
    """A silence from an API request body; PayloadError says precisely what is wrong.

    As Alertmanager: a start in the past becomes now, and an end must be after the start and
    not in the past. Matchers are {name, value, isRegex, isEqual} objects or matcher strings.
    """
    if not isinstance(body, dict):
        raise PayloadError(
            "expected a JSON object with matchers, startsAt, endsAt, createdBy and comment"
        )
    matchers = _parse_matchers(body.get("matchers"))
    created_by = _required_text(body, "createdBy", MAX_CREATED_BY)
    comment = _required_text(body, "comment", MAX_COMMENT)
    if "endsAt" not in body:
        raise PayloadError("endsAt is required")
    ends_at = _parse_time(body["endsAt"], "endsAt")
    if ends_at >= LATEST_END:
        raise PayloadError(f"endsAt must be before {_format_time(LATEST_END)}")
    starts_at = _parse_time(body["startsAt"], "startsAt") if body.get("startsAt") else now
    if ends_at <= starts_at:
        raise PayloadError("endsAt must be after startsAt")
    if ends_at <= now:
        raise PayloadError("endsAt is in the past")
    return Silence(
        id=silence_id,
        matchers=matchers,
        starts_at=max(starts_at, now),
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        created_at=created_at or now,
        updated_at=now,
    )


def silenced_by(event: Event, silences: Sequence[Silence], now: datetime) -> Silence | None:
    """The first active silence whose matchers all match the event's labels, if any."""
    for silence in silences:
        if silence.state(now) == "active" and silence.matches(event.labels):
            return silence
    return None


# --- persistence on the store's records ---


async def save_silence(store: Store, silence: Silence) -> None:
    """Create or replace; the record outlives ends_at by RETENTION so it can still be listed."""
    expires_at = (silence.ends_at + RETENTION).timestamp()
    await store.put_record(RECORD_KIND, silence.id, silence.to_record(), expires_at=expires_at)


async def get_silence(store: Store, silence_id: str, now: datetime) -> Silence | None:
    record = await store.get_record(RECORD_KIND, silence_id, now.timestamp())
    return None if record is None else Silence.from_record(record)


async def list_silences(store: Store, now: datetime, include_expired: bool = True) -> list[Silence]:
    """Active ones first (ending soonest first), then pending (starting soonest), then
    expired (most recently ended first)."""
    silences = [
        Silence.from_record(r) for _, r in await store.list_records(RECORD_KIND, now.timestamp())
    ]
    if not include_expired:
        silences = [s for s in silences if s.state(now) != "expired"]
    return in_list_order(silences, now)


def in_list_order(silences: Sequence[Silence], now: datetime) -> list[Silence]:
    """`list_silences`' order (ties by id), which also decides which silence `silenced_by`
    names when several match."""
    order: dict[SilenceState, int] = {"active": 0, "pending": 1, "expired": 2}

    def key(silence: Silence) -> tuple[int, float]:
        state = silence.state(now)
        if state == "active":
            return order[state], silence.ends_at.timestamp()
        if state == "pending":
            return order[state], silence.starts_at.timestamp()
        return order[state], -silence.ends_at.timestamp()

    return sorted(sorted(silences, key=lambda s: s.id), key=key)


async def expire_silence(store: Store, silence_id: str, now: datetime) -> Silence | None:
    """End a silence now (a pending one never starts); None if unknown. Alertmanager's DELETE
    expires rather than deletes, so the silence stays listable."""
    silence = await get_silence(store, silence_id, now)
    if silence is None or silence.state(now) == "expired":
        return silence
    starts_at = now if silence.state(now) == "pending" else silence.starts_at
    expired = replace(silence, starts_at=starts_at, ends_at=now, updated_at=now)
    await save_silence(store, expired)
    return expired


# --- the wire format ---


def _parse_matchers(value: Any) -> tuple[Matcher, ...]:
    if not isinstance(value, list) or not value:
        raise PayloadError("matchers must be a non-empty list")
    if len(value) > MAX_MATCHERS:
        raise PayloadError(f"too many matchers (at most {MAX_MATCHERS})")
    matchers = tuple(
        matcher
        for i, item in enumerate(value)
        for matcher in _matchers_from_api(item, f"matchers[{i}]")
    )
    if len(matchers) > MAX_MATCHERS:
        raise PayloadError(f"too many matchers (at most {MAX_MATCHERS})")
    # As Alertmanager: a silence matching every alert is almost certainly a mistake.
    if all(matcher.matches({}) for matcher in matchers):
        raise PayloadError(
            "at least one matcher must not match the empty string (this silence would"
            " silence every alert)"
        )
    return matchers


def _matchers_from_api(item: Any, where: str) -> list[Matcher]:
    """An object is one matcher; a string may hold several, as a route's `matchers` entry."""
    if isinstance(item, str):
        try:
            return parse_matchers(item)
        except ValueError as exc:
            raise PayloadError(f"{where}: {exc}") from None
    return [_matcher_from_api(item, where)]


def _matcher_from_api(item: Any, where: str) -> Matcher:
    if not isinstance(item, dict):
        raise PayloadError(f"{where}: expected an object {{name, value, isRegex}} or a string")
    name, value = item.get("name"), item.get("value")
    if not isinstance(name, str) or not name:
        raise PayloadError(f"{where}.name: a non-empty string is required")
    if not isinstance(value, str):
        raise PayloadError(f"{where}.value: a string is required")
    is_regex, is_equal = item.get("isRegex", False), item.get("isEqual", True)
    if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
        raise PayloadError(f"{where}: isRegex and isEqual must be true or false")
    try:
        return Matcher(name, _OPS[is_regex, is_equal], value)
    except ValueError as exc:
        raise PayloadError(f"{where}: {exc}") from None


def _matcher_to_api(matcher: Matcher) -> dict[str, Any]:
    return {
        "name": matcher.name,
        "value": matcher.value,
        "isRegex": matcher.op in ("=~", "!~"),
        "isEqual": matcher.op in ("=", "=~"),
    }


def _required_text(body: Mapping[str, Any], field: str, limit: int) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{field} is required (a non-empty string)")
    if len(value) > limit:
        raise PayloadError(f"{field} is longer than {limit} characters")
    return value


def _parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise PayloadError(f"{field} must be an RFC 3339 time such as 2026-01-01T10:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(
            f"{field}: {value!r} is not an RFC 3339 time such as 2026-01-01T10:00:00Z"
        ) from None
    if moment.tzinfo is None:
        raise PayloadError(f"{field}: {value!r} needs a time zone (e.g. a trailing Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable UTC time
        raise PayloadError(f"{field}: {value!r} is out of range") from None


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
