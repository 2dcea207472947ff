"""Each part of a split message counts the whole message: part 1 of 3 of a 500-alert storm
says 429 firing and 71 resolved, as the others do, not what that part happens to list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alertmanager_webhooks import am_alert, am_webhook

from bridge.model import Webhook
from bridge.render.renderer import Renderer
from bridge.routing.router import Route
from bridge.sources.alertmanager import parse_alertmanager

COUNTS = "{{ counts.firing }}/{{ counts.resolved }}/{{ counts.total }} more={{ more }}\n"
LISTING = "{% for e in events %}{{ e.labels.instance }}\n{% endfor %}"


def split_route(message: str | None) -> Route:
    return Route(
        "storm", None, (), (), None, message, 0.0, True, False, overflow="split", max_parts=3
    )


def storm(count: int) -> Webhook:
    """`count` alerts, every seventh resolved, with summaries of a realistic length."""
    alerts = [
        am_alert(
            f"api-server-{i:04d}",
            "resolved" if i % 7 == 3 else "firing",
            annotations={"summary": f"pod api-server-{i:04d} is crash looping " + "x" * 60},
        )
        for i in range(count)
    ]
    return parse_alertmanager(am_webhook(*alerts), datetime.now(UTC))


def test_every_part_of_the_default_template_says_the_whole_storms_counts() -> None:
    webhook = storm(500)
    rendered = Renderer(None).render(split_route(None), webhook.events, webhook)
    assert len(rendered.parts) == 3 and rendered.omitted > 0
    headers = [part.splitlines()[:2] for part in rendered.parts]
    assert headers == [[f"({i}/3)", "🔥 *429 firing* · ✅ *71 resolved*"] for i in (1, 2, 3)]
    assert rendered.parts[-1].endswith(
        f"+{rendered.omitted} more ({rendered.omitted - 71} critical, 71 resolved)\nhttp://am:9093"
    )
    assert all(" more (" not in part for part in rendered.parts[:-1])


@pytest.mark.parametrize("count", [25, 500], ids=["all-in-parts", "last-part-a-digest"])
def test_a_custom_template_sees_the_whole_counts_in_every_part(count: int) -> None:
    webhook = storm(count)
    resolved = sum(1 for e in webhook.events if e.status == "resolved")
    renderer = Renderer(None, max_length=200)
    rendered = renderer.render(split_route(COUNTS + LISTING), webhook.events, webhook)
    assert len(rendered.parts) > 1 and not rendered.fell_back
    first_lines = [part.splitlines()[1] for part in rendered.parts]
    whole = f"{count - resolved}/{resolved}/{count}"
    # Only the last part may leave events out: it alone has something "more" to say.
    assert first_lines[:-1] == [f"{whole} more=0"] * (len(rendered.parts) - 1)
    assert first_lines[-1] == f"{whole} more={rendered.omitted}"
