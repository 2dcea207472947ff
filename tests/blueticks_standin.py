"""A local stand-in for the Blueticks API (blueticks.md §E) that tests drive and inspect.

In-process: `async with run_standin() as standin:` gives `.url` and `.state`. As a process (crash
tests): `python tests/blueticks_standin.py --port N`, controlled through the `/_standin/*` routes.

Legacy `/messages` (§A, §E.12): its response body and the body it POSTs to a message's
`callbackUrl` are INVENTED, since the real shapes are undocumented (§A.2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp
from aiohttp import web
from blueticks_standin_faults import Fault, FaultQueue, Handler, perform_fault
from blueticks_standin_legacy_callbacks import call_legacy_callback
from blueticks_standin_validation import (
    E164,
    ApiError,
    chat_id_to_jid,
    invalid_request,
    page_query,
    validate_chat_id,
    validate_idempotency_key,
    validate_media_host,
    validate_send_body,
)
from blueticks_standin_webhooks import (
    ENGINE_ID,
    WebhookDelivery,
    WebhookSigning,
    WebhookSubscription,
    deliver_events,
    iso_now,
    parse_webhook_request,
    parse_webhook_update,
    session_event,
    step_message,
)

DEFAULT_API_KEY = "bt_live_standin_0123456789abcdef"
ALL_SCOPES = frozenset(
    {
        "messages:write",
        "messages:read",
        "chats:read",
        "groups:read",
        "webhooks:read",
        "webhooks:write",
        "engines:read",
        "account:read",
    }
)
ACCOUNT_ID = "6a380a8258bece30b4851111"
CONTROL_PREFIX = "/_standin"


@dataclass(slots=True)
class CallRecord:
    """One request the API received, before any fault or check applied."""

    method: str
    path: str  # decoded
    raw_path: str  # as sent, e.g. with %2B
    headers: dict[str, str]
    json: Any
    body: bytes
    at: float
    request_id: str  # the X-Request-Id the stand-in answered (or would have) with


@dataclass(slots=True)
class StoredMessage:
    """A message the stand-in accepted; `data` is its ScheduledMessage as the API reports it."""

    id: str
    api: Literal["v1", "legacy"]
    chat_id: str
    request: dict[str, Any]
    data: dict[str, Any]


@dataclass(slots=True)
class IdempotencyRecord:
    fingerprint: str
    data_json: bytes
    at: float


@dataclass
class StandinState:
    """Everything a test sets up or reads back; mutate it freely between calls."""

    api_keys: dict[str, frozenset[str]] = field(
        default_factory=lambda: {DEFAULT_API_KEY: ALL_SCOPES}
    )
    request_id_field: Literal["requestId", "request_id"] = "requestId"
    conflict_status: int = 409
    conflict_code: str = "conflict"  # invented: the real 409 code is undocumented (§B.5)
    idempotency_ttl: float = 86_400.0
    session_connected: bool = True
    # What a send gets while no session is connected (undocumented, §B.8): kept pending, or 422.
    disconnected_sends: Literal["hold", "error"] = "hold"
    # Media hosts the real API refuses (it resolves the host and fetches the file, §B.3): names
    # that resolve to a private address (422) and files it cannot fetch, e.g. behind a login
    # (400). The legacy API answers 400 for both. Invented answers: they are undocumented.
    private_media_hosts: set[str] = field(default_factory=set)
    unfetchable_media_hosts: set[str] = field(default_factory=set)
    faults: FaultQueue = field(default_factory=FaultQueue)
    calls: list[CallRecord] = field(default_factory=list)
    messages: list[StoredMessage] = field(default_factory=list)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    webhooks: dict[str, WebhookSubscription] = field(default_factory=dict)
    webhook_deliveries: list[WebhookDelivery] = field(default_factory=list)
    legacy_callbacks: list[WebhookDelivery] = field(default_factory=list)  # to callbackUrl
    webhook_signing: WebhookSigning | None = None
    webhook_duplicates: bool = False
    webhook_reverse_order: bool = False
    webhook_timeout: float = 10.0
    webhook_retry_delays: tuple[float, ...] = ()  # e.g. (60, 300, ...) compressed for tests
    message_event_data: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: data
    clock: Callable[[], float] = time.time
    closing: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def rate_limit(self, calls: int, retry_after: str | None = "1") -> None:
        """The next `calls` API calls get 429 rate_limited with this Retry-After."""
        self.faults.push(Fault.error(429, retry_after=retry_after), times=calls)

    def message(self, message_id: str) -> StoredMessage:
        for message in self.messages:
            if message.id == message_id:
                return message
        raise KeyError(message_id)

    def changed(self) -> None:
        """Wake every waiter; each re-checks its condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[StoredMessage]:
        """Wait until at least `count` messages were accepted; TimeoutError after `timeout`."""
        await self._wait_until(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)

    async def wait_for_calls(self, count: int, timeout: float = 5.0) -> list[CallRecord]:
        await self._wait_until(lambda: len(self.calls) >= count, timeout)
        return list(self.calls)

    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await self._changed.wait()


