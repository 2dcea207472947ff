"""The outbox worker: claims due notifications, sends them, and records what happened."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import structlog

from bridge.config.schema import BluetickConfig
from bridge.delivery.sender import Sender
from bridge.errors import PermanentDeliveryError, StoreUnavailable, TransientDeliveryError
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.delivery")


def backoff_delay(attempt: int, *, initial: float, cap: float) -> float:
    """Exponential backoff with full jitter: uniform in [initial/2, min(cap, initial*2^attempt)]."""
    ceiling = min(cap, initial * (2 ** max(attempt - 1, 0)))
    return random.uniform(min(initial / 2, ceiling), ceiling)


class OutboxWorker:
    """Sends what the outbox holds, with retries; owned and stopped by the app."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        metrics: Metrics,
        config: BluetickConfig,
        *,
        concurrency: int = 4,
        batch: int = 32,
        idle_poll: float = 1.0,
    ) -> None:
        self.store = store
        self.sender = sender
        self.metrics = metrics
        self.config = config
        self.concurrency = concurrency
        self.batch = batch
        self.idle_poll = idle_poll
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = False
        # False after a 401: every later message would fail the same way.
        self.api_key_accepted = True

    def wake(self) -> None:
        """Tell the worker new notifications are due now."""
        self._wakeup.set()

    async def start(self) -> None:
        requeued = await self.store.requeue_inflight()
        if requeued:
            log.info("outbox.requeued", count=requeued)
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let in-flight sends finish within `grace`; the rest stays queued."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight:
            _, pending = await asyncio.wait(self._inflight, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)

    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            try:
                claimed = await self.store.claim_due(time.time(), self._free_slots())
            except StoreUnavailable as exc:
                log.error("outbox.claim_failed", error=str(exc))
                claimed = []
            for notification in claimed:
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver(notification))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
            if len(claimed) >= self.batch:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self.idle_poll)

    def _free_slots(self) -> int:
        return max(1, min(self.batch, self.concurrency * 2 - len(self._inflight)))

    async def _deliver(self, n: Notification) -> None:
        try:
            await self._attempt(n)
        except StoreUnavailable as exc:
            log.error("outbox.update_failed", notification=n.id, error=str(exc))
        finally:
            self._slots.release()
            await self._refresh_depth()

    async def _attempt(self, n: Notification) -> None:
        attempt = n.attempts + 1
        try:
            receipt = await self.sender.send(n)
        except PermanentDeliveryError as exc:
            self._count_response(exc.status)
            self.metrics.send_attempts.labels("permanent").inc()
            if exc.status == 401:
                self._key_rejected()
            await self._dead(n, str(exc), exc.request_id)
            return
        except TransientDeliveryError as exc:
            self._count_response(exc.status)
            self.metrics.send_attempts.labels("transient").inc()
            if exc.outcome_unknown and not self._can_retry_unknown():
                reason = (
                    f"{exc}; the outcome is unknown and the legacy Blueticks API has no "
                    "idempotency, so it is not retried (set blueticks.retry_unknown_outcome "
                    "to retry, or `alertbridge outbox retry`)"
                )
                await self._dead(n, reason, exc.request_id)
                return
            if attempt >= self.config.max_attempts:
                await self._dead(n, f"{exc} (after {attempt} attempts)", exc.request_id)
                return
            delay = backoff_delay(
                attempt, initial=self.config.backoff_initial, cap=self.config.backoff_max
            )
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, self.config.backoff_max))
            await self.store.mark_retry(n.id, error=str(exc), next_attempt_at=time.time() + delay)
            self.metrics.notifications.labels(n.route, "retried").inc()
            log.warning(
                "notification.retry",
                notification=n.id,
                route=n.route,
                attempt=attempt,
                delay=round(delay, 3),
                error=str(exc),
                blueticks_request_id=exc.request_id,
            )
            return
        now = time.time()
        self._count_response(receipt.http_status)
        self.metrics.send_attempts.labels("sent").inc()
        self.metrics.notifications.labels(n.route, "sent").inc()
        self.metrics.delivery_latency.observe(max(0.0, now - n.created_at))
        if not self.api_key_accepted:
            self.api_key_accepted = True
            self.metrics.sender_ready.set(1)
        await self.store.mark_sent(
            n.id, now=now, provider_id=receipt.provider_id, provider_status=receipt.status
        )
        log.info(
            "notification.sent",
            notification=n.id,
            route=n.route,
            recipient=n.recipient,
            attempt=attempt,
            provider_id=receipt.provider_id,
            blueticks_request_id=receipt.request_id,
        )

    def _can_retry_unknown(self) -> bool:
        return self.config.api == "v1" or self.config.retry_unknown_outcome

    def _key_rejected(self) -> None:
        self.api_key_accepted = False
        self.metrics.sender_ready.set(0)
        log.critical(
            "blueticks.api_key_rejected",
            message="Blueticks answered 401: the API key is wrong or revoked; every "
            "notification will fail until blueticks.api_key is fixed",
        )

    async def _dead(self, n: Notification, reason: str, request_id: str | None) -> None:
        await self.store.mark_dead(n.id, error=reason, now=time.time())
        self.metrics.notifications.labels(n.route, "dead").inc()
        log.error(
            "notification.dead",
            notification=n.id,
            route=n.route,
            recipient=n.recipient,
            reason=reason,
            blueticks_request_id=request_id,
        )

    def _count_response(self, status: int | None) -> None:
        self.metrics.blueticks_responses.labels(str(status) if status else "error").inc()

    async def _refresh_depth(self) -> None:
        counts = await self.store.outbox_counts()
        for state in ("pending", "sending", "sent", "failed", "dead"):
            self.metrics.outbox_depth.labels(state).set(counts.get(state, 0))  # type: ignore[call-overload]
