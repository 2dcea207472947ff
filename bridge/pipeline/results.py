"""What one ingest produced, per route and recipient: the answer to "why did I (not) get it"."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from bridge.model import Event, Notification
from bridge.pipeline.dedupe import AlertFor, DedupeDecision
from bridge.routing.router import Route


@dataclass(slots=True)
class RoutedEvents:
    """The events of one webhook that one route matched, in the order they arrived."""

    route: Route
    events: list[Event]


def recipient_alerts(routed: Iterable[RoutedEvents]) -> Iterator[AlertFor]:
    """(route, recipient, fingerprint) of every event of these routes, for each recipient: the
    keys of the dedupe histories a stage reads."""
    for r in routed:
        for rcpt in r.route.recipients:
            for event in r.events:
                yield (r.route.name, rcpt.name, event.fingerprint)


@dataclass(slots=True)
class RecipientOutcome:
    """What happened for one (route, recipient): sent, held in a group, or why not sent."""

    route: str
    recipient: str
    phone: str
    events: list[Event]
    suppressed: list[tuple[Event, DedupeDecision]] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    template_error: str | None = None
    # Events held in a group (or a flap or deferred hold) until it flushes.
    grouped: list[Event] = field(default_factory=list)
    group: str | None = None
    flush_at: float | None = None

    @property
    def notification(self) -> Notification | None:
        return self.notifications[0] if self.notifications else None


@dataclass(slots=True)
class IngestResult:
    events: int
    duplicate_delivery: bool = False
    outcomes: list[RecipientOutcome] = field(default_factory=list)
    unrouted: int = 0

    @property
    def notifications(self) -> list[Notification]:
        return [n for o in self.outcomes for n in o.notifications]

    def add_held(self, route: Route, events: Sequence[Event], group: str, flush_at: float) -> None:
        """For each recipient of the route: the events wait in `group` until `flush_at`."""
        for rcpt in route.recipients:
            outcome = RecipientOutcome(route.name, rcpt.name, rcpt.phone, [])
            outcome.grouped, outcome.group, outcome.flush_at = list(events), group, flush_at
            self.outcomes.append(outcome)

    def add_dropped(self, route: Route, dropped: Sequence[tuple[Event, DedupeDecision]]) -> None:
        """For each recipient of the route: the events dropped before dedupe, and why."""
        for rcpt in route.recipients:
            outcome = RecipientOutcome(route.name, rcpt.name, rcpt.phone, [])
            outcome.suppressed = list(dropped)
            self.outcomes.append(outcome)
