"""`POST /callbacks/blueticks/{token}`: Blueticks delivery-status and session events.

The unguessable token in the URL is the check (Blueticks does not sign any more); a legacy
signature is verified only when a secret is configured and the header is present. Every valid
event is answered 200, even one the bridge cannot use, because Blueticks retries anything else
for about 21 hours and then disables the subscription.
"""

from __future__ import annotations

import time

import structlog
from aiohttp import web

from bridge.delivery.callbacks import SIGNATURE_HEADER, check_token, parse_callback
from bridge.delivery.callbacks import verify_signature as verify_callback_signature
from bridge.errors import AuthError, PayloadError, StoreUnavailable
from bridge.web.app import BRIDGE, REQUEST_ID, _error, read_body

log = structlog.get_logger("alertbridge.http")

CALLBACK_ROUTE = "/callbacks/blueticks/{token}"


async def blueticks_callback(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE]
    config = bridge.runtime.config
    counter = bridge.metrics.callbacks
    configured = config.blueticks.callback_token
    if configured is None or not configured.get_secret_value():
        counter.labels("unauthorized").inc()
        return _error(404, "callbacks are disabled: set blueticks.callback_token", request)
    try:
        notification_id = check_token(request.match_info["token"], configured.get_secret_value())
    except AuthError as exc:
        counter.labels("unauthorized").inc()
        log.warning("callback.unauthorized", reason=str(exc))
        return _error(401, str(exc), request)
    limit = config.server.max_body_bytes
    try:
        body = await read_body(request, limit)
    except web.HTTPRequestEntityTooLarge:
        counter.labels("bad_request").inc()
        return _error(413, f"body larger than server.max_body_bytes ({limit} bytes)", request)
    secret = config.blueticks.webhook_secret
    now = time.time()
    try:
        if secret is not None and SIGNATURE_HEADER in request.headers:
            verify_callback_signature(
                request.headers,
                body,
                secret=secret.get_secret_value(),
                tolerance=config.blueticks.webhook_tolerance,
                now=now,
            )
        event = parse_callback(body, legacy=bool(notification_id))
    except AuthError as exc:
        counter.labels("bad_signature").inc()
        log.warning("callback.bad_signature", reason=str(exc))
        return _error(401, str(exc), request)
    except PayloadError as exc:
        counter.labels("bad_request").inc()
        log.warning("callback.bad_request", reason=str(exc))
        return _error(400, str(exc), request)
    try:
        outcome = await bridge.callbacks.receive(
            event, notification_id=notification_id or None, now=now
        )
    except StoreUnavailable as exc:
        counter.labels("unavailable").inc()
        log.error("callback.not_persisted", error=str(exc))
        return _error(503, "cannot record the event now; retry later", request)
    counter.labels(outcome).inc()
    return web.json_response(
        {"status": outcome, "event_id": event.id, "request_id": request[REQUEST_ID]}
    )


def add_callback_routes(app: web.Application) -> None:
    app.router.add_post(CALLBACK_ROUTE, blueticks_callback)
