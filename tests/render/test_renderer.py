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
    # n lines of 11 characters, "… and {100-n} more", then the digest line and the link.
    assert (rendered.included, rendered.omitted) == (13, 87)
    assert len(rendered.text) <= 200
    assert rendered.text.splitlines() == [
        *(f"alert-{i:04d}" for i in range(13)),
        "… and 87 more",
        "",
        "+87 more (87 other)",
        "http://am:9093",
    ]


def test_default_template_caps_length_without_cutting_an_alert() -> None:
    events = [alert(f"Alert{i:03d}", severity="critical", minutes=-i) for i in range(60)]
    for event in events:
        event.summary = f"summary of {event.title} " + "x" * 80
    rendered = Renderer(None, max_length=1000).render(route(), events, hook(events))
    assert len(rendered.text) <= 1000
    assert rendered.text.endswith(
        f"+{rendered.omitted} more ({rendered.omitted} critical)\nhttp://am:9093"
    )
    assert rendered.included + rendered.omitted == 60 and rendered.omitted > 0
    shown = [e for e in events if f"*{e.title}*" in rendered.text]
    assert shown == events[: rendered.included]
    assert all(e.summary in rendered.text for e in shown)


def test_more_line_is_added_when_a_custom_template_ignores_more() -> None:
    events = [alert(f"alert-{i:04d}", minutes=-i) for i in range(100)]
    message = "{% for e in events %}{{ e.title }}\n{% endfor %}"
    rendered = Renderer(None, max_length=200).render(route(message), events, hook(events))
    assert rendered.text.endswith(
        f"\n\n+{rendered.omitted} more ({rendered.omitted} other)\nhttp://am:9093"
    )
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
        assert rendered.text.endswith("y…\n+2 more (2 other)\nhttp://am:9093")


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


def overflow_route(overflow: str, max_parts: int = 3) -> Route:
    return Route(
        "team-route",
        None,
        (),
        (),
        None,
        LINES.replace("{% if more %}… and {{ more }} more{% endif %}", ""),
        0.0,
        True,
        False,
        overflow=overflow,  # type: ignore[arg-type]
        max_parts=max_parts,
    )


def test_digest_keeps_most_severe_and_newest_then_counts_the_rest_by_severity() -> None:
    events = [alert(f"w{i:03d}", severity="warning", minutes=i) for i in range(40)]
    events += [alert(f"c{i:03d}", severity="critical", minutes=i) for i in range(5)]
    events.append(alert("r000", "resolved", severity="critical"))
    rendered = Renderer(None, max_length=200).render(overflow_route("digest"), events, hook(events))
    lines = rendered.text.splitlines()
    assert len(rendered.parts) == 1 and len(rendered.text) <= 200
    assert lines[:5] == ["c004", "c003", "c002", "c001", "c000"]
    assert lines[5] == "w039"
    omitted = rendered.omitted
    assert lines[-2:] == [f"+{omitted} more ({omitted - 1} warning, 1 resolved)", "http://am:9093"]


@pytest.mark.parametrize(
    ("count", "max_parts", "parts", "omitted"),
    [(10, 3, 1, 0), (30, 3, 2, 0), (100, 3, 3, 52)],
    ids=["fits-in-one", "two-numbered-parts", "last-allowed-part-is-a-digest"],
)
def test_split_sends_numbered_parts_up_to_max_parts(
    count: int, max_parts: int, parts: int, omitted: int
) -> None:
    events = [alert(f"alert-{i:04d}", minutes=-i) for i in range(count)]
    route_ = overflow_route("split", max_parts)
    rendered = Renderer(None, max_length=200).render(route_, events, hook(events))
    assert len(rendered.parts) == parts and rendered.omitted == omitted
    assert all(len(part) <= 200 for part in rendered.parts)
    if parts > 1:
        assert [p.splitlines()[0] for p in rendered.parts] == [
            f"({i}/{parts})" for i in range(1, parts + 1)
        ]
    shown = [line for p in rendered.parts for line in p.splitlines() if line.startswith("alert-")]
    assert shown == [e.title for e in events[: count - omitted]]


def test_flapping_alert_is_marked_in_the_message() -> None:
    events = [alert("DiskFull")]
    rendered = Renderer(None).render(route(), events, hook(events), flaps={"DiskFull": 3})
    assert "DiskFull flapped: 3 status changes, now firing" in rendered.text


@pytest.mark.parametrize(
    ("files", "chosen", "message"),
    [
        ({}, route(message="{{ events | length }} {{ foo.bar }}"), "message: unknown .* 'foo'"),
        ({}, route(message="{% for a in alert %}{{ a }}{% endfor %}"), "unknown variable 'alert'"),
        ({"t.j2": "{{ lables }}"}, route(template="t.j2"), "template 't.j2': unknown variable"),
    ],
    ids=["inline", "typo-of-alerts", "file"],
)
def test_check_refuses_a_name_no_message_has(
    tmp_path: Path, files: dict[str, str], chosen: Route, message: str
) -> None:
    """StrictUndefined makes such a template fail at every render (the default is sent
    instead): `check` says so before it is deployed."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        Renderer(str(tmp_path)).check(chosen)
    assert "a message has: alerts, counts, events" in str(caught.value)


def test_every_name_check_allows_is_in_the_render_context() -> None:
    from bridge.render.renderer import CONTEXT_NAMES

    names = sorted(CONTEXT_NAMES)
    message = "".join(f"{{{{ {name} is defined }}}}" for name in names)
    message += "{% set x = 1 %}{{ x }}{% for e in events %}{{ loop.index }}{% endfor %}"
    message += "{{ range(2) | list }}{{ namespace(a=1).a }}"
    chosen = route(message=message)
    Renderer(None).check(chosen)
    events = [alert("DiskFull")]
    rendered = Renderer(None).render(chosen, events, hook(events))
    assert not rendered.fell_back, rendered.error
    assert rendered.text.startswith("True" * len(names))
