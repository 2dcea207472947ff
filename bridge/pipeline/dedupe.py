"""Dedupe: the same (route, recipient, fingerprint, status) is not sent twice within a window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bridge.model import Event
from bridge.store.base import DedupeEntry

SuppressReason = Literal["duplicate", "resolved_not_wanted"]


@dataclass(frozen=True, slots=True)
class DedupeDecision:
    send: bool
    reason: SuppressReason | None = None
    # The notification that already carried this event, when suppressed as a duplicate.
    earlier: str | None = None


def dedupe_key(route: str, recipient: str, fingerprint: str) -> str:
    return f"dd:{route}\x1f{recipient}\x1f{fingerprint}"


def decide(
    event: Event,
    last: DedupeEntry | None,
    *,
    now: float,
    window: float,
    send_resolved: bool,
) -> DedupeDecision:
    """Whether to send `event` given the last status recorded for its key.

    A status change always counts (resolved after firing, firing again after resolved); the same
    status again is a duplicate until `window` has passed since it was last sent.
    """
    if event.status == "resolved" and not send_resolved:
        return DedupeDecision(False, "resolved_not_wanted")
    if last is not None and last.status == event.status and now - last.at < window:
        return DedupeDecision(False, "duplicate", last.notification_id)
    return DedupeDecision(True)
