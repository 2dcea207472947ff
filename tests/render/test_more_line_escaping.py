"""The "+N more" line says the severities of what it leaves out escaped, like every other value:
a severity with WhatsApp markers neither formats the line nor makes it appear twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import Event, Webhook
from bridge.render.renderer import Renderer, more_line
from bridge.render.whatsapp import FormattedText, escape_whatsapp
from bridge.routing.router import Route

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SEVERITIES = ["p1_page", "*urgent*", "~sev~", "`s1`"]


def route(message: str | None) -> Route:
    return Route("team-route", None, (), (), None, message, 0.0, True, False)


def events(severity: str, count: int = 60) -> list[Event]:
    return [
        Event(
            source="alertmanager",
            fingerprint=f"fp{i}",
            status="firing",
            labels={"alertname": f"Alert{i:03d}", "severity": severity},
            title=f"Alert{i:03d}",
            summary="disk full " + "x" * 80,
            severity=severity,
            starts_at=T0 - timedelta(minutes=i),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(
    "message",
    [None, "{% for e in events %}{{ e.title }}\n{% endfor %}{{ more_text }}"],
    ids=["default-template", "template-printing-more-text"],
)
@pytest.mark.parametrize("severity", SEVERITIES, ids=["underscore", "star", "tilde", "backtick"])
def test_more_line_appears_once_and_escaped(severity: str, message: str | None) -> None:
    given = events(severity)
    webhook = Webhook("alertmanager", given, external_url="http://am:9093")
    rendered = Renderer(None, max_length=300).render(route(message), given, webhook)
    omitted = rendered.omitted
    assert omitted > 0 and not rendered.fell_back
    escaped = escape_whatsapp(severity.lower())
    assert rendered.text.count(" more (") == 1
    assert rendered.text.endswith(f"\n+{omitted} more ({omitted} {escaped})\nhttp://am:9093")
    assert severity.lower() not in rendered.text


def test_more_line_is_formatted_text_keeping_its_link() -> None:
    line = more_line(events("p1_page", 2), "http://am_1:9093/#/alerts?x=a_b")
    assert isinstance(line, FormattedText)
    assert line == "+2 more (2 p1ˍpage)\nhttp://am_1:9093/#/alerts?x=a_b"
