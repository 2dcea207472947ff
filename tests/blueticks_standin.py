"""A local stand-in for the Blueticks API (blueticks.md §E) that tests drive and inspect.

In-process: `async with run_standin() as standin:` gives `.url` and `.state`. As a process (crash
tests): `python tests/blueticks_standin.py --port N`, controlled through the `/_standin/*` routes.

This module holds the routes and runs the app; what they share (envelopes, auth, the call log,
faults) is in blueticks_standin_http, and the state tests drive in blueticks_standin_state.

Legacy `/messages` (§A, §E.12): its response body and the body it POSTs to a message's
`callbackUrl` are INVENTED, since the real shapes are undocumented (§A.2).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from blueticks_standin_faults import Fault
from blueticks_standin_http import (
    CONTROL_PREFIX,
    STATE,
    WEBHOOK_HTTP,
    api_middleware,
    authenticate,
    check_media_host,
    json_object,
    new_id,
    ok,
    ok_raw,
)
from blueticks_standin_legacy_callbacks import call_legacy_callback
from blueticks_standin_state import (
    ALL_SCOPES,
    DEFAULT_API_KEY,
    CallRecord,
    IdempotencyRecord,
    StandinState,
    StoredMessage,
)
from blueticks_standin_validation import (
    E164,
    ApiError,
    chat_id_to_jid,
    invalid_request,
    page_query,
    validate_chat_id,
    validate_idempotency_key,
    validate_send_body,
)
from blueticks_standin_webhooks import (
    ENGINE_ID,
    WebhookDelivery,
    WebhookSubscription,
    deliver_events,
    iso_now,
    parse_webhook_request,
    parse_webhook_update,
    session_event,
    step_message,
)

# What tests import from here (the state's classes are defined in blueticks_standin_state).
__all__ = [
    "DEFAULT_API_KEY",
    "CallRecord",
    "RunningStandin",
    "StandinState",
    "StoredMessage",
    "create_standin",
    "run_standin",
]

ACCOUNT_ID = "6a380a8258bece30b4851111"


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
