"""GitHub outcomes: a success is "resolved" only when it ends an earlier failure, and then it
carries the failure's labels, as an Alertmanager alert resolves with the labels it fired with:
a route that took the failure (`conclusion=~"failure"`) takes its fix too, into its group."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.model import Event
from bridge.pipeline.staged_writes import StagedWrites
from bridge.sources.github_ci import slug_fingerprint
from bridge.store.base import Store

# Record kind of an unresolved GitHub failure, by fingerprint, waiting for the success that
# fixes it: when it failed and its labels; remembered this long.
OPEN_FAILURE_KIND = "gh-open"
OPEN_FAILURE_TTL = 30 * 86400.0


def outcome_lock_keys(events: Sequence[Event]) -> set[str]:
    """The open-failure records an ingest of these events reads or writes."""
    keys: set[str] = set()
    for event in events:
        if event.outcome is not None:
            old = slug_fingerprint(event)  # upgrade path: see _open_fingerprint
            fingerprints = (event.fingerprint, old) if old else (event.fingerprint,)
            keys.update(f"{OPEN_FAILURE_KIND}:{fp}" for fp in fingerprints)
    return keys


async def settle_outcomes(
    events: Sequence[Event], store: Store, staged: StagedWrites, now: float
) -> None:
    """Remember failures; turn a success into "resolved", with the failure's labels, when it
    follows a remembered failure. Its title, summary, link and raw payload stay its own.

    The writes are staged, so they are committed with the notifications or not at all.
    """
    for event in events:
        if event.outcome is not None:
            event.fingerprint = await _open_fingerprint(event, store, staged, now)
        if event.outcome == "failure":
            failure = {"at": now, "labels": dict(event.labels)}
            staged.put_record(OPEN_FAILURE_KIND, event.fingerprint, failure, now + OPEN_FAILURE_TTL)
            event.status = "firing"
        elif event.outcome == "success":
            found = await staged.read_record(store, OPEN_FAILURE_KIND, event.fingerprint, now)
            event.status = "resolved" if found is not None else "firing"
            if found is not None:
                staged.delete_record(OPEN_FAILURE_KIND, event.fingerprint)
                labels = found.get("labels")
                if isinstance(labels, dict):  # records written before labels were kept: none
                    event.labels = dict(labels)


async def _open_fingerprint(event: Event, store: Store, staged: StagedWrites, now: float) -> str:
    """UPGRADE PATH, removed with github_ci.slug_fingerprint: a check whose failure is open
    under its fingerprint from before 6c9e16b (and not under today's) keeps that one until the
    failure is fixed, so the fix ends it, its dedupe entries and its group alert too."""
    old = slug_fingerprint(event)
    if old is None:
        return event.fingerprint
    if await staged.read_record(store, OPEN_FAILURE_KIND, event.fingerprint, now) is not None:
        return event.fingerprint
    found = await staged.read_record(store, OPEN_FAILURE_KIND, old, now)
    return old if found is not None else event.fingerprint
