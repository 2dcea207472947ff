"""Webhooks of the Blueticks stand-in: subscriptions, the message lifecycle and event delivery.

Follows blueticks.md §C and §E.6-9. Event `data` shapes and the status -> event mapping are
undocumented upstream; the choices here are marked as invented.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
from blueticks_standin_validation import invalid_request, issue

if TYPE_CHECKING:
    from blueticks_standin import StandinState

WEBHOOK_EVENTS = frozenset(
    {
        "message.queued",
        "message.sending",
        "message.delivered",
        "message.failed",
        "message.read",
        "session.connected",
        "session.disconnected",
        "campaign.started",
        "campaign.paused",
        "campaign.resumed",
        "campaign.completed",
        "campaign.aborted",
        "new_message_received_webhook",
        "message_reaction_webhook",
        "ack_changed_webhook",
        "participant_joined_via_link_webhook",
        "participant_added_by_admin_webhook",
        "participant_left_group_webhook",
        "participant_kicked_from_group_webhook",
        "group_admin_changed_webhook",
        "group_name_changed_webhook",
        "group_description_changed_webhook",
        "group_message_pinned_webhook",
        "poll_vote_webhook",
        "reply_to_my_message_webhook",
        "message_deleted_revoked_webhook",
        "message_edited_webhook",
    }
)
LIFECYCLE = ("pending", "confirmed", "received", "read", "played")
# Invented mapping: which status change fires which event is undocumented (§B.3).
STATUS_EVENTS = {
    "confirmed": "message.sending",
    "received": "message.delivered",
    "read": "message.read",
    "failed": "message.failed",
}
STATUS_TIMESTAMPS = {
    "confirmed": "confirmedAt",
    "received": "receivedAt",
    "read": "readAt",
    "played": "playedAt",
    "failed": "failedAt",
}
STATUS_ACKS = {"confirmed": 1, "received": 2, "read": 3, "played": 4, "failed": -1}
ENGINE_ID = "6a380a8258bece30b4850000"
AUTO_DISABLE_AFTER = 8


def iso_now(now: float) -> str:
    return (
        datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


@dataclass(slots=True)
class WebhookSubscription:
    id: str
    url: str
    events: list[str]
    created_at: str
    description: str | None = None
    status: Literal["enabled", "disabled"] = "enabled"
    consecutive_failures: int = 0

    def to_data(self) -> dict[str, Any]:
        """The API's WebhookResponse: no `secret` (signing was removed, §C.1), nulls omitted."""
        data: dict[str, Any] = {"id": self.id, "url": self.url, "events": list(self.events)}
        if self.description is not None:
            data["description"] = self.description
        data |= {"status": self.status, "createdAt": self.created_at}
        return data


@dataclass(frozen=True, slots=True)
class WebhookSigning:
    """The legacy signing scheme (§C.3), with knobs to produce the bad variants a verifier meets."""

    secret: str
    timestamp_skew: int = 0  # seconds added to the real time, e.g. 301 for an expired stamp
    scheme: Literal["v1", "v0_then_v1", "missing_v1"] = "v1"


@dataclass(slots=True)
class WebhookDelivery:
    """One POST the stand-in made to a subscriber (or tried to)."""

    webhook_id: str
    event: dict[str, Any]
    body: bytes
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None
    attempt: int = 1


def sign_webhook(secret: str, timestamp: int, raw_body: bytes | str) -> str:
    """`v1=hex(HMAC_SHA256(secret, f"{ts}.{raw_body}"))`, as the legacy scheme signs."""
    body = raw_body.decode() if isinstance(raw_body, bytes) else raw_body
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def parse_webhook_request(body: Any) -> tuple[str, list[str], str | None]:
    """Check a `POST /v1/webhooks` body; return (url, events, description)."""
    if not isinstance(body, dict):
        raise invalid_request("Body must be a JSON object")
    problems = _webhook_field_problems(body, required=("url", "events"))
    if problems:
        raise invalid_request("Request validation failed", problems)
    url, events = body["url"], body["events"]
    return url, [str(e) for e in events], body.get("description")


def parse_webhook_update(body: Any) -> dict[str, Any]:
    """Check a `PATCH /v1/webhooks/{id}` body `{url?, events?, description? (nullable),
    status? enabled|disabled}` (§C.1); return the changes."""
    if not isinstance(body, dict):
        raise invalid_request("Body must be a JSON object")
    problems = _webhook_field_problems(body, required=(), extra=("status",))
    if "status" in body and body["status"] not in ("enabled", "disabled"):
        problems.append(issue("status", "invalid_enum_value", "expected enabled or disabled"))
    if not body:
        problems.append(issue("", "custom", "at least one field is required"))
    if problems:
        raise invalid_request("Request validation failed", problems)
    return dict(body)


