"""What a Blueticks callback says: parse it, check its optional signature, decide what it means.

Pure functions (no I/O), after blueticks.md §C: v1 events arrive as the envelope
`{id, type, created_at, data}`; Blueticks no longer signs them (the token in the URL is the check),
but a `Blueticks-Webhook-Signature` of the legacy scheme is verified when a secret is configured.
Legacy `callbackUrl` bodies are undocumented (§A.2), so anything that is not an envelope is read
defensively as a status report about the one notification its URL names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bridge.errors import AuthError, PayloadError
from bridge.sources.base import refuse_unpaired_surrogates

DeliveryStatus = Literal["pending", "confirmed", "failed", "received", "read"]

# A status only ever moves up this order, so duplicates and out-of-order events are harmless.
# `failed` sits between confirmed and received: it overrides a message still in flight, but a
# later received/read proves the phone got the message after all, and a `failed` that arrives
# after received/read is stale and ignored.
STATUS_RANK: dict[str, int] = {
    "pending": 0,
    "confirmed": 1,
    "failed": 2,
    "received": 3,
    "read": 4,
}

# Blueticks' MessageStatus enum (§B.3) onto the five statuses the bridge keeps. The internal
# in-flight values count as pending, sent-but-unacknowledged as confirmed, a voice note played
# as read, and every terminal error as failed.
BLUETICKS_STATUSES: dict[str, DeliveryStatus] = {
    "pending": "pending",
    "queued": "pending",
    "before-wa-send": "pending",
    "bt-sent": "pending",
    "sending": "pending",
    "sent": "confirmed",
    "sent_pending_ack": "confirmed",
    "confirmed": "confirmed",
    "delivered": "received",
    "received": "received",
    "read": "read",
    "played": "read",
    "failed": "failed",
    "error": "failed",
    "cancelled": "failed",
    "expired": "failed",
}

# Used only when `data.status` is missing (the current docs promise no `data` shape, §C.4).
EVENT_STATUSES: dict[str, DeliveryStatus] = {
    "message.queued": "pending",
    "message.sending": "pending",
    "message.delivered": "received",
    "message.read": "read",
    "message.failed": "failed",
}

# WhatsApp ack codes (§B.4): -1 error, 0 pending, 1 server, 2 device, 3 read, 4 played.
ACK_STATUSES: dict[int, DeliveryStatus] = {
    -1: "failed",
    0: "pending",
    1: "confirmed",
    2: "received",
    3: "read",
    4: "read",
}

SESSION_EVENTS = {"session.connected": True, "session.disconnected": False}
# Delivery status plus session health: what `alertbridge blueticks webhooks register` subscribes.
SUBSCRIBED_EVENTS = (*EVENT_STATUSES, *SESSION_EVENTS)
LEGACY_EVENT_TYPE = "legacy.callback"

TIMESTAMP_HEADER = "Blueticks-Webhook-Timestamp"
SIGNATURE_HEADER = "Blueticks-Webhook-Signature"


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """One delivered event: the envelope's id (the dedupe key), type, time and data."""

    id: str
    type: str
    created_at: float | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A message's delivery status, with every id it can be correlated by."""

    status: DeliveryStatus
    reported: str  # what Blueticks said, before mapping
    provider_id: str | None = None
    provider_key: str | None = None
    secret: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True, slots=True)
class SessionReport:
    connected: bool


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """A valid event the bridge has no use for (campaigns, inbound messages, unknown types)."""

    reason: str


Meaning = StatusReport | SessionReport | IgnoredEvent


