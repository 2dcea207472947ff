"""The silences HTTP API (Alertmanager's shapes under /api/v1/silences): thin handlers over
bridge.pipeline.silences. Every route needs server.admin_token as a Bearer token."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from aiohttp import web

from bridge.errors import ApiError, PayloadError, StoreUnavailable
from bridge.model import utcnow
from bridge.pipeline.silence_cache import SilenceCache
from bridge.pipeline.silences import get_silence, list_silences, new_silence_id, parse_silence
from bridge.sources.base import decode_json_object
from bridge.store.base import Store
from bridge.web.app import BRIDGE, read_body, require_admin

log = structlog.get_logger("alertbridge.silences")

PREFIX = "/api/v1/silences"
# A silence is a few matchers and a comment; 64 KiB is plenty.
MAX_BODY_BYTES = 64 * 1024


def add_silence_routes(app: web.Application) -> None:
    app.router.add_post(PREFIX, create_silence)
    app.router.add_get(PREFIX, list_all)
    app.router.add_get(PREFIX + "/{id}", get_one)
    app.router.add_delete(PREFIX + "/{id}", expire_one)


def _store(request: web.Request) -> Store:
    require_admin(request)
    return request.app[BRIDGE].store


def _silences(request: web.Request) -> SilenceCache:
    """Writes go through the bridge's cache, so the next webhook sees them."""
    require_admin(request)
    return request.app[BRIDGE].silences


async def create_silence(request: web.Request) -> web.Response:
    """Create a silence, or replace one when the body names an existing `id` (as amtool's
    `silence update` does)."""
    silences = _silences(request)
    store = silences.store
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        document = decode_json_object(body)
    except PayloadError as exc:
        raise ApiError(400, str(exc)) from None
    now = utcnow()
    given_id = document.get("id")
    existing = None
    with _store_errors():
        if given_id is not None:
            if not isinstance(given_id, str) or not given_id:
                raise ApiError(400, "id must be a non-empty string")
            existing = await get_silence(store, given_id, now)
            if existing is None:
                raise ApiError(404, f"silence {given_id!r} not found")
        try:
            silence = parse_silence(
                document,
                now=now,
                silence_id=existing.id if existing else new_silence_id(),
                created_at=existing.created_at if existing else None,
            )
        except PayloadError as exc:
            raise ApiError(400, str(exc)) from None
        await silences.save(silence)
    log.info(
        "silence.updated" if existing else "silence.created",
        silence_id=silence.id,
        matchers=[str(m) for m in silence.matchers],
        starts_at=silence.starts_at.isoformat(),
        ends_at=silence.ends_at.isoformat(),
        created_by=silence.created_by,
    )
    return web.json_response({"silenceID": silence.id})


async def list_all(request: web.Request) -> web.Response:
    store = _store(request)
    now = utcnow()
    with _store_errors():
        silences = await list_silences(store, now)
    return web.json_response([silence.to_api(now) for silence in silences])


async def get_one(request: web.Request) -> web.Response:
    store = _store(request)
    now = utcnow()
    silence_id = request.match_info["id"]
    with _store_errors():
        silence = await get_silence(store, silence_id, now)
    if silence is None:
        raise ApiError(404, f"silence {silence_id!r} not found")
    return web.json_response(silence.to_api(now))


async def expire_one(request: web.Request) -> web.Response:
    """Expire (Alertmanager's DELETE): the silence ends now but stays listable."""
    silences = _silences(request)
    now = utcnow()
    silence_id = request.match_info["id"]
    with _store_errors():
        silence = await silences.expire(silence_id, now)
    if silence is None:
        raise ApiError(404, f"silence {silence_id!r} not found")
    log.info("silence.expired", silence_id=silence.id)
    return web.json_response(silence.to_api(now))


@contextmanager
def _store_errors() -> Iterator[None]:
    """StoreUnavailable becomes 503, so the caller retries."""
    try:
        yield
    except StoreUnavailable:
        raise ApiError(503, "store unavailable; retry later") from None
