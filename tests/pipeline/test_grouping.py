"""Group semantics (Alertmanager's): group keys, and what each flush sends to a recipient."""

from __future__ import annotations

from typing import Literal

import pytest

from bridge.model import Event, Status, Webhook
from bridge.pipeline.grouping import (
    GroupState,
    Notified,
    add_event,
    after_flush,
    decide_flush,
    group_from_record,
    group_key,
    group_to_record,
    new_group,
)
from bridge.routing.router import Route

INTERVAL, REPEAT = 60.0, 3600.0


def route(group_by: tuple[str, ...] | None = ("alertname",), send_resolved: bool = True) -> Route:
    return Route("team", None, (), (), None, None, 0.0, send_resolved, False, group_by=group_by)


def alert(fp: str, status: Status = "firing", **labels: str) -> Event:
    return Event(
        "alertmanager", fp, status, {"alertname": "Disk", "instance": fp, **labels}, title=fp
    )


@pytest.mark.parametrize(
    ("group_by", "a", "b", "same"),
    [
        (("alertname",), alert("x"), alert("y"), True),
        (("alertname", "instance"), alert("x"), alert("y"), False),
        (("...",), alert("x"), alert("x"), True),
        (("...",), alert("x"), alert("y", instance="x"), False),
        # One alert whose labels changed (a GitHub run's conclusion): still its own group.
        (("...",), alert("x"), alert("x", conclusion="success"), True),
        (("missing",), alert("x"), alert("y"), True),
    ],
    ids=[
        "by-alertname",
        "by-instance-too",
        "all-same-alert",
        "all-other-alert",
        "all-same-alert-new-labels",
        "missing",
    ],
)
def test_group_key_is_route_and_group_label_values(
    group_by: tuple[str, ...], a: Event, b: Event, same: bool
) -> None:
    r = route(group_by)
    assert group_key(r, a).startswith("team{")
    assert (group_key(r, a) == group_key(r, b)) is same


# Each step: (time, events posted before the flush, expected reason, expected alerts sent).
SEQUENCE = [
    (0, [alert("a")], "first", ["a"]),
    (60, [alert("a")], "unchanged", []),
    (120, [alert("a"), alert("b")], "new_firing", ["b"]),
    (180, [alert("a", "resolved"), alert("b")], "some_resolved", ["a"]),
    (240, [alert("b")], "unchanged", []),
    (180 + REPEAT, [alert("b")], "repeat", ["b"]),
    (240 + REPEAT, [alert("b", "resolved")], "all_resolved", ["b"]),
]


def test_sequence_sends_only_what_changed_then_repeats_then_all_resolved() -> None:
    r = route()
    group = new_group(r, "k", {"alertname": "Disk"}, Webhook("alertmanager", []), 0, 30)
    seen: list[tuple[str, list[str]]] = []
    for now, events, _reason, _sent in SEQUENCE:
        for event in events:
            add_event(group, event, now)
        decision = decide_flush(
            group, group.notified.get("alice"), now=now, send_resolved=True, repeat_interval=REPEAT
        )
        seen.append((decision.reason, list(decision.fingerprints)))
        if decision.record:
            group.notified["alice"] = Notified(
                sorted(group.firing()), sorted(group.resolved()), now
            )
        group = group_from_record(group_to_record(group))  # as through the store
        after_flush(group, now, INTERVAL)
    assert seen == [(reason, sent) for _t, _e, reason, sent in SEQUENCE]
    assert group.alerts == {}


def flushed(group: GroupState, notified: Notified | None, send_resolved: bool = True) -> str:
    decision = decide_flush(
        group, notified, now=10, send_resolved=send_resolved, repeat_interval=REPEAT
    )
    return f"{decision.reason}:{','.join(decision.fingerprints)}:{decision.record}"


def group_of(*events: Event) -> GroupState:
    group = new_group(route(), "k", {}, Webhook("alertmanager", []), 0, 30)
    for event in events:
        add_event(group, event, 0)
    return group


@pytest.mark.parametrize(
    ("group", "notified", "send_resolved", "expected"),
    [
        (group_of(alert("a", "resolved")), None, True, "nothing_firing::False"),
        (group_of(alert("a"), alert("b", "resolved")), None, True, "first:a:True"),
        (
            group_of(alert("a"), alert("b", "resolved")),
            Notified(["a"], [], 0),
            True,
            "unchanged::False",
        ),
        (
            group_of(alert("a", "resolved")),
            Notified(["a"], [], 0),
            False,
            "resolved_not_wanted::True",
        ),
        (
            group_of(alert("a", "resolved"), alert("b")),
            Notified(["a", "b"], [], 0),
            False,
            "unchanged::False",
        ),
        (
            group_of(alert("a", "resolved"), alert("b")),
            Notified(["a"], [], 0),
            True,
            "new_firing:a,b:True",
        ),
    ],
    ids=[
        "fired-and-resolved-before-first-flush-sends-nothing",
        "resolved-the-recipient-never-saw-is-left-out",
        "resolved-never-seen-is-no-change",
        "all-resolved-without-send-resolved-records-only",
        "some-resolved-without-send-resolved-is-no-change",
        "resolved-goes-out-with-a-new-firing",
    ],
)
def test_flush_decision(
    group: GroupState, notified: Notified | None, send_resolved: bool, expected: str
) -> None:
    assert flushed(group, notified, send_resolved) == expected


