"""The v1 Blueticks client against the running stand-in: requests it makes, how it classifies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from blueticks_standin import DEFAULT_API_KEY, RunningStandin, run_standin
from blueticks_standin_faults import Fault
from conftest import blueticks_config
from notification_factory import make_notification

from bridge.config.schema import BluetickConfig
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.errors import PermanentDeliveryError, TransientDeliveryError
from bridge.model import Notification


def make_client(
    http: aiohttp.ClientSession, base_url: str, api_key: str = DEFAULT_API_KEY, timeout: float = 2.0
) -> V1BlueticksClient:
    return V1BlueticksClient(http, blueticks_config(base_url, "v1", api_key, timeout))


def note(**overrides: Any) -> Notification:
    """With an emoji in the text, which must reach the v1 API intact."""
    return make_notification("n-1", **({"text": "🔥 DiskFull on db-1"} | overrides))


@pytest.fixture
def client(http: aiohttp.ClientSession, standin: RunningStandin) -> V1BlueticksClient:
    return make_client(http, standin.url)


async def test_text_send_returns_the_created_message(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    receipt = await client.send(note())

    [message] = standin.state.messages
    assert receipt.provider_id == message.id
    assert receipt.status == "pending"
    assert receipt.http_status == 201
    assert receipt.request_id == standin.state.calls[0].request_id
    assert message.chat_id == "+972501234567"
    assert message.data["to"] == "972501234567@c.us"
    assert message.request == {"type": "text", "text": "🔥 DiskFull on db-1", "secret": "n-1"}


async def test_send_carries_bearer_key_and_idempotency_key(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    notification = note()
    await client.send(notification)

    [call] = standin.state.calls
    assert call.headers["Authorization"] == f"Bearer {DEFAULT_API_KEY}"
    assert call.headers["Idempotency-Key"] == notification.idempotency_key
    assert "apiKey" not in call.json


async def test_plus_in_chat_id_is_percent_encoded_in_the_path(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    await client.send(note(phone="+14155550123"))

    assert standin.state.calls[0].raw_path == "/v1/scheduled-messages/%2B14155550123"


async def test_group_jid_is_sent_as_is(client: V1BlueticksClient, standin: RunningStandin) -> None:
    await client.send(note(phone="120363427920657250@g.us"))

    assert standin.state.calls[0].raw_path == "/v1/scheduled-messages/120363427920657250@g.us"
    assert standin.state.messages[0].data["to"] == "120363427920657250@g.us"


@pytest.mark.parametrize(
    ("image_url", "expected_body"),
    [
        (
            "https://grafana.example.com/render/panel.png",
            {
                "type": "media",
                "mediaUrl": "https://grafana.example.com/render/panel.png",
                "text": "CPU high",
            },
        ),
        (
            "http://grafana.local/render/panel.png",
            {"type": "text", "text": "CPU high\nhttp://grafana.local/render/panel.png"},
        ),
    ],
    ids=["https-image-as-media", "plain-http-image-as-link-in-text"],
)
async def test_image_is_sent_as_media_only_over_https(
    client: V1BlueticksClient,
    standin: RunningStandin,
    image_url: str,
    expected_body: dict[str, str],
) -> None:
    await client.send(note(text="CPU high", image_url=image_url))

    assert standin.state.messages[0].request == expected_body | {"secret": "n-1"}


@pytest.mark.parametrize(
    "image_url",
    [
        "https://10.0.0.5/render/panel.png",
        "https://192.168.1.20:3000/render/panel.png",
        "https://127.0.0.1/render/panel.png",
        "https://[fd00::5]/render/panel.png",
        "https://grafana.local/render/panel.png",
        "https://grafana/render/panel.png",
        "https://grafana.monitoring.svc/render/panel.png",
        "https://grafana.monitoring.svc.cluster.local/render/panel.png",
        "https://localhost:3000/render/panel.png",
        "https://grafana.example.com/render/panel.png?" + "q" * 2100,
    ],
    ids=[
        "private-ipv4",
        "private-ipv4-with-port",
        "loopback",
        "private-ipv6",
        "dot-local",
        "single-label",
        "k8s-service",
        "cluster-local",
        "localhost",
        "over-2048",
    ],
)
async def test_image_the_api_cannot_fetch_is_sent_as_a_link(
    client: V1BlueticksClient, standin: RunningStandin, image_url: str
) -> None:
    """mediaUrl must be https, at most 2048 long and on a public host (blueticks.md §B.3): the
    real API refuses anything else, and the whole alert would be a dead letter."""
    receipt = await client.send(note(text="CPU high", image_url=image_url))

    assert receipt.http_status == 201
    body = standin.state.messages[0].request
    assert body == {"type": "text", "text": f"CPU high\n{image_url}", "secret": "n-1"}


async def test_image_link_is_appended_only_when_it_fits(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    """The text is 4096 UTF-16 units at most (🔥 counts 2); the renderer already filled it."""
    image = "http://grafana.local/render/panel.png"
    full, short = "🔥" * 2048, "🔥 CPU high"

    await client.send(note(id="n-1", text=full, image_url=image))
    await client.send(note(id="n-2", text=short, image_url=image))

    assert [m.request["text"] for m in standin.state.messages] == [full, f"{short}\n{image}"]


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, PermanentDeliveryError),
        (401, PermanentDeliveryError),
        (403, PermanentDeliveryError),
        (404, PermanentDeliveryError),
        (409, PermanentDeliveryError),
        (422, PermanentDeliveryError),
        (429, TransientDeliveryError),
        (500, TransientDeliveryError),
        (502, TransientDeliveryError),
        (503, TransientDeliveryError),
        (504, TransientDeliveryError),
    ],
    ids=lambda value: str(value) if isinstance(value, int) else value.__name__,
)
async def test_error_status_is_classified(
    client: V1BlueticksClient,
    standin: RunningStandin,
    status: int,
    error_class: type[Exception],
) -> None:
    standin.state.faults.push(Fault.error(status))

    with pytest.raises(error_class) as caught:
        await client.send(note())

    assert caught.value.status == status  # type: ignore[attr-defined]
    assert f"HTTP {status}" in str(caught.value)
    assert standin.state.messages == []


async def test_rejected_key_is_permanent_and_never_echoed(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    client = make_client(http, standin.url, api_key="bt_live_revoked_key")

    with pytest.raises(PermanentDeliveryError) as caught:
        await client.send(note())

    assert caught.value.status == 401
    assert "authentication_required" in str(caught.value)
    assert "bt_live_revoked_key" not in str(caught.value)


async def test_missing_scope_is_permanent_permission_denied(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    standin.state.api_keys[DEFAULT_API_KEY] = frozenset({"messages:read"})

    with pytest.raises(PermanentDeliveryError, match="403: permission_denied"):
        await client.send(note())


async def test_validation_error_names_code_and_message(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    with pytest.raises(PermanentDeliveryError, match="400: invalid_request: Invalid chatId"):
        await client.send(note(phone="not-a-number"))


def http_date_in(seconds: int) -> str:
    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


# Each Retry-After is made when the test runs: a date made at collection would have drifted by
# the time a long run reaches the test.
@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        (lambda: "7", 7.0, 7.0),
        (lambda: http_date_in(120), 110.0, 120.0),
        (lambda: "86400", 3600.0, 3600.0),
    ],
    ids=["seconds", "http-date", "capped-at-one-hour"],
)
async def test_rate_limit_is_transient_with_retry_after(
    client: V1BlueticksClient,
    standin: RunningStandin,
    retry_after: Callable[[], str],
    low: float,
    high: float,
) -> None:
    standin.state.rate_limit(1, retry_after=retry_after())

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.status == 429
    assert caught.value.retry_after is not None
    assert low <= caught.value.retry_after <= high
    assert caught.value.outcome_unknown is False


async def test_rate_limit_without_retry_after_leaves_it_unset(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    standin.state.rate_limit(1, retry_after=None)

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.retry_after is None


async def test_send_succeeds_once_rate_limit_has_passed(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    standin.state.rate_limit(2, retry_after="1")
    for _ in range(2):
        with pytest.raises(TransientDeliveryError):
            await client.send(note())

    receipt = await client.send(note())

    assert receipt.http_status == 201
    assert len(standin.state.messages) == 1


async def test_html_502_is_transient_with_readable_message(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    standin.state.faults.push(Fault.html(502))

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.status == 502
    assert "non-JSON body: 502 Bad Gateway" in str(caught.value)
    assert "<html>" not in str(caught.value)
    assert caught.value.request_id is not None  # from the X-Request-Id header


@pytest.mark.parametrize("field", ["requestId", "request_id"], ids=["camelCase", "snake_case"])
async def test_request_id_is_read_from_either_error_field(
    client: V1BlueticksClient, standin: RunningStandin, field: str
) -> None:
    standin.state.request_id_field = field  # type: ignore[assignment]
    standin.state.faults.push(Fault.error(500))

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.request_id == standin.state.calls[0].request_id


async def test_connection_reset_after_sending_is_transient_outcome_unknown(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    standin.state.faults.push(Fault.reset())

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.outcome_unknown is True
    assert caught.value.status is None


async def test_slow_response_times_out_as_transient_outcome_unknown(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    client = make_client(http, standin.url, timeout=0.2)
    standin.state.faults.push(Fault.slow(5.0))

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.outcome_unknown is True
    assert "no response within 0.2s" in str(caught.value)


async def test_refused_connection_is_transient_and_known_not_sent(
    http: aiohttp.ClientSession,
) -> None:
    async with run_standin() as gone:
        url = gone.url
    client = make_client(http, url)

    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())

    assert caught.value.outcome_unknown is False


@pytest.mark.parametrize(
    "lost_response",
    [Fault.drop_response(), Fault.drop_response(delay=5.0)],
    ids=["connection-dropped", "answer-delayed-past-timeout"],
)
async def test_retry_after_lost_response_is_replayed_without_a_second_message(
    http: aiohttp.ClientSession, standin: RunningStandin, lost_response: Fault
) -> None:
    client = make_client(http, standin.url, timeout=0.5)
    standin.state.faults.push(lost_response)
    with pytest.raises(TransientDeliveryError) as caught:
        await client.send(note())
    assert caught.value.outcome_unknown is True
    [created] = await standin.state.wait_for_messages(1)

    receipt = await client.send(note())

    assert receipt.http_status == 200
    assert receipt.provider_id == created.id
    assert len(standin.state.messages) == 1


async def test_same_key_with_different_body_is_permanent_conflict(
    client: V1BlueticksClient, standin: RunningStandin
) -> None:
    await client.send(note(text="first text"))

    with pytest.raises(PermanentDeliveryError) as caught:
        await client.send(note(text="edited text"))

    assert caught.value.status == 409
    assert "idempotency key reused with a different body" in str(caught.value)
    assert len(standin.state.messages) == 1


@pytest.mark.parametrize(
    ("connected", "expected"), [(True, True), (False, False)], ids=["on", "off"]
)
async def test_ping_reports_whatsapp_session(
    client: V1BlueticksClient, standin: RunningStandin, connected: bool, expected: bool
) -> None:
    await standin.set_session(connected)

    assert await client.ping() is expected


async def test_ping_with_rejected_key_raises_permanent(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    client = make_client(http, standin.url, api_key="bt_live_wrong")

    with pytest.raises(PermanentDeliveryError, match="401"):
        await client.ping()


async def test_missing_api_key_fails_without_calling_the_api(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    client = V1BlueticksClient(http, BluetickConfig(api="v1", base_url=standin.url))

    with pytest.raises(PermanentDeliveryError, match="no API key"):
        await client.send(note())

    assert standin.state.calls == []
