"""The stand-in's own contract where the clients do not reach (blueticks.md §E)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from blueticks_standin import DEFAULT_API_KEY, RunningStandin
from blueticks_standin_faults import Fault
from yarl import URL

AUTH = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
TEXT = {"type": "text", "text": "hello"}
ONE_OPTION_POLL = {"type": "poll", "pollQuestion": "?", "pollOptions": ["a"]}


Call = Callable[..., Awaitable[tuple[int, dict[str, Any], aiohttp.ClientResponse]]]


@pytest.fixture
def call(http: aiohttp.ClientSession, standin: RunningStandin) -> Call:
    async def _call(
        method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], aiohttp.ClientResponse]:
        url = standin.url + path
        async with http.request(method, url, json=body, headers=AUTH | (headers or {})) as resp:
            return resp.status, await resp.json(), resp

    return _call


async def test_missing_key_is_401_with_request_id_in_body_and_header(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    async with http.get(standin.url + "/v1/ping") as resp:
        body = await resp.json()

    assert resp.status == 401
    assert body["success"] is False
    assert body["error"]["code"] == "authentication_required"
    assert body["error"]["requestId"] == resp.headers["X-Request-Id"]


async def test_request_id_field_can_be_snake_case(call: Call, standin: RunningStandin) -> None:
    standin.state.request_id_field = "request_id"

    status, body, resp = await call("GET", "/v1/scheduled-messages/" + "0" * 24)

    assert status == 404
    assert body["error"]["request_id"] == resp.headers["X-Request-Id"]
    assert "requestId" not in body["error"]


async def test_key_without_scope_is_403(call: Call, standin: RunningStandin) -> None:
    standin.state.api_keys[DEFAULT_API_KEY] = frozenset({"messages:write"})

    status, body, _ = await call("GET", "/v1/account")

    assert (status, body["error"]["code"]) == (403, "permission_denied")


def in_future(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


@pytest.mark.parametrize(
    ("chat_id", "body", "path"),
    [
        ("%2B972501234567", {"text": "no type"}, "type"),
        ("%2B972501234567", {"type": "sticker"}, "type"),
        ("%2B972501234567", {"type": "text", "text": ""}, "text"),
        ("%2B972501234567", {"type": "text", "text": "x" * 4097}, "text"),
        ("%2B972501234567", TEXT | {"to": "+972501234567"}, "to"),
        ("%2B972501234567", {"type": "media", "mediaUrl": "http://x.example/a.png"}, "mediaUrl"),
        ("%2B972501234567", {"type": "media", "text": "no media"}, "mediaUrl"),
        (
            "%2B972501234567",
            {"type": "poll", "pollQuestion": "?", "pollOptions": ["a"]},
            "pollOptions",
        ),
        ("%2B972501234567", TEXT | {"sendAt": in_future(-60)}, "sendAt"),
        ("%2B972501234567", TEXT | {"sendAt": in_future(400 * 86400)}, "sendAt"),
        ("%2B972501234567", TEXT | {"sendAt": "2030-01-01T00:00:00"}, "sendAt"),
        ("972501234567", TEXT, "chatId"),
        ("someone@example.com", TEXT, "chatId"),
    ],
    ids=[
        "type-missing",
        "type-unknown",
        "text-empty",
        "text-too-long",
        "to-in-body",
        "media-not-https",
        "media-missing",
        "poll-one-option",
        "send-at-past",
        "send-at-too-far",
        "send-at-no-offset",
        "chat-id-without-plus",
        "chat-id-email",
    ],
)
async def test_invalid_send_is_400_with_details(
    call: Call, standin: RunningStandin, chat_id: str, body: dict[str, Any], path: str
) -> None:
    status, answer, _ = await call("POST", f"/v1/scheduled-messages/{chat_id}", body)

    assert status == 400
    assert answer["error"]["code"] == "invalid_request"
    assert path in [detail["path"] for detail in answer["error"]["details"]]
    assert standin.state.messages == []


async def test_bare_send_path_is_400(call: Call) -> None:
    status, body, _ = await call("POST", "/v1/scheduled-messages", TEXT | {"to": "+972501234567"})

    assert status == 400
    assert "recipient in the path" in body["error"]["message"]


@pytest.mark.parametrize(
    ("chat_id", "expected_to"),
    [
        ("+972501234567", "972501234567@c.us"),
        ("%2B972501234567", "972501234567@c.us"),
        ("120363427920657250@g.us", "120363427920657250@g.us"),
        ("120363427920657250%40g.us", "120363427920657250@g.us"),
    ],
    ids=["raw-plus", "encoded-plus", "raw-at", "encoded-at"],
)
async def test_send_accepts_raw_and_encoded_recipients(
    http: aiohttp.ClientSession, standin: RunningStandin, chat_id: str, expected_to: str
) -> None:
    url = URL(f"{standin.url}/v1/scheduled-messages/{chat_id}", encoded=True)
    async with http.post(url, json=TEXT, headers=AUTH) as resp:
        body = await resp.json()

    assert resp.status == 201
    data = body["data"]
    assert re.fullmatch(r"[0-9a-f]{24}", data["id"])
    assert (data["to"], data["status"], data["type"], data["text"]) == (
        expected_to,
        "pending",
        "text",
        "hello",
    )
    assert "createdAt" in data
    assert None not in data.values()


async def test_idempotency_key_over_64_characters_is_400(call: Call) -> None:
    status, body, _ = await call(
        "POST", "/v1/scheduled-messages/+972501234567", TEXT, {"Idempotency-Key": "k" * 65}
    )

    assert (status, body["error"]["code"]) == (400, "invalid_request")


async def test_replay_returns_byte_identical_original_data(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    url = f"{standin.url}/v1/scheduled-messages/+972501234567"
    headers = AUTH | {"Idempotency-Key": "k-1"}
    async with http.post(url, json=TEXT, headers=headers) as first:
        first_body = await first.read()
    await standin.advance(standin.state.messages[0].id, "read")
    async with http.post(url, json=TEXT, headers=headers) as replay:
        replay_body = await replay.read()

    assert (first.status, replay.status) == (201, 200)
    assert replay_body == first_body
    assert len(standin.state.messages) == 1


async def test_keyless_retry_creates_a_duplicate(call: Call, standin: RunningStandin) -> None:
    for _ in range(2):
        await call("POST", "/v1/scheduled-messages/+972501234567", TEXT)

    assert len(standin.state.messages) == 2


async def test_conflict_status_and_code_are_configurable(
    call: Call, standin: RunningStandin
) -> None:
    standin.state.conflict_status, standin.state.conflict_code = 422, "invalid_request"
    path, key = "/v1/scheduled-messages/+972501234567", {"Idempotency-Key": "k-1"}
    await call("POST", path, TEXT, key)

    status, body, _ = await call("POST", path, {"type": "text", "text": "other"}, key)

    assert (status, body["error"]["code"]) == (422, "invalid_request")


async def test_scheduled_message_can_be_read_back(call: Call, standin: RunningStandin) -> None:
    _, created, _ = await call("POST", "/v1/scheduled-messages/+972501234567", TEXT)

    status, body, _ = await call("GET", f"/v1/scheduled-messages/{created['data']['id']}")

    assert status == 200
    assert body["data"] == created["data"]


async def test_account_is_served(call: Call) -> None:
    status, body, _ = await call("GET", "/v1/account")

    assert status == 200
    assert {"id", "name", "createdAt"} <= set(body["data"])


async def test_webhook_subscription_lifecycle(call: Call) -> None:
    new = {"url": "https://bridge.example/cb/tok", "events": ["message.read"]}
    status, created, _ = await call("POST", "/v1/webhooks", new)
    _, listed, _ = await call("GET", "/v1/webhooks")
    deleted_status, deleted, _ = await call("DELETE", f"/v1/webhooks/{created['data']['id']}")
    again, _, _ = await call("DELETE", f"/v1/webhooks/{created['data']['id']}")

    assert status == 201
    assert "secret" not in created["data"]
    assert created["data"]["status"] == "enabled"
    assert listed["data"] == [created["data"]] and listed["total"] == 1
    assert (deleted_status, deleted["data"]["deleted"]) == (200, True)
    assert again == 404


async def test_webhook_with_unknown_event_is_400(call: Call) -> None:
    body = {"url": "https://bridge.example/cb", "events": ["message.sent"]}

    status, answer, _ = await call("POST", "/v1/webhooks", body)

    assert status == 400
    assert answer["error"]["details"][0]["path"] == "events.0"


async def test_text_length_is_counted_in_utf16_code_units(
    call: Call, standin: RunningStandin
) -> None:
    """Zod counts JavaScript string length: an emoji outside the BMP is 2 (§B.3, §B.6)."""
    path = "/v1/scheduled-messages/+972501234567"
    statuses = []
    for text in ("🔥" * 2048, "🔥" * 2048 + "a", "🔥" * 2049):  # 4096, 4097, 4098 units
        status, answer, _ = await call("POST", path, {"type": "text", "text": text})
        statuses.append(status)
        if status == 400:
            assert [d["path"] for d in answer["error"]["details"]] == ["text"]

    assert statuses == [201, 400, 400]
    assert len(standin.state.messages) == 1


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/panel.png",
        "https://[::1]/panel.png",
        "https://grafana/panel.png",
        "https://grafana.local/panel.png",
        "https://grafana.monitoring.svc/panel.png",
        "https://grafana.monitoring.svc.cluster.local/panel.png",
        "https://localhost/panel.png",
    ],
    ids=["private-ip", "loopback-v6", "single-label", "local", "svc", "cluster-local", "localhost"],
)
async def test_media_from_a_private_host_is_refused_with_422(
    call: Call, standin: RunningStandin, url: str
) -> None:
    path = "/v1/scheduled-messages/+972501234567"
    public = {"type": "media", "mediaUrl": "https://grafana.example.com/panel.png"}
    assert (await call("POST", path, public))[0] == 201

    status, answer, _ = await call("POST", path, {"type": "media", "mediaUrl": url})

    assert (status, answer["success"], answer["error"]["code"]) == (422, False, "invalid_request")
    assert [d["path"] for d in answer["error"]["details"]] == ["mediaUrl"]
    assert len(standin.state.messages) == 1


async def test_error_after_processing_creates_the_message_and_answers_the_error(
    call: Call, standin: RunningStandin
) -> None:
    standin.state.faults.push(Fault.error_after_processing(502))

    status, answer, _ = await call("POST", "/v1/scheduled-messages/+972501234567", TEXT)

    assert (status, answer["error"]["code"]) == (502, "internal_error")
    assert len(standin.state.messages) == 1


async def test_webhook_can_be_patched_back_to_enabled_with_other_events(
    call: Call, standin: RunningStandin
) -> None:
    new = {"url": "https://bridge.example/cb/tok", "events": ["message.read"]}
    _, created, _ = await call("POST", "/v1/webhooks", new)
    hook = standin.state.webhooks[created["data"]["id"]]
    hook.status, hook.consecutive_failures = "disabled", 8
    changes = {"status": "enabled", "events": ["message.read", "session.connected"]}

    status, patched, _ = await call("PATCH", f"/v1/webhooks/{hook.id}", changes)

    assert status == 200
    assert patched["data"] | changes == patched["data"]
    assert (hook.status, hook.events, hook.consecutive_failures) == (
        "enabled",
        ["message.read", "session.connected"],
        0,
    )


@pytest.mark.parametrize(
    ("body", "status", "path"),
    [
        ({}, 400, ""),
        ({"status": "paused"}, 400, "status"),
        ({"events": ["message.sent"]}, 400, "events.0"),
        ({"secret": "x"}, 400, "secret"),
    ],
    ids=["empty", "bad-status", "unknown-event", "unknown-field"],
)
async def test_invalid_webhook_patch_is_400(
    call: Call, body: dict[str, Any], status: int, path: str
) -> None:
    _, created, _ = await call(
        "POST", "/v1/webhooks", {"url": "https://b.example/cb", "events": ["message.read"]}
    )

    answer_status, answer, _ = await call("PATCH", f"/v1/webhooks/{created['data']['id']}", body)

    assert answer_status == status
    assert path in [d["path"] for d in answer["error"]["details"]]


async def test_patching_an_unknown_webhook_is_404(call: Call) -> None:
    status, _, _ = await call("PATCH", "/v1/webhooks/" + "0" * 24, {"status": "enabled"})

    assert status == 404


async def test_webhooks_are_listed_in_pages(call: Call) -> None:
    for i in range(250):
        body = {"url": f"https://b.example/cb/{i}", "events": ["message.read"]}
        await call("POST", "/v1/webhooks", body)

    _, first, _ = await call("GET", "/v1/webhooks?limit=200&order=asc")
    _, second, _ = await call("GET", "/v1/webhooks?limit=200&skip=200&order=asc")
    _, default, _ = await call("GET", "/v1/webhooks")
    too_many, _, _ = await call("GET", "/v1/webhooks?limit=201")

    assert [len(first["data"]), len(second["data"]), len(default["data"])] == [200, 50, 50]
    assert first["total"] == second["total"] == 250
    urls = [hook["url"] for hook in first["data"] + second["data"]]
    assert urls == [f"https://b.example/cb/{i}" for i in range(250)]
    assert default["data"][0]["url"] == "https://b.example/cb/249"  # newest first by default
    assert too_many == 400


class Receiver:
    """A webhook endpoint that records what it is sent and answers `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    @property
    def types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/cb/{token}", receiver.handle)
    async with TestServer(app) as server:
        yield receiver, str(server.make_url("/cb/s3cret-token?x=1"))


async def subscribe(call: Call, url: str, events: list[str]) -> str:
    _, created, _ = await call("POST", "/v1/webhooks", {"url": url, "events": events})
    return str(created["data"]["id"])


MESSAGE_EVENTS = ["message.sending", "message.delivered", "message.read", "message.failed"]


async def test_advancing_a_message_delivers_status_events(
    call: Call, standin: RunningStandin, receiver: tuple[Receiver, str]
) -> None:
    hooks, url = receiver
    hook_id = await subscribe(call, url, MESSAGE_EVENTS)
    _, created, _ = await call("POST", "/v1/scheduled-messages/+972501234567", TEXT)

    await standin.advance(created["data"]["id"], "read")

    assert hooks.types == ["message.sending", "message.delivered", "message.read"]
    headers, body = hooks.received[-1]
    assert headers["Content-Type"] == "application/json"
    assert headers["Blueticks-Webhook-Id"] == hook_id
    assert "Blueticks-Webhook-Signature" not in headers
    event = json.loads(body)
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["id"].startswith("evt_")
    data = event["data"]
    assert (data["id"], data["status"]) == (created["data"]["id"], "read")
    assert data["waMessageKey"]["_serialized"].startswith("true_972501234567@c.us_")
    assert {"confirmedAt", "receivedAt", "readAt"} <= set(data)


async def test_failed_message_reports_reason(
    call: Call, standin: RunningStandin, receiver: tuple[Receiver, str]
) -> None:
    hooks, url = receiver
    await subscribe(call, url, MESSAGE_EVENTS)
    _, created, _ = await call("POST", "/v1/scheduled-messages/+972501234567", TEXT)

    await standin.advance(created["data"]["id"], "failed", failure_reason="number not on WhatsApp")

    [(_, body)] = hooks.received
    data = json.loads(body)["data"]
    assert (data["status"], data["failureReason"]) == ("failed", "number not on WhatsApp")


async def test_events_can_arrive_duplicated_and_out_of_order(
    call: Call, standin: RunningStandin, receiver: tuple[Receiver, str]
) -> None:
    hooks, url = receiver
    await subscribe(call, url, MESSAGE_EVENTS)
    standin.state.webhook_duplicates = True
    standin.state.webhook_reverse_order = True
    _, created, _ = await call("POST", "/v1/scheduled-messages/+972501234567", TEXT)

    await standin.advance(created["data"]["id"], "received")

    assert hooks.types == ["message.delivered"] * 2 + ["message.sending"] * 2
    ids = [json.loads(body)["id"] for _, body in hooks.received]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


async def test_session_toggle_emits_event_and_empties_ping(
    call: Call, standin: RunningStandin, receiver: tuple[Receiver, str]
) -> None:
    hooks, url = receiver
    await subscribe(call, url, ["session.connected", "session.disconnected"])

    await standin.set_session(False)
    _, ping, _ = await call("GET", "/v1/ping")

    assert hooks.types == ["session.disconnected"]
    assert ping["data"]["whatsappConnections"] == []
    assert "message" in ping["data"]


async def test_webhook_is_disabled_after_eight_failed_attempts(
    call: Call, standin: RunningStandin, receiver: tuple[Receiver, str]
) -> None:
    hooks, url = receiver
    hooks.status = 500
    standin.state.webhook_retry_delays = (0.001,) * 7
    hook_id = await subscribe(call, url, ["session.disconnected"])

    await standin.set_session(False)

    assert len(hooks.received) == 8
    assert standin.state.webhooks[hook_id].status == "disabled"


async def test_wait_for_messages_gives_up_at_the_deadline(standin: RunningStandin) -> None:
    with pytest.raises(TimeoutError):
        await standin.state.wait_for_messages(1, timeout=0.05)
