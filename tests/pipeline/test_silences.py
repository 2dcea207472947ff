"""Local silences: parsing Alertmanager's API shape, which events they hold back, and how they
are kept in (and expire from) both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.errors import PayloadError
from bridge.model import Event
from bridge.pipeline.silences import (
    RETENTION,
    Silence,
    expire_silence,
    get_silence,
    list_silences,
    parse_silence,
    save_silence,
    silenced_by,
)
from bridge.store import Store

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def body(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "matchers": [{"name": "alertname", "value": "DiskFull", "isRegex": False}],
        "startsAt": "2026-03-10T12:00:00Z",
        "endsAt": "2026-03-10T14:00:00Z",
        "createdBy": "alice",
        "comment": "disk replacement, ticket OPS-12",
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


def silence(silence_id: str = "s1", **changes: Any) -> Silence:
    return parse_silence(body(**changes), now=NOW, silence_id=silence_id)


def event(**labels: str) -> Event:
    return Event(source="alertmanager", fingerprint="f1", status="firing", labels=labels)


MATCHER_FORMS = [
    ({"name": "env", "value": "prod"}, "=", "equal-by-default"),
    ({"name": "env", "value": "prod", "isRegex": False, "isEqual": False}, "!=", "not-equal"),
    ({"name": "env", "value": "prod|stage", "isRegex": True}, "=~", "regex"),
    ({"name": "env", "value": "dev.*", "isRegex": True, "isEqual": False}, "!~", "negative-regex"),
    ('env=~"prod|stage"', "=~", "matcher-string"),
]


@pytest.mark.parametrize(
    ("form", "op"), [f[:2] for f in MATCHER_FORMS], ids=[f[2] for f in MATCHER_FORMS]
)
def test_matcher_forms(form: Any, op: str) -> None:
    parsed = silence(matchers=[form, 'alertname="DiskFull"'])
    assert parsed.matchers[0].op == op
    assert parsed.matchers[0].name == "env"


@pytest.mark.parametrize(
    "text",
    ['alertname="DiskFull", instance="db-1"', '{alertname="DiskFull", instance="db-1"}'],
    ids=["comma-separated", "braces"],
)
def test_one_matcher_string_may_hold_several_matchers_as_in_routes(text: str) -> None:
    parsed = silence(matchers=[text])
    assert [str(m) for m in parsed.matchers] == ['alertname="DiskFull"', 'instance="db-1"']
    assert silenced_by(event(alertname="DiskFull", instance="db-1"), [parsed], NOW) is parsed
    assert silenced_by(event(alertname="DiskFull", instance="db-2"), [parsed], NOW) is None


def test_parsed_silence_round_trips_through_its_record() -> None:
    parsed = silence(matchers=[{"name": "env", "value": "p.*", "isRegex": True}, "team!=db"])
    assert Silence.from_record(parsed.to_record()) == parsed
    assert parsed.to_api(NOW)["status"] == {"state": "active"}
    assert parsed.to_record()["matchers"][1] == {
        "name": "team",
        "value": "db",
        "isRegex": False,
        "isEqual": False,
    }


def test_start_in_the_past_becomes_now() -> None:
    assert silence(startsAt="2026-03-01T00:00:00Z").starts_at == NOW


def test_missing_start_means_now_and_offsets_are_normalised() -> None:
    parsed = silence(startsAt=None, endsAt="2026-03-10T15:00:00+02:00")
    assert parsed.starts_at == NOW
    assert parsed.ends_at == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


BAD_BODIES = [
    ([], "expected a JSON object", "not-an-object"),
    (body(matchers=None), "matchers must be a non-empty list", "no-matchers"),
    (body(matchers=[]), "matchers must be a non-empty list", "empty-matchers"),
    (body(matchers=['env=~".*"']), "must not match the empty string", "matches-everything"),
    (body(matchers=["env=~(unclosed"]), "matchers[0]: invalid regular expression", "bad-regex"),
    (body(matchers=["just words"]), "matchers[0]:", "bad-matcher-string"),
    (body(matchers=[{"value": "x"}]), "matchers[0].name", "matcher-without-name"),
    (body(matchers=[{"name": "a", "value": 3}]), "matchers[0].value", "matcher-value-not-text"),
    (
        body(matchers=[{"name": "a", "value": "b", "isRegex": "yes"}]),
        "isRegex and isEqual must be true or false",
        "flag-not-boolean",
    ),
    (
        body(endsAt="2026-03-10T11:00:00Z", startsAt=None),
        "endsAt must be after startsAt",
        "ends-before-now-start",
    ),
    (body(endsAt="2026-03-10T12:00:00Z"), "endsAt must be after startsAt", "ends-at-start"),
    (
        body(startsAt="2026-03-01T00:00:00Z", endsAt="2026-03-02T00:00:00Z"),
        "endsAt is in the past",
        "ends-in-the-past",
    ),
    (body(endsAt=None), "endsAt is required", "no-end"),
    (body(endsAt="tomorrow"), "endsAt: 'tomorrow' is not an RFC 3339 time", "end-not-a-time"),
    (body(endsAt="2026-03-10T14:00:00"), "needs a time zone", "end-without-zone"),
    (body(endsAt="9999-12-31T23:00:00Z"), "endsAt must be before 9999-12-01", "end-of-time"),
    (
        body(startsAt="0001-01-01T00:00:00+01:00"),
        "startsAt: '0001-01-01T00:00:00+01:00' is out of range",
        "start-before-utc-begins",
    ),
    (
        body(endsAt="9999-12-31T23:59:59-01:00"),
        "endsAt: '9999-12-31T23:59:59-01:00' is out of range",
        "end-after-utc-ends",
    ),
    (body(createdBy=None), "createdBy is required", "no-creator"),
    (body(createdBy="  "), "createdBy is required", "blank-creator"),
    (body(comment=None), "comment is required", "no-comment"),
    (body(comment="x" * 5000), "comment is longer than 4096", "comment-too-long"),
]


@pytest.mark.parametrize(
    ("document", "message"), [b[:2] for b in BAD_BODIES], ids=[b[2] for b in BAD_BODIES]
)
def test_bad_silence_is_refused_with_a_precise_message(document: Any, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_silence(document, now=NOW, silence_id="s1")
    assert message in str(caught.value)


def test_active_matching_silence_silences_the_event() -> None:
    disk = silence("disk")
    assert silenced_by(event(alertname="DiskFull", env="prod"), [disk], NOW) is disk


@pytest.mark.parametrize(
    ("moment", "labels"),
    [
        (NOW - HOUR, {"alertname": "DiskFull"}),
        (NOW + 2 * HOUR, {"alertname": "DiskFull"}),
        (NOW, {"alertname": "CPUHigh"}),
    ],
    ids=["before-it-starts", "at-its-end", "labels-do-not-match"],
)
def test_silence_does_not_apply(moment: datetime, labels: dict[str, str]) -> None:
    disk = parse_silence(body(), now=NOW - 2 * HOUR, silence_id="disk")
    assert silenced_by(event(**labels), [disk], moment) is None


def test_first_applicable_silence_is_named() -> None:
    later = parse_silence(body(startsAt="2026-03-10T13:00:00Z"), now=NOW, silence_id="pending")
    other = silence("other", matchers=['alertname="CPUHigh"'])
    first, second = silence("first"), silence("second")
    found = silenced_by(event(alertname="DiskFull"), [later, other, first, second], NOW)
    assert found is first


async def test_saved_silence_is_read_back(store: Store) -> None:
    saved = silence("s1", matchers=['env=~"prod|stage"', "team!=db"])
    await save_silence(store, saved)
    assert await get_silence(store, "s1", NOW) == saved
    assert await get_silence(store, "unknown", NOW) is None


async def test_list_orders_active_then_pending_then_expired(store: Store) -> None:
    await save_silence(store, silence("active-long", endsAt="2026-03-10T18:00:00Z"))
    await save_silence(store, silence("active-short", endsAt="2026-03-10T13:00:00Z"))
    await save_silence(
        store,
        silence("pending", startsAt="2026-03-10T15:00:00Z", endsAt="2026-03-10T16:00:00Z"),
    )
    await save_silence(store, silence("ended-early", endsAt="2026-03-10T12:30:00Z"))
    await save_silence(store, silence("ended-late", endsAt="2026-03-10T12:45:00Z"))
    later = NOW + timedelta(minutes=50)
    listed = await list_silences(store, later)
    assert [(s.id, s.state(later)) for s in listed] == [
        ("active-short", "active"),
        ("active-long", "active"),
        ("pending", "pending"),
        ("ended-late", "expired"),
        ("ended-early", "expired"),
    ]
    current = await list_silences(store, later, include_expired=False)
    assert [s.id for s in current] == ["active-short", "active-long", "pending"]


async def test_expiring_ends_an_active_silence_now_and_keeps_it_listable(store: Store) -> None:
    await save_silence(store, silence("s1"))
    later = NOW + timedelta(minutes=10)
    expired = await expire_silence(store, "s1", later)
    assert expired is not None
    assert (expired.starts_at, expired.ends_at) == (NOW, later)
    [listed] = await list_silences(store, later)
    assert listed.state(later) == "expired"
    assert silenced_by(event(alertname="DiskFull"), [listed], later) is None


async def test_expiring_a_pending_silence_means_it_never_starts(store: Store) -> None:
    await save_silence(
        store, silence("s1", startsAt="2026-03-10T15:00:00Z", endsAt="2026-03-10T16:00:00Z")
    )
    expired = await expire_silence(store, "s1", NOW)
    assert expired is not None
    assert expired.starts_at == expired.ends_at == NOW
    assert expired.state(NOW) == "expired"


async def test_expiring_twice_keeps_the_first_end_and_unknown_is_none(store: Store) -> None:
    await save_silence(store, silence("s1"))
    first = await expire_silence(store, "s1", NOW + HOUR / 2)
    again = await expire_silence(store, "s1", NOW + HOUR)
    assert first is not None and again is not None
    assert again.ends_at == first.ends_at == NOW + HOUR / 2
    assert await expire_silence(store, "unknown", NOW) is None


async def test_silence_is_forgotten_after_its_retention(store: Store) -> None:
    await save_silence(store, silence("s1"))
    ends_at = NOW + 2 * HOUR
    assert [s.id for s in await list_silences(store, ends_at + RETENTION - HOUR)] == ["s1"]
    assert await list_silences(store, ends_at + RETENTION + HOUR) == []
    assert await get_silence(store, "s1", ends_at + RETENTION + HOUR) is None
