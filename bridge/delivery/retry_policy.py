"""What becomes of a send Blueticks did not take: retried when, dead-lettered why, held for a 429.

Decisions only, on (the failure, the attempt, the config); the outbox worker applies them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config.schema import BluetickConfig
from bridge.errors import PermanentDeliveryError, TransientDeliveryError

Jitter = Callable[[float, float], float]
# 2**62 seconds is beyond any cap; keeps the float arithmetic finite for absurd attempt counts.
_MAX_EXPONENT = 62


def backoff_delay(
    attempt: int, *, initial: float, cap: float, jitter: Jitter = random.uniform
) -> float:
    """Exponential backoff with jitter and a cap.

    Uniform in [c/2, c] with c = min(cap, initial * 2^(attempt-1)): the jitter spreads a crowd
    of retries out, and the floor at half makes max_attempts a known retry window (attempts
    2..N wait at least half of c each), so an outage that long does not dead-letter the alert.
    """
    exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
    ceiling = min(cap, initial * 2.0**exponent)
    return jitter(ceiling / 2, ceiling)


def in_progress_conflict(
    exc: PermanentDeliveryError, *, previous_outcome_unknown: bool
) -> TransientDeliveryError | None:
    """The transient failure a 409 stands for after an attempt that got no answer, else None.

    Same key, same body: the earlier request may still be in progress at Blueticks. A later
    retry gets its 200 replay."""
    if exc.status != 409 or not previous_outcome_unknown:
        return None
    return TransientDeliveryError(
        f"{exc}; the previous attempt got no answer and may still be in progress at Blueticks",
        status=409,
        request_id=exc.request_id,
        outcome_unknown=True,
    )


@dataclass(frozen=True)
class Retry:
    """Send again `delay` seconds from now."""

    delay: float


@dataclass(frozen=True)
class DeadLetter:
    """Give up on the notification, for `reason`."""

    reason: str


@dataclass(frozen=True)
class RateLimitHold:
    """Keep the refused notification at the head of its lane for `delay` seconds; `pause`
    (seconds, from a Retry-After) pauses every lane, since the limit is the account's."""

    delay: float
    pause: float | None


class RetryPolicy:
    """The retry decisions for one Blueticks configuration."""

    def __init__(self, config: BluetickConfig) -> None:
        self.config = config

    def backoff(self, attempt: int) -> float:
        return backoff_delay(
            attempt, initial=self.config.backoff_initial, cap=self.config.backoff_max
        )

    def after_transient(self, exc: TransientDeliveryError, attempt: int) -> Retry | DeadLetter:
        """Retry a transient failure with backoff, unless it may have been sent without
        idempotency or the attempts are used up."""
        if exc.outcome_unknown and not self._can_retry_unknown():
            return DeadLetter(
                f"{exc}; the outcome is unknown and the legacy Blueticks API has no "
                "idempotency, so it is not retried (set blueticks.retry_unknown_outcome "
                "to retry, or `alertbridge outbox retry`)"
            )
        if attempt >= self.config.max_attempts:
            return DeadLetter(f"{exc} (after {attempt} attempts)")
        delay = self.backoff(attempt)
        if exc.retry_after is not None:  # a 503 may say when to come back, too
            delay = max(delay, min(exc.retry_after, self.config.backoff_max))
        return Retry(delay)

    def after_cut_off(self) -> DeadLetter | None:
        """A send cancelled at shutdown (the --grace deadline) while waiting for Blueticks'
        answer may have gone out. None: it goes back to pending, to be sent on the next start
        (v1's Idempotency-Key makes that safe, or the config accepts a duplicate)."""
        if self._can_retry_unknown():
            return None
        return DeadLetter(
            "cut off at shutdown while waiting for Blueticks' answer: the outcome is unknown "
            "and the legacy Blueticks API has no idempotency, so it is not sent again on the "
            "next start (`alertbridge outbox retry` sends it again; "
            "blueticks.retry_unknown_outcome: true requeues such sends)"
        )

    def after_rate_limit(self, exc: TransientDeliveryError, refusals: int) -> RateLimitHold:
        """Blueticks refused to take the message now (429): not a failure of the message, so
        no attempt is counted and it never reaches max_attempts. It waits, still claimed, at
        the head of its lane; a Retry-After (capped at backoff_max) pauses every lane."""
        delay = self.backoff(refusals)
        if exc.retry_after is None:
            return RateLimitHold(delay, pause=None)
        pause = min(exc.retry_after, self.config.backoff_max)
        return RateLimitHold(max(delay, pause), pause=pause)

    def _can_retry_unknown(self) -> bool:
        return self.config.api == "v1" or self.config.retry_unknown_outcome
