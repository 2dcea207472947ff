"""The legacy Blueticks client (`POST /messages`) against the running stand-in."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import aiohttp
import pytest
from blueticks_standin import DEFAULT_API_KEY, RunningStandin
from blueticks_standin_faults import Fault
from conftest import blueticks_config
from notification_factory import make_notification

from bridge.delivery.blueticks_legacy import LegacyBlueticksClient, image_mime_type
from bridge.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.model import Notification


def note(**overrides: Any) -> Notification:
    return make_notification("n-1", **({"text": "DiskFull on db-1"} | overrides))


def make_client(
    http: aiohttp.ClientSession, base_url: str, api_key: str = DEFAULT_API_KEY
) -> LegacyBlueticksClient:
    return LegacyBlueticksClient(http, blueticks_config(base_url, "legacy", api_key))


@pytest.fixture
def client(http: aiohttp.ClientSession, standin: RunningStandin) -> LegacyBlueticksClient:
    return make_client(http, standin.url)


async def test_text_send_posts_key_in_body_and_header(
    client: LegacyBlueticksClient, standin: RunningStandin
) -> None:
    receipt = await client.send(note())

    [call] = standin.state.calls
    assert call.path == "/messages"
    assert call.json == {
        "apiKey": DEFAULT_API_KEY,
        "to": "+972501234567",
        "message": "DiskFull on db-1",
    }
    assert call.headers["Authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert "Idempotency-Key" not in call.headers
    assert receipt.http_status == 200
    assert receipt.provider_id == standin.state.messages[0].id
    assert receipt.request_id == call.request_id


async def test_image_is_attached_as_file_url_with_mime_type(
    client: LegacyBlueticksClient, standin: RunningStandin
) -> None:
    await client.send(note(image_url="https://grafana.example.com/render/panel.jpg?w=800"))

    body = standin.state.messages[0].request
    assert body["fileUrl"] == "https://grafana.example.com/render/panel.jpg?w=800"
    assert body["mimeType"] == "image/jpeg"


@pytest.mark.parametrize(
    "image_url",
    [
        "https://10.0.0.5/render/panel.png",
        "http://grafana.monitoring.svc:3000/render/d-solo/abc?panelId=2",
        "https://grafana/render/panel.png",
        "https://grafana.example.com/render/panel.png?" + "q" * 2100,
    ],
    ids=["private-ip", "k8s-service", "single-label", "over-2048"],
)
async def test_image_blueticks_cannot_fetch_is_sent_as_a_link_in_the_text(
    client: LegacyBlueticksClient, standin: RunningStandin, image_url: str
) -> None:
    """As with v1: Blueticks fetches attachments from the public internet; an in-cluster
    Grafana panel as fileUrl would be lost (or refused), its link in the text is not."""
    await client.send(note(image_url=image_url))

    body = standin.state.messages[0].request
    assert "fileUrl" not in body and "mimeType" not in body
    assert body["message"] == f"DiskFull on db-1\n{image_url}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://g.example.com/a/panel.png", "image/png"),
        ("https://g.example.com/a/panel.JPEG", "image/jpeg"),
        ("https://g.example.com/a/panel.webp", "image/webp"),
        ("https://g.example.com/a/panel.gif", "image/gif"),
        ("https://g.example.com/render/d-solo/abc?panelId=2", "image/png"),
        ("https://g.example.com/files/report.pdf", "image/png"),
    ],
    ids=["png", "jpeg-upper-case", "webp", "gif", "no-extension", "unknown-extension"],
)
def test_image_mime_type_comes_from_the_url_extension(url: str, expected: str) -> None:
    assert image_mime_type(url) == expected


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, PermanentDeliveryError),
        (401, PermanentDeliveryError),
        (429, TransientDeliveryError),
        (500, TransientDeliveryError),
    ],
    ids=["400", "401", "429", "500"],
)
async def test_documented_error_statuses_are_classified(
    client: LegacyBlueticksClient,
    standin: RunningStandin,
    status: int,
    error_class: type[Exception],
) -> None:
    standin.state.faults.push(Fault.error(status, retry_after="3" if status == 429 else None))

    with pytest.raises(error_class) as caught:
        await client.send(note())

    assert caught.value.status == status  # type: ignore[attr-defined]


async def test_rate_limit_carries_retry_after(
    client: LegacyBlueticksClient, standin: RunningStandin
) -> None:
    standin.state.rate_limit(1, retry_after="3")

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.retry_after == 3.0


async def test_unknown_key_in_body_is_permanent_and_never_echoed(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    client = make_client(http, standin.url, api_key="0123456789abcdef0123456789abcdef")

    with pytest.raises(PermanentDeliveryError) as caught:
        await client.send(note())

    assert caught.value.status == 401
    assert "0123456789abcdef0123456789abcdef" not in str(caught.value)
    assert standin.state.messages == []


async def test_bad_number_is_permanent(
    client: LegacyBlueticksClient, standin: RunningStandin
) -> None:
    with pytest.raises(PermanentDeliveryError, match="HTTP 400"):
        await client.send(note(phone="0501234567"))


@pytest.mark.parametrize(
    "fault", [Fault.reset(), Fault.drop_response()], ids=["reset", "accepted-then-dropped"]
)
async def test_lost_connection_after_sending_is_outcome_unknown(
    client: LegacyBlueticksClient, standin: RunningStandin, fault: Fault
) -> None:
    standin.state.faults.push(fault)

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.outcome_unknown is True


async def test_html_502_is_transient(
    client: LegacyBlueticksClient, standin: RunningStandin
) -> None:
    standin.state.faults.push(Fault.html(502))

    with pytest.raises(TransientDeliveryError, match="502 Bad Gateway"):
        await client.send(note())


async def test_ping_cannot_tell(client: LegacyBlueticksClient, standin: RunningStandin) -> None:
    assert await client.ping() is None
    assert standin.state.calls == []


async def test_server_error_leaves_the_outcome_unknown_but_a_refusal_does_not(
    client: LegacyBlueticksClient, standin: RunningStandin
) -> None:
    """No idempotency here (§A): a 5xx may come after the message went out, so the worker must
    not send it again; a 429 (and a 503, "unable to handle") was not processed."""
    faults = {
        "500": Fault.error(500),
        "html-502": Fault.html(502),
        "504": Fault.error(504),
        "503": Fault.error(503),
        "429": Fault.error(429, retry_after="3"),
    }
    unknown = {}
    for name, fault in faults.items():
        standin.state.faults.push(fault)
        with pytest.raises(TransientDeliveryError) as caught:
            await client.send(note())
        unknown[name] = caught.value.outcome_unknown

    assert unknown == {"500": True, "html-502": True, "504": True, "503": False, "429": False}


async def test_a_connect_that_hangs_is_a_connect_timeout_not_an_unknown_outcome(
    http: aiohttp.ClientSession,
) -> None:
    """SYNs dropped (here: a listener whose backlog is full) mean nothing was sent: retried,
    not a dead letter 'may have been sent' (the legacy API never retries those)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
    try:
        config = blueticks_config(f"http://127.0.0.1:{port}", "legacy", timeout=1.0)
        client = LegacyBlueticksClient(http, config)
        with pytest.raises(TransientDeliveryError) as raised:
            await client.send(note())
        assert "connect timed out" in str(raised.value)
        assert not raised.value.outcome_unknown
    finally:
        for s in (*fillers, listener):
            s.close()
