"""The outbox worker's lanes: what it claims from the outbox, and which claimed send goes next.

Each recipient phone is a lane: at most one send in flight per phone, in order, at the pace its
token bucket allows, so one paced recipient never holds up another. Only what could go soon is
claimed, one notification per phone at a time: the rest of a phone's backlog stays in the
outbox, in order, where a digest can merge it, instead of piling up in memory.

`now` is the worker's monotonic clock (pacing, holds); `wall` the wall clock, for the due times
the store keeps.
"""

from __future__ import annotations

from collections import deque

from bridge.delivery.pacing import Pacer
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.base import Store


class PhoneLanes:
    """Claimed notifications (state 'sending') not yet sent: a lane per phone, oldest first."""

    def __init__(
        self, store: Store, metrics: Metrics, pacer: Pacer, *, batch: int, max_held: int
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.pacer = pacer
        self.batch = batch
        self.max_held = max_held
        # Claimed but not yet sent: waiting for their lane or their bucket.
        self._lanes: dict[str, deque[Notification]] = {}
        self._busy: set[str] = set()  # phones with a send in flight
        self._waits_counted: set[str] = set()  # held notifications already counted as a wait
        # Phones whose lane head was refused with 429 -> when it may go again.
        self._held_until: dict[str, float] = {}
        # Whether the last claim found no global token (the bucket empty, or a pause).
        self.global_blocked = False

    @property
    def held(self) -> int:
        return sum(len(lane) for lane in self._lanes.values())

    def excluded(self, phone: str, now: float) -> bool:
        """Whether `claim` would leave this phone out now."""
        return (
            phone in self._lanes or phone in self._busy or self.pacer.recipient_wait(phone, now) > 0
        )

    async def claim(
        self, now: float, free_slots: int, *, wall: float
    ) -> tuple[list[Notification], int]:
        """Claim only what could go soon: free send slots, global tokens, room to hold; each
        claimed notification joins its phone's lane. Returns them and the limit asked for."""
        global_tokens = self.pacer.global_tokens(now)
        if global_tokens < 1:
            # A pause was counted as a retry_after wait when Blueticks asked for it.
            if not self.global_blocked and now >= self.pacer.paused_until:
                self.metrics.rate_limit_waits.labels("global").inc()
            self.global_blocked = True
            return [], 0
        self.global_blocked = False
        limit = min(self.batch, free_slots, global_tokens, self.max_held - self.held)
        if limit < 1:
            return [], 0
        # A phone with a notification already waiting (or being sent), or whose bucket is
        # empty, gets nothing more claimed: its backlog stays in the outbox, in order, where a
        # digest can merge it, instead of piling up in memory. Any other phone's bucket lets
        # one go now: one is claimed, and the next once it is sent (every send ends with a
        # claim), so nothing waits in a lane for its bucket to refill, out of the digest's
        # reach, while newer alerts wait behind it.
        exclude = set(self._lanes) | self._busy | set(self.pacer.paced_recipients(now))
        claimed = await self.store.claim_due(wall, limit, exclude, per_phone=1)
        for notification in claimed:
            self._lanes.setdefault(notification.phone, deque()).append(notification)
        return claimed, limit

    def oldest_first(self) -> list[str]:
        """The phones with a lane, ordered by when their head notification was created."""
        lanes = sorted(self._lanes.items(), key=lambda item: item[1][0].created_at)
        return [phone for phone, _ in lanes]

    def take_ready(self, phone: str, now: float) -> Notification | None:
        """The head of the phone's lane if it may be sent now (the phone idle and not held,
        its buckets allowing it): out of the lane, its tokens spent, the phone busy."""
        if phone in self._busy or self._held_until.get(phone, now) > now:
            return None
        lane = self._lanes[phone]
        decision = self.pacer.check(phone, now)
        head = lane[0]
        if not decision.ready:
            if decision.scope is not None and head.id not in self._waits_counted:
                self._waits_counted.add(head.id)
                self.metrics.rate_limit_waits.labels(decision.scope).inc()
            return None
        lane.popleft()
        if not lane:
            del self._lanes[phone]
        self._held_until.pop(phone, None)
        self._waits_counted.discard(head.id)
        self.pacer.take(phone, now)
        self._busy.add(phone)
        return head

    def finished(self, phone: str) -> None:
        """The phone's send is over, whatever its outcome."""
        self._busy.discard(phone)

    def put_back(self, notification: Notification, until: float | None = None) -> None:
        """A refused notification goes back to the head of its lane, held until `until`."""
        self._lanes.setdefault(notification.phone, deque()).appendleft(notification)
        if until is not None:
            self._held_until[notification.phone] = until

    def waits(self, now: float) -> list[float]:
        """Seconds until each held lane may go again, or its head's buckets allow it."""
        waits = [until - now for until in self._held_until.values()]
        for phone in self._lanes:
            if phone not in self._busy:
                waits.append(self.pacer.check(phone, now).wait)
        return waits

    def let_go(self) -> int:
        """Forget the notifications waiting in lanes, as the worker stops; how many there were."""
        held = self.held
        self._lanes.clear()
        self._held_until.clear()
        return held