STATE = web.AppKey("standin_state", StandinState)
WEBHOOK_HTTP = web.AppKey("standin_webhook_http", aiohttp.ClientSession)
REQUEST_ID = web.RequestKey("standin_request_id", str)


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "data": data}, status=status)


def ok_raw(data_json: bytes, status: int) -> web.Response:
    """A success envelope around already-serialised data, so replays are byte-identical."""
    body = b'{"success":true,"data":' + data_json + b"}"
    return web.Response(body=body, status=status, content_type="application/json")


def error_response(request: web.Request, error: ApiError) -> web.Response:
    state = request.app[STATE]
    payload: dict[str, Any] = {"code": error.code, "message": error.message}
    payload[state.request_id_field] = request[REQUEST_ID]
    if error.details:
        payload["details"] = error.details
    body = {"success": False, "error": payload}
    return web.json_response(body, status=error.status, headers=error.headers)


@web.middleware
async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request ids, the call log, scripted faults and error envelopes, for every API route."""
    state = request.app[STATE]
    request[REQUEST_ID] = f"req_{secrets.token_hex(8)}"
    fault = None
    if not request.path.startswith(CONTROL_PREFIX):
        await _log_call(state, request)
        fault = state.faults.take(request.method, request.path)
    try:
        if fault is not None:
            response = await perform_fault(fault, request, handler, state.closing)
        else:
            response = await handler(request)
    except ApiError as exc:
        response = error_response(request, exc)
    except web.HTTPNotFound:
        response = error_response(request, ApiError(404, "not_found", "No such route"))
    except web.HTTPMethodNotAllowed:
        response = error_response(request, ApiError(405, "invalid_request", "Method not allowed"))
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    return response


async def _log_call(state: StandinState, request: web.Request) -> None:
    body = await request.read()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    headers = dict(request.headers)
    state.calls.append(
        CallRecord(
            request.method,
            request.path,
            request.raw_path,
            headers,
            parsed,
            body,
            time.time(),
            request[REQUEST_ID],
        )
    )
    state.changed()


def authenticate(request: web.Request, scope: str | None, body_key: Any = None) -> str:
    """The API key of the call (Bearer, or the legacy body `apiKey`), checked for `scope`."""
    state = request.app[STATE]
    header = request.headers.get("Authorization", "")
    key = body_key if isinstance(body_key, str) and body_key else None
    if key is None and header.startswith("Bearer "):
        key = header.removeprefix("Bearer ").strip()
    if key is None or key not in state.api_keys:
        raise ApiError(401, "authentication_required", "Missing or invalid API key")
    if scope is not None and scope not in state.api_keys[key]:
        raise ApiError(403, "permission_denied", f"This API key lacks the {scope} scope")
    return key


async def json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise invalid_request("Body is not valid JSON") from None
    if not isinstance(body, dict):
        raise invalid_request("Body must be a JSON object")
    return body


def check_media_host(
    state: StandinState, body: dict[str, Any], field: str, status: int | None = None
) -> None:
    """Refuse the body's media URL as the real API would, with the state's refused hosts."""
    validate_media_host(
        body,
        field=field,
        resolves_private=state.private_media_hosts,
        fetch_fails=state.unfetchable_media_hosts,
        status=status,
    )


def new_id() -> str:
    return secrets.token_hex(12)


async def create_legacy_message(request: web.Request) -> web.Response:
    """`POST /messages` (§A). Its success and error bodies are INVENTED: none is documented."""
    state = request.app[STATE]
    body = await json_object(request)
    authenticate(request, None, body.get("apiKey"))
    to, message = body.get("to"), body.get("message")
    if not isinstance(to, str) or not E164.match(to):
        raise invalid_request("`to` must be an international number such as +1234567890")
    if not isinstance(message, str) or not message:
        raise invalid_request("`message` is required")
    check_media_host(state, body, "fileUrl", status=400)
    message_id = new_id()
    # INVENTED response body: the real legacy success body is unknown (blueticks.md §A.2).
    data = {"id": message_id, "to": to, "status": "queued", "createdAt": iso_now(state.clock())}
    state.messages.append(StoredMessage(message_id, "legacy", to, body, data))
    state.changed()
    return web.json_response({"success": True, **data})


async def reject_bare_scheduled_message(request: web.Request) -> web.Response:
    authenticate(request, "messages:write")
    raise invalid_request("POST /v1/scheduled-messages requires the recipient in the path")


async def create_scheduled_message(request: web.Request) -> web.Response:
    """`POST /v1/scheduled-messages/{chatId}` with idempotent replays (§B.3, §B.5)."""
    state = request.app[STATE]
    api_key = authenticate(request, "messages:write")
    chat_id = request.match_info["chat_id"]  # aiohttp already decoded %2B / %40
    validate_chat_id(chat_id)
    key = request.headers.get("Idempotency-Key")
    validate_idempotency_key(key)
    body = await json_object(request)
    now = state.clock()
    validate_send_body(body, datetime.fromtimestamp(now, UTC))
    check_media_host(state, body, "mediaUrl")
    jid = chat_id_to_jid(chat_id)
    fingerprint = json.dumps({"to": jid, "body": body}, sort_keys=True)
    if key is not None:
        record = state.idempotency.get((api_key, key))
        if record is not None and now - record.at < state.idempotency_ttl:
            if record.fingerprint != fingerprint:
                message = "Idempotency-Key was already used with a different request body"
                raise ApiError(state.conflict_status, state.conflict_code, message)
            return ok_raw(record.data_json, 200)
    if not state.session_connected and state.disconnected_sends == "error":
        raise ApiError(422, "invalid_request", "No WhatsApp session is connected")  # invented
    message_id = new_id()
    data: dict[str, Any] = {"id": message_id, "to": jid}
    data |= {k: v for k, v in body.items() if k not in ("sendAt", "secret") and v is not None}
    data |= {"status": "pending", "createdAt": iso_now(now)}
    if "sendAt" in body:
        data["sendAt"] = body["sendAt"]
    data["secret"] = body.get("secret", message_id)
    data_json = json.dumps(data, separators=(",", ":")).encode()
    if key is not None:
        state.idempotency[(api_key, key)] = IdempotencyRecord(fingerprint, data_json, now)
    state.messages.append(StoredMessage(message_id, "v1", chat_id, body, data))
    state.changed()
    return ok_raw(data_json, 201)


async def get_scheduled_message(request: web.Request) -> web.Response:
    state = request.app[STATE]
    authenticate(request, "messages:read")
    try:
        message = state.message(request.match_info["message_id"])
    except KeyError:
        raise ApiError(404, "not_found", "Scheduled message not found") from None
    if message.api != "v1":
        raise ApiError(404, "not_found", "Scheduled message not found")
    return ok(message.data)


async def ping(request: web.Request) -> web.Response:
    state = request.app[STATE]
    authenticate(request, None)
    data: dict[str, Any] = {"api": "ok", "accountId": ACCOUNT_ID}
    if state.session_connected:
        data["whatsappConnections"] = [{"id": ENGINE_ID, "type": "gateway", "connected": True}]
    else:
        data["whatsappConnections"] = []
        data["message"] = "No WhatsApp session is connected"
    return ok(data)


async def account(request: web.Request) -> web.Response:
    authenticate(request, "account:read")
    return ok({"id": ACCOUNT_ID, "name": "Stand-in workspace", "createdAt": "2026-01-01T00:00:00Z"})


async def create_webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    authenticate(request, "webhooks:write")
    url, events, description = parse_webhook_request(await json_object(request))
    hook = WebhookSubscription(new_id(), url, events, iso_now(state.clock()), description)
    state.webhooks[hook.id] = hook
    return ok(hook.to_data(), status=201)


async def list_webhooks(request: web.Request) -> web.Response:
    """`GET /v1/webhooks?order=&skip=&limit=`: one page (§B.2: limit 1-200, default 50)."""
    state = request.app[STATE]
    authenticate(request, "webhooks:read")
    skip, limit, order = page_query(request.query)
    hooks = list(state.webhooks.values())  # in creation order
    if order == "desc":
        hooks.reverse()
    page = [hook.to_data() for hook in hooks[skip : skip + limit]]
    body = {"success": True, "data": page, "limit": limit, "skip": skip, "total": len(hooks)}
    return web.json_response(body)


async def update_webhook(request: web.Request) -> web.Response:
    """`PATCH /v1/webhooks/{id}`: re-enabling one (after auto-disable) resets its failures."""
    state = request.app[STATE]
    authenticate(request, "webhooks:write")
    changes = parse_webhook_update(await json_object(request))
    hook = state.webhooks.get(request.match_info["webhook_id"])
    if hook is None:
        raise ApiError(404, "not_found", "Webhook not found")
    if "url" in changes:
        hook.url = changes["url"]
    if "events" in changes:
        hook.events = [str(event) for event in changes["events"]]
    if "description" in changes:
        hook.description = changes["description"]
    if changes.get("status") == "enabled" and hook.status == "disabled":
        hook.consecutive_failures = 0
    if "status" in changes:
        hook.status = changes["status"]
    return ok(hook.to_data())


async def delete_webhook(request: web.Request) -> web.Response:
    state = request.app[STATE]
    authenticate(request, "webhooks:write")
    if state.webhooks.pop(request.match_info["webhook_id"], None) is None:
        raise ApiError(404, "not_found", "Webhook not found")
    return ok({"id": request.match_info["webhook_id"], "deleted": True})


async def advance_message(
    app: web.Application, message_id: str, to: str, failure_reason: str = "stand-in failure"
) -> list[WebhookDelivery]:
    """Move a message along pending->confirmed->received->read (or to failed); deliver events,
    or for a legacy message, its status reports to its `callbackUrl`."""
    state = app[STATE]
    events = step_message(state, message_id, to, failure_reason)
    message = state.message(message_id)
    if message.api == "legacy":
        return await call_legacy_callback(state, app[WEBHOOK_HTTP], message, events)
    return await deliver_events(state, app[WEBHOOK_HTTP], events)


async def set_session(app: web.Application, connected: bool) -> list[WebhookDelivery]:
    """Connect or disconnect the WhatsApp session and emit the session.* event."""
    state = app[STATE]
    state.session_connected = connected
    return await deliver_events(state, app[WEBHOOK_HTTP], [session_event(connected, state.clock())])


async def control_messages(request: web.Request) -> web.Response:
    return ok([m.data for m in request.app[STATE].messages])


async def control_calls(request: web.Request) -> web.Response:
    return ok([{"method": c.method, "path": c.path} for c in request.app[STATE].calls])


async def control_fault(request: web.Request) -> web.Response:
    """Body: {"kind": "status"|"html"|"reset"|"slow"|"drop_response"|"error_after_processing",
    "status", "times", ...}."""
    spec = await json_object(request)
    kind = spec.get("kind", "status")
    faults: dict[str, Callable[[], Fault]] = {
        "status": lambda: Fault.error(
            int(spec.get("status", 500)), retry_after=spec.get("retry_after")
        ),
        "html": lambda: Fault.html(int(spec.get("status", 502))),
        "reset": Fault.reset,
        "slow": lambda: Fault.slow(float(spec.get("delay", 30))),
        "drop_response": lambda: Fault.drop_response(delay=spec.get("delay")),
        "error_after_processing": lambda: Fault.error_after_processing(
            int(spec.get("status", 500))
        ),
    }
    if kind not in faults:
        raise invalid_request(f"unknown fault kind {kind!r}")
    fault = faults[kind]().on(method=spec.get("method"), path_prefix=spec.get("path", "/"))
    request.app[STATE].faults.push(fault, times=int(spec.get("times", 1)))
    return ok({"queued": len(request.app[STATE].faults)})


async def control_session(request: web.Request) -> web.Response:
    spec = await json_object(request)
    await set_session(request.app, bool(spec.get("connected", True)))
    return ok({"connected": request.app[STATE].session_connected})


async def control_advance(request: web.Request) -> web.Response:
    spec = await json_object(request)
    deliveries = await advance_message(request.app, request.match_info["message_id"], spec["to"])
    return ok({"deliveries": len(deliveries)})


async def _webhook_http(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        app[WEBHOOK_HTTP] = session
        yield


async def _signal_closing(app: web.Application) -> None:
    app[STATE].closing.set()


def create_standin(state: StandinState | None = None) -> web.Application:
    """The stand-in as an aiohttp application (for `aiohttp_client` or `run_standin`)."""
    app = web.Application(middlewares=[api_middleware])
    app[STATE] = state or StandinState()
    app.cleanup_ctx.append(_webhook_http)
    app.on_shutdown.append(_signal_closing)
    r = app.router
    r.add_post("/messages", create_legacy_message)
    r.add_post("/v1/scheduled-messages", reject_bare_scheduled_message)
    r.add_post("/v1/scheduled-messages/{chat_id}", create_scheduled_message)
    r.add_get("/v1/scheduled-messages/{message_id}", get_scheduled_message)
    r.add_get("/v1/ping", ping)
    r.add_get("/v1/account", account)
    r.add_post("/v1/webhooks", create_webhook)
    r.add_get("/v1/webhooks", list_webhooks)
    r.add_patch("/v1/webhooks/{webhook_id}", update_webhook)
    r.add_delete("/v1/webhooks/{webhook_id}", delete_webhook)
    r.add_get(f"{CONTROL_PREFIX}/messages", control_messages)
    r.add_get(f"{CONTROL_PREFIX}/calls", control_calls)
    r.add_post(f"{CONTROL_PREFIX}/faults", control_fault)
    r.add_post(f"{CONTROL_PREFIX}/session", control_session)
    r.add_post(f"{CONTROL_PREFIX}/messages/{{message_id}}/advance", control_advance)
    return app


@dataclass(slots=True)
class RunningStandin:
    """A stand-in listening on a real port."""

    url: str
    state: StandinState
    app: web.Application

    async def advance(self, message_id: str, to: str, **kwargs: str) -> list[WebhookDelivery]:
        return await advance_message(self.app, message_id, to, **kwargs)

    async def set_session(self, connected: bool) -> list[WebhookDelivery]:
        return await set_session(self.app, connected)


@asynccontextmanager
async def run_standin(
    port: int = 0, state: StandinState | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[RunningStandin]:
    """Serve the stand-in on `host:port` (0: a free port) for the duration of the block."""
    app = create_standin(state)
    runner = web.AppRunner(app, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield RunningStandin(f"http://{host}:{bound_port}", app[STATE], app)
    finally:
        await runner.cleanup()


async def _serve_forever(host: str, port: int, api_key: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    state = StandinState(api_keys={api_key: ALL_SCOPES})
    async with run_standin(port, state, host) as standin:
        print(f"blueticks stand-in listening on {standin.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for the Blueticks API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099, help="0 picks a free port")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.host, args.port, args.api_key))


if __name__ == "__main__":
    main()
