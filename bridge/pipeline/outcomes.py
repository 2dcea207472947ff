"""GitHub outcomes: a success is "resolved" only when it ends an earlier failure."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.model import Event
from bridge.pipeline.staged_writes import StagedWrites
from bridge.store.base import Store

# Record kind of an unresolved GitHub failure, by fingerprint, waiting for the success that
# fixes it; remembered this long.
OPEN_FAILURE_KIND = "gh-open"
OPEN_FAILURE_TTL = 30 * 86400.0


def outcome_lock_keys(events: Sequence[Event]) -> set[str]:
    """The open-failure records an ingest of these events reads or writes."""
    return {f"{OPEN_FAILURE_KIND}:{e.fingerprint}" for e in events if e.outcome is not None}


async def settle_outcomes(
    events: Sequence[Event], store: Store, staged: StagedWrites, now: float
) -> None:
    """Remember failures; turn a success into "resolved" when it follows a remembered failure.

    The writes are staged, so they are committed with the notifications or not at all.
    """
    for event in events:
        if event.outcome == "failure":
            staged.put_record(
                OPEN_FAILURE_KIND, event.fingerprint, {"at": now}, now + OPEN_FAILURE_TTL
            )
            event.status = "firing"
        elif event.outcome == "success":
            failure = await staged.read_record(store, OPEN_FAILURE_KIND, event.fingerprint, now)
            event.status = "resolved" if failure is not None else "firing"
            if failure is not None:
                staged.delete_record(OPEN_FAILURE_KIND, event.fingerprint)
