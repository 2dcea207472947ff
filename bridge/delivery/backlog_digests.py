"""Digests of paced backlogs: the pending backlog of a phone whose bucket is empty is merged
into one digest before more of it is claimed and sent one by one. A digest still waiting for the
bucket takes in what comes after it, so a storm is one message per token, each listing the
updates it carries as one digest over all of them would.

What a digest says is `bridge.delivery.digest`; the store merges it atomically (`merge_into`).
`now` is the worker's monotonic clock (pacing, when a backlog was last read); `wall` the wall
clock, for the due and creation times the store keeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from bridge.delivery.digest import DIGEST_SOURCE, DigestContent
from bridge.delivery.pacing import Pacer
from bridge.ids import new_id
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.render.whatsapp import WHATSAPP_MAX_LENGTH
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.delivery")


@dataclass(slots=True)
class WaitingDigest:
    """A digest merged here and not claimed yet, with what it says: taking in more does not
    read again what it carries."""

    id: str
    content: DigestContent


class BacklogDigester:
    """Looks at paced phones' backlogs, at most once per `interval` each, and digests them."""

    def __init__(
        self,
        store: Store,
        metrics: Metrics,
        pacer: Pacer,
        *,
        interval: float,
        max_length: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.pacer = pacer
        self.interval = interval
        # templates.max_length, read at each merge: a reload changes it for digests too.
        self.max_length = max_length or (lambda: WHATSAPP_MAX_LENGTH)
        # Paced phones -> when their backlog was last read. A storm wakes the worker once per
        # webhook; reading (and re-merging) a growing backlog each time would cost O(backlog²).
        self._checked: dict[str, float] = {}
        # Paced phones -> the digest merged for them, while it may still wait in the outbox.
        self._waiting: dict[str, WaitingDigest] = {}
        # Paced phones whose backlog was counted as held back by their bucket, until it refills.
        self._held: set[str] = set()

    @property
    def watched(self) -> list[str]:
        """The paced phones whose backlog waits in the outbox for their bucket to refill."""
        return list(self._checked)

    async def digest_due(self, now: float, wall: float) -> None:
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
            pending = await self.store.pending_for(phone)
            self._count_held(phone, pending, wall)
            # Only never-tried ones: a retried send may already have reached WhatsApp, and a
            # digest (a new message with a new Idempotency-Key) would then repeat it.
            await self._digest(phone, [n for n in pending if n.never_tried], wall)
        # A phone no longer paced has its digest claimed next; should it still wait at a later
        # look, what it carries is read from the store.
        self._waiting = {p: w for p, w in self._waiting.items() if p in self._checked}
        self._held.intersection_update(self._checked)

    def _count_held(self, phone: str, pending: list[Notification], wall: float) -> None:
        """Count one recipient wait per bucket refill that a backlog waited for (not for
        each waiting notification: a storm's backlog would count thousands)."""
        if phone not in self._held and any(n.next_attempt_at <= wall for n in pending):
            self._held.add(phone)
            self.metrics.rate_limit_waits.labels("recipient").inc()

    async def _digest(self, phone: str, backlog: list[Notification], wall: float) -> None:
        """Fold the backlog into the digest waiting for the phone, or into a new digest once
        it is `digest_after` long."""
        waiting = [n for n in backlog if n.source == DIGEST_SOURCE]
        updates = [n for n in backlog if n.source != DIGEST_SOURCE]
        if waiting:
            if updates:
                # The oldest waiting digest goes first: it takes in the rest. Any other one
                # (left by an older release) goes out as it is.
                digest = await self._waiting_digest(phone, waiting[0])
                digest.content.fold(updates)
                await self._merge(phone, digest, updates, wall, new=False)
            return
        if len(updates) >= self.pacer.config.digest_after:
            digest = WaitingDigest(new_id(), DigestContent.of(updates))
            await self._merge(phone, digest, updates, wall, new=True)

    async def _waiting_digest(self, phone: str, digest: Notification) -> WaitingDigest:
        """The waiting digest with what it says: kept from its merge, else (after a restart)
        read again from what it carries."""
        known = self._waiting.get(phone)
        if known is not None and known.id == digest.id:
            return known
        return WaitingDigest(digest.id, DigestContent.of(await self._carried(phone, digest)))

    async def _carried(self, phone: str, digest: Notification) -> list[Notification]:
        """The updates a digest carries. An older release merged digests into digests: such a
        digest stands for what it carries in turn; one whose updates were purged, for itself."""
        carried: list[Notification] = []
        digests = [digest]
        while digests:
            current = digests.pop()
            parts = await self.store.carried_by(phone, current.id)
            if not parts:
                carried.append(current)
            for part in parts:
                (digests if part.source == DIGEST_SOURCE else carried).append(part)
        return carried

    async def _merge(
        self,
        phone: str,
        digest: WaitingDigest,
        updates: list[Notification],
        wall: float,
        *,
        new: bool,
    ) -> None:
        """Merge `updates` into the digest, which says them already: a new one is enqueued, a
        waiting one takes them in. It ends with the newest update's link, and is capped as
        every message is (templates.max_length)."""
        content = digest.content
        notification = content.notification(
            digest_id=digest.id, now=wall, max_length=self.max_length(), link=content.link
        )
        merged = await self.store.merge_into([n.id for n in updates], notification)
        # Not merged (claimed meanwhile), or only in part: what it says is read again next time.
        self._waiting.pop(phone, None)
        if not merged:
            return
        if merged == len(updates):
            self._waiting[phone] = digest
        if new:
            self.metrics.digests.inc()
            self.metrics.notifications.labels(notification.route, "queued").inc()
        self.metrics.digest_merged.inc(merged)
        log.info(
            "notification.digest" if new else "notification.digest_grown",
            notification=digest.id,
            recipient=notification.recipient,
            route=notification.route,
            merged=merged,
            merged_ids=[n.id for n in updates],
            updates=digest.content.updates,
        )
