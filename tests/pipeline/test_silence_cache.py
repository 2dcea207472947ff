"""The bridge's in-memory silences: the same answer as reading the store, without reading it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import ADMIN_TOKEN, StartBridge, am_headers

from bridge.pipeline.silence_cache import SilenceCache
from bridge.pipeline.silences import RETENTION, Silence, list_silences, parse_silence, save_silence
from bridge.store import MemoryStore

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def silence(silence_id: str, starts: timedelta, ends: timedelta) -> Silence:
    body = {
        "matchers": ['instance="db-1"'],
        "startsAt": (NOW + starts).isoformat(),
        "endsAt": (NOW + ends).isoformat(),
        "createdBy": "alice",
        "comment": "maintenance",
    }
    return parse_silence(body, now=NOW, silence_id=silence_id)


SILENCES = [
    silence("long", timedelta(0), 5 * HOUR),
    silence("short", timedelta(0), HOUR),
    silence("same-end", timedelta(0), HOUR),
    silence("later", 2 * HOUR, 3 * HOUR),
    silence("soon", HOUR / 2, 4 * HOUR),
]


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), HOUR / 2, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, RETENTION + 6 * HOUR],
    ids=["start", "half-hour", "short-ends", "later-starts", "later-ends", "all-ended", "purged"],
)
async def test_cache_lists_what_the_store_lists_at_every_moment(offset: timedelta) -> None:
    store = MemoryStore()
    cache = SilenceCache(store)
    await cache.load(NOW)
    for s in SILENCES[:3]:
        await cache.save(s)
    await save_silence(store, SILENCES[3])  # saved before the bridge started
    await cache.load(NOW)
    await cache.save(SILENCES[4])
    moment = NOW + offset
    cache.current(NOW)  # ordered once already: the later moment must re-order
    expected = [s.id for s in await list_silences(store, moment, include_expired=False)]
    assert [s.id for s in cache.current(moment)] == expected


async def test_cache_sees_an_expiry_at_once() -> None:
    store = MemoryStore()
    cache = SilenceCache(store)
    await cache.save(SILENCES[0])
    assert [s.id for s in cache.current(NOW + HOUR)] == ["long"]
    expired = await cache.expire("long", NOW + HOUR)
    assert expired is not None and expired.ends_at == NOW + HOUR
    assert cache.current(NOW + HOUR) == []
    assert await cache.expire("unknown", NOW) is None


async def post_alert(h: Any) -> int:
    reply = await h.post("/webhook/alertmanager", am_webhook(am_alert("db-1")), am_headers())
    assert reply.status == 202, reply.body
    notifications: int = reply.body["notifications"]
    return notifications


async def test_silence_created_and_expired_by_the_api_applies_to_the_next_webhook(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    now = datetime.now(UTC)
    body = {
        "matchers": ['instance="db-1"'],
        "endsAt": (now + HOUR).isoformat(),
        "createdBy": "alice",
        "comment": "maintenance",
    }
    created = await h.request("POST", "/api/v1/silences", data=json.dumps(body), headers=ADMIN)
    assert created.status == 200, created.body
    assert await post_alert(h) == 0
    silence_id = created.body["silenceID"]
    expired = await h.request("DELETE", f"/api/v1/silences/{silence_id}", headers=ADMIN)
    assert expired.status == 200, expired.body
    assert await post_alert(h) > 0
