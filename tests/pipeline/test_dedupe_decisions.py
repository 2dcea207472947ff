"""The dedupe decision table: what is sent again, and what is not."""

from __future__ import annotations

import pytest

from bridge.model import Event
from bridge.pipeline.dedupe import decide
from bridge.store.base import DedupeEntry

HOUR = 3600.0


def event(status: str) -> Event:
    return Event(source="alertmanager", fingerprint="fp", status=status, labels={})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("last", "status", "now", "send_resolved", "send", "reason"),
    [
        (None, "firing", 0, True, True, None),
        (DedupeEntry("firing", 0, "n1"), "firing", 10, True, False, "duplicate"),
        (DedupeEntry("firing", 0, "n1"), "firing", HOUR + 1, True, True, None),
        (DedupeEntry("firing", 0, "n1"), "resolved", 10, True, True, None),
        (DedupeEntry("firing", 0, "n1"), "resolved", 10, False, False, "resolved_not_wanted"),
        (DedupeEntry("resolved", 0, "n2"), "resolved", 10, True, False, "duplicate"),
        (DedupeEntry("resolved", 0, "n2"), "firing", 10, True, True, None),
        (None, "resolved", 0, False, False, "resolved_not_wanted"),
    ],
    ids=[
        "first-firing-is-sent",
        "same-firing-within-window-is-duplicate",
        "same-firing-after-window-is-sent-again",
        "resolved-after-firing-is-sent",
        "resolved-not-wanted-is-not-sent",
        "same-resolved-again-is-duplicate",
        "firing-again-after-resolved-is-sent",
        "resolved-without-send-resolved",
    ],
)
def test_dedupe_decision(
    last: DedupeEntry | None,
    status: str,
    now: float,
    send_resolved: bool,
    send: bool,
    reason: str | None,
) -> None:
    decision = decide(event(status), last, now=now, window=HOUR, send_resolved=send_resolved)
    assert (decision.send, decision.reason) == (send, reason)
    if reason == "duplicate":
        assert decision.earlier == last.notification_id  # type: ignore[union-attr]
