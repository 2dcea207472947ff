"""The help text of a metric labelled by reason names every reason the bridge counts under it."""

from __future__ import annotations

import pytest

from bridge.metrics import Metrics

# The label values the code passes to `.labels(route, reason)` of each counter.
REASONS = [
    (
        "alertbridge_groups_flushed",
        # decide_flush's reasons that send (grouping.py), a flap hold's, a deferred release's.
        {"first", "new_firing", "some_resolved", "all_resolved", "flapped", "repeat", "deferred"},
    ),
    (
        "alertbridge_suppressed",
        {
            "silenced",
            "muted",
            "deferred",
            "grouped",
            "flapping",
            "resolved_while_muted",
            "silenced_at_hold_end",
        },
    ),
    ("alertbridge_dedupe_suppressed", {"duplicate", "resolved_not_wanted", "superseded"}),
]


@pytest.mark.parametrize(("metric", "reasons"), REASONS, ids=[r[0] for r in REASONS])
def test_help_names_every_reason_counted(metric: str, reasons: set[str]) -> None:
    [family] = [f for f in Metrics().registry.collect() if f.name == metric]
    missing = {reason for reason in reasons if reason not in family.documentation}
    assert not missing, f"{metric} help lacks {sorted(missing)}"


def test_dedupe_suppressions_no_longer_name_github_redeliveries() -> None:
    """A redelivery is a duplicate webhook (webhooks_received_total), not a suppressed event."""
    [family] = [
        f for f in Metrics().registry.collect() if f.name == "alertbridge_dedupe_suppressed"
    ]
    assert "github_redelivery" not in family.documentation
