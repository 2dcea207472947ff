"""What every route of the Blueticks stand-in shares: app keys, envelopes, auth and body parsing.

`api_middleware` gives each call its request id, logs it, applies the scripted fault that
matches, and turns an `ApiError` into the API's error envelope; `authenticate` checks the key and
its scopes (blueticks.md §E.1, §E.2, §E.5).
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web
from blueticks_standin_faults import Handler, perform_fault
from blueticks_standin_state import CallRecord, StandinState
from blueticks_standin_validation import ApiError, invalid_request, validate_media_host

CONTROL_PREFIX = "/_standin"

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
