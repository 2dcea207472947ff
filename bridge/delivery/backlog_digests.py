"""Digests of paced backlogs: the pending backlog of a phone whose bucket is empty is merged
into one digest before more of it is claimed and sent one by one.

What a digest says is `bridge.delivery.digest`; the store merges it atomically (`merge_into`).
"""

from __future__ import annotations

import math

import structlog

from bridge.delivery.digest import build_digest
from bridge.delivery.pacing import Pacer
from bridge.ids import new_id
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.delivery")


class BacklogDigester:
    """Looks at paced phones' backlogs, at most once per `interval` each, and digests them."""

    def __init__(self, store: Store, metrics: Metrics, pacer: Pacer, *, interval: float) -> None:
        self.store = store
        self.metrics = metrics
        self.pacer = pacer
        self.interval = interval
        # Paced phones -> when their backlog was last read. A storm wakes the worker once per
        # webhook; reading (and re-merging) a growing backlog each time would cost O(backlog²).
        self._checked: dict[str, float] = {}

    @property
    def watched(self) -> list[str]:
        """The paced phones whose backlog waits in the outbox for their bucket to refill."""
        return list(self._checked)

    async def digest_due(self, now: float) -> None:
        """Merge the pending backlog of every phone whose bucket is empty into one digest,
        before more of it is claimed and sent one by one."""
        paced = self.pacer.paced_recipients(now)
        checked = self._checked
        due = [p for p in paced if now - checked.get(p, -math.inf) >= self.interval]
        # A phone whose bucket has just refilled gets a last look before claim_due can take
        # its backlog one by one; a paced one at most one look per digest_interval.
        due += [p for p in checked if p not in paced]
        looked = set(due)
        self._checked = {p: now if p in looked else checked[p] for p in paced}
        for phone in due:
            # Only never-tried ones: a retried send may already have reached WhatsApp, and a
            # digest (a new message with a new Idempotency-Key) would then repeat it.
            backlog = [n for n in await self.store.pending_for(phone) if n.attempts == 0]
            if len(backlog) >= self.pacer.config.digest_after:
                await self._merge(backlog, now)

    async def _merge(self, backlog: list[Notification], now: float) -> None:
        digest = build_digest(backlog, digest_id=new_id(), now=now)
        merged = await self.store.merge_into([n.id for n in backlog], digest)
        if not merged:
            return
        self.metrics.digests.inc()
        self.metrics.digest_merged.inc(merged)
        self.metrics.notifications.labels(digest.route, "queued").inc()
        log.info(
            "notification.digest",
            notification=digest.id,
            recipient=digest.recipient,
            route=digest.route,
            merged=merged,
            merged_ids=[n.id for n in backlog],
        )
