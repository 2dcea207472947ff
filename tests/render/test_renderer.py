"""Renderer: context, ordering, length cap, custom templates, fallback and compile-once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.model import Event, SourceName, Status, Webhook
from bridge.render.renderer import Renderer, order_events
from bridge.routing.router import Route

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
LINES = (
    "{% for e in events %}{{ e.title }}\n{% endfor %}{% if more %}… and {{ more }} more{% endif %}"
)


def route(message: str | None = None, template: str | None = None) -> Route:
    return Route("team-route", None, (), (), template, message, 0.0, True, False)


def alert(
    title: str,
    status: Status = "firing",
    severity: str = "",
    minutes: int = 0,
    source: SourceName = "alertmanager",
) -> Event:
    return Event(
        source=source,
        fingerprint=title,
        status=status,
        labels={"alertname": title},
        title=title,
        severity=severity,
        starts_at=T0 + timedelta(minutes=minutes),
    )


def hook(events: list[Event], source: SourceName = "alertmanager") -> Webhook:
    return Webhook(source, events, external_url="http://am:9093", receiver="wa")


def test_template_context_has_events_aliases_and_webhook_facts() -> None:
    events = [alert("a"), alert("b", "resolved"), alert("c")]
    message = (
        "{{ route }}|{{ source }}|{{ external_url }}|{{ webhook.receiver }}|"
        "{{ events | length }}/{{ alerts | length }}|{{ firing | length }}+{{ resolved | length }}|"
        "{{ counts.firing }}/{{ counts.resolved }}/{{ counts.total }}|{{ more }}"
    )
    text = Renderer(None).render(route(message), events, hook(events)).text
    assert text == "team-route|alertmanager|http://am:9093|wa|3/3|2+1|2/1/3|0"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([alert("r", "resolved"), alert("f")], ["f", "r"]),
        ([alert("w", severity="warning"), alert("c", severity="critical")], ["c", "w"]),
        ([alert("old", minutes=0), alert("new", minutes=5)], ["new", "old"]),
        (
            [
                alert("r-crit", "resolved", "critical"),
                alert("info-new", severity="info", minutes=9),
                alert("crit-old", severity="critical", minutes=1),
                alert("crit-new", severity="critical", minutes=2),
                alert("none", minutes=30),
            ],
            ["crit-new", "crit-old", "info-new", "none", "r-crit"],
        ),
    ],
    ids=["firing-before-resolved", "most-severe-first", "newest-first", "all-keys"],
)
def test_events_are_ordered_firing_severe_newest_first(
    given: list[Event], expected: list[str]
) -> None:
    assert [e.title for e in order_events(given)] == expected
    rendered = Renderer(None).render(route(LINES), given, hook(given))
    assert rendered.text.splitlines() == expected


def test_too_long_message_keeps_as_many_whole_events_as_fit() -> None:
    events = [alert(f"alert-{i:04d}", minutes=-i) for i in range(100)]  # 10 chars + newline each
    renderer = Renderer(None, max_length=200)
    rendered = renderer.render(route(LINES), events, hook(events))
    # n lines of 11 characters plus "… and {100-n} more" (13 characters): 17 fit exactly.
    assert (rendered.included, rendered.omitted) == (17, 83)
    assert len(rendered.text) == 200
    assert rendered.text.splitlines() == [*(f"alert-{i:04d}" for i in range(17)), "… and 83 more"]


def test_default_template_caps_length_without_cutting_an_alert() -> None:
    events = [alert(f"Alert{i:03d}", severity="critical", minutes=-i) for i in range(60)]
    for event in events:
        event.summary = f"summary of {event.title} " + "x" * 80
    rendered = Renderer(None, max_length=1000).render(route(), events, hook(events))
    assert len(rendered.text) <= 1000
    assert rendered.text.endswith(f"… and {rendered.omitted} more")
    assert rendered.included + rendered.omitted == 60 and rendered.omitted > 0
    shown = [e for e in events if f"*{e.title}*" in rendered.text]
    assert shown == events[: rendered.included]
    assert all(e.summary in rendered.text for e in shown)


def test_more_line_is_added_when_a_custom_template_ignores_more() -> None:
    events = [alert(f"alert-{i:04d}", minutes=-i) for i in range(100)]
    message = "{% for e in events %}{{ e.title }}\n{% endfor %}"
    rendered = Renderer(None, max_length=200).render(route(message), events, hook(events))
    assert rendered.text.endswith(f"\n\n… and {rendered.omitted} more")
    assert len(rendered.text) <= 200 and rendered.omitted > 0


@pytest.mark.parametrize("count", [1, 3], ids=["single-event", "several-events"])
def test_event_longer_than_the_cap_is_cut_hard(count: int) -> None:
    events = [alert(f"{i}" + "y" * 500, minutes=-i) for i in range(count)]
    rendered = Renderer(None, max_length=100).render(route(LINES), events, hook(events))
    assert len(rendered.text) == 100
    assert rendered.included == 1 and rendered.omitted == count - 1
    if count == 1:
        assert rendered.text.endswith("y…")
    else:
        assert rendered.text.endswith("y…\n… and 2 more")


BROKEN = [
    ("{{ nope }}", "'nope' is undefined"),
    ("{{ 1 / 0 }}", "division by zero"),
    ("{{ events[0].labels.update({'a': 'b'}) }}", "unsafe"),
    ("{{ events[0].__class__.__mro__ }}", "__class__"),
    ("{% if %}", "message: line 1"),
]


@pytest.mark.parametrize(
    ("message", "error"),
    BROKEN,
    ids=["undefined", "exception", "mutation", "dunder", "syntax"],
)
def test_broken_template_falls_back_to_the_source_default(message: str, error: str) -> None:
    events = [alert("DiskFull", severity="critical")]
    renderer = Renderer(None)
    default = renderer.render(route(), events, hook(events))
    rendered = renderer.render(route(message), events, hook(events))
    assert rendered.fell_back and not default.fell_back
    assert rendered.error is not None and error in rendered.error
    assert rendered.text == default.text
    assert events[0].labels == {"alertname": "DiskFull"}


def test_missing_template_file_falls_back(tmp_path: Path) -> None:
    events = [alert("DiskFull")]
    rendered = Renderer(str(tmp_path)).render(route(template="gone.j2"), events, hook(events))
    assert rendered.fell_back
    assert rendered.error is not None and "'gone.j2' not found" in rendered.error
    assert "*DiskFull*" in rendered.text


def test_template_file_from_templates_dir_is_used(tmp_path: Path) -> None:
    (tmp_path / "short.j2").write_text("{{ firing | length }} down: {{ events[0].title }}")
    events = [alert("api_down")]
    rendered = Renderer(str(tmp_path)).render(route(template="short.j2"), events, hook(events))
    assert (rendered.text, rendered.fell_back) == ("1 down: apiˍdown", False)


def test_templates_are_compiled_once(tmp_path: Path) -> None:
    path = tmp_path / "t.j2"
    path.write_text("first {{ route }}")
    renderer = Renderer(str(tmp_path))
    renderer.check(route(template="t.j2"))
    path.write_text("second {{ route }}")
    events = [alert("a")]
    assert renderer.render(route(template="t.j2"), events, hook(events)).text == "first team-route"


@pytest.mark.parametrize(
    ("files", "templates_dir", "chosen", "message"),
    [
        ({}, True, route(template="gone.j2"), "template 'gone.j2' not found"),
        ({}, False, route(template="t.j2"), "no templates directory is configured"),
        ({"bad.j2": "ok\n{% for %}"}, True, route(template="bad.j2"), "template 'bad.j2': line 2"),
        ({}, False, route(message="{{ x"), "message: line 1"),
    ],
    ids=["missing-file", "no-directory", "file-syntax", "inline-syntax"],
)
def test_check_refuses_broken_or_missing_templates(
    tmp_path: Path, files: dict[str, str], templates_dir: bool, chosen: Route, message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    renderer = Renderer(str(tmp_path) if templates_dir else None)
    with pytest.raises(ConfigError, match=message) as caught:
        renderer.check(chosen)
    assert caught.value.path is None


@pytest.mark.parametrize(
    "chosen",
    [route(), route(message="{{ events | length }} events"), route(template="ok.j2")],
    ids=["default", "inline", "file"],
)
def test_check_accepts_good_templates(tmp_path: Path, chosen: Route) -> None:
    (tmp_path / "ok.j2").write_text("{{ route }}")
    Renderer(str(tmp_path)).check(chosen)


def test_max_length_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="max_length"):
        Renderer(None, max_length=10)
