"""What a Blueticks callback means: envelope parsing, status mapping and ordering, tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.delivery.callbacks import (
    LEGACY_EVENT_TYPE,
    CallbackEvent,
    IgnoredEvent,
    SessionReport,
    StatusReport,
    check_token,
    interpret,
    next_status,
    notification_token,
    parse_callback,
)
from bridge.errors import AuthError, PayloadError

WIRE_KEY = "true_972501234567@c.us_3EB0ABCDEF"


def envelope(event_type: str, data: dict[str, Any], event_id: str = "evt_1") -> bytes:
    body = {"id": event_id, "type": event_type, "created_at": "2026-04-23T16:42:00.000Z"}
    return json.dumps(body | {"data": data}).encode()


def test_envelope_is_parsed_with_its_time() -> None:
    event = parse_callback(envelope("message.read", {"id": "abc"}))

    assert event == CallbackEvent("evt_1", "message.read", 1776962520.0, {"id": "abc"})


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"id": "evt_1", "type": "message.read"}', "data"),
        (b'{"id": "", "type": "message.read", "data": {}}', "id"),
        (b'{"id": "evt_1", "type": 7, "data": {}}', "type"),
    ],
    ids=["malformed", "not-utf8", "array", "no-data", "empty-id", "type-not-string"],
)
def test_what_is_not_an_envelope_is_refused_saying_why(body: bytes, complaint: str) -> None:
    with pytest.raises(PayloadError, match=complaint):
        parse_callback(body)


def test_legacy_body_gets_a_stable_id_from_its_content() -> None:
    first = parse_callback(b'{"status": "delivered"}', legacy=True)
    again = parse_callback(b'{"status": "delivered"}', legacy=True)
    other = parse_callback(b'{"status": "read"}', legacy=True)

    assert first.type == LEGACY_EVENT_TYPE and first.data == {"status": "delivered"}
    assert first.id == again.id != other.id


def test_envelope_at_a_legacy_url_is_still_read_as_an_envelope() -> None:
    event = parse_callback(envelope("message.read", {}, "evt_9"), legacy=True)

    assert (event.id, event.type) == ("evt_9", "message.read")


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("message.sending", {"id": "m1", "status": "confirmed"}, "confirmed"),
        ("message.delivered", {"id": "m1", "status": "received"}, "received"),
        ("message.read", {"id": "m1", "status": "read"}, "read"),
        ("message.read", {"id": "m1", "status": "played"}, "read"),
        ("message.failed", {"id": "m1", "status": "failed"}, "failed"),
        ("message.failed", {"id": "m1", "status": "expired"}, "failed"),
        ("message.failed", {"id": "m1", "status": "error"}, "failed"),
        ("message.failed", {"id": "m1", "status": "cancelled"}, "failed"),
        ("message.failed", {"id": "m1"}, "failed"),
        ("message.queued", {"id": "m1", "status": "before-wa-send"}, "pending"),
        ("message.sending", {"id": "m1", "status": "sent_pending_ack"}, "confirmed"),
        ("message.delivered", {"id": "m1"}, "received"),
        ("message.read", {"id": "m1", "status": "something-new"}, "read"),
        ("message.queued", {}, "pending"),
    ],
    ids=[
        "confirmed",
        "received",
        "read",
        "played-counts-as-read",
        "failed",
        "expired-counts-as-failed",
        "error-counts-as-failed",
        "cancelled-counts-as-failed",
        "failed-event-without-status",
        "internal-in-flight-is-pending",
        "sent-unacked-is-confirmed",
        "no-status-uses-event-type",
        "unknown-status-uses-event-type",
        "empty-data",
    ],
)
def test_delivery_event_maps_to_a_bridge_status(
    event_type: str, data: dict[str, Any], expected: str
) -> None:
    meaning = interpret(CallbackEvent("evt_1", event_type, None, data))

    assert isinstance(meaning, StatusReport) and meaning.status == expected


def test_status_report_carries_every_correlation_id() -> None:
    data = {
        "id": "6a38aa",
        "waMessageKey": {"fromMe": True, "_serialized": WIRE_KEY},
        "secret": "n-1",
        "status": "failed",
        "failureReason": "number not on WhatsApp",
    }
    meaning = interpret(CallbackEvent("evt_1", "message.failed", None, data))

    assert meaning == StatusReport(
        status="failed",
        reported="failed",
        provider_id="6a38aa",
        provider_key=WIRE_KEY,
        secret="n-1",
        failure_reason="number not on WhatsApp",
    )


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("session.connected", {}, SessionReport(True)),
        ("session.disconnected", {"connected": False}, SessionReport(False)),
        ("ack_changed_webhook", {"ack": 3, "waMessageKey": {"_serialized": WIRE_KEY}}, "read"),
        ("ack_changed_webhook", {"ack": -1, "key": WIRE_KEY}, "failed"),
    ],
    ids=["session-up", "session-down", "ack-read", "ack-error-old-key-field"],
)
def test_session_and_ack_events_are_understood(
    event_type: str, data: dict[str, Any], expected: object
) -> None:
    meaning = interpret(CallbackEvent("evt_1", event_type, None, data))

    if isinstance(expected, str):
        assert isinstance(meaning, StatusReport)
        assert (meaning.status, meaning.provider_key) == (expected, WIRE_KEY)
    else:
        assert meaning == expected


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("campaign.started", {"id": "c1"}),
        ("new_message_received_webhook", {"text": "ack"}),
        ("something.new", {"status": "read"}),
        ("ack_changed_webhook", {"ack": 3}),
        (LEGACY_EVENT_TYPE, {"state": "whatever"}),
    ],
    ids=["campaign", "inbound-message", "unknown-type", "ack-without-key", "legacy-no-status"],
)
def test_events_the_bridge_cannot_use_are_ignored(event_type: str, data: dict[str, Any]) -> None:
    assert isinstance(interpret(CallbackEvent("evt_1", event_type, None, data)), IgnoredEvent)


@pytest.mark.parametrize(
    ("current", "reported", "expected"),
    [
        (None, "confirmed", "confirmed"),
        ("pending", "confirmed", "confirmed"),
        ("confirmed", "received", "received"),
        ("received", "read", "read"),
        ("read", "received", None),
        ("received", "confirmed", None),
        ("read", "read", None),
        ("confirmed", "failed", "failed"),
        ("failed", "confirmed", None),
        ("failed", "received", "received"),
        ("failed", "read", "read"),
        ("received", "failed", None),
        ("read", "failed", None),
        ("something-old", "pending", "pending"),
    ],
    ids=[
        "first-status",
        "forward",
        "delivered",
        "read",
        "read-beats-late-received",
        "received-beats-late-confirmed",
        "same-again",
        "failure-while-in-flight",
        "failed-beats-late-confirmed",
        "received-proves-failed-wrong",
        "read-proves-failed-wrong",
        "late-failure-after-received-ignored",
        "late-failure-after-read-ignored",
        "unrecognised-stored-status-replaced",
    ],
)
def test_status_only_moves_forward(
    current: str | None, reported: Any, expected: str | None
) -> None:
    assert next_status(current, reported) == expected


def test_subscription_token_opens_v1_callbacks() -> None:
    assert check_token("cb-secret-token", "cb-secret-token") == ""


def test_per_notification_token_names_its_notification() -> None:
    token = notification_token("cb-secret-token", "4f1c.2")

    assert token.startswith("n.4f1c.2.") and len(token.rpartition(".")[2]) == 32
    assert check_token(token, "cb-secret-token") == "4f1c.2"


@pytest.mark.parametrize(
    "given",
    [
        "wrong",
        "",
        "cb-secret-token-but-longer",
        "n.n-2." + notification_token("cb-secret-token", "n-1").rpartition(".")[2],
        notification_token("another-deployment-token", "n-1"),
        "n..",
    ],
    ids=[
        "wrong",
        "empty",
        "prefix-match",
        "mac-of-another-notification",
        "other-secret",
        "empty-id",
    ],
)
def test_other_tokens_are_refused(given: str) -> None:
    with pytest.raises(AuthError):
        check_token(given, "cb-secret-token")
