"""A template that renders no text is a broken template: the default one sends the alert.

Blank text would be queued, refused by Blueticks (400: text is required) and end as a dead
letter: the alert lost for a template that printed nothing for these events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import StartBridge, am_headers, outbox_state_count, wait_until

from bridge.model import Webhook
from bridge.render.renderer import Renderer
from bridge.routing.router import Route
from bridge.sources.alertmanager import parse_alertmanager

FIRING_ONLY = "{% for e in firing %}🔥 {{ e.title }}\n{% endfor %}"


def route(message: str | None, overflow: str = "digest") -> Route:
    return Route(
        "team-route",
        None,
        (),
        (),
        None,
        message,
        0.0,
        True,
        False,
        overflow=overflow,  # type: ignore[arg-type]
        max_parts=3,
    )


def resolved_webhook(count: int) -> Webhook:
    alerts = [am_alert(f"db-{i}", "resolved") for i in range(count)]
    return parse_alertmanager(am_webhook(*alerts), datetime.now(UTC))


@pytest.mark.parametrize(
    ("message", "overflow", "count"),
    [
        (FIRING_ONLY, "digest", 1),
        ("   \n  ", "digest", 1),
        ("{% if false %}x{% endif %}\n\n", "digest", 3),
        (FIRING_ONLY, "split", 400),
    ],
    ids=["loop-over-nothing", "whitespace-only", "blank-condition", "split-parts"],
)
def test_blank_text_falls_back_to_the_default_template(
    message: str, overflow: str, count: int
) -> None:
    webhook = resolved_webhook(count)
    renderer = Renderer(None)
    default = renderer.render(route(None, overflow), webhook.events, webhook)
    rendered = renderer.render(route(message, overflow), webhook.events, webhook)
    assert rendered.fell_back and not default.fell_back
    assert rendered.error is not None and "no text" in rendered.error
    assert rendered.parts == default.parts
    assert all(part.strip() for part in rendered.parts)
    assert "✅ *RESOLVED*" in rendered.text and "db-0" in rendered.text


def test_a_template_that_says_something_for_the_events_is_used() -> None:
    webhook = resolved_webhook(1)
    message = FIRING_ONLY + "{{ resolved | length }} resolved"
    rendered = Renderer(None).render(route(message), webhook.events, webhook)
    assert (rendered.text, rendered.fell_back) == ("1 resolved", False)


RESOLVED_TO_A_FIRING_ONLY_TEMPLATE = """\
routes:
  - name: firing-only
    source: alertmanager
    to: [alice]
    message: "{% for e in firing %}🔥 {{ e.title }}{% endfor %}"
"""


async def test_a_resolved_webhook_to_a_firing_only_template_is_delivered(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(RESOLVED_TO_A_FIRING_ONLY_TEMPLATE, api="v1")
    body = am_webhook(am_alert("db-1", "resolved"))
    reply = await h.post("/webhook/alertmanager", body, am_headers())
    assert reply.status == 202, reply.body

    async def sent() -> bool:
        return await outbox_state_count(h, "sent") == 1

    await wait_until(sent, 5.0, "the resolved alert sent")
    assert await outbox_state_count(h, "dead") == 0
    [text] = h.texts()
    assert text.startswith("✅ *RESOLVED* · CRITICAL\n*Disk*\ndisk full on db-1\n")
    failures = h.bridge.metrics.registry.get_sample_value(
        "alertbridge_template_failures_total", {"route": "firing-only"}
    )
    assert failures == 1
