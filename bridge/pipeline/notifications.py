"""From events to outbox rows: render one recipient's events and wrap the text in Notifications.

Shared by ingest (routes that send at once) and the group flusher (groups and holds).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import structlog

from bridge.ids import new_id
from bridge.metrics import Metrics
from bridge.model import Event, Notification, Recipient, Webhook
from bridge.render.renderer import RenderedMessage, Renderer, order_events
from bridge.routing.router import Route

log = structlog.get_logger("alertbridge.pipeline")

# (ids of the events, flap counts) -> their message; valid while those events are alive.
RenderMemo = dict[tuple[tuple[int, ...], tuple[tuple[str, int], ...]], RenderedMessage]


def build_notifications(
    renderer: Renderer,
    metrics: Metrics,
    route: Route,
    recipient: Recipient,
    events: Sequence[Event],
    webhook: Webhook,
    now: float,
    *,
    flaps: Mapping[str, int] | None = None,
    ids: Callable[[int], str] | None = None,
    rendered: RenderMemo | None = None,
) -> tuple[list[Notification], str | None]:
    """The message(s) for one recipient's events: one, or numbered parts when the route splits.

    `ids(part)` makes the ids deterministic (group flushes); returns (notifications, template
    error or None). A template error is counted and logged here: the default template was used.
    `rendered`, shared by the recipients of one route, renders each set of events once: a
    group of five on-call people gets the same text, not five renders of it."""
    memo_key = (tuple(map(id, events)), tuple(sorted((flaps or {}).items())))
    message = rendered.get(memo_key) if rendered is not None else None
    fresh = message is None
    if message is None:
        message = renderer.render(route, events, webhook, flaps=flaps)
        if rendered is not None:
            rendered[memo_key] = message
    image = next((e.image_url for e in events if e.image_url), None)
    # In the renderer's order, so a digest that cuts the message knows which alerts it cut.
    briefs = [
        (e.fingerprint, e.severity, e.labels.get("alertname") or e.title)
        for e in order_events(events)
    ]
    notifications = [
        Notification(
            id=ids(part) if ids is not None else new_id(),
            route=route.name,
            recipient=recipient.name,
            phone=recipient.phone,
            text=text,
            created_at=now,
            image_url=image if part == 0 else None,
            source=webhook.source,
            next_attempt_at=now,
            event_keys=[(e.fingerprint, e.status) for e in events],
            event_briefs=briefs,
        )
        for part, text in enumerate(message.parts)
    ]
    error = message.error if message.fell_back else None
    if error is not None and fresh:
        metrics.template_failures.labels(route.name).inc()
        log.warning("template.failed", route=route.name, error=error)
    return notifications, error
