"""GitHub webhooks: verify the HMAC signature, decode JSON or form bodies, pick the normaliser."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from bridge.config.schema import GithubSourceConfig
from bridge.errors import PayloadError
from bridge.model import Event, SourceName, Webhook
from bridge.sources import github_activity, github_ci
from bridge.sources.auth import verify_github_signature
from bridge.sources.base import (
    FORM_MEDIA_TYPE,
    JSON_MEDIA_TYPE,
    decode_json_object,
    media_type,
    require_media_type,
)
from bridge.sources.github_delivery import Delivery, Normaliser
from bridge.sources.github_security import SECURITY_NORMALISERS

EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
HOOK_ID_HEADER = "X-GitHub-Hook-ID"
_ACCEPTED_MEDIA_TYPES = (JSON_MEDIA_TYPE, FORM_MEDIA_TYPE)

NORMALISERS: dict[str, Normaliser] = {
    **github_ci.CI_NORMALISERS,
    **github_activity.ACTIVITY_NORMALISERS,
    **SECURITY_NORMALISERS,
}


def decode_github_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery, whether sent as JSON or as the form field `payload`."""
    if media_type(content_type) != FORM_MEDIA_TYPE:
        return decode_json_object(body)
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise PayloadError("malformed form body: not UTF-8") from None
    values = form.get("payload")
    if not values:
        raise PayloadError("missing form field 'payload'")
    return decode_json_object(values[0])


def without_secret(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload minus `alert.secret` (a secret scanning alert's leaked value)."""
    alert = payload.get("alert")
    if not isinstance(alert, dict) or "secret" not in alert:
        return payload
    return {**payload, "alert": {k: v for k, v in alert.items() if k != "secret"}}


def parse_github(headers: Mapping[str, str], body: bytes, received_at: datetime) -> Webhook:
    """A GitHub delivery as a Webhook: no events for ping, else exactly one."""
    event_name = (headers.get(EVENT_HEADER) or "").strip()
    if not event_name:
        raise PayloadError(f"missing {EVENT_HEADER} header")
    payload = without_secret(decode_github_body(headers.get("Content-Type", ""), body))
    guid = (headers.get(DELIVERY_HEADER) or "").strip()
    hook_id = (headers.get(HOOK_ID_HEADER) or "").strip()
    events: list[Event] = []
    if event_name != "ping":
        delivery = Delivery(
            event=event_name,
            payload=payload,
            received_at=received_at,
            delivery_id=guid or hashlib.sha256(body).hexdigest()[:16],
        )
        events.append(NORMALISERS.get(event_name, github_activity.generic_event)(delivery))
    return Webhook(
        source="github",
        events=events,
        group_key=event_name,
        delivery_key=f"{hook_id}:{guid}" if guid else None,
        kind=event_name,
        raw=payload,
    )


class GithubSource:
    """POST /webhook/github: JSON or form bodies, signed with the hook's secret when set."""

    name: SourceName = "github"

    def __init__(self, config: GithubSourceConfig) -> None:
        self._secret = (
            config.secret.get_secret_value().encode() if config.secret is not None else None
        )
        self.auth_configured = self._secret is not None

    def check_content_type(self, content_type: str) -> None:
        require_media_type(self.name, content_type, _ACCEPTED_MEDIA_TYPES)

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        if self._secret is not None:
            verify_github_signature(self._secret, headers, body)

    def parse(self, headers: Mapping[str, str], body: bytes, received_at: datetime) -> Webhook:
        return parse_github(headers, body, received_at)