def _webhook_field_problems(
    body: dict[str, Any], *, required: tuple[str, ...], extra: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """What is wrong with a webhook body's url, events and description (present or required)."""
    unknown = sorted(set(body) - {"url", "events", "description", *extra})
    problems = [issue(key, "unrecognized_keys", "Unrecognized key") for key in unknown]
    url, events, description = body.get("url"), body.get("events"), body.get("description")
    if ("url" in body or "url" in required) and (
        not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2048
    ):
        problems.append(issue("url", "invalid_string", "expected an http(s) URL"))
    if "events" in body or "events" in required:
        if not isinstance(events, list) or not events:
            problems.append(issue("events", "too_small", "at least one event is required"))
        else:
            for index, name in enumerate(events):
                if name not in WEBHOOK_EVENTS:
                    message = f"unknown {name!r}"
                    problems.append(issue(f"events.{index}", "invalid_enum_value", message))
    if description is not None and (not isinstance(description, str) or len(description) > 120):
        problems.append(issue("description", "too_big", "at most 120 characters"))
    return problems


def build_event(event_type: str, data: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "type": event_type,
        "created_at": iso_now(now),
        "data": data,
    }


def step_message(
    state: StandinState, message_id: str, target: str, failure_reason: str
) -> list[dict[str, Any]]:
    """Move a message to `target` one lifecycle step at a time; return the events it fired."""
    message = state.message(message_id)
    data = message.data
    now = state.clock()
    if target == "failed":
        steps = ["failed"]
    else:
        current = LIFECYCLE.index(data["status"]) if data["status"] in LIFECYCLE else 0
        steps = list(LIFECYCLE[current + 1 : LIFECYCLE.index(target) + 1])
    events = []
    for status in steps:
        data["status"] = status
        data[STATUS_TIMESTAMPS[status]] = iso_now(now)
        if status == "confirmed":
            wa_id = secrets.token_hex(10).upper()
            data["waMessageKey"] = {
                "fromMe": True,
                "remote": data["to"],
                "id": wa_id,
                "_serialized": f"true_{data['to']}_{wa_id}",
            }
        if status == "failed":
            data["failureReason"] = failure_reason
        if status in STATUS_EVENTS:
            payload = state.message_event_data(copy.deepcopy(data))
            events.append(build_event(STATUS_EVENTS[status], payload, now))
        if "waMessageKey" in data:
            # Invented shape: ack_changed_webhook payloads are undocumented (§C.4).
            ack = {"waMessageKey": data["waMessageKey"], "chatId": data["to"]}
            events.append(
                build_event("ack_changed_webhook", ack | {"ack": STATUS_ACKS[status]}, now)
            )
    return events


async def deliver_events(
    state: StandinState, session: aiohttp.ClientSession, events: list[dict[str, Any]]
) -> list[WebhookDelivery]:
    """POST events to every enabled subscriber of their type, with the state's quirks applied."""
    ordered = list(reversed(events)) if state.webhook_reverse_order else list(events)
    copies = 2 if state.webhook_duplicates else 1
    deliveries = []
    for event in ordered:
        for hook in list(state.webhooks.values()):
            if hook.status == "enabled" and event["type"] in hook.events:
                for _ in range(copies):
                    deliveries.append(await _deliver_with_retries(state, session, hook, event))
    return deliveries


async def _deliver_with_retries(
    state: StandinState,
    session: aiohttp.ClientSession,
    hook: WebhookSubscription,
    event: dict[str, Any],
) -> WebhookDelivery:
    delays = (0.0, *state.webhook_retry_delays)
    delivery = None
    for attempt, delay in enumerate(delays, start=1):
        if delay:
            await asyncio.sleep(delay)
        delivery = await _post_event(state, session, hook, event, attempt)
        state.webhook_deliveries.append(delivery)
        state.changed()
        if delivery.status is not None and 200 <= delivery.status < 300:
            hook.consecutive_failures = 0
            return delivery
        hook.consecutive_failures += 1
        if hook.consecutive_failures >= AUTO_DISABLE_AFTER:
            hook.status = "disabled"
            break
    assert delivery is not None
    return delivery


async def _post_event(
    state: StandinState,
    session: aiohttp.ClientSession,
    hook: WebhookSubscription,
    event: dict[str, Any],
    attempt: int,
) -> WebhookDelivery:
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Blueticks-Webhook-Id": hook.id}
    if state.webhook_signing is not None:
        headers |= _signature_headers(state.webhook_signing, int(state.clock()), body)
    delivery = WebhookDelivery(hook.id, event, body, headers, attempt=attempt)
    try:
        timeout = aiohttp.ClientTimeout(total=state.webhook_timeout)
        async with session.post(hook.url, data=body, headers=headers, timeout=timeout) as response:
            await response.read()
            delivery.status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        delivery.error = f"{type(exc).__name__}: {exc}"
    return delivery


def _signature_headers(signing: WebhookSigning, now: int, body: bytes) -> dict[str, str]:
    timestamp = now + signing.timestamp_skew
    signature = sign_webhook(signing.secret, timestamp, body)
    if signing.scheme == "v0_then_v1":
        signature = f"v0={'0' * 64}, {signature}"
    elif signing.scheme == "missing_v1":
        signature = signature.replace("v1=", "v0=")
    return {"Blueticks-Webhook-Timestamp": str(timestamp), "Blueticks-Webhook-Signature": signature}


def session_event(connected: bool, now: float) -> dict[str, Any]:
    """Invented shape: session.* payloads are undocumented; this mirrors a ping connection."""
    kind = "session.connected" if connected else "session.disconnected"
    return build_event(kind, {"id": ENGINE_ID, "type": "gateway", "connected": connected}, now)