def test_alert_flapping_between_flushes_is_sent_once_marked_flapping() -> None:
    group = group_of(alert("a"))
    for status in ("resolved", "firing", "resolved", "firing"):
        add_event(group, alert("a", status), 5)  # type: ignore[arg-type]
    assert group.flaps() == {"a": 4}
    assert flushed(group, Notified(["a"], [], 0)) == "flapped:a:True"
    after_flush(group, 10, INTERVAL)
    assert group.flaps() == {}


def test_alert_resolving_and_firing_again_between_flushes_is_sent_as_flapped() -> None:
    group = group_of(alert("a"))
    add_event(group, alert("a", "resolved"), 5)
    add_event(group, alert("a"), 6)
    assert group.flaps() == {"a": 2}
    assert flushed(group, Notified(["a"], [], 0)) == "flapped:a:True"


def test_next_flush_is_one_group_interval_after_a_flush() -> None:
    group = group_of(alert("a"))
    after_flush(group, 100, INTERVAL)
    assert group.next_flush_at == 100 + INTERVAL


def test_resolved_removed_at_flush_fires_again_as_new() -> None:
    group = group_of(alert("a"), alert("b"))
    notified = Notified(["a", "b"], [], 0)
    group.notified["alice"] = notified
    add_event(group, alert("b", "resolved"), 5)
    after_flush(group, 10, INTERVAL)  # b resolved: gone, from the group and from the log
    add_event(group, alert("b"), 20)
    assert flushed(group, group.notified["alice"], send_resolved=False) == "new_firing:b:True"


def ci(fp: str, outcome: Literal["failure", "success"], status: Status = "firing") -> Event:
    """A GitHub CI event as settle_outcomes leaves it: a success that ended no failure fires."""
    return Event("github", fp, status, {"repository": "octo"}, title=fp, outcome=outcome)


# Each step: (GitHub outcome posted before the flush, expected reason, expected alerts sent).
CI_SEQUENCE: list[tuple[Event, str, list[str]]] = [
    (ci("a", "success"), "first", ["a"]),
    (ci("a", "success"), "unchanged", []),
    (ci("a", "failure"), "new_firing", ["a"]),
    (ci("a", "failure"), "unchanged", []),
    (ci("a", "success"), "new_firing", ["a"]),  # a success whose failure was forgotten
    (ci("a", "failure"), "new_firing", ["a"]),
    (ci("a", "success", "resolved"), "all_resolved", ["a"]),
]


def test_a_ci_outcome_change_is_news_and_a_repeated_outcome_is_not() -> None:
    group = new_group(route(), "k", {}, Webhook("github", []), 0, 30)
    seen: list[tuple[str, list[str]]] = []
    for step, (event, _reason, _sent) in enumerate(CI_SEQUENCE):
        now = step * INTERVAL
        add_event(group, event, now)
        decision = decide_flush(
            group, group.notified.get("alice"), now=now, send_resolved=True, repeat_interval=REPEAT
        )
        seen.append((decision.reason, list(decision.fingerprints)))
        if decision.record:
            passed = sorted(group.passed())
            failing = sorted(group.firing() - group.passed())
            group.notified["alice"] = Notified(failing, sorted(group.resolved()), now, None, passed)
        group = group_from_record(group_to_record(group))  # as through the store
        after_flush(group, now, INTERVAL)
    assert seen == [(reason, sent) for _e, reason, sent in CI_SEQUENCE]
    assert group.alerts == {}


def test_a_ci_outcome_change_changes_the_group_without_counting_as_a_flap() -> None:
    group = group_of(ci("a", "success"))
    assert add_event(group, ci("a", "failure"), 5) is True
    assert add_event(group, ci("a", "failure"), 6) is False
    assert add_event(group, ci("a", "success"), 7) is True
    assert group.flaps() == {} and group.alerts["a"].transitions == 0


def test_a_resolved_ci_success_after_a_told_pass_is_not_sent() -> None:
    """Told "CI passed", then a failure and its fix both before the next flush: no news."""
    group = group_of(ci("a", "success", "resolved"))
    assert flushed(group, Notified([], [], 0, None, ["a"])) == "resolved_not_wanted::True"
