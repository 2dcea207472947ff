"""Attempt outcomes the store refused to record (it was unavailable), kept and tried again.

Above all for a send that went out: its row stays 'sending' (never claimed again) until its
outcome is written, where giving up would make the next start send it twice.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable

import structlog

from bridge.errors import StoreUnavailable

log = structlog.get_logger("alertbridge.delivery")

OutcomeWrite = Callable[[], Awaitable[None]]


class PendingOutcomeWrites:
    """Outcome writes by notification id, tried again every `retry_interval` seconds, so a sent
    message is not sent again once the store is back."""

    def __init__(self, clock: Callable[[], float], retry_interval: float) -> None:
        self.clock = clock
        self.retry_interval = retry_interval
        self._writes: dict[str, OutcomeWrite] = {}
        self.next_retry_at = math.inf

    @property
    def ids(self) -> list[str]:
        """The notifications whose outcome is not recorded yet, sorted."""
        return sorted(self._writes)

    async def record(self, notification_id: str, write: OutcomeWrite) -> None:
        """Write an attempt's outcome; if the store is unavailable, keep it to try again."""
        try:
            await write()
        except StoreUnavailable as exc:
            self._writes[notification_id] = write
            self.next_retry_at = min(self.next_retry_at, self.clock() + self.retry_interval)
            log.error(
                "outbox.update_failed", notification=notification_id, error=str(exc), retrying=True
            )

    async def flush(self, now: float, *, force: bool = False) -> None:
        """Try the outcomes the store refused again, oldest first, stopping at a refusal.

        Only once their retry is due, unless `force`."""
        if not self._writes or (now < self.next_retry_at and not force):
            return
        for notification_id, write in list(self._writes.items()):
            # Out before the write: should stop() cancel this round, the write still runs in
            # the store and must not be made a second time.
            del self._writes[notification_id]
            try:
                await write()
            except StoreUnavailable as exc:
                self._writes = {notification_id: write, **self._writes}  # still first
                self.next_retry_at = self.clock() + self.retry_interval
                log.warning(
                    "outbox.update_still_failing", pending=len(self._writes), error=str(exc)
                )
                return
            log.info("outbox.update_recovered", notification=notification_id)
        # Sends that finished meanwhile may have added outcomes of their own: keep trying them.
        self.next_retry_at = self.clock() + self.retry_interval if self._writes else math.inf

    async def flush_before_stop(self, now: float) -> bool:
        """A last try as the worker stops; False (and said loudly) if some stay unrecorded."""
        await self.flush(now, force=True)
        if not self._writes:
            return True
        # Their rows stay 'sending'; the next start puts them back to pending and a sent
        # one goes again: at least once, as promised, but say so.
        log.critical(
            "outbox.outcomes_not_recorded",
            notifications=self.ids,
            message="the store is unavailable: these outcomes were not recorded and the "
            "next start sends them again",
        )
        return False
