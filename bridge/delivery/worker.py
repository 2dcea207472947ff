"""The outbox worker: claims due notifications, paces them, sends them, records what happened.

Each recipient phone is a lane (`PhoneLanes`): one send in flight per phone, in order, at its own
pace. A lane whose bucket is empty has its pending backlog merged into one digest before more of
it is claimed. A message Blueticks refuses with 429 waits at the head of its lane (not a failed
attempt: it was not taken), and a Retry-After pauses every lane, since the limit is the
account's. While the WhatsApp session is down (`SessionMonitor.holds_sends`) nothing is claimed
or sent: the backlog waits, pending, and goes (digested where it is long) once the session is
back; a send Blueticks refuses for want of a session waits at the head of its lane the same way,
no attempt counted. How each attempt ended is recorded by `AttemptOutcomes`.

Waits in this process (buckets, holds, pauses, wakes) run on `monotonic`, so a wall clock stepped
back (NTP, a VM resumed) stops nothing; `clock` (wall) gives the times the store keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Collection

import structlog

from bridge.config.schema import BluetickConfig, PacingConfig
from bridge.delivery.attempt_outcomes import AttemptOutcomes
from bridge.delivery.backlog_digests import BacklogDigester
from bridge.delivery.blueticks_http import SessionDownError
from bridge.delivery.lanes import PhoneLanes
from bridge.delivery.outcome_writes import PendingOutcomeWrites
from bridge.delivery.pacing import Pacer
from bridge.delivery.retry_policy import DeadLetter, RetryPolicy, in_progress_conflict
from bridge.delivery.sender import NO_API_KEY, ApiKeyStatus, Sender
from bridge.delivery.session import SessionMonitor, SessionState
from bridge.errors import PermanentDeliveryError, StoreUnavailable, TransientDeliveryError
from bridge.metrics import Metrics
from bridge.model import Notification
from bridge.store.base import Store

log = structlog.get_logger("alertbridge.delivery")

Clock = Callable[[], float]
# Sends of one notification refused "for want of a session" while pings said the session was
# connected, that wait without counting as attempts; past them, a refusal counts as an attempt,
# so a 400/422 the session never explains ends as a dead letter, not a wait forever. Refusals
# no ping contradicts (a real outage, or the legacy API, which cannot ping) always wait.
MAX_SESSION_REFUSALS = 20


class OutboxWorker:
    """Sends what the outbox holds, paced and with retries; owned and stopped by the app."""

    def __init__(
        self,
        store: Store,
        sender: Sender,
        metrics: Metrics,
        config: BluetickConfig,
        pacing: PacingConfig | None = None,
        *,
        concurrency: int = 4,
        batch: int = 32,
        idle_poll: float = 1.0,
        depth_interval: float = 1.0,
        digest_interval: float = 1.0,
        max_held: int = 1000,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        key_status: ApiKeyStatus | None = None,
        max_length: Callable[[], int] | None = None,
        session: SessionMonitor | None = None,
    ) -> None:
        self.store = store
        self.sender = sender
        self.metrics = metrics
        self.config = config
        self.retry_policy = RetryPolicy(config)
        self.pacing = pacing or PacingConfig()
        self.concurrency = concurrency
        self.idle_poll = idle_poll
        self.depth_interval = depth_interval
        self.clock = clock
        self.monotonic = monotonic
        self.pacer = Pacer(self.pacing, monotonic())
        self._lanes = PhoneLanes(store, metrics, self.pacer, batch=batch, max_held=max_held)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._depth_refreshed = -math.inf
        self._digests = BacklogDigester(
            store, metrics, self.pacer, interval=digest_interval, max_length=max_length
        )
        # The earliest retry this worker scheduled (monotonic): wake for it, not at a poll.
        self._retry_due = math.inf
        # Refused after a 401/403 (every later message would fail the same way), until a send
        # (or, for a 401, a ping) goes through.
        self.key_status = key_status or ApiKeyStatus(metrics)
        # How many 429s each notification held at the head of its lane got in a row (backoff).
        self._rate_limited: dict[str, int] = {}
        # Notification id -> sends refused for want of a WhatsApp session (not attempts).
        self._session_refusals: dict[str, int] = {}
        # Notifications whose last attempt's outcome is unknown (no answer): a 409 then means
        # that attempt may still be in progress at Blueticks, not a different body.
        self._outcome_unknown: set[str] = set()
        # Sends cancelled by stop() while waiting for Blueticks' answer: they may have gone out.
        self._cut_off: list[Notification] = []
        # Whether the next round runs the claim query: not when only excluded phones woke it.
        self._claim_wanted = True
        # Outcomes the store refused to record (it was unavailable): tried again every
        # idle_poll, so a sent message is not sent again once the store is back.
        self._unrecorded = PendingOutcomeWrites(monotonic, idle_poll)
        self._outcomes = AttemptOutcomes(store, metrics, self._unrecorded, clock)
        # The WhatsApp session (the app's monitor, pinged and told of session events; else one
        # of its own, told only by refused sends): while it is down, nothing is sent.
        self.session = session or SessionMonitor(metrics, 0.0, clock=clock, monotonic=monotonic)
        self.session.on_change(self._session_changed)

    def wake(self, phones: Collection[str] | None = None) -> None:
        """Tell the worker new notifications are due now, for `phones` (None: any phone).

        A storm wakes the worker once per webhook. When every phone named can get nothing more
        claimed anyway (a send in flight, one already waiting, or an empty bucket), a round
        would only scan the backlog again: the worker is left asleep. What frees such a phone
        wakes it anyway: the send finishing, or the bucket refilling (`_next_wake`)."""
        if phones is not None:
            now = self.monotonic()
            if all(self._lanes.excluded(phone, now) for phone in phones):
                return
        self._claim_wanted = True
        self._wakeup.set()

    def _session_changed(self, state: SessionState) -> None:
        if state != "disconnected":
            self._claim_wanted = True
            self._wakeup.set()

    @property
    def held(self) -> int:
        return self._lanes.held

    async def start(self) -> None:
        requeued = await self.store.requeue_inflight()
        if requeued:
            log.info("outbox.requeued", count=requeued)
        await self._resume_pacing()
        self._task = asyncio.create_task(self._run(), name="outbox-worker")

    async def _resume_pacing(self) -> None:
        """Start the buckets from the sends recorded lately, not full: else every restart (a pod
        in a crash loop) would allow each phone a burst more, the flood pacing is there to stop."""
        now, wall = self.monotonic(), self.clock()
        sent = await self.store.sent_since(wall - self.pacer.horizon, self.pacer.resume_limit)
        self.pacer.resume(sent, now, wall_now=wall)
        if sent:
            log.info(
                "outbox.pacing_resumed",
                recent_sends=sum(len(times) for times in sent.values()),
                paced_recipients=len(self.pacer.paced_recipients(now)),
                global_tokens=self.pacer.global_tokens(now),
            )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let in-flight sends finish within `grace`; the rest stays pending.

        A send cancelled at the deadline while waiting for Blueticks' answer may have gone out
        (`RetryPolicy.after_cut_off`): with the v1 API (its Idempotency-Key makes a resend
        safe) or retry_unknown_outcome it goes back to pending, to be sent on the next start;
        with the legacy API it becomes a dead letter, so the next start cannot send it twice.
        """
        if self._stopping:
            return  # already stopped (or stopping): the app may stop the bridge twice
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        cancelled = 0
        if self._inflight:
            _, unfinished = await asyncio.wait(self._inflight, timeout=max(grace, 0.0))
            for task in unfinished:
                task.cancel()
            if unfinished:
                await asyncio.wait(unfinished)
            cancelled = len(unfinished)
        cut_off = self.retry_policy.after_cut_off()
        if cut_off is not None:
            for n in self._cut_off:
                await self._dead(n, cut_off.reason, None)
        self._cut_off.clear()
        held = self._lanes.let_go()
        self._rate_limited.clear()
        self._session_refusals.clear()
        returned = 0
        if await self._unrecorded.flush_before_stop(self.monotonic()):
            try:
                returned = await self.store.requeue_inflight()
            except StoreUnavailable as exc:  # the next start requeues them: stop all the same
                log.error("outbox.requeue_failed", error=str(exc))
        log.info("outbox.stopped", cancelled_sends=cancelled, held=held, returned=returned)

    # --- scheduling ---
    async def _run(self) -> None:
        while not self._stopping:
            self._wakeup.clear()
            now = self.monotonic()
            if self._retry_due <= now:
                self._retry_due = math.inf
            await self._unrecorded.flush(now)
            self._dispatch(now)
            claimed: list[Notification] = []
            limit = 0
            try:
                await self._digests.digest_due(now, self.clock())
                if self._claim_wanted:
                    self._claim_wanted = False
                    claimed, limit = await self._claim(now)
            except StoreUnavailable as exc:
                log.error("outbox.claim_failed", error=str(exc))
            self._dispatch(self.monotonic())
            await self._refresh_depth_now_and_then()
            if claimed and len(claimed) >= limit:
                self._claim_wanted = True
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._next_wake(self.monotonic()))
            except TimeoutError:
                self._claim_wanted = True  # a retry came due, a bucket refilled, or a poll

    async def _claim(self, now: float) -> tuple[list[Notification], int]:
        """Claim into the lanes what could go soon (`PhoneLanes.claim`), if anything may go."""
        if self.key_status.refused_with == NO_API_KEY:
            return [], 0  # every send would fail: they wait, pending, for a key and a restart
        if self.session.holds_sends():  # asked every round: an unconfirmed disconnect lets go
            return [], 0  # they wait, pending (where digests fold a long backlog)
        free = self.concurrency - len(self._inflight)
        return await self._lanes.claim(now, free, wall=self.clock())

    def _dispatch(self, now: float) -> None:
        """Start a send for every lane whose phone is idle and whose buckets allow it."""
        if self.session.holds_sends():
            return
        for phone in self._lanes.oldest_first():
            if len(self._inflight) >= self.concurrency:
                return
            head = self._lanes.take_ready(phone, now)
            if head is None:
                continue
            task = asyncio.create_task(self._deliver(head), name=f"send-{head.id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        self.pacer.forget_idle(now)

    def _next_wake(self, now: float) -> float:
        """Seconds until a held notification's bucket allows it (idle_poll at most)."""
        waits = [self.idle_poll, self._retry_due - now, self._unrecorded.next_retry_at - now]
        # While the session holds sends nothing goes when a bucket refills (a refilled one would
        # wake the loop every millisecond): it goes when the session is back
        # (`_session_changed`), or at a poll.
        if not self.session.holds_sends():
            if self._lanes.global_blocked:
                waits.append(self.pacer.global_wait(now))
            waits.extend(self._lanes.waits(now))
            # A paced phone's backlog waits in the outbox: claim it once its bucket refills.
            waits.extend(self.pacer.recipient_wait(phone, now) for phone in self._digests.watched)
        return max(0.001, min(waits))

    # --- one send ---
    async def _deliver(self, n: Notification) -> None:
        try:
            await self._attempt(n)
        except StoreUnavailable as exc:
            log.error("outbox.update_failed", notification=n.id, error=str(exc))
        except Exception:
            # A bug must not strand the notification in 'sending' until the next restart.
            log.exception("outbox.send_crashed", notification=n.id)
            with contextlib.suppress(StoreUnavailable):
                await self.store.mark_retry(
                    n.id, error="internal error", next_attempt_at=self.clock() + self.idle_poll
                )
        finally:
            self._lanes.finished(n.phone)
            self._claim_wanted = True  # the phone's next notification can be claimed now
            self._wakeup.set()

    async def _attempt(self, n: Notification) -> None:
        attempt = n.attempts + 1
        try:
            receipt = await self.sender.send(n)
        except asyncio.CancelledError:
            self._cut_off.append(n)  # by stop(), at the grace deadline
            raise
        except PermanentDeliveryError as exc:
            self._outcomes.response(exc.status)
            unknown = n.id in self._outcome_unknown
            in_progress = in_progress_conflict(exc, previous_outcome_unknown=unknown)
            if in_progress is not None:
                self.metrics.send_attempts.labels("transient").inc()
                await self._transient(n, attempt, in_progress)
                return
            self.metrics.send_attempts.labels("permanent").inc()
            if exc.status is not None:
                self.key_status.refused(exc.status)
            await self._dead(n, str(exc), exc.request_id)
            return
        except SessionDownError as exc:
            self._outcomes.response(exc.status)
            self.metrics.send_attempts.labels("transient").inc()
            # Counted only when a ping said the session is up since the last refusal: a long
            # outage (a phone dead overnight) must not dead-letter what waits for it.
            contradicted = self.session.polling and self.session.state == "connected"
            refusals = self._session_refusals.get(n.id, 0) + contradicted
            self._session_refusals[n.id] = refusals
            if refusals <= MAX_SESSION_REFUSALS:
                self._hold_for_session(n, exc)
            else:  # refusals the pings contradict: attempts count, retries end
                await self._transient(n, attempt, exc)
            return
        except TransientDeliveryError as exc:
            self._outcomes.response(exc.status)
            self.metrics.send_attempts.labels("transient").inc()
            if exc.status == 429:
                self._hold_rate_limited(n, exc)
            else:
                await self._transient(n, attempt, exc)
            return
        now = self.clock()
        self._forget(n)
        self.key_status.sent()
        await self._outcomes.sent(n, attempt, receipt, now)

    async def _transient(self, n: Notification, attempt: int, exc: TransientDeliveryError) -> None:
        self._rate_limited.pop(n.id, None)
        if exc.outcome_unknown:
            self._outcome_unknown.add(n.id)
        else:
            self._outcome_unknown.discard(n.id)
        decision = self.retry_policy.after_transient(exc, attempt)
        if isinstance(decision, DeadLetter):
            await self._dead(n, decision.reason, exc.request_id)
            return
        if exc.retry_after is not None:
            self.metrics.rate_limit_waits.labels("retry_after").inc()
        await self._outcomes.retry(n, attempt, exc, decision.delay)
        self._retry_due = min(self._retry_due, self.monotonic() + decision.delay)

    def _hold_rate_limited(self, n: Notification, exc: TransientDeliveryError) -> None:
        """A 429: the notification waits, still claimed and no attempt counted, at the head of
        its lane (`RetryPolicy.after_rate_limit`)."""
        now = self.monotonic()
        refusals = self._rate_limited[n.id] = self._rate_limited.get(n.id, 0) + 1
        hold = self.retry_policy.after_rate_limit(exc, refusals)
        if hold.pause is not None:
            self.metrics.rate_limit_waits.labels("retry_after").inc()
            self.pacer.pause(now + hold.pause)
        self._lanes.put_back(n, until=now + hold.delay)
        self.metrics.notifications.labels(n.route, "retried").inc()
        log.warning(
            "notification.rate_limited",
            notification=n.id,
            route=n.route,
            refusals=refusals,
            delay=round(hold.delay, 3),
            retry_after=exc.retry_after,
            blueticks_request_id=exc.request_id,
        )

    def _hold_for_session(self, n: Notification, exc: SessionDownError) -> None:
        """Refused for want of a WhatsApp session: it waits, still claimed and no attempt
        counted, at the head of its lane, and nothing is sent until the session is back."""
        self.session.observe(False, via="send")
        self._lanes.put_back(n)
        self.metrics.notifications.labels(n.route, "retried").inc()
        log.warning(
            "notification.waiting_for_whatsapp_session",
            notification=n.id,
            route=n.route,
            recipient=n.recipient,
            error=str(exc),
            blueticks_request_id=exc.request_id,
        )

    def _forget(self, n: Notification) -> None:
        """Drop what was kept about a notification whose sending is over."""
        self._rate_limited.pop(n.id, None)
        self._session_refusals.pop(n.id, None)
        self._outcome_unknown.discard(n.id)

    async def _dead(self, n: Notification, reason: str, request_id: str | None) -> None:
        self._forget(n)
        await self._outcomes.dead(n, reason, request_id)

    async def _refresh_depth_now_and_then(self) -> None:
        """The depth gauge is a count query: refreshed about once a second, not per send."""
        started = time.monotonic()
        if started - self._depth_refreshed < self.depth_interval:
            return
        self._depth_refreshed = started
        try:
            counts = await self.store.outbox_counts()
        except StoreUnavailable as exc:
            log.error("outbox.count_failed", error=str(exc))
            return
        for state, count in counts.items():
            self.metrics.outbox_depth.labels(state).set(count)
