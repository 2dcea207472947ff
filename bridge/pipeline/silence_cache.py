"""The silences that can still hold events back, kept in memory so a webhook never reads them.

A bridge is one process and its silences API the only writer, so the cache is loaded from the
store once at start and every API write goes through it: to the store first, then here. Which
silence is active still depends on the moment asked about; a silence leaves the cache when the
store drops its record.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.pipeline.silences import (
    RETENTION,
    Silence,
    expire_silence,
    in_list_order,
    list_silences,
    save_silence,
)
from bridge.store.base import Store


class SilenceCache:
    """Pending and active silences by id, with `list_silences`' order cached until it changes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._by_id: dict[str, Silence] = {}
        self._ordered: list[Silence] = []
        # The ordered list holds until this moment: the next start or end of a cached silence.
        self._valid_until: datetime | None = None
        self._computed_at = datetime.min.replace(tzinfo=UTC)

    async def load(self, now: datetime) -> None:
        """Read the silences that are not expired at `now` (the bridge's start)."""
        silences = await list_silences(self.store, now, include_expired=False)
        self._by_id = {silence.id: silence for silence in silences}
        self._valid_until = None

    async def save(self, silence: Silence) -> None:
        """Create or replace, in the store and then here."""
        await save_silence(self.store, silence)
        self._keep(silence)

    async def expire(self, silence_id: str, now: datetime) -> Silence | None:
        """`expire_silence`, seen here at once; None if unknown."""
        expired = await expire_silence(self.store, silence_id, now)
        if expired is not None:
            self._keep(expired)
        return expired

    def current(self, now: datetime) -> list[Silence]:
        """What `list_silences(store, now, include_expired=False)` would return."""
        if self._valid_until is None or now >= self._valid_until or now < self._computed_at:
            self._refresh(now)
        return self._ordered

    def _keep(self, silence: Silence) -> None:
        self._by_id[silence.id] = silence
        self._valid_until = None

    def _refresh(self, now: datetime) -> None:
        """Order the silences not expired at `now`; forget those the store has dropped too."""
        self._by_id = {
            sid: silence
            for sid, silence in self._by_id.items()
            if silence.ends_at + RETENTION > now
        }
        live = [silence for silence in self._by_id.values() if silence.state(now) != "expired"]
        self._ordered = in_list_order(live, now)
        changes = [
            moment
            for silence in live
            for moment in (silence.starts_at, silence.ends_at)
            if moment > now
        ]
        self._computed_at = now
        self._valid_until = min(changes, default=datetime.max.replace(tzinfo=UTC))
