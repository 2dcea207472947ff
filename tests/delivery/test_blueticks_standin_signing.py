"""The stand-in's legacy webhook signing (blueticks.md §C.3) and its deliberate bad variants."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from blueticks_standin import DEFAULT_API_KEY, RunningStandin, run_standin
from blueticks_standin_webhooks import WebhookSigning, sign_webhook

VECTOR_BODY = (
    '{"id":"evt_1","type":"message.delivered","created_at":"2026-04-23T00:00:00Z","data":{}}'
)
VECTOR_SIGNATURE = "v1=3c10c33da1724be92cbd6248e1d2a33ec5c7a14c907e6dafddf2b122ea5a67d6"


def test_signer_matches_the_documented_test_vector() -> None:
    assert sign_webhook("whsec_test_secret", 1714234567, VECTOR_BODY) == VECTOR_SIGNATURE


@pytest.fixture
async def signed_delivery() -> AsyncIterator[
    tuple[RunningStandin, list[tuple[dict[str, str], bytes]], str]
]:
    received: list[tuple[dict[str, str], bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/cb", handle)
    async with TestServer(app) as server, run_standin() as standin:
        yield standin, received, str(server.make_url("/cb"))


async def deliver_signed(standin: RunningStandin, url: str, signing: WebhookSigning) -> None:
    standin.state.webhook_signing = signing
    standin.state.clock = lambda: 1714234567.0
    body = {"url": url, "events": ["session.disconnected"]}
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    url_hooks = f"{standin.url}/v1/webhooks"
    async with (
        aiohttp.ClientSession() as http,
        http.post(url_hooks, json=body, headers=headers) as resp,
    ):
        assert resp.status == 201
    await standin.set_session(False)


async def test_signed_delivery_verifies_with_the_secret(
    signed_delivery: tuple[RunningStandin, list[tuple[dict[str, str], bytes]], str],
) -> None:
    standin, received, url = signed_delivery

    await deliver_signed(standin, url, WebhookSigning("whsec_test_secret"))

    [(headers, body)] = received
    assert headers["Blueticks-Webhook-Timestamp"] == "1714234567"
    expected = hmac.new(b"whsec_test_secret", b"1714234567." + body, hashlib.sha256).hexdigest()
    assert headers["Blueticks-Webhook-Signature"] == f"v1={expected}"
    assert json.loads(body)["type"] == "session.disconnected"


@pytest.mark.parametrize(
    ("signing", "timestamp", "signature_prefix"),
    [
        (WebhookSigning("whsec_x", timestamp_skew=301), "1714234868", "v1="),
        (WebhookSigning("whsec_x", scheme="missing_v1"), "1714234567", "v0="),
        (WebhookSigning("whsec_x", scheme="v0_then_v1"), "1714234567", "v0=" + "0" * 64 + ", v1="),
    ],
    ids=["skewed-timestamp", "missing-v1", "v0-then-v1-list"],
)
async def test_signing_variants_for_verifier_tests(
    signed_delivery: tuple[RunningStandin, list[tuple[dict[str, str], bytes]], str],
    signing: WebhookSigning,
    timestamp: str,
    signature_prefix: str,
) -> None:
    standin, received, url = signed_delivery

    await deliver_signed(standin, url, signing)

    [(headers, body)] = received
    assert headers["Blueticks-Webhook-Timestamp"] == timestamp
    signature = headers["Blueticks-Webhook-Signature"]
    assert signature.startswith(signature_prefix)
    assert signature.endswith(sign_webhook("whsec_x", int(timestamp), body)[3:])
