"""The admin HTTP API over the outbox: inspect notifications, replay or drop dead letters, send
failed deliveries again.

Every route needs server.admin_token as a Bearer token (`require_admin`); without a configured
token the API is off (403). `alertbridge outbox --url` is its command-line client.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, get_args

import structlog
from aiohttp import web

from bridge.errors import ApiError, PayloadError
from bridge.model import Notification, NotificationState
from bridge.sources.base import decode_json_object
from bridge.web.app import BRIDGE, read_body, require_admin

log = structlog.get_logger("alertbridge.admin")

PREFIX = "/api/v1/outbox"
# Request bodies are id lists: 64 KiB holds over a thousand ids.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
STATES: tuple[str, ...] = get_args(NotificationState)
SELECTION_SHAPE = '{"ids": ["..."]} or {"all": true}'


def notification_document(notification: Notification) -> dict[str, Any]:
    """A notification as the admin API shows it (every stored field)."""
    document = dataclasses.asdict(notification)
    document["idempotency_key"] = notification.idempotency_key
    return document


def _query_state(request: web.Request) -> NotificationState:
    state = request.query.get("state", "dead")
    if state not in STATES:
        raise ApiError(400, f"state must be one of {', '.join(STATES)}")
    return state  # type: ignore[return-value]


def _query_limit(request: web.Request) -> int:
    text = request.query.get("limit", str(DEFAULT_LIMIT))
    # ASCII digits only: "²" is a digit to str.isdigit() but not to int().
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(text)


async def _selection(request: web.Request) -> list[str] | None:
    """The ids a retry or drop applies to, from `{"ids": [...]}`; None for `{"all": true}`."""
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        document = decode_json_object(body)
    except PayloadError as exc:
        raise ApiError(400, f"{exc}; the body must be {SELECTION_SHAPE}") from None
    if not set(document) <= {"ids", "all"}:
        raise ApiError(400, f"body must be {SELECTION_SHAPE}")
    ids, everything = document.get("ids"), document.get("all")
    if ids is None and everything is True:
        return None
    if ids is None and everything is None:
        raise ApiError(400, f"body must be {SELECTION_SHAPE}")
    if everything is not None:
        raise ApiError(400, '"all" must be true, and not given with "ids"')
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise ApiError(400, '"ids" must be a non-empty list of notification ids')
    return list(dict.fromkeys(ids))


async def list_outbox(request: web.Request) -> web.Response:
    require_admin(request)
    state, limit = _query_state(request), _query_limit(request)
    found = await request.app[BRIDGE].store.list_notifications(state, limit)
    return web.json_response(
        {
            "state": state,
            "count": len(found),
            "notifications": [notification_document(n) for n in found],
        }
    )


async def get_outbox_entry(request: web.Request) -> web.Response:
    require_admin(request)
    notification_id = request.match_info["notification_id"]
    found = await request.app[BRIDGE].store.get_notification(notification_id)
    if found is None:
        raise ApiError(404, f"no notification {notification_id!r}")
    return web.json_response(notification_document(found))


async def retry_dead(request: web.Request) -> web.Response:
    """Dead letters back to pending, due now, and failed deliveries (sent, then reported failed
    by Blueticks) sent again as new notifications; the worker is woken to send them at once.

    Dead letters Blueticks reported delivered stay dead (sending them again would duplicate
    them); `skipped_delivered` says how many, `resent` maps each failed delivery to its resend.
    """
    require_admin(request)
    ids = await _selection(request)
    bridge = request.app[BRIDGE]
    outcome = await bridge.store.requeue(ids, now=time.time())
    if outcome.requeued and bridge.worker is not None:
        bridge.worker.wake()
    log.info(
        "outbox.dead_requeued",
        count=outcome.requeued,
        skipped_delivered=outcome.skipped_delivered,
        resent=dict(outcome.resent),
        requested="all" if ids is None else len(ids),
    )
    return web.json_response(
        {
            "requeued": outcome.requeued,
            "skipped_delivered": outcome.skipped_delivered,
            "resent": dict(outcome.resent),
        }
    )


async def drop_dead(request: web.Request) -> web.Response:
    require_admin(request)
    ids = await _selection(request)
    dropped = await request.app[BRIDGE].store.drop(ids)
    log.warning("outbox.dead_dropped", count=dropped, requested="all" if ids is None else len(ids))
    return web.json_response({"dropped": dropped})


def add_admin_routes(app: web.Application) -> None:
    """Register the outbox admin API on an app made by `create_app`."""
    app.router.add_get(PREFIX, list_outbox)
    app.router.add_post(f"{PREFIX}/retry", retry_dead)
    app.router.add_post(f"{PREFIX}/drop", drop_dead)
    app.router.add_get(f"{PREFIX}/{{notification_id}}", get_outbox_entry)
