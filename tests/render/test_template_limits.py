"""A user template cannot stall the event loop or fill memory: repetition, powers and range()
are bounded per render, and nothing large is built while compiling (check, start, reload)."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime

import pytest
from jinja2.exceptions import SecurityError

from bridge.model import Event, Webhook
from bridge.render.environment import MAX_RANGE_PER_RENDER, create_environment
from bridge.render.renderer import Renderer
from bridge.routing.router import Route

OVER_THE_LIMIT = [
    ("{{ ('x' * 1000000)|length }}", "repetition longer than"),
    ("{{ ([0] * 1000000)|length }}", "repetition longer than"),
    ("{{ (1000000 * 'x')|length }}", "repetition longer than"),
    ("{{ 2 ** 100000000 }}", "power past"),
    ("{{ ((2 ** 64) ** 64) ** 64 }}", "power past"),
    (
        "{% for i in range(100000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}x",
        r"range\(\) past",
    ),
]


@pytest.mark.parametrize(
    ("source", "error"),
    OVER_THE_LIMIT,
    ids=["string", "list", "int-times-string", "power", "chained-powers", "nested-ranges"],
)
def test_a_template_building_too_much_is_refused(source: str, error: str) -> None:
    template = create_environment().from_string(source)
    with pytest.raises(SecurityError, match=error):
        template.render()


def test_compiling_a_huge_constant_builds_nothing() -> None:
    """Jinja folds constant expressions while compiling: unchecked, this one would build 50 MB
    at `check`, at start and at every reload, before any render could refuse it."""
    tracemalloc.start()
    try:
        create_environment().from_string("{{ ('x' * 50000000)|length }}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_the_range_budget_is_per_render() -> None:
    template = create_environment().from_string(
        "{% for i in range(n) %}{% endfor %}{{ range(3)|list }}"
    )
    for _ in range(3):  # would pass the budget on the second render if it were shared
        assert template.render(n=MAX_RANGE_PER_RENDER - 3) == "[0, 1, 2]"
    with pytest.raises(SecurityError, match="range"):
        template.render(n=MAX_RANGE_PER_RENDER - 2)


def test_ordinary_arithmetic_and_repetition_still_work() -> None:
    source = "{{ '=' * 20 }} {{ [1, 2] * 2 }} {{ 2 ** 10 }} {{ 3 * 4 }} {{ 1.5 ** 2 }}"
    rendered = create_environment().from_string(source).render()
    assert rendered == "==================== [1, 2, 1, 2] 1024 12 2.25"


def test_a_message_whose_template_goes_over_a_limit_falls_back_to_the_default() -> None:
    event = Event(
        source="alertmanager",
        fingerprint="f1",
        status="firing",
        labels={"alertname": "DiskFull"},
        title="DiskFull",
        starts_at=datetime(2024, 5, 1, 12, tzinfo=UTC),
    )
    webhook = Webhook(source="alertmanager", events=[event])
    looping = "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}x"
    route = Route("team-route", None, (), (), None, looping, 0.0, True, False)

    rendered = Renderer(None).render(route, [event], webhook)

    assert rendered.fell_back
    assert rendered.error is not None and "range() past" in rendered.error
    assert "DiskFull" in rendered.text
