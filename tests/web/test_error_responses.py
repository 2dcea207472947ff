"""Error responses, whoever raised them (the router, aiohttp, a handler): the JSON error body,
with the request id and the headers the status needs (405's Allow, 401's WWW-Authenticate)."""

from __future__ import annotations

import pytest
from conftest import ADMIN_TOKEN, StartBridge

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# (method, path, headers, status, headers the answer must carry)
ERRORS: list[tuple[str, str, dict[str, str], int, dict[str, str]]] = [
    ("GET", "/no-such-path", {}, 404, {}),
    ("GET", "/webhook/alertmanager", {}, 405, {"Allow": "POST"}),
    ("GET", "/-/reload", ADMIN, 405, {"Allow": "POST"}),
    ("GET", "/api/v1/outbox", {}, 401, {"WWW-Authenticate": 'Bearer realm="alertbridge"'}),
    ("GET", "/api/v1/outbox?limit=0", ADMIN, 400, {}),
    ("GET", "/api/v1/silences/no-such-id", ADMIN, 404, {}),
]


@pytest.mark.parametrize(
    ("method", "path", "headers", "status", "kept"),
    ERRORS,
    ids=["unknown-path", "405-webhook", "405-reload", "admin-401", "admin-400", "admin-404"],
)
@pytest.mark.parametrize("caller_id", ["trace-42", None], ids=["caller-id", "new-id"])
async def test_error_answer_keeps_the_request_id_and_its_headers(
    start_bridge: StartBridge,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    kept: dict[str, str],
    caller_id: str | None,
) -> None:
    h = await start_bridge()
    sent = headers | ({"X-Request-Id": caller_id} if caller_id else {})
    reply = await h.request(method, path, headers=sent)
    assert reply.status == status, reply.body
    assert reply.body["status"] == "error" and reply.body["error"]
    request_id = reply.headers.get("X-Request-Id")
    assert request_id and request_id == reply.body["request_id"]
    if caller_id:
        assert request_id == caller_id
    assert {name: reply.headers.get(name) for name in kept} == kept
