"""The silences API end to end: real server, real SQLite, admin token on every route."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, BridgeHarness, Reply, StartBridge

from bridge.model import utcnow
from bridge.pipeline.silences import get_silence

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def silence_body(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "matchers": [
            {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
            'instance=~"db-.*"',
        ],
        "startsAt": rfc3339(utcnow()),
        "endsAt": rfc3339(utcnow() + timedelta(hours=2)),
        "createdBy": "alice",
        "comment": "replacing disks, OPS-12",
    }
    document.update(changes)
    return {k: v for k, v in document.items() if v is not None}


async def call(
    h: BridgeHarness, method: str, path: str, body: Any = None, headers: dict[str, str] = ADMIN
) -> Reply:
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
    return await h.request(method, path, data=data, headers=headers)


async def create(h: BridgeHarness, **changes: Any) -> str:
    reply = await call(h, "POST", "/api/v1/silences", silence_body(**changes))
    assert reply.status == 200, reply.body
    silence_id: str = reply.body["silenceID"]
    return silence_id


async def test_created_silence_is_listed_fetched_and_stored(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    silence_id = await create(h)
    fetched = await call(h, "GET", f"/api/v1/silences/{silence_id}")
    assert fetched.status == 200
    assert fetched.body["status"] == {"state": "active"}
    assert fetched.body["createdBy"] == "alice"
    assert fetched.body["matchers"] == [
        {"name": "alertname", "value": "DiskFull", "isRegex": False, "isEqual": True},
        {"name": "instance", "value": "db-.*", "isRegex": True, "isEqual": True},
    ]
    listed = await call(h, "GET", "/api/v1/silences")
    assert [s["id"] for s in listed.body] == [silence_id]
    stored = await get_silence(h.bridge.store, silence_id, utcnow())
    assert stored is not None and stored.comment == "replacing disks, OPS-12"


async def test_future_silence_is_pending(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    silence_id = await create(
        h,
        startsAt=rfc3339(utcnow() + timedelta(hours=1)),
        endsAt=rfc3339(utcnow() + timedelta(hours=2)),
    )
    fetched = await call(h, "GET", f"/api/v1/silences/{silence_id}")
    assert fetched.body["status"] == {"state": "pending"}


async def test_delete_expires_the_silence_but_keeps_it_listed(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    silence_id = await create(h)
    deleted = await call(h, "DELETE", f"/api/v1/silences/{silence_id}")
    assert deleted.status == 200
    assert deleted.body["status"] == {"state": "expired"}
    listed = await call(h, "GET", "/api/v1/silences")
    assert [(s["id"], s["status"]["state"]) for s in listed.body] == [(silence_id, "expired")]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_unknown_silence_is_404(start_bridge: StartBridge, method: str) -> None:
    h = await start_bridge()
    reply = await call(h, method, "/api/v1/silences/no-such-id")
    assert reply.status == 404
    assert "silence 'no-such-id' not found" in reply.body["error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "silence_id"),
    [
        ("GET", "/api/v1/silences/%0A", None, "\n"),
        ("DELETE", "/api/v1/silences/a%0D%0Ab", None, "a\r\nb"),
        ("POST", "/api/v1/silences", silence_body(id="a\nb"), "a\nb"),
    ],
    ids=["get", "delete", "post-with-id"],
)
async def test_an_unknown_id_with_a_newline_is_404_not_an_error(
    start_bridge: StartBridge, method: str, path: str, body: Any, silence_id: str
) -> None:
    """The id is quoted in the JSON error, never put in the status line (which cannot hold it)."""
    h = await start_bridge()
    reply = await call(h, method, path, body)
    assert reply.status == 404, reply.body
    assert reply.body["error"] == f"silence {silence_id!r} not found"


async def test_post_with_an_id_replaces_that_silence(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    silence_id = await create(h)
    reply = await call(
        h, "POST", "/api/v1/silences", silence_body(id=silence_id, comment="extended")
    )
    assert reply.status == 200 and reply.body == {"silenceID": silence_id}
    listed = await call(h, "GET", "/api/v1/silences")
    assert [(s["id"], s["comment"]) for s in listed.body] == [(silence_id, "extended")]
    unknown = await call(h, "POST", "/api/v1/silences", silence_body(id="nope"))
    assert unknown.status == 404


BAD = [
    (silence_body(matchers=[]), "matchers must be a non-empty list", "no-matchers"),
    (silence_body(matchers=['env=~".*"']), "must not match the empty string", "matches-all"),
    (silence_body(comment=None), "comment is required", "no-comment"),
    (silence_body(createdBy=""), "createdBy is required", "no-creator"),
    (
        silence_body(endsAt=rfc3339(utcnow() - timedelta(minutes=1)), startsAt=None),
        "endsAt must be after startsAt",
        "ends-before-start",
    ),
    (b"{not json", "malformed JSON", "not-json"),
    (b"[" * 30_000, "nested too deeply", "nested-too-deeply"),
    (silence_body(id=7), "id must be a non-empty string", "id-not-text"),
    (silence_body(id="\ud800"), "unpaired surrogate", "unpaired-surrogate-id"),
    (silence_body(endsAt="9999-12-31T23:00:00Z"), "endsAt must be before", "ends-at-year-9999"),
    (
        silence_body(startsAt="0001-01-01T00:00:00+01:00"),
        "startsAt: '0001-01-01T00:00:00+01:00' is out of range",
        "starts-before-the-first-utc-time",
    ),
]


@pytest.mark.parametrize(("body", "message"), [b[:2] for b in BAD], ids=[b[2] for b in BAD])
async def test_bad_silence_is_400_with_the_reason(
    start_bridge: StartBridge, body: Any, message: str
) -> None:
    h = await start_bridge()
    reply = await call(h, "POST", "/api/v1/silences", body)
    assert reply.status == 400
    assert message in reply.body["error"]
    assert (await call(h, "GET", "/api/v1/silences")).body == []


async def test_oversized_body_is_413(start_bridge: StartBridge) -> None:
    h = await start_bridge()
    reply = await call(h, "POST", "/api/v1/silences", silence_body(comment="x" * 70_000))
    assert reply.status == 413


ROUTES = [
    ("POST", "/api/v1/silences"),
    ("GET", "/api/v1/silences"),
    ("GET", "/api/v1/silences/some-id"),
    ("DELETE", "/api/v1/silences/some-id"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m}-{p}" for m, p in ROUTES])
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {ADMIN_TOKEN}"}],
    ids=["no-token", "wrong-token", "not-bearer"],
)
async def test_every_route_needs_the_admin_token(
    start_bridge: StartBridge, method: str, path: str, headers: dict[str, str]
) -> None:
    h = await start_bridge()
    silence_id = await create(h)
    reply = await call(h, method, path.replace("some-id", silence_id), silence_body(), headers)
    assert reply.status == 401
    listed = await call(h, "GET", "/api/v1/silences")
    assert [(s["id"], s["status"]["state"]) for s in listed.body] == [(silence_id, "active")]
