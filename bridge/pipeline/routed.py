"""The routing stage of a webhook: its events by the routes they match (unrouted ones logged),
and the group records those routes may touch, which ingest locks."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from bridge.logs import LOGGED_FINGERPRINTS
from bridge.model import Event, Webhook
from bridge.pipeline.deferral import deferred_key, defers
from bridge.pipeline.grouping import flap_key, group_key, record_key
from bridge.pipeline.results import RoutedEvents
from bridge.routing.router import Route, match_routes

log = structlog.get_logger("alertbridge.pipeline")


def route_webhook(
    routes: Sequence[Route],
    webhook: Webhook,
    routes_for: Callable[[Event], list[Route]] | None = None,
) -> tuple[list[RoutedEvents], int]:
    """Group the webhook's events by the routes they match (or `routes_for` gives); also count
    the unrouted ones."""
    by_route: dict[str, RoutedEvents] = {}
    unrouted = 0
    for event in webhook.events:
        matched = routes_for(event) if routes_for else match_routes(routes, event)
        if not matched:
            unrouted += 1
        for route in matched:
            by_route.setdefault(route.name, RoutedEvents(route, [])).events.append(event)
    return list(by_route.values()), unrouted


# Characters of an alert's name or title in a log line.
_LOGGED_TEXT = 200


def log_unrouted(webhook: Webhook, routed: Sequence[RoutedEvents]) -> None:
    """One line per webhook for the events no route took (their fingerprints and names, the
    first LOGGED_FINGERPRINTS), so grepping for an alert finds where it ended; not a line per
    event, which a 100-alert group Alertmanager re-posts would multiply."""
    taken = {id(event) for r in routed for event in r.events}
    left = [event for event in webhook.events if id(event) not in taken]
    shown = left[:LOGGED_FINGERPRINTS]
    log.info(
        "events.unrouted",
        source=webhook.source,
        events=len(left),
        fingerprints=[event.fingerprint for event in shown],
        names=sorted(
            {(event.labels.get("alertname") or event.title)[:_LOGGED_TEXT] for event in shown}
        ),
    )


def lock_keys(routed: Sequence[RoutedEvents]) -> set[str]:
    """The group records an ingest may touch: groups, flap holds and deferred holds."""
    keys: set[str] = set()
    for r in routed:
        name = r.route.name
        if defers(r.route):
            keys.add(record_key(name, deferred_key(name)))
        for event in r.events:
            grouped = r.route.grouped
            key = group_key(r.route, event) if grouped else flap_key(name, event.fingerprint)
            keys.add(record_key(name, key))
    return keys
