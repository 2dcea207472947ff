"""Reading GitHub deliveries: the decoded delivery, tolerant field access, outcomes, and the
Event builder every GitHub normaliser uses.

Fingerprints name the *problem* (a workflow on a branch, an alert number) so a later success
can resolve an earlier failure; one-off happenings (push, PR, issue, release) get distinct ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bridge.errors import PayloadError
from bridge.model import Event
from bridge.sources.base import json_type_name

Outcome = Literal["failure", "success"]

# Conclusions that say nothing about health: no message either way.
_NEUTRAL_CONCLUSIONS = frozenset({"neutral", "skipped", "cancelled", "stale"})
_FAILED_STATES = frozenset({"failure", "error"})
_SECURITY_SEVERITIES = {"moderate": "medium", "note": "info", "none": "info"}
_ALERT_OPENED = frozenset(
    (
        "created",
        "create",
        "reopened",
        "reopen",
        "reintroduced",
        "auto_reopened",
        "appeared_in_branch",
        "reopened_by_user",
        "published",
    )
)
_ALERT_CLOSED = frozenset(
    (
        "fixed",
        "resolved",
        "resolve",
        "dismissed",
        "dismiss",
        "auto_dismissed",
        "closed_by_user",
        "revoked",
        "withdrawn",
    )
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One GitHub delivery, decoded: what every normaliser reads from."""

    event: str
    payload: dict[str, Any]
    received_at: datetime
    # X-GitHub-Delivery, or a hash of the body when absent: keeps generic events distinct.
    delivery_id: str

    @property
    def action(self) -> str:
        return text(self.payload.get("action"))

    @property
    def repository(self) -> dict[str, Any]:
        return optional_object(self.payload, "repository")

    @property
    def repo_name(self) -> str:
        return text(self.repository.get("full_name"))


def text(value: object) -> str:
    """A JSON scalar as label text: "" for null, "true"/"false" for booleans."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if not isinstance(value, dict | list) else ""


def required_object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object the event cannot be read without; PayloadError naming it otherwise."""
    value = parent.get(key)
    if value is None:
        raise PayloadError(f"missing field {key!r}")
    if not isinstance(value, dict):
        raise PayloadError(f"{key} must be an object, got {json_type_name(value)}")
    return value


def optional_object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    return value if isinstance(value, dict) else {}


def optional_list(parent: dict[str, Any], key: str) -> list[Any]:
    value = parent.get(key)
    return value if isinstance(value, list) else []


def login(user: object) -> str:
    return text(user.get("login")) if isinstance(user, dict) else ""


def first_line(value: object) -> str:
    return text(value).strip().split("\n", 1)[0].strip()


def github_fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def conclusion_outcome(conclusion: str) -> Outcome | None:
    """success -> success; neutral/skipped/cancelled/stale or none yet -> None; else failure."""
    if not conclusion:
        return None
    if conclusion == "success":
        return "success"
    if conclusion in _NEUTRAL_CONCLUSIONS:
        return None
    return "failure"


def state_outcome(state: str) -> Outcome | None:
    """Deployment and commit status states: failure/error fail, success succeeds."""
    if state in _FAILED_STATES:
        return "failure"
    return "success" if state == "success" else None


def alert_outcome(action: str) -> Outcome | None:
    """Security alerts: opening actions are failures, closing ones successes."""
    if action in _ALERT_OPENED:
        return "failure"
    return "success" if action in _ALERT_CLOSED else None


def security_severity(value: object) -> str:
    severity = text(value).lower()
    return _SECURITY_SEVERITIES.get(severity, severity)


def build_event(
    delivery: Delivery,
    *,
    labels: dict[str, str],
    fingerprint: str,
    title: str,
    summary: str = "",
    url: str = "",
    outcome: Outcome | None = None,
    severity: str = "",
    annotations: dict[str, str] | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
) -> Event:
    """The Event with the labels every GitHub event shares; empty labels are left out."""
    merged = {
        "alertname": delivery.event,
        "event": delivery.event,
        "action": delivery.action,
        "repository": delivery.repo_name,
        "sender": login(delivery.payload.get("sender")),
        **labels,
    }
    severity = severity or ("error" if outcome == "failure" else "info")
    merged["severity"] = severity
    return Event(
        source="github",
        fingerprint=fingerprint,
        status="firing",
        labels={name: value for name, value in merged.items() if value},
        annotations=annotations or {},
        title=title,
        summary=summary,
        url=url,
        starts_at=starts_at,
        ends_at=ends_at,
        severity=severity,
        received_at=delivery.received_at,
        raw=delivery.payload,
        outcome=outcome,
    )


Normaliser = Callable[[Delivery], Event]
