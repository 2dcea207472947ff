"""Whether Blueticks has a WhatsApp session to send through: the one failure that silently stops
every alert (the phone's WhatsApp Web session closed) made visible.

Two inputs, the latest wins: `GET /v1/ping` polled every blueticks.session_check_interval (an
empty `whatsappConnections` means none is connected, blueticks.md §B.8), and the
`session.connected` / `session.disconnected` webhook events. Events come late and out of order
(Blueticks retries a delivery for up to 12 h, §C.2), so one older than what was last applied is
ignored. The legacy API cannot tell, so the state stays "unknown" there unless events arrive.
The output is the alertbridge_whatsapp_session_up gauge, the readiness detail and a loud log
line on disconnect. A ping that succeeds also tells that Blueticks accepts the API key.

While the session is known to be down the outbox worker sends nothing (`holds_sends`): a
message sent then is refused, or kept by Blueticks though nothing is delivered. "Known" means
seen recently: a state no ping or event has confirmed for a while no longer holds sends, so a
lost `session.connected` event or failing pings cannot stop sending for good. How recently is
measured on the monotonic clock, so a wall clock stepped back does not stretch a hold; the wall
clock only orders observations, as events carry Blueticks' wall times.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from typing import Literal

import structlog

from bridge.delivery.sender import ApiKeyStatus, Sender
from bridge.errors import DeliveryError
from bridge.metrics import Metrics

log = structlog.get_logger("alertbridge.session")

SessionState = Literal["connected", "disconnected", "unknown"]
DISCONNECTED_MESSAGE = (
    "Blueticks reports no connected WhatsApp session: notifications are still accepted and "
    "queued, and wait in the outbox until the session is reconnected (open WhatsApp Web with "
    "the Blueticks extension, or reconnect the engine in the Blueticks dashboard)"
)
# A ping's time is this machine's; an event's is Blueticks'. An event this much older than a
# ping happened before the state the ping saw (allowing for clocks that differ by as much);
# retried deliveries come a minute or more late, so they fall well outside it.
CLOCK_MARGIN = 30.0
# A disconnect seen by polling holds sends for this many ping intervals after it was last seen
# (a failing ping does not confirm it); one seen only by an event or a refused send, for
# UNCONFIRMED_HOLD seconds: sends are then tried again, and a refused one says it once more.
POLLED_HOLD_INTERVALS = 3
UNCONFIRMED_HOLD = 60.0

SessionListener = Callable[[SessionState], None]
Clock = Callable[[], float]


class SessionMonitor:
    """Tracks the WhatsApp session; owned by the Bridge, started and stopped with it."""

    def __init__(
        self,
        metrics: Metrics,
        interval: float,
        key_status: ApiKeyStatus | None = None,
        *,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.interval = interval
        self.key_status = key_status
        self.clock = clock
        self.monotonic = monotonic
        self.state: SessionState = "unknown"
        # When (monotonic clock) the state was last observed: how long a disconnect holds.
        self.observed_at: float | None = None
        # The wall time of the newest observation applied: an event older than it is stale.
        self.newest = -math.inf
        # The last failed ping, cleared by the next observation.
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[SessionListener] = []
        self._lapse_logged = False  # the current disconnect no longer holds sends: said once

    def on_change(self, listener: SessionListener) -> None:
        """Call `listener` with the new state whenever it changes (the worker wakes on it)."""
        self._listeners.append(listener)

    def holds_sends(self) -> bool:
        """Whether sends wait: the session is down, and that was seen recently enough to trust."""
        if self.state != "disconnected" or self.observed_at is None:
            return False
        seen_ago = self.monotonic() - self.observed_at
        if seen_ago < self.hold_for:
            return True
        if not self._lapse_logged:
            self._lapse_logged = True
            log.warning(
                "whatsapp.session_unconfirmed",
                seen_ago=round(seen_ago, 1),
                last_error=self.last_error,
                message="the disconnect was not seen again: sending resumes (a send refused "
                "for want of a session stops it again)",
            )
        return False

    @property
    def hold_for(self) -> float:
        """How long after it was last seen a disconnect still holds sends."""
        return POLLED_HOLD_INTERVALS * self.interval if self.polling else UNCONFIRMED_HOLD

    def observe(self, connected: bool, *, via: str, at: float | None = None) -> bool:
        """Record what a ping or a session event said; log loudly on the way down.

        `at`: when the event happened (its created_at); None for a ping, or an event without
        a time, which says how things are now. Returns False for an event older than the
        newest observation, which is ignored."""
        now = self.clock()
        if at is not None and at < self.newest:
            log.info("whatsapp.session_event_stale", via=via, connected=connected, state=self.state)
            return False
        self.newest = max(self.newest, now - CLOCK_MARGIN if at is None else at)
        previous = self.state
        self.state = "connected" if connected else "disconnected"
        self.observed_at = self.monotonic()
        self.last_error = None
        self._lapse_logged = False
        self.metrics.whatsapp_session_up.set(1 if connected else 0)
        if self.state == previous:
            return True
        if connected:
            log.info("whatsapp.session_connected", via=via, previous=previous)
        else:
            log.error("whatsapp.session_disconnected", via=via, message=DISCONNECTED_MESSAGE)
        for listener in self._listeners:
            listener(self.state)
        return True

    async def check(self, sender: Sender) -> bool:
        """Ping once; False when this API cannot tell (legacy, dry run), so polling stops."""
        try:
            connected = await sender.ping()
        except DeliveryError as exc:
            self.last_error = str(exc)
            if self.key_status is not None and exc.status == 401:  # ping needs no scope: no 403
                self.key_status.refused(401)
            log.warning("whatsapp.session_check_failed", error=str(exc), state=self.state)
            return True
        if connected is None:
            return False
        if self.key_status is not None:
            self.key_status.pinged()
        self.observe(connected, via="ping")
        return True

    @property
    def polling(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, sender: Sender) -> None:
        """Poll in the background (first check at once); nothing to do when the interval is 0."""
        if self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._poll(sender), name="whatsapp-session-check")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _poll(self, sender: Sender) -> None:
        while True:
            try:
                can_tell = await self.check(sender)
            except Exception:
                # Keep checking: a bug in one check must not end the only session alarm.
                log.exception("whatsapp.session_check_crashed")
                can_tell = True
            if not can_tell:
                log.info(
                    "whatsapp.session_check_unavailable",
                    sender=sender.name,
                    reason="dry run: nothing is sent, so there is no session to check"
                    if sender.name == "dry-run"
                    else "the legacy Blueticks API has no session endpoint: only session events "
                    "and refused sends show a disconnected session; blueticks.api: v1 polls "
                    "GET /v1/ping",
                )
                return
            await asyncio.sleep(self.interval)

    def describe(self) -> str:
        """The readiness detail: the state, and why it may be stale."""
        if self.last_error:
            return f"{self.state} (last check failed: {self.last_error})"
        return self.state
