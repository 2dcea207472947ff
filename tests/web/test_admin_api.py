"""The outbox admin API: list, retry and drop dead letters, behind the admin token."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from alertmanager_webhooks import one_alert_webhook
from blueticks_standin_faults import Fault
from conftest import (
    ADMIN_TOKEN,
    BridgeHarness,
    StartBridge,
    am_headers,
    outbox_state_count,
    state_of,
    wait_until,
    write_config,
)
from pydantic import SecretStr

from bridge.runtime import Runtime, load_runtime
from bridge.service import Bridge
from bridge.web.app import create_app

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
ALICE, BOB = "+14155550123", "+4915112345678"


async def bridge_with_dead_letters(start_bridge: StartBridge) -> BridgeHarness:
    """A bridge whose two notifications (alice, bob) were refused with 400: dead letters."""
    h = await start_bridge()
    h.standin.state.faults.push(Fault.error(400), times=2)
    reply = await h.post("/webhook/alertmanager", one_alert_webhook("db-1"), am_headers())
    assert reply.status == 202, reply.body

    async def both_dead() -> bool:
        return await outbox_state_count(h, "dead") == 2

    await wait_until(both_dead, what="two dead letters")
    return h


async def wait_for_dead_letters(h: BridgeHarness, count: int) -> None:
    async def reached() -> bool:
        return await outbox_state_count(h, "dead") == count

    await wait_until(reached, what=f"{count} dead letter(s)")


async def dead_ids(h: BridgeHarness) -> dict[str, str]:
    """Dead letters by phone."""
    return {n.phone: n.id for n in await h.bridge.store.list_notifications("dead")}


async def test_dead_letters_are_listed_with_the_reason(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    reply = await h.get("/api/v1/outbox?state=dead&limit=10", ADMIN)
    assert reply.status == 200, reply.body
    assert reply.body["state"] == "dead" and reply.body["count"] == 2
    listed = reply.body["notifications"]
    assert sorted(n["phone"] for n in listed) == [ALICE, BOB]
    for n in listed:
        assert n["state"] == "dead" and n["route"] == "alerts"
        assert "HTTP 400" in n["last_error"]
        assert n["idempotency_key"] == f"ab-{n['id']}"


async def test_list_limit_caps_the_answer(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    reply = await h.get("/api/v1/outbox?limit=1", ADMIN)
    assert reply.status == 200 and reply.body["count"] == 1


async def test_one_notification_is_shown_by_id(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    alice = (await dead_ids(h))[ALICE]
    reply = await h.get(f"/api/v1/outbox/{alice}", ADMIN)
    assert reply.status == 200
    assert reply.body["id"] == alice and reply.body["phone"] == ALICE
    missing = await h.get("/api/v1/outbox/no-such-id", ADMIN)
    assert missing.status == 404 and "no-such-id" in missing.body["error"]


async def test_retry_by_id_delivers_only_that_dead_letter(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    ids = await dead_ids(h)
    reply = await h.post("/api/v1/outbox/retry", json.dumps({"ids": [ids[ALICE]]}).encode(), ADMIN)
    assert reply.status == 200 and reply.body == {
        "requeued": 1,
        "skipped_delivered": 0,
        "resent": {},
    }
    messages = await h.standin.state.wait_for_messages(1)
    assert [m.request["to"] for m in messages] == [ALICE]

    async def alice_sent() -> bool:
        found = await h.bridge.store.get_notification(ids[ALICE])
        return found is not None and found.state == "sent"

    await wait_until(alice_sent, what="alice's notification marked sent")
    assert await dead_ids(h) == {BOB: ids[BOB]}


async def test_retry_all_delivers_every_dead_letter(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    reply = await h.post("/api/v1/outbox/retry", b'{"all": true}', ADMIN)
    assert reply.status == 200 and reply.body == {
        "requeued": 2,
        "skipped_delivered": 0,
        "resent": {},
    }

    async def both_sent() -> bool:
        return await outbox_state_count(h, "sent") == 2

    await wait_until(both_sent, what="both retried notifications sent")
    assert sorted(m.request["to"] for m in h.standin.state.messages) == [ALICE, BOB]


@pytest.mark.parametrize(
    ("select_bob", "dropped", "left"),
    [(True, 1, [ALICE]), (False, 2, [])],
    ids=["by-id", "all"],
)
async def test_drop_deletes_dead_letters(
    start_bridge: StartBridge, select_bob: bool, dropped: int, left: list[str]
) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    ids = await dead_ids(h)
    body = {"ids": [ids[BOB]]} if select_bob else {"all": True}
    reply = await h.post("/api/v1/outbox/drop", json.dumps(body).encode(), ADMIN)
    assert reply.status == 200 and reply.body == {"dropped": dropped}
    assert sorted(await dead_ids(h)) == left
    assert h.standin.state.messages == []


async def test_retry_of_an_id_that_is_not_dead_changes_nothing(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    reply = await h.post("/api/v1/outbox/retry", b'{"ids": ["no-such-id"]}', ADMIN)
    assert reply.status == 200 and reply.body == {
        "requeued": 0,
        "skipped_delivered": 0,
        "resent": {},
    }
    assert len(await dead_ids(h)) == 2


ALICE_ONLY = """\
routes:
  - name: alerts
    source: alertmanager
    to: [alice]
