"""Self-imposed send rates: one global token bucket and one per recipient phone, and a global
pause while Blueticks asks (a 429 with Retry-After: its limit is per account, so every lane).

Pure arithmetic on times passed in by the caller, so the worker's pacing decisions are testable
without waiting. The worker passes its monotonic clock's: a wall clock stepped back (an NTP
step, a VM resumed) would otherwise refill nothing until it caught up, and stop sending. A
personal WhatsApp account gets banned for floods; these buckets are why. A restart does not
refill them: the worker resumes them from the sends the store recorded (`Pacer.resume`), so a
pod in a crash loop does not send a burst per restart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bridge.config.schema import PacingConfig, RateConfig

# retry_after: the global pause Blueticks asked for (a 429 with Retry-After).
PacingScope = Literal["global", "recipient", "retry_after"]

# Seconds of recorded sends a restarted worker's buckets start from, at least (`Pacer.resume`).
RESUME_WINDOW = 60.0


class TokenBucket:
    """`burst` tokens at most, refilled at `per_minute / 60` tokens a second; a send takes one."""

    def __init__(self, rate: RateConfig, now: float) -> None:
        self.per_second = rate.per_minute / 60.0
        self.capacity = float(rate.burst)
        self._tokens = self.capacity
        self._updated = now

    def tokens(self, now: float) -> float:
        """Tokens available at `now` (a clock that went backwards refills nothing)."""
        elapsed = max(0.0, now - self._updated)
        return min(self.capacity, self._tokens + elapsed * self.per_second)

    def time_until_available(self, now: float, tokens: float = 1.0) -> float:
        """Seconds from `now` until `tokens` can be taken; 0.0 when they can be taken now."""
        missing = tokens - self.tokens(now)
        return 0.0 if missing <= 0 else missing / self.per_second

    def take(self, now: float, tokens: float = 1.0) -> None:
        """Spend `tokens` at `now`; callers check time_until_available first."""
        self._tokens = self.tokens(now) - tokens
        self._updated = max(now, self._updated)

    def is_full(self, now: float) -> bool:
        return self.tokens(now) >= self.capacity

    def replay(self, sends: Iterable[float]) -> None:
        """Spend a token at each of `sends` (ascending): sends recorded before this process
        started. An empty bucket stays empty, as a real one cannot go below: a send recorded
        later than its token was taken, or allowed by a looser rate before, takes nothing more."""
        for at in sends:
            self._tokens = max(0.0, self.tokens(at) - 1.0)
            self._updated = max(at, self._updated)


@dataclass(frozen=True, slots=True)
class PacingDecision:
    """When a send to one phone may go: `wait` seconds from now, held back by `scope`."""

    wait: float
    scope: PacingScope | None  # None: it may go now

    @property
    def ready(self) -> bool:
        return self.wait <= 0.0


class Pacer:
    """The global bucket and lazily created per-phone buckets (dropped again once full)."""

    def __init__(self, config: PacingConfig, now: float) -> None:
        self.config = config
        self.global_bucket = TokenBucket(config.global_rate, now)
        self._recipients: dict[str, TokenBucket] = {}
        self.paused_until = -math.inf

    @property
    def horizon(self) -> float:
        """Seconds back `resume` reads the sends: a minute, or the longest an empty bucket takes
        to fill if longer (older sends no longer matter; more of them only make it exact)."""
        rates = (self.config.global_rate, self.config.per_recipient)
        return max(RESUME_WINDOW, *(rate.burst * 60.0 / rate.per_minute for rate in rates))

    @property
    def resume_limit(self) -> int:
        """The most sends `resume` reads: as many as the global bucket allows in `horizon`. Only
        a looser rate before could have sent more, and the newest this many empty it anyway."""
        rate = self.config.global_rate
        return math.ceil(rate.burst + rate.per_minute * self.horizon / 60.0)

    def resume(
        self, sent: Mapping[str, Sequence[float]], now: float, *, wall_now: float | None = None
    ) -> None:
        """Start the buckets as the sends recorded in the last `horizon` left them (`sent`: each
        phone's send times), not full: a restart would otherwise allow a burst more to everyone.

        `wall_now`: the wall clock at `now`, when `sent` holds wall times (the store's) and `now`
        is on another clock (the monotonic one): each send is put `wall_now - at` before `now`.
        Each bucket starts full at `now - horizon` (however empty it was then, it would be full
        by now without sends), then spends a token per send since; one recorded after `now` (a
        clock that went backwards) counts at `now`. With nothing sent, it is a fresh Pacer."""
        start = now - self.horizon
        shift = 0.0 if wall_now is None else now - wall_now
        times = {phone: sorted(min(at + shift, now) for at in ats) for phone, ats in sent.items()}
        self.global_bucket = TokenBucket(self.config.global_rate, start)
        self.global_bucket.replay(sorted(at for ats in times.values() for at in ats))
        self._recipients.clear()
        for phone, ats in times.items():
            bucket = TokenBucket(self.config.per_recipient, start)
            bucket.replay(ats)
            if not bucket.is_full(now):
                self._recipients[phone] = bucket

    def pause(self, until: float) -> None:
        """Hold every send until `until` (a later pause extends it, an earlier one does not)."""
        self.paused_until = max(self.paused_until, until)

    def recipient_wait(self, phone: str, now: float) -> float:
        """Seconds until this phone's own bucket has a token."""
        bucket = self._recipients.get(phone)
        return 0.0 if bucket is None else bucket.time_until_available(now)

    def global_wait(self, now: float) -> float:
        """Seconds until the global scope lets a send go: its bucket, and any pause."""
        return max(self.global_bucket.time_until_available(now), self.paused_until - now, 0.0)

    def global_tokens(self, now: float) -> int:
        """Whole sends the global scope allows now (none while paused)."""
        return 0 if now < self.paused_until else math.floor(self.global_bucket.tokens(now))

    def check(self, phone: str, now: float) -> PacingDecision:
        """Whether one send to `phone` may go now, and if not, how long and which bucket."""
        recipient = self.recipient_wait(phone, now)
        overall = self.global_wait(now)
        if recipient <= 0 and overall <= 0:
            return PacingDecision(0.0, None)
        if recipient >= overall:
            return PacingDecision(recipient, "recipient")
        paused = self.paused_until - now >= self.global_bucket.time_until_available(now)
        return PacingDecision(overall, "retry_after" if paused else "global")

    def take(self, phone: str, now: float) -> None:
        """Spend one token of each bucket for a send to `phone`."""
        self.global_bucket.take(now)
        bucket = self._recipients.get(phone)
        if bucket is None:
            bucket = self._recipients[phone] = TokenBucket(self.config.per_recipient, now)
        bucket.take(now)

    def paced_recipients(self, now: float) -> list[str]:
        """Phones whose own bucket is empty at `now`."""
        return [
            phone
            for phone, bucket in self._recipients.items()
            if bucket.time_until_available(now) > 0
        ]

    def forget_idle(self, now: float) -> int:
        """Drop the buckets of phones that are full again (a fresh bucket is identical)."""
        idle = [phone for phone, bucket in self._recipients.items() if bucket.is_full(now)]
        for phone in idle:
            del self._recipients[phone]
        return len(idle)

    @property
    def tracked_recipients(self) -> int:
        return len(self._recipients)
