"""WhatsApp escaping: substituted values cannot create formatting; `raw` opts out."""

from __future__ import annotations

import pytest

from bridge.model import Event, Webhook
from bridge.render.renderer import Renderer
from bridge.render.whatsapp import FormattedText, escape_whatsapp, finalize_value
from bridge.routing.router import Route

MARKERS = "*_~`"


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("*bold*", "∗bold∗"),
        ("_italic_", "ˍitalicˍ"),
        ("~strike~", "∼strike∼"),
        ("```mono```", "ˋˋˋmonoˋˋˋ"),
        ("`code`", "ˋcodeˋ"),
        ("plain text, 100% ok", "plain text, 100% ok"),
        (
            "see https://grafana.example/d/a_b?x=*1* now *",
            "see https://grafana.example/d/a_b?x=*1* now ∗",
        ),
        ("http://x/_y_ and _z_", "http://x/_y_ and ˍzˍ"),
    ],
    ids=[
        "bold",
        "italic",
        "strike",
        "mono",
        "code",
        "untouched",
        "https-link-kept",
        "http-link-kept",
    ],
)
def test_escape_whatsapp_replaces_markers_with_lookalikes(text: str, escaped: str) -> None:
    assert escape_whatsapp(text) == escaped


@pytest.mark.parametrize(
    ("value", "printed"),
    [(None, ""), (42, "42"), ("*x*", "∗x∗"), (FormattedText("*x*"), "*x*")],
    ids=["none-is-empty", "number", "escaped", "formatted-kept"],
)
def test_finalize_value(value: object, printed: str) -> None:
    assert finalize_value(value) == printed


def render_inline(message: str, **labels: str) -> str:
    route = Route("r", None, (), (), None, message, 0.0, True, False)
    events = [Event("alertmanager", "f", "firing", labels, title=labels.get("title", ""))]
    rendered = Renderer(None).render(route, events, Webhook("alertmanager", events))
    assert not rendered.fell_back, rendered.error
    return rendered.text


def test_label_full_of_markers_cannot_create_formatting() -> None:
    hostile = "*_~`*bold*_it_~s~```m```"
    text = render_inline(
        "{{ events[0].labels.team }} {{ events[0].labels.team | upper }}", team=hostile
    )
    assert not any(marker in text for marker in MARKERS)
    assert text.startswith("∗ˍ∼ˋ∗bold∗ˍitˍ∼s∼ˋˋˋmˋˋˋ")


def test_template_markup_stays_while_values_inside_it_are_escaped() -> None:
    text = render_inline(
        "*{{ events[0].title }}* _{{ events[0].labels.env }}_", title="a*b", env="x_y"
    )
    assert text == "*a∗b* _xˍy_"


def test_raw_filter_opts_out_of_escaping() -> None:
    text = render_inline("{{ events[0].labels.note | raw }}", note="*already bold*")
    assert text == "*already bold*"


def test_default_template_escapes_hostile_values() -> None:
    route = Route("r", None, (), (), None, None, 0.0, True, False)
    labels = {"alertname": "*x*", "instance": "_i_", "job": "~j~"}
    events = [Event("alertmanager", "f", "firing", labels, title="*x*", summary="`s`")]
    text = Renderer(None).render(route, events, Webhook("alertmanager", events)).text
    assert "*∗x∗*" in text
    assert "instance: ˍiˍ · job: ∼j∼" in text
    assert "ˋsˋ" in text
