"""GitHub outcomes: a success is "resolved" only when it ends an earlier failure."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.model import Event
from bridge.store.base import Store

# How long an unresolved GitHub failure is remembered, waiting for the success that fixes it.
OPEN_FAILURE_TTL = 30 * 86400.0


def _key(event: Event) -> str:
    return f"gh-open:{event.fingerprint}"


async def settle_outcomes(events: Sequence[Event], store: Store, now: float) -> None:
    """Remember failures; turn a success into "resolved" when it follows a remembered failure."""
    for event in events:
        if event.outcome == "failure":
            await store.forget(_key(event))
            await store.remember(_key(event), OPEN_FAILURE_TTL, now)
            event.status = "firing"
        elif event.outcome == "success":
            event.status = "resolved" if await store.forget(_key(event)) else "firing"
