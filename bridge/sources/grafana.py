"""Grafana alerting webhooks: unified (version 1), Alertmanager-format (version 4) and legacy."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from bridge.config.schema import GrafanaSourceConfig
from bridge.model import Event, SourceName, Status, Webhook
from bridge.sources.alertmanager import AlertShape, NotificationShape, alert_event, check_version
from bridge.sources.auth import GrafanaSignatureCheck, HeaderCheck, compile_header_check
from bridge.sources.base import (
    JSON_MEDIA_TYPE,
    PayloadShape,
    decode_json_object,
    require_media_type,
    validate_shape,
)

# Legacy dashboard alerting states: which ones are news, and in which direction.
_LEGACY_STATUS: dict[str, Status | None] = {
    "alerting": "firing",
    "no_data": "firing",
    "ok": "resolved",
    "paused": None,
    "pending": None,
}


class GrafanaAlertShape(AlertShape):
    """A unified-alerting alert: Alertmanager's fields plus links, a screenshot and the values
    that fired it (`values` from Grafana 9.x on, only `valueString` before)."""

    image_url: str = Field(default="", alias="imageURL")
    panel_url: str = Field(default="", alias="panelURL")
    dashboard_url: str = Field(default="", alias="dashboardURL")
    values: dict[str, Any] | None = None
    value_string: str = Field(default="", alias="valueString")


# One `[ var='B' labels={...} value=17 ]` (or `metric='...'`) of a valueString.
_VALUE_STRING_ITEM = re.compile(r"var='([^']*)'.*?\bvalue=([^\s\]]+)")


def values_from_value_string(value_string: str) -> str:
    """`B=17, C=1` from a valueString, for the Grafanas that send no `values` mapping."""
    return ", ".join(f"{var}={value}" for var, value in _VALUE_STRING_ITEM.findall(value_string))


class GrafanaNotificationShape(NotificationShape):
    """The top level of a unified-alerting (or v0mimir1 Alertmanager-format) body."""

    alerts: list[GrafanaAlertShape]  # type: ignore[assignment]


class EvalMatchShape(PayloadShape):
    value: float | None = None
    metric: str = ""


class LegacyAlertShape(PayloadShape):
    """A legacy (Grafana 8 and older) dashboard alert: one rule's state change."""

    state: Literal["ok", "paused", "alerting", "pending", "no_data"]
    rule_id: int | None = Field(default=None, alias="ruleId")
    rule_name: str = Field(default="", alias="ruleName")
    title: str = ""
    message: str = ""
    rule_url: str = Field(default="", alias="ruleUrl")
    image_url: str = Field(default="", alias="imageUrl")
    org_id: int | None = Field(default=None, alias="orgId")
    tags: dict[str, str] | None = None
    eval_matches: list[EvalMatchShape] = Field(default=[], alias="evalMatches")


def _is_legacy(data: dict[str, Any]) -> bool:
    return "alerts" not in data and ("evalMatches" in data or "ruleId" in data)


def _unified_webhook(data: dict[str, Any], received_at: datetime) -> Webhook:
    payload = validate_shape(GrafanaNotificationShape, data)
    check_version(payload.version, ("1", "4"), "")
    raw_alerts: list[dict[str, Any]] = data["alerts"]
    events = []
    for index, alert in enumerate(payload.alerts):
        event = alert_event(
            alert,
            raw_alerts[index],
            index=index,
            group_status=payload.status,
            source="grafana",
            received_at=received_at,
        )
        # Prefer a link a phone can open without the Grafana rule editor.
        event.url = alert.panel_url or alert.dashboard_url or alert.generator_url
        event.image_url = alert.image_url or None
        if not alert.values and "values" not in event.annotations:
            # The same key the legacy format's evalMatches fill, for the template to show.
            shown = values_from_value_string(alert.value_string)
            if shown:
                event.annotations = {**event.annotations, "values": shown}
        events.append(event)
    return Webhook(
        source="grafana",
        events=events,
        group_key=payload.group_key,
        receiver=payload.receiver,
        external_url=payload.external_url,
        raw=data,
    )


def legacy_fingerprint(alert: LegacyAlertShape) -> str:
    """A stable id for a legacy rule, which carries no fingerprint of its own."""
    rule = str(alert.rule_id) if alert.rule_id is not None else alert.rule_name
    key = f"grafana-legacy|{alert.org_id or ''}|{rule}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _legacy_webhook(data: dict[str, Any], received_at: datetime) -> Webhook:
    alert = validate_shape(LegacyAlertShape, data)
    status = _LEGACY_STATUS[alert.state]
    events: list[Event] = []
    if status is not None:
        labels = dict(alert.tags or {})
        labels["alertname"] = alert.rule_name or alert.title
        labels["state"] = alert.state
        annotations: dict[str, str] = {}
        if alert.message:
            annotations["description"] = alert.message
        if alert.eval_matches:
            annotations["values"] = ", ".join(
                f"{match.metric}={match.value:g}" if match.value is not None else match.metric
                for match in alert.eval_matches
            )
        events.append(
            Event(
                source="grafana",
                fingerprint=legacy_fingerprint(alert),
                status=status,
                labels=labels,
                annotations=annotations,
                title=alert.rule_name or alert.title,
                summary=alert.message or alert.title,
                url=alert.rule_url,
                severity=labels.get("severity", ""),
                image_url=alert.image_url or None,
                received_at=received_at,
                raw=data,
            )
        )
    return Webhook(source="grafana", events=events, group_key=legacy_fingerprint(alert), raw=data)


def parse_grafana(body: bytes, received_at: datetime) -> Webhook:
    """A Grafana webhook body of any of its three formats as a Webhook."""
    data = decode_json_object(body)
    if _is_legacy(data):
        return _legacy_webhook(data, received_at)
    return _unified_webhook(data, received_at)


class GrafanaSource:
    """POST /webhook/grafana: JSON; bearer or basic auth and/or Grafana 12's HMAC signature."""

    name: SourceName = "grafana"

    def __init__(self, config: GrafanaSourceConfig) -> None:
        self._header_check: HeaderCheck | None = compile_header_check(config.auth)
        self._signature_check = (
            GrafanaSignatureCheck.from_config(config.hmac) if config.hmac is not None else None
        )
        self.auth_configured = self._header_check is not None or self._signature_check is not None

    def check_content_type(self, content_type: str) -> None:
        require_media_type(self.name, content_type, (JSON_MEDIA_TYPE,))

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        if self._header_check is not None:
            self._header_check.check(headers)
        if self._signature_check is not None:
            self._signature_check.check(headers, body, now)

    def parse(self, headers: Mapping[str, str], body: bytes, received_at: datetime) -> Webhook:
        return parse_grafana(body, received_at)
