"""Routes: compilation errors with file and path, and matching order, continue and sources."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.config.schema import DefaultsConfig, RouteConfig
from bridge.errors import ConfigErrors
from bridge.model import Event, Recipient, SourceName
from bridge.routing.router import Route, compile_routes, match_routes

ALICE = Recipient("alice", "+14155550123")
BOB = Recipient("bob", "+447911123456")
PEOPLE = {"alice": (ALICE,), "bob": (BOB,), "sre": (ALICE, BOB)}


def routes(*specs: dict[str, Any], defaults: DefaultsConfig | None = None) -> list[Route]:
    items = [
        (RouteConfig.model_validate({"to": ["alice"], **spec}), "rules/a.yaml", f"[{index}]")
        for index, spec in enumerate(specs)
    ]
    return compile_routes(items, PEOPLE, defaults or DefaultsConfig())


def event(source: SourceName = "alertmanager", **labels: str) -> Event:
    return Event(source=source, fingerprint="f", status="firing", labels=labels)


def names(matched: list[Route]) -> list[str]:
    return [route.name for route in matched]


def test_first_matching_route_wins() -> None:
    table = routes(
        {"name": "critical", "matchers": ['severity="critical"']},
        {"name": "prod", "matchers": ['env=~"prod|production"']},
        {"name": "catch-all"},
    )
    assert names(match_routes(table, event(severity="critical", env="prod"))) == ["critical"]
    assert names(match_routes(table, event(severity="warning", env="production"))) == ["prod"]
    assert names(match_routes(table, event(severity="info"))) == ["catch-all"]


def test_continue_goes_on_to_later_matches() -> None:
    table = routes(
        {"name": "audit", "continue": True},
        {"name": "skipped", "matchers": ['team="db"']},
        {"name": "critical", "matchers": ['severity="critical"'], "continue": True},
        {"name": "catch-all"},
        {"name": "never"},
    )
    matched = match_routes(table, event(severity="critical"))
    assert names(matched) == ["audit", "critical", "catch-all"]


def test_all_matchers_of_a_route_must_match() -> None:
    table = routes({"name": "both", "matchers": ['severity="critical"', 'env="prod"']})
    assert match_routes(table, event(severity="critical", env="dev")) == []
    assert names(match_routes(table, event(severity="critical", env="prod"))) == ["both"]


@pytest.mark.parametrize(
    ("source_filter", "source", "matches"),
    [
        ("grafana", "grafana", True),
        ("grafana", "alertmanager", False),
        (["alertmanager", "grafana"], "alertmanager", True),
        (["alertmanager", "grafana"], "github", False),
        (None, "grafana", True),
    ],
    ids=["single-same", "single-other", "list-member", "list-non-member", "omitted-any"],
)
def test_source_filter(source_filter: Any, source: SourceName, matches: bool) -> None:
    table = routes({"name": "r", "source": source_filter})
    assert bool(match_routes(table, event(source, event="push"))) is matches


@pytest.mark.parametrize(
    ("matchers", "github_event", "matches"),
    [
        ([], "push", True),
        ([], "workflow_run", True),
        ([], "star", False),
        ([], "", False),
        (['repository="octo/repo"'], "fork", False),
        (['event="star"'], "star", True),
        (['event=~".+"'], "member", True),
        (['event!="push"'], "watch", False),
        (['event!~"push|pull_request"'], "star", False),
        (['event!="push"'], "pull_request", True),
        (['event!="push"', 'event=~"star|fork"'], "fork", True),
        (['event="star"'], "push", False),
    ],
    ids=[
        "known-catch-all",
        "known-workflow-run",
        "unknown-catch-all",
        "no-event-label",
        "unknown-other-matcher",
        "unknown-named",
        "unknown-regex-on-event",
        "unknown-negative-on-event",
        "unknown-negative-regex-on-event",
        "known-negative-on-event",
        "unknown-negative-and-named",
        "known-not-named",
    ],
)
def test_unknown_github_events_need_a_matcher_on_event(
    matchers: list[str], github_event: str, matches: bool
) -> None:
    table = routes({"name": "gh", "source": "github", "matchers": matchers})
    labels = {"repository": "octo/repo"} | ({"event": github_event} if github_event else {})
    assert bool(match_routes(table, event("github", **labels))) is matches


def test_unknown_event_label_on_alerting_sources_is_not_special() -> None:
    table = routes({"name": "any"})
    assert names(match_routes(table, event("grafana", event="star"))) == ["any"]


def test_recipients_are_resolved_and_deduplicated_within_a_route() -> None:
    [route] = routes({"name": "r", "to": ["sre", "alice", "+1 415 555 0123", "+14155550199"]})
    assert route.recipients == (ALICE, BOB, Recipient("+14155550199", "+14155550199"))


def test_route_settings_default_from_defaults_and_can_be_overridden() -> None:
    defaults = DefaultsConfig(dedupe_window=600, send_resolved=False)
    plain, custom = routes(
        {"name": "plain"},
        {"name": "custom", "dedupe_window": "30m", "send_resolved": True, "template": "x.j2"},
        defaults=defaults,
    )
    assert (plain.dedupe_window, plain.send_resolved, plain.template) == (600, False, None)
    assert (custom.dedupe_window, custom.send_resolved, custom.template) == (1800, True, "x.j2")


def test_compile_errors_name_file_and_path_and_all_are_reported() -> None:
    items = [
        (RouteConfig(name="ok", to=["alice"]), "config.yaml", "routes[0]"),
        (
            RouteConfig(name="bad", matchers=['a="x"', "severity"], to=["alice", "bobb", "+1"]),
            "config.yaml",
            "routes[1]",
        ),
        (RouteConfig(name="ok", to=["sre"]), "rules/team.yaml", "[0]"),
    ]
    with pytest.raises(ConfigErrors) as caught:
        compile_routes(items, PEOPLE, DefaultsConfig())
    found = [(e.file, e.path, e.message) for e in caught.value.errors]
    assert [(file, path) for file, path, _ in found] == [
        ("config.yaml", "routes[1].matchers[1]"),
        ("config.yaml", "routes[1].to[1]"),
        ("config.yaml", "routes[1].to[2]"),
        ("rules/team.yaml", "[0].name"),
    ]
    assert found[1][2] == "unknown recipient 'bobb' (did you mean 'bob'?)"
    assert "first used at config.yaml: routes[0]" in found[3][2]
    assert str(caught.value.errors[1]) == (
        "config.yaml: routes[1].to[1]: unknown recipient 'bobb' (did you mean 'bob'?)"
    )


def test_several_matchers_in_one_entry_all_apply() -> None:
    table = routes(
        {"name": "db-critical", "matchers": ["team!=infra, severity=critical"]},
        {"name": "braces", "matchers": ['{team="infra", severity="critical"}', 'env="prod"']},
        {"name": "catch-all"},
    )
    assert names(match_routes(table, event(team="db", severity="critical"))) == ["db-critical"]
    assert names(match_routes(table, event(team="db", severity="warning"))) == ["catch-all"]
    infra = event(team="infra", severity="critical", env="prod")
    assert names(match_routes(table, infra)) == ["braces"]
    assert [str(m) for m in table[1].matchers] == [
        'team="infra"',
        'severity="critical"',
        'env="prod"',
    ]


def test_an_empty_matcher_in_a_list_names_its_entry() -> None:
    items = [
        (RouteConfig(name="r", matchers=['a="x"', "b=y,,c=z"], to=["alice"]), "c.yaml", "routes[2]")
    ]
    with pytest.raises(ConfigErrors) as caught:
        compile_routes(items, PEOPLE, DefaultsConfig())
    assert [str(e) for e in caught.value.errors] == [
        "c.yaml: routes[2].matchers[1]: empty matcher between two commas in 'b=y,,c=z'"
    ]


@pytest.mark.parametrize(
    ("group_by", "path", "message"),
    [
        (["...", "cluster"], "routes[0].group_by", "'...' (all labels) cannot be combined"),
        (
            ["alertname, cluster"],
            "routes[0].group_by[0]",
            "'alertname, cluster' is not one label name: list each label as its own entry,"
            " e.g. group_by: [alertname, cluster]",
        ),
        (["alertname cluster"], "routes[0].group_by[0]", "is not one label name"),
        (["alertname", ""], "routes[0].group_by[1]", "empty label name"),
        (["alertname", "alertname"], "routes[0].group_by[1]", "label 'alertname' is listed twice"),
    ],
    ids=["all-and-others", "comma", "space", "empty", "twice"],
)
def test_group_by_mistakes_are_config_errors(group_by: list[str], path: str, message: str) -> None:
    items = [(RouteConfig(name="r", to=["alice"], group_by=group_by), "c.yaml", "routes[0]")]
    with pytest.raises(ConfigErrors) as caught:
        compile_routes(items, PEOPLE, DefaultsConfig())
    [error] = caught.value.errors
    assert (error.file, error.path) == ("c.yaml", path)
    assert message in error.message


@pytest.mark.parametrize("group_by", [["..."], [], ["alertname", "cluster"]], ids=str)
def test_valid_group_by_is_kept(group_by: list[str]) -> None:
    [route] = routes({"name": "r", "group_by": group_by})
    assert route.group_by == tuple(group_by)
