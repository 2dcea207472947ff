"""The dedupe decision table for routes without group_by: what is sent again, and what is not."""

from __future__ import annotations

from typing import Literal

import pytest

from bridge.model import Event, Status
from bridge.pipeline.dedupe import HOLD, PASSED, DedupeHistory, decide
from bridge.store.base import DedupeEntry

HOUR = 3600.0
FLAP = 600.0


def event(status: Status) -> Event:
    return Event(source="alertmanager", fingerprint="fp", status=status, labels={})


F0 = DedupeEntry("firing", 0, "n-fire")
R5 = DedupeEntry("resolved", 5, "n-res")
F9 = DedupeEntry("firing", 9, "n-fire2")


@pytest.mark.parametrize(
    ("history", "status", "now", "send_resolved", "send", "reason", "earlier"),
    [
        (DedupeHistory(), "firing", 0, True, True, None, None),
        (DedupeHistory(F0), "firing", 10, True, False, "duplicate", "n-fire"),
        (DedupeHistory(F0), "firing", HOUR + 1, True, True, None, None),
        (DedupeHistory(F0), "resolved", 10, True, True, None, None),
        (DedupeHistory(F0), "resolved", 10, False, False, "resolved_not_wanted", None),
        (DedupeHistory(F0, R5), "resolved", 10, True, False, "duplicate", "n-res"),
        (DedupeHistory(None, R5), "resolved", 10, True, False, "duplicate", "n-res"),
        (DedupeHistory(F9, R5), "resolved", 10, True, True, None, None),
        (DedupeHistory(F0, R5), "firing", FLAP + 1, True, True, None, None),
        (DedupeHistory(F0, R5), "firing", 10, True, False, "flapping", "n-res"),
        (
            DedupeHistory(F0, R5, DedupeEntry(HOLD, 10, "hold")),
            "resolved",
            20,
            True,
            False,
            "flapping",
            "hold",
        ),
        (DedupeHistory(None, None), "resolved", 0, True, True, None, None),
    ],
    ids=[
        "first-firing-is-sent",
        "same-firing-within-window-is-duplicate",
        "still-firing-after-window-is-sent-again",
        "resolved-after-firing-is-sent",
        "resolved-not-wanted-is-not-sent",
        "second-resolved-for-one-firing-is-duplicate",
        "resolved-again-without-firing-is-duplicate",
        "resolved-ending-a-newer-firing-is-sent",
        "firing-after-resolved-outside-flap-window-is-sent",
        "firing-resolved-firing-within-flap-window-is-held-as-flapping",
        "everything-joins-an-open-flap-hold",
        "resolved-of-unknown-alert-is-sent",
    ],
)
def test_dedupe_decision(
    history: DedupeHistory,
    status: Status,
    now: float,
    send_resolved: bool,
    send: bool,
    reason: str | None,
    earlier: str | None,
) -> None:
    decision = decide(
        event(status), history, now=now, window=HOUR, send_resolved=send_resolved, flap_window=FLAP
    )
    assert (decision.send, decision.reason, decision.earlier) == (send, reason, earlier)


def test_a_hold_older_than_the_last_status_sent_is_over() -> None:
    history = DedupeHistory(DedupeEntry("firing", 700, "n"), R5, DedupeEntry(HOLD, 10, "hold"))
    assert not history.holding
    decision = decide(event("firing"), history, now=710, window=HOUR, send_resolved=True)
    assert (decision.send, decision.reason) == (False, "duplicate")


def github_event(outcome: Literal["failure", "success"], status: Status = "firing") -> Event:
    return Event(source="github", fingerprint="fp", status=status, labels={}, outcome=outcome)


P5 = DedupeEntry(PASSED, 5, "n-pass")


@pytest.mark.parametrize(
    ("history", "outcome", "now", "send", "reason", "earlier"),
    [
        (DedupeHistory(), "success", 0, True, None, None),
        (DedupeHistory(passed=P5), "success", 10, False, "duplicate", "n-pass"),
        (DedupeHistory(passed=P5), "success", HOUR + 6, True, None, None),
        (DedupeHistory(passed=P5), "failure", 10, True, None, None),
        (DedupeHistory(F0, passed=P5), "failure", 10, True, None, None),
        (DedupeHistory(F0, R5), "success", 10, False, "duplicate", "n-res"),
        (DedupeHistory(F9, passed=P5), "success", 10, True, None, None),
    ],
    ids=[
        "first-pass-is-sent",
        "same-pass-within-window-is-duplicate",
        "pass-after-window-is-sent",
        "failure-after-a-pass-is-sent",
        "failure-after-a-pass-that-followed-a-failure-is-sent",
        "pass-after-a-resolution-is-duplicate",
        "pass-after-a-newer-failure-is-sent",
    ],
)
def test_github_pass_decision(
    history: DedupeHistory,
    outcome: Literal["failure", "success"],
    now: float,
    send: bool,
    reason: str | None,
    earlier: str | None,
) -> None:
    decision = decide(
        github_event(outcome), history, now=now, window=HOUR, send_resolved=True, flap_window=FLAP
    )
    assert (decision.send, decision.reason, decision.earlier) == (send, reason, earlier)
