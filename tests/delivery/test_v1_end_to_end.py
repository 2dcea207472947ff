"""The Blueticks v1 API through the whole bridge: webhook in, stand-in message out.

The recipient goes in the path, the key in a Bearer header, and one Idempotency-Key per
notification is reused on every attempt, so a retry after a lost answer is a replay.
"""

from __future__ import annotations

import json

import pytest
from alertmanager_webhooks import am_alert, am_webhook, one_alert_webhook
from blueticks_standin import DEFAULT_API_KEY
from blueticks_standin_faults import Fault
from conftest import BridgeHarness, StartBridge, am_headers, outbox_state_count, wait_until

from bridge.model import Notification, NotificationState

ALICE, BOB = "+14155550123", "+4915112345678"
SEND_PATH = "/v1/scheduled-messages/"
ALICE_ONLY = """\
routes:
  - name: alerts
    source: alertmanager
    to: [alice]
"""


async def post_alert(h: BridgeHarness, name: str = "db-1") -> None:
    reply = await h.post(
        "/webhook/alertmanager", one_alert_webhook(name, fingerprint=f"v1-{name}"), am_headers()
    )
    assert reply.status == 202, reply.body


async def settled(h: BridgeHarness, state: NotificationState, count: int = 1) -> list[Notification]:
    """Wait until `count` notifications are in `state`; return them."""

    async def reached() -> bool:
        return await outbox_state_count(h, state) == count

    await wait_until(reached, what=f"{count} notification(s) {state}")
    return await h.bridge.store.list_notifications(state)


def send_calls(h: BridgeHarness) -> list:
    return [c for c in h.standin.state.calls if c.path.startswith(SEND_PATH)]


async def test_send_puts_the_recipient_in_the_path_with_bearer_auth(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(api="v1")
    await post_alert(h)
    sent = await settled(h, "sent", 2)
    calls = send_calls(h)
    assert sorted(c.path for c in calls) == sorted(SEND_PATH + p for p in (ALICE, BOB))
    assert sorted(c.raw_path for c in calls) == sorted(
        SEND_PATH + p.replace("+", "%2B") for p in (ALICE, BOB)
    )
    for call in calls:
        assert call.headers["Authorization"] == f"Bearer {DEFAULT_API_KEY}"
        assert "to" not in call.json and "apiKey" not in call.json
        assert call.json["type"] == "text" and "disk full on db-1" in call.json["text"]
        assert 0 < len(call.headers["Idempotency-Key"]) <= 64
    keys = {c.headers["Idempotency-Key"] for c in calls}
    assert keys == {n.idempotency_key for n in sent}


async def test_returned_id_and_status_are_kept_with_the_notification(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(api="v1", routes=ALICE_ONLY)
    await post_alert(h)
    [notification] = await settled(h, "sent")
    [message] = h.standin.state.messages
    assert notification.provider_id == message.id
    assert notification.provider_status == message.data["status"] == "pending"


@pytest.mark.parametrize(
    "fault",
    [Fault.reset(), Fault.html(502), Fault.error(429, retry_after="0"), Fault.error(503)],
    ids=["connection-reset", "html-502", "429-retry-after", "503"],
)
async def test_a_retry_reuses_the_key_and_body_and_leaves_one_message(
    start_bridge: StartBridge, fault: Fault
) -> None:
    h = await start_bridge(api="v1", routes=ALICE_ONLY)
    h.standin.state.faults.push(fault.on(path_prefix=SEND_PATH))
    await post_alert(h)
    [notification] = await settled(h, "sent")
    calls = send_calls(h)
    assert len(calls) == 2
    assert {c.headers["Idempotency-Key"] for c in calls} == {notification.idempotency_key}
    assert calls[0].body == calls[1].body
    [message] = h.standin.state.messages
    assert notification.provider_id == message.id


async def test_a_lost_answer_is_replayed_with_200_not_sent_again(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(api="v1", routes=ALICE_ONLY)
    h.standin.state.faults.push(Fault.drop_response().on(path_prefix=SEND_PATH))
    await post_alert(h)
    [notification] = await settled(h, "sent")
    assert notification.attempts == 2
    calls = send_calls(h)
    assert len(calls) == 2
    assert {c.headers["Idempotency-Key"] for c in calls} == {notification.idempotency_key}
    # The stand-in kept the first answer under the key; the retry got it back (200 replay).
    [record] = h.standin.state.idempotency.values()
    assert json.loads(record.data_json)["id"] == notification.provider_id
    assert len(h.standin.state.messages) == 1
    registry = h.bridge.metrics.registry
    assert (
        registry.get_sample_value("alertbridge_blueticks_responses_total", {"status": "200"}) == 1
    )


async def test_conflict_is_a_dead_letter_not_a_retry(start_bridge: StartBridge) -> None:
    h = await start_bridge(api="v1", routes=ALICE_ONLY)
    h.standin.state.faults.push(Fault.error(409).on(path_prefix=SEND_PATH))
    await post_alert(h)
    [dead] = await settled(h, "dead")
    assert len(send_calls(h)) == 1
    assert "409" in (dead.last_error or "")
    assert "idempotency key" in (dead.last_error or "")
    assert h.standin.state.messages == []
    assert await outbox_state_count(h, "pending") == 0


async def test_emoji_heavy_alert_group_is_sent_not_refused_for_length(
    start_bridge: StartBridge,
) -> None:
    """The API counts `text` in UTF-16 code units (🔥 is 2, blueticks.md §B.3): a message cut
    to 4096 Python characters would be a 400 and a dead letter."""
    h = await start_bridge(api="v1", routes=ALICE_ONLY)
    alerts = [
        am_alert(f"db-{i}", annotations={"summary": "🔥" * 100 + f" disk full on db-{i}"})
        for i in range(30)
    ]
    reply = await h.post("/webhook/alertmanager", am_webhook(*alerts), am_headers())
    assert reply.status == 202, reply.body
    await settled(h, "sent")
    [message] = h.standin.state.messages
    text = message.request["text"]
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert "more (" in text  # the alerts that did not fit are counted, not lost