def parse_callback(body: bytes, *, legacy: bool = False) -> CallbackEvent:
    """The event in a callback body; PayloadError when it is not JSON or not an envelope.

    `legacy` accepts any JSON object: its id is then a digest of the body, so a redelivery of
    the same report is still recognised as a duplicate.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from exc
    except RecursionError:  # `[[[[…`: a 400 as on the webhook routes, not a 500 to retry
        raise PayloadError("body is not valid JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object (the Blueticks event envelope)")
    refuse_unpaired_surrogates(payload)  # the store could not keep them: a 500 Blueticks retries
    if _is_envelope(payload):
        return CallbackEvent(
            id=payload["id"],
            type=payload["type"],
            created_at=parse_time(payload.get("created_at")),
            data=payload["data"],
        )
    if legacy:
        digest = hashlib.sha256(body).hexdigest()[:32]
        return CallbackEvent(f"legacy-{digest}", LEGACY_EVENT_TYPE, None, payload)
    missing = [
        name
        for name, kind in (("id", str), ("type", str), ("data", dict))
        if not isinstance(payload.get(name), kind) or (kind is str and not payload[name])
    ]
    raise PayloadError(
        "not a Blueticks event envelope {id, type, created_at, data}: "
        f"missing or invalid {', '.join(missing)}"
    )


def _is_envelope(payload: dict[str, Any]) -> bool:
    return (
        isinstance(payload.get("id"), str)
        and bool(payload["id"])
        and isinstance(payload.get("type"), str)
        and bool(payload["type"])
        and isinstance(payload.get("data"), dict)
    )


def parse_time(value: Any) -> float | None:
    """An ISO 8601 time (`2026-04-23T16:42:00.000Z`) as Unix seconds; None when unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def verify_signature(
    headers: Mapping[str, str], body: bytes, *, secret: str, tolerance: float, now: float
) -> None:
    """Check a legacy-scheme signature (§C.3); raise AuthError saying what is wrong.

    Signed string `f"{timestamp}.{raw_body}"`, HMAC-SHA256 keyed with the secret, lowercase hex,
    compared in constant time. Any `v1=` entry of a comma-separated list may match (rotation).
    """
    timestamp_text = headers.get(TIMESTAMP_HEADER)
    signature_text = headers.get(SIGNATURE_HEADER)
    if not timestamp_text or not signature_text:
        raise AuthError(f"webhook signature: missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}")
    # Unix seconds: plain digits, and few of them (int() would take "+1_0", float() overflows).
    timestamp_text = timestamp_text.strip()
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise AuthError("webhook signature: invalid timestamp")
    timestamp = int(timestamp_text)
    if abs(now - timestamp) > tolerance:
        raise AuthError(
            f"webhook signature: expired timestamp ({int(now - timestamp)}s from now; "
            f"tolerance {tolerance:g}s)"
        )
    candidates = [
        part.strip()[3:] for part in signature_text.split(",") if part.strip().startswith("v1=")
    ]
    if not candidates:
        raise AuthError("webhook signature: missing v1 scheme")
    signed = f"{timestamp}.".encode() + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    # Every candidate is compared, so timing does not reveal which one matched.
    # surrogateescape: aiohttp hands over undecodable header bytes as surrogates.
    presented = [c.encode("utf-8", "surrogateescape") for c in candidates]
    matches = [hmac.compare_digest(expected.encode(), c) for c in presented]
    if not any(matches):
        raise AuthError("webhook signature: mismatch")


def interpret(event: CallbackEvent) -> Meaning:
    """What the event means for the bridge: a delivery status, a session change, or nothing."""
    if event.type in SESSION_EVENTS:
        return SessionReport(SESSION_EVENTS[event.type])
    if event.type in EVENT_STATUSES or event.type == LEGACY_EVENT_TYPE:
        return _status_report(event)
    if event.type == "ack_changed_webhook":
        return _ack_report(event.data)
    return IgnoredEvent(f"event type {event.type!r} is not used by the bridge")


def _status_report(event: CallbackEvent) -> Meaning:
    data = event.data
    reported = data.get("status")
    status: DeliveryStatus | None = None
    if isinstance(reported, str):
        status = BLUETICKS_STATUSES.get(reported.lower())
    if status is None:
        status = EVENT_STATUSES.get(event.type)
        reported = event.type
    if status is None:
        return IgnoredEvent(f"no delivery status in {event.type} data (status={reported!r})")
    failure = data.get("failureReason")
    return StatusReport(
        status=status,
        reported=str(reported),
        provider_id=_text(data.get("id")),
        provider_key=wire_key(data),
        secret=_text(data.get("secret")),
        failure_reason=failure if isinstance(failure, str) else None,
    )


def _ack_report(data: dict[str, Any]) -> Meaning:
    ack = data.get("ack")
    key = wire_key(data)
    if isinstance(ack, bool) or not isinstance(ack, int) or ack not in ACK_STATUSES or not key:
        return IgnoredEvent(f"ack_changed_webhook without a usable ack and key (ack={ack!r})")
    return StatusReport(status=ACK_STATUSES[ack], reported=f"ack {ack}", provider_key=key)


def wire_key(data: dict[str, Any]) -> str | None:
    """`waMessageKey._serialized` (the current shape) or a string `key` (older crawls, §B.3)."""
    key = data.get("waMessageKey")
    if isinstance(key, dict):
        return _text(key.get("_serialized"))
    return _text(data.get("key"))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def next_status(current: str | None, reported: DeliveryStatus) -> DeliveryStatus | None:
    """The status to store after `reported` arrives, or None when it would move backwards."""
    if current is None or current not in STATUS_RANK:
        return reported
    return reported if STATUS_RANK[reported] > STATUS_RANK[current] else None


def notification_token(callback_token: str, notification_id: str) -> str:
    """The per-notification token of a legacy `callbackUrl`: derived from the configured token,
    so nothing is stored and one leaked URL reveals nothing about the others."""
    mac = hmac.new(callback_token.encode(), notification_id.encode(), hashlib.sha256)
    return f"n.{notification_id}.{mac.hexdigest()[:32]}"


def callback_path(token: str) -> str:
    return f"/callbacks/blueticks/{token}"


def check_token(given: str, callback_token: str) -> str:
    """Which callback a URL token opens, in constant time.

    Returns "" for the subscription token (v1 webhooks), the notification id for a valid
    per-notification token, and raises AuthError otherwise.
    """
    if hmac.compare_digest(given.encode(), callback_token.encode()):
        return ""
    if given.startswith("n."):
        notification_id = given[2:].rpartition(".")[0]
        if notification_id and hmac.compare_digest(
            given.encode(), notification_token(callback_token, notification_id).encode()
        ):
            return notification_id
    raise AuthError("unknown callback token")
