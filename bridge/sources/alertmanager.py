"""Prometheus Alertmanager webhooks (version 4): authenticate and parse into events."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from bridge.config.schema import AlertmanagerSourceConfig
from bridge.errors import PayloadError
from bridge.model import Event, SourceName, Status, Webhook
from bridge.sources.auth import HeaderCheck, compile_header_check
from bridge.sources.base import (
    JSON_MEDIA_TYPE,
    PayloadShape,
    decode_json_object,
    excerpt,
    json_type_name,
    require_media_type,
    validate_shape,
)
from bridge.sources.timestamps import parse_rfc3339

_FNV64_OFFSET = 0xCBF29CE484222325
_FNV64_PRIME = 0x100000001B3
_FNV64_MASK = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = b"\xff"


def label_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 over sorted `name 0xFF value 0xFF`.

    Used for old payloads that carry no per-alert fingerprint, so dedupe keys match the
    ones newer Alertmanagers send.
    """
    data = b"".join(
        name.encode() + _SEPARATOR + labels[name].encode() + _SEPARATOR for name in sorted(labels)
    )
    digest, prime, mask = _FNV64_OFFSET, _FNV64_PRIME, _FNV64_MASK
    for byte in data:
        digest = ((digest ^ byte) * prime) & mask
    return f"{digest:016x}"


def _timestamp(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an RFC 3339 timestamp string, got {json_type_name(value)}")
    return parse_rfc3339(value)


Timestamp = Annotated[datetime | None, BeforeValidator(_timestamp)]


class AlertShape(PayloadShape):
    """One alert of an Alertmanager-format body; status/fingerprint absent in old senders."""

    status: Literal["firing", "resolved"] | None = None
    labels: dict[str, str]
    annotations: dict[str, str] | None = None
    starts_at: Timestamp = Field(default=None, alias="startsAt")
    ends_at: Timestamp = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""


class NotificationShape(PayloadShape):
    """The top level of an Alertmanager-format body."""

    version: str | None = None
    status: Literal["firing", "resolved"] | None = None
    receiver: str = ""
    group_key: str = Field(default="", alias="groupKey")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[AlertShape]
    # Alerts of the group the sender left out (Alertmanager's max_alerts, Grafana's maxAlerts):
    # the default templates say how many.
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)


def alert_event(
    alert: AlertShape,
    raw_alert: dict[str, Any],
    *,
    index: int,
    group_status: Status | None,
    source: SourceName,
    received_at: datetime,
) -> Event:
    """One alert as an Event; the per-alert status wins over the group's."""
    status = alert.status or group_status
    if status is None:
        raise PayloadError(f"missing field 'alerts[{index}].status' (and no top-level status)")
    annotations = alert.annotations or {}
    return Event(
        source=source,
        fingerprint=alert.fingerprint or label_fingerprint(alert.labels),
        status=status,
        labels=alert.labels,
        annotations=annotations,
        title=alert.labels.get("alertname", ""),
        summary=annotations.get("summary") or annotations.get("description", ""),
        url=alert.generator_url,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        severity=alert.labels.get("severity", ""),
        received_at=received_at,
        raw=raw_alert,
    )


def check_version(version: str | None, accepted: tuple[str, ...], hint: str) -> None:
    """PayloadError for a body of another format version than the endpoint takes."""
    if version is not None and version not in accepted:
        wanted = " or ".join(f'"{v}"' for v in accepted)
        raise PayloadError(f"unsupported version {excerpt(repr(version))}: expected {wanted}{hint}")


def parse_alertmanager(body: bytes, received_at: datetime) -> Webhook:
    """An Alertmanager webhook body as a Webhook with one event per alert."""
    data = decode_json_object(body)
    payload = validate_shape(NotificationShape, data)
    check_version(payload.version, ("4",), " (Grafana contact points post to the grafana endpoint)")
    raw_alerts: list[dict[str, Any]] = data["alerts"]
    events = [
        alert_event(
            alert,
            raw_alerts[index],
            index=index,
            group_status=payload.status,
            source="alertmanager",
            received_at=received_at,
        )
        for index, alert in enumerate(payload.alerts)
    ]
    return Webhook(
        source="alertmanager",
        events=events,
        group_key=payload.group_key,
        receiver=payload.receiver,
        external_url=payload.external_url,
        raw=data,
    )


class AlertmanagerSource:
    """POST /webhook/alertmanager: JSON, optional bearer or basic auth (no body signature)."""

    name: SourceName = "alertmanager"

    def __init__(self, config: AlertmanagerSourceConfig) -> None:
        self._header_check: HeaderCheck | None = compile_header_check(config.auth)
        self.auth_configured = self._header_check is not None

    def check_content_type(self, content_type: str) -> None:
        require_media_type(self.name, content_type, (JSON_MEDIA_TYPE,))

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        if self._header_check is not None:
            self._header_check.check(headers)

    def parse(self, headers: Mapping[str, str], body: bytes, received_at: datetime) -> Webhook:
        return parse_alertmanager(body, received_at)
