"""What the sender says beside its alerts reaches the message: how many alerts it left out
(truncatedAlerts), and the values that fired a Grafana alert in every Grafana format."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import fixture_json

from bridge.errors import PayloadError
from bridge.model import Webhook
from bridge.render.renderer import Renderer
from bridge.routing.router import Route
from bridge.sources.alertmanager import parse_alertmanager
from bridge.sources.grafana import parse_grafana

ROUTE = Route("phone", None, (), (), None, None, 0.0, True, False)
NOW = datetime(2026, 12, 5, tzinfo=UTC)


def text_of(webhook: Webhook) -> str:
    return "\n".join(Renderer(None).render(ROUTE, webhook.events, webhook).parts)


def with_truncated(payload: dict[str, Any], left_out: object) -> bytes:
    return json.dumps({**payload, "truncatedAlerts": left_out}).encode()


@pytest.mark.parametrize(
    ("source", "fixture", "sender"),
    [
        ("alertmanager", "zulip-alert-firing-2alerts.json", "Alertmanager"),
        ("grafana", "zulip-alert-9-multiple-3alerts.json", "Grafana"),
    ],
    ids=["alertmanager", "grafana"],
)
def test_alerts_the_sender_left_out_are_counted_in_the_message(
    source: str, fixture: str, sender: str
) -> None:
    parse = parse_alertmanager if source == "alertmanager" else parse_grafana
    payload = fixture_json(source, fixture)
    cut = text_of(parse(with_truncated(payload, 40), NOW))
    assert f"+40 more alerts not sent by {sender}" in cut
    whole = text_of(parse(with_truncated(payload, 0), NOW))
    assert "not sent by" not in whole


@pytest.mark.parametrize("left_out", [-1, 1.5, "many"], ids=["negative", "fraction", "word"])
def test_a_truncated_alerts_count_that_is_not_a_count_is_refused(left_out: object) -> None:
    payload = fixture_json("alertmanager", "zulip-alert-firing-2alerts.json")
    with pytest.raises(PayloadError, match="truncatedAlerts"):
        parse_alertmanager(with_truncated(payload, left_out), NOW)


def test_grafana_values_come_from_value_string_when_there_is_no_values_map() -> None:
    """Grafana 9.0-9.2 send only valueString."""
    payload = fixture_json("grafana", "zulip-alert-9-multiple-3alerts.json")
    for alert in payload["alerts"]:
        alert.pop("values", None)
    text = text_of(parse_grafana(json.dumps(payload).encode(), NOW))
    assert "values: B=17, C=1" in text
    assert "values: B=24, C=1" in text


def test_legacy_grafana_eval_matches_are_shown_as_values() -> None:
    legacy = {
        "title": "[Alerting] Disk full",
        "ruleId": 7,
        "ruleName": "Disk full",
        "state": "alerting",
        "message": "Disk almost full",
        "ruleUrl": "https://grafana.example.com/d/abc",
        "evalMatches": [{"value": 97.5, "metric": "used_percent", "tags": None}],
    }
    text = text_of(parse_grafana(json.dumps(legacy).encode(), NOW))
    # The underscore is shown as a look-alike (WhatsApp would read _..._ as italics).
    assert "values: usedˍpercent=97.5" in text