"""


async def test_retry_never_resends_a_dead_letter_blueticks_reported_delivered(
    start_bridge: StartBridge,
) -> None:
    """A legacy send whose answer never came is a dead letter ("may have been sent"); once its
    callback says delivered, a retry must not send it a second time."""
    h = await start_bridge(
        routes=ALICE_ONLY,
        api="legacy",
        blueticks_extra="  timeout: 300ms\n  callback_token: cb-admin-test-token-5e2a9c\n",
        server_extra=", public_url: 'https://bridge.example.com/'",
    )
    h.standin.state.faults.push(Fault.drop_response(delay=2.0).on(method="POST"))
    h.standin.state.faults.push(Fault.error(400).on(method="POST"))
    # The first is sent but its answer never comes, the second is refused: both dead.
    for dead, instance in enumerate(("db-1", "db-2"), start=1):
        reply = await h.post("/webhook/alertmanager", one_alert_webhook(instance), am_headers())
        assert reply.status == 202, reply.body
        await wait_for_dead_letters(h, dead)
    [unanswered] = h.standin.state.messages
    callback = urlsplit(unanswered.request["callbackUrl"]).path
    assert (await h.post(callback, b'{"status": "delivered"}', {})).status == 200

    listed = await h.get("/api/v1/outbox?state=dead", ADMIN)
    statuses = {n["delivery_status"]: n["id"] for n in listed.body["notifications"]}
    assert set(statuses) == {"received", None}
    delivered, refused = statuses["received"], statuses[None]

    retried = await h.post("/api/v1/outbox/retry", b'{"all": true}', ADMIN)
    assert retried.status == 200
    assert retried.body == {"requeued": 1, "skipped_delivered": 1, "resent": {}}

    async def refused_sent() -> bool:
        return await state_of(h, refused) == "sent"

    await wait_until(refused_sent, what="the refused notification sent on retry")
    by_id = await h.post("/api/v1/outbox/retry", json.dumps({"ids": [delivered]}).encode(), ADMIN)
    assert by_id.body == {"requeued": 0, "skipped_delivered": 1, "resent": {}}
    assert await state_of(h, delivered) == "dead"
    assert len(h.standin.state.messages) == 2


ENDPOINTS = [
    ("GET", "/api/v1/outbox"),
    ("GET", "/api/v1/outbox/some-id"),
    ("POST", "/api/v1/outbox/retry"),
    ("POST", "/api/v1/outbox/drop"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=lambda v: v)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", f"Bearer {ADMIN_TOKEN}x"],
    ids=["missing", "wrong-token", "wrong-scheme", "token-prefix"],
)
async def test_admin_endpoints_refuse_without_the_admin_token(
    start_bridge: StartBridge, method: str, path: str, authorization: str | None
) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    body = b'{"all": true}'
    reply = await (h.post(path, body, headers) if method == "POST" else h.get(path, headers))
    assert reply.status == 401, reply.body
    assert len(await dead_ids(h)) == 2


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=lambda v: v)
async def test_admin_api_is_off_without_a_configured_token(
    tmp_path: Path, aiohttp_client, method: str, path: str
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    text = config.read_text()
    assert f"admin_token: {ADMIN_TOKEN}" in text
    config.write_text(text.replace(f"admin_token: {ADMIN_TOKEN}", "admin_token: null"))
    client: TestClient = await aiohttp_client(create_app(Bridge(load_runtime(str(config)))))
    response = await client.request(method, path, headers=ADMIN, data=b'{"all": true}')
    assert response.status == 403
    assert "admin_token" in (await response.json())["error"]


def with_admin_token(runtime: Runtime, token: str) -> Runtime:
    """The runtime with another admin token, unvalidated: the config schema refuses a blank one,
    and the web layer must not depend on that alone."""
    server = runtime.config.server.model_copy(update={"admin_token": SecretStr(token)})
    config = runtime.config.model_copy(update={"server": server})
    return dataclasses.replace(runtime, loaded=dataclasses.replace(runtime.loaded, config=config))


ADMIN_ROUTES = [
    *ENDPOINTS,
    ("GET", "/api/v1/silences"),
    ("POST", "/api/v1/silences"),
    ("POST", "/-/reload"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=lambda v: v)
@pytest.mark.parametrize(
    ("token", "authorization"),
    [("", "Bearer "), ("", "Bearer"), ("", None), ("  ", "Bearer   ")],
    ids=["empty-bearer", "bare-scheme", "no-header", "blank-token"],
)
async def test_a_blank_admin_token_keeps_the_admin_api_off(
    tmp_path: Path,
    aiohttp_client,
    method: str,
    path: str,
    token: str,
    authorization: str | None,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    runtime = with_admin_token(load_runtime(str(config)), token)
    client: TestClient = await aiohttp_client(create_app(Bridge(runtime)))
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await client.request(method, path, headers=headers, data=b'{"all": true}')
    assert response.status == 403
    assert "admin_token" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b'["id-1"]', '{"ids"'),
        (b'{"ids": []}', "non-empty list"),
        (b'{"ids": "id-1"}', "non-empty list"),
        (b'{"ids": [1, 2]}', "non-empty list"),
        (b'{"ids": ["id-1"], "all": true}', '"all" must be true'),
        (b'{"all": false}', '"all" must be true'),
        (b'{"all": "yes"}', '"all" must be true'),
        (b'{"everything": true}', '{"ids"'),
        (b"{}", '{"ids"'),
        (b"[" * 30_000, "nested too deeply"),
        (b'{"ids": ["\\ud800"]}', "unpaired surrogate"),
    ],
    ids=[
        "malformed",
        "not-utf8",
        "array",
        "empty-ids",
        "ids-string",
        "ids-numbers",
        "ids-and-all",
        "all-false",
        "all-string",
        "unknown-key",
        "empty-object",
        "nested-too-deeply",
        "unpaired-surrogate-id",
    ],
)
@pytest.mark.parametrize("action", ["retry", "drop"])
async def test_bad_selection_body_is_refused_with_a_message(
    start_bridge: StartBridge, action: str, body: bytes, message: str
) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    reply = await h.post(f"/api/v1/outbox/{action}", body, ADMIN)
    assert reply.status == 400, reply.body
    assert message in reply.body["error"]
    assert len(await dead_ids(h)) == 2


async def test_oversized_body_is_refused(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    body = json.dumps({"ids": [f"id-{i:08d}" for i in range(10_000)]}).encode()
    reply = await h.post("/api/v1/outbox/drop", body, ADMIN)
    assert reply.status == 413
    assert len(await dead_ids(h)) == 2


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=lost", "state must be one of"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("limit=%C2%B2", "limit"),
    ],
    ids=["unknown-state", "zero-limit", "non-numeric-limit", "superscript-two-limit"],
)
async def test_bad_list_query_is_refused(
    start_bridge: StartBridge, query: str, message: str
) -> None:
    h = await start_bridge()
    reply = await h.get(f"/api/v1/outbox?{query}", ADMIN)
    assert reply.status == 400 and message in reply.body["error"]


@pytest.mark.parametrize(
    "path", ["/api/v1/outbox/retry", "/api/v1/silences", "/-/reload"], ids=lambda v: v
)
async def test_a_token_that_is_not_utf8_is_refused_not_an_error(
    start_bridge: StartBridge, path: str
) -> None:
    """Raw bytes, as a broken or hostile client sends them (aiohttp's client would not)."""
    h = await start_bridge()
    host, port = h.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n".encode()
        + b"Authorization: Bearer \xff\xfe\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    )
    await writer.drain()
    status_line = (await reader.readline()).decode()
    writer.close()
    await writer.wait_closed()
    assert status_line.split()[1] == "401", status_line
