"""Alertmanager webhook bodies for the tests: disk-full alerts, one way to build them.

A test names only what it depends on (instance, status, fingerprint); keyword arguments named
as the JSON fields add or replace fields.
"""

from __future__ import annotations

import json
from typing import Any


def am_alert(
    instance: str,
    status: str = "firing",
    *,
    alertname: str = "Disk",
    fingerprint: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """One alert about a full disk on `instance`; a resolved one ended an hour after it began."""
    alert: dict[str, Any] = {
        "status": status,
        "labels": {"alertname": alertname, "instance": instance, "severity": "critical"},
        "annotations": {"summary": f"disk full on {instance}"},
        "startsAt": "2026-11-25T10:00:00Z",
        "endsAt": "2026-11-25T11:00:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "fingerprint": fingerprint or f"fp-{instance}",
    }
    return alert | fields


def am_flapping(instance: str, *statuses: str, **fields: Any) -> list[dict[str, Any]]:
    """One alert's events in turn, as Alertmanager sends them: a firing after a resolution is
    a new alert, starting later (a minute per re-fire here; a firing that started no later is
    a lagging replica's stale copy); a resolved one keeps the start of the firing it ends."""
    alerts: list[dict[str, Any]] = []
    refires = 0
    for status in statuses:
        if status == "firing" and alerts and alerts[-1]["status"] == "resolved":
            refires += 1
        start = f"2026-11-25T10:{refires:02d}:00Z"  # am_alert's, then later per re-fire
        alerts.append(am_alert(instance, status, startsAt=start, **fields))
    return alerts


def am_webhook(*alerts: dict[str, Any], **fields: Any) -> bytes:
    """A version 4 webhook carrying `alerts`, firing while any of them fires."""
    body: dict[str, Any] = {
        "version": "4",
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "whatsapp",
        "groupKey": '{}:{alertname="Disk"}',
        "groupLabels": {"alertname": "Disk"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://am:9093",
        "alerts": list(alerts),
    }
    return json.dumps(body | fields).encode()


def one_alert_webhook(instance: str, **alert_fields: Any) -> bytes:
    """A webhook with one firing alert, in a group of its own instance."""
    return am_webhook(
        am_alert(instance, **alert_fields),
        groupKey=f'{{}}:{{instance="{instance}"}}',
        groupLabels={},
    )
