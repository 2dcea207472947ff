"""A Grafana image Blueticks refuses does not lose the alert: the text goes with the image's link.

Blueticks fetches media itself (blueticks.md §B.3); a host whose public-looking name resolves to
a private address, or that needs a login, passes the bridge's name check and is refused by the
API (422/400 on v1, 400 on legacy). The alert is then sent as text, under its own v1
Idempotency-Key, never dead-lettered for the image.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from blueticks_standin_faults import Fault
from conftest import (
    BridgeHarness,
    StartBridge,
    fixture_bytes,
    fixture_json,
    grafana_headers,
    outbox_state_count,
    wait_until,
)

from bridge.delivery.media_urls import text_fallback_key
from bridge.model import Notification

FIXTURE = ("grafana", "zulip-alert_values_v11-values-image.json")
IMAGE = fixture_json(*FIXTURE)["alerts"][0]["imageURL"]
IMAGE_HOST = urlsplit(IMAGE).hostname
ROUTES = """\
routes:
  - name: alerts
    source: grafana
    to: [alice]
"""


async def post_grafana_alert(h: BridgeHarness) -> None:
    reply = await h.post("/webhook/grafana", fixture_bytes(*FIXTURE), grafana_headers())
    assert reply.status == 202, reply.body


async def sent_notification(h: BridgeHarness) -> Notification:
    async def sent() -> bool:
        return await outbox_state_count(h, "sent") == 1

    await wait_until(sent, what="the alert to be sent")
    [notification] = await h.bridge.store.list_notifications("sent")
    return notification


def refuse_image_host(h: BridgeHarness, refusal: str) -> None:
    state = h.standin.state
    hosts = state.private_media_hosts if refusal == "private" else state.unfetchable_media_hosts
    assert IMAGE_HOST is not None
    hosts.add(IMAGE_HOST)


@pytest.mark.parametrize(
    ("refusal", "status"),
    [("private", 422), ("unfetchable", 400)],
    ids=["host-resolves-to-private-address", "image-behind-a-login"],
)
async def test_v1_image_refused_is_sent_as_text_with_the_link_under_its_own_key(
    start_bridge: StartBridge, refusal: str, status: int
) -> None:
    h = await start_bridge(routes=ROUTES, api="v1")
    refuse_image_host(h, refusal)

    await post_grafana_alert(h)

    notification = await sent_notification(h)
    media, text = h.standin.state.calls
    assert media.json["type"] == "media" and media.json["mediaUrl"] == IMAGE
    assert media.headers["Idempotency-Key"] == notification.idempotency_key
    assert text.json["type"] == "text" and text.json["text"].endswith("\n" + IMAGE)
    assert text.headers["Idempotency-Key"] == text_fallback_key(notification.idempotency_key)
    assert len(text.headers["Idempotency-Key"]) <= 64
    [message] = h.standin.state.messages
    assert notification.provider_id == message.id
    assert await outbox_state_count(h, "dead") == 0
    registry = h.bridge.metrics.registry
    responses = "alertbridge_blueticks_responses_total"
    assert registry.get_sample_value(responses, {"status": str(status)}) == 1
    assert registry.get_sample_value(responses, {"status": "201"}) == 1


@pytest.mark.parametrize(
    "refusal",
    ["private", "unfetchable"],
    ids=["host-resolves-to-private-address", "image-behind-a-login"],
)
async def test_legacy_file_url_refused_is_sent_as_text_with_the_link(
    start_bridge: StartBridge, refusal: str
) -> None:
    h = await start_bridge(routes=ROUTES, api="legacy")
    refuse_image_host(h, refusal)

    await post_grafana_alert(h)

    await sent_notification(h)
    with_file, text_only = h.standin.state.calls
    assert with_file.json["fileUrl"] == IMAGE
    assert "fileUrl" not in text_only.json and "mimeType" not in text_only.json
    assert text_only.json["message"].endswith("\n" + IMAGE)
    assert h.texts() == [text_only.json["message"]]


async def test_a_retry_after_a_refused_image_sends_the_text_again_not_the_image(
    start_bridge: StartBridge,
) -> None:
    """Image refused (422), then the text's first try got a 503: the retry sends the same
    text under the same key, not the image again (which might now go out as well)."""
    h = await start_bridge(routes=ROUTES, api="v1")
    h.standin.state.faults.push(Fault.error(422).on(method="POST"))
    h.standin.state.faults.push(Fault.error(503).on(method="POST"))

    await post_grafana_alert(h)

    notification = await sent_notification(h)
    sends = [(c.json["type"], c.headers["Idempotency-Key"]) for c in h.standin.state.calls]
    text_key = text_fallback_key(notification.idempotency_key)
    assert sends == [
        ("media", notification.idempotency_key),
        ("text", text_key),
        ("text", text_key),
    ]
    assert notification.attempts == 2
    assert len(h.standin.state.messages) == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(401, "dead"), (403, "dead"), (429, "sent")],
    ids=["401-key", "403-scope", "429-rate"],
)
async def test_a_refusal_not_about_the_image_is_not_answered_with_the_text(
    start_bridge: StartBridge, status: int, outcome: str
) -> None:
    h = await start_bridge(routes=ROUTES, api="v1")
    h.standin.state.faults.push(Fault.error(status, retry_after="0").on(method="POST"))

    await post_grafana_alert(h)

    async def settled() -> bool:
        return await outbox_state_count(h, outcome) == 1

    await wait_until(settled, what=f"the alert to be {outcome}")
    assert {c.json["type"] for c in h.standin.state.calls} == {"media"}
