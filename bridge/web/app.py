"""The HTTP layer: turns requests into calls on the bridge and results into responses."""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.errors import ApiError, AuthError, PayloadError, StoreUnavailable, UnsupportedMediaType
from bridge.ids import new_id
from bridge.model import SOURCE_NAMES
from bridge.service import Bridge
from bridge.sources.base import excerpt

log = structlog.get_logger("alertbridge.http")

BRIDGE = web.AppKey("bridge", Bridge)
REQUEST_ID = web.RequestKey("request_id", str)
# The notifications a webhook queued, for its access line: a message's log lines lead back to it.
QUEUED = web.RequestKey("queued", list[str])
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BEARER_CHALLENGE = 'Bearer realm="alertbridge"'
# Headers of aiohttp's own errors that the JSON error body must keep (405's Allow, for one).
KEPT_ERROR_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After")


class _AnsweredPayloadErrors(logging.Filter):
    """Drops aiohttp's "Unhandled exception" for a body it could not decompress: read_body has
    answered 400 already, and aiohttp's drain of the rest of the body meets the error again."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, RequestPayloadError)


logging.getLogger("aiohttp.server").addFilter(_AnsweredPayloadErrors())


def _error(status: int, message: str, request: web.Request) -> web.Response:
    return web.json_response(
        {"status": "error", "error": message, "request_id": request.get(REQUEST_ID)},
        status=status,
    )


def _loggable_path(request: web.Request) -> str:
    """The path for logs: a callback URL's last segment is a secret token."""
    return "/callbacks/…" if request.path.startswith("/callbacks") else request.path


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (the caller's X-Request-Id if sane) and one access log line."""
    incoming = request.headers.get("X-Request-Id", "")
    request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else new_id()
    request[REQUEST_ID] = request_id
    structlog.contextvars.bind_contextvars(request_id=request_id)
    started = time.perf_counter()
    response: web.StreamResponse
    try:
        response = await handler(request)
    except ApiError as exc:
        response = _error(exc.status, exc.message, request)
        response.headers.update(exc.headers)
    except PayloadError as exc:  # a body read_body could not take, on any endpoint
        response = _error(400, str(exc), request)
    except web.HTTPException as exc:
        response = _error_from(exc, request) if exc.status >= 400 else exc
    except Exception:
        log.exception("http.unhandled", method=request.method, path=_loggable_path(request))
        response = _error(500, "internal error", request)
    finally:
        structlog.contextvars.unbind_contextvars("request_id")
    response.headers["X-Request-Id"] = request_id
    if request.path.startswith(("/webhook", "/-/", "/callbacks", "/api")):
        queued = request.get(QUEUED)
        log.info(
            "http.request",
            request_id=request_id,
            method=request.method,
            path=_loggable_path(request),
            status=response.status,
            ms=round((time.perf_counter() - started) * 1000, 2),
            **({"notifications": queued} if queued else {}),
        )
    return response


def _error_from(exc: web.HTTPException, request: web.Request) -> web.Response:
    """aiohttp's own error (404, 405, 413...) as our JSON error, keeping its meaningful headers."""
    response = _error(exc.status, exc.reason, request)
    for name in KEPT_ERROR_HEADERS:
        if name in exc.headers:
            response.headers[name] = exc.headers[name]
    return response


async def read_body(request: web.Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes without reading it all."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    # read(n) returns what has arrived so far, not n bytes: read until the end of the body.
    body = bytearray()
    try:
        while chunk := await request.content.readany():
            body += chunk
            if len(body) > limit:
                raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(body))
    except RequestPayloadError as exc:  # aiohttp could not decompress it (gzip, deflate)
        encoding = request.headers.get("Content-Encoding", "")
        raise PayloadError(f"body is not valid {excerpt(encoding)} data: {exc}") from None
    return bytes(body)


def webhook_handler(source: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        bridge = request.app[BRIDGE]
        metrics = bridge.metrics
        limit = bridge.runtime.config.server.max_body_bytes
        try:
            body = await read_body(request, limit)
            # Not request.content_type: aiohttp reports a missing header as octet-stream.
            content_type = request.headers.get("Content-Type", "")
            result = await bridge.receive(source, request.headers, body, content_type)
        except web.HTTPRequestEntityTooLarge:
            metrics.webhooks_received.labels(source, "too_large").inc()
            return _error(413, f"body larger than server.max_body_bytes ({limit} bytes)", request)
        except AuthError as exc:
            metrics.webhooks_received.labels(source, "unauthorized").inc()
            log.warning("webhook.unauthorized", source=source, reason=str(exc))
            response = _error(401, str(exc), request)
            if exc.challenge is not None:
                response.headers["WWW-Authenticate"] = exc.challenge
            return response
        except UnsupportedMediaType as exc:
            metrics.webhooks_received.labels(source, "unsupported_media_type").inc()
            return _error(415, str(exc), request)
        except PayloadError as exc:
            metrics.webhooks_received.labels(source, "bad_request").inc()
            log.warning("webhook.bad_request", source=source, reason=str(exc))
            return _error(400, str(exc), request)
        except StoreUnavailable as exc:
            metrics.webhooks_received.labels(source, "unavailable").inc()
            log.error("webhook.not_persisted", source=source, error=str(exc))
            return _error(503, "cannot persist the notification now; retry later", request)
        if result.duplicate_delivery:
            outcome = "duplicate"
        elif source == "github" and request.headers.get("X-GitHub-Event") == "ping":
            outcome = "ping"
        else:
            outcome = "accepted"
        metrics.webhooks_received.labels(source, outcome).inc()
        request[QUEUED] = [n.id for n in result.notifications]
        return web.json_response(
            {
                "status": outcome,
                "request_id": request[REQUEST_ID],
                "events": result.events,
                "notifications": len(result.notifications),
            },
            status=200 if outcome == "ping" else 202,
        )

    return handle


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    readiness = await request.app[BRIDGE].readiness()
    return web.json_response(
        {"status": "ready" if readiness.ready else "not ready", "checks": readiness.checks},
        status=200 if readiness.ready else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[BRIDGE].metrics.registry
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def require_admin(request: web.Request) -> None:
    """Admin endpoints need server.admin_token as a Bearer token; without one they are off.

    A blank token (an empty `${ADMIN_TOKEN}`, an empty token file) counts as none: otherwise an
    empty `Authorization: Bearer ` would match it and open the admin API to anyone.
    """
    configured = request.app[BRIDGE].runtime.config.server.admin_token
    token = "" if configured is None else configured.get_secret_value()
    if not token.strip():
        raise ApiError(403, "admin API disabled: set server.admin_token (it is unset or blank)")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if (
        scheme.lower() != "bearer"
        or not given
        or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode())
    ):
        raise ApiError(
            401, "missing or wrong admin token", headers={"WWW-Authenticate": BEARER_CHALLENGE}
        )


async def reload(request: web.Request) -> web.Response:
    require_admin(request)
    errors = request.app[BRIDGE].reload()
    if not errors:
        return web.json_response({"status": "reloaded"})
    return web.json_response(
        {
            "status": "error",
            "error": "invalid configuration; the old one is kept",
            "errors": errors,
        },
        status=400,
    )


def create_app(bridge: Bridge) -> web.Application:
    """The aiohttp application around one Bridge; starting the app starts the bridge."""
    app = web.Application(
        middlewares=[request_context],
        client_max_size=bridge.runtime.config.server.max_body_bytes,
    )
    app[BRIDGE] = bridge
    for source in SOURCE_NAMES:
        app.router.add_post(f"/webhook/{source}", webhook_handler(source))
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/-/reload", reload)
    from bridge.web.admin import add_admin_routes  # here: admin imports this module

    add_admin_routes(app)
    from bridge.web.callbacks import add_callback_routes  # here: callbacks imports this module

    add_callback_routes(app)
    from bridge.web.silences import add_silence_routes  # here: silences imports this module

    add_silence_routes(app)

    async def lifecycle(app: web.Application) -> object:
        await bridge.start()
        yield
        await bridge.stop()

    app.cleanup_ctx.append(lifecycle)  # type: ignore[arg-type]
    return app
