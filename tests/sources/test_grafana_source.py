import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fixture_files import load_fixture, load_fixture_json
from multidict import CIMultiDict

from bridge.config.schema import GrafanaSourceConfig
from bridge.errors import PayloadError
from bridge.model import Event
from bridge.sources.grafana import GrafanaSource, parse_grafana

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_firing_group_becomes_one_grafana_event_per_alert() -> None:
    body = load_fixture("grafana", "zulip-alert-9-multiple-3alerts.json")
    webhook = parse_grafana(body, RECEIVED)

    assert webhook.source == "grafana"
    assert webhook.receiver == "Webhook test"
    assert webhook.raw == json.loads(body)
    assert len(webhook.events) == 3
    first = webhook.events[0]
    assert first.source == "grafana"
    assert first.status == "firing"
    assert first.fingerprint == "aaafafe0953f0962"
    assert first.title == "Test alert"
    assert first.labels["instance"] == "badhost.example.com"
    assert first.summary == "This is a summary field, failure on badhost.example.com"
    # No dashboard or panel linked: the rule view is the only link.
    assert first.url == "https://grafana.example.com/alerting/grafana/zTjxv_C7k/view"
    assert first.image_url is None
    assert first.starts_at == datetime(2022, 6, 17, 1, 11, 0, 782137, UTC)
    assert first.ends_at is None
    assert first.raw == json.loads(body)["alerts"][0]
    assert webhook.events[2].title == "Second webhook test"


def test_resolved_group_becomes_resolved_events_with_their_end_time() -> None:
    webhook = parse_grafana(load_fixture("grafana", "zulip-alert-9-resolved.json"), RECEIVED)
    [event] = webhook.events
    assert event.status == "resolved"
    assert event.fingerprint == "d8a21484c9c25a60"
    assert event.ends_at == datetime(2022, 6, 17, 0, 51, 24, 67337, UTC)
    assert webhook.group_key == '{}/{test="true"}:{}'
    assert webhook.external_url == "https://grafana.example.com/"


def test_screenshot_and_panel_link_are_kept() -> None:
    webhook = parse_grafana(
        load_fixture("grafana", "zulip-alert_values_v11-values-image.json"), RECEIVED
    )
    [event] = webhook.events
    assert event.image_url == "https://grafana.com/assets/img/blog/mixed_styles.png"
    assert event.url == (
        "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?orgId=1&viewPanel=2"
    )
    assert event.summary == "High memory usage"


def test_dashboard_link_is_used_when_there_is_no_panel_link() -> None:
    data = load_fixture_json("grafana", "zulip-alert_values_v11-values-image.json")
    data["alerts"][0]["panelURL"] = ""
    [event] = parse_grafana(json.dumps(data).encode(), RECEIVED).events
    assert event.url == "https://play.grafana.org/d/ece9fb32-7f71-4be9-bd94-2f23608ae5b9?orgId=1"


def test_alertmanager_format_body_is_accepted_on_the_grafana_endpoint() -> None:
    body = load_fixture("alertmanager", "zulip-alert-firing-2alerts.json")
    webhook = parse_grafana(body, RECEIVED)
    assert webhook.source == "grafana"
    assert [e.source for e in webhook.events] == ["grafana", "grafana"]
    assert webhook.events[0].fingerprint == "a1bc48475b20e73d"
    assert webhook.events[0].url.startswith("http://cobalt:9090/graph")


def _legacy(state: str, **fields: Any) -> bytes:
    """A legacy dashboard-alerting body, shaped after Grafana's old webhook notifier docs."""
    body = {
        "title": f"[{state}] Panel Title alert",
        "ruleId": 1,
        "ruleName": "Panel Title alert",
        "ruleUrl": "http://grafana.example/d/abc?tab=alert&editPanel=2&orgId=1",
        "state": state,
        "imageUrl": "https://grafana.example/render/panel.png",
        "message": "Someone is testing the alert notification within Grafana.",
        "evalMatches": [
            {"value": 100, "metric": "High value", "tags": None},
            {"value": 200.5, "metric": "Higher Value", "tags": None},
        ],
        "orgId": 1,
        "dashboardId": 1,
        "panelId": 2,
        "tags": {"severity": "warning", "team": "db"},
        **fields,
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("state", "status"),
    [("alerting", "firing"), ("no_data", "firing"), ("ok", "resolved")],
    ids=["alerting-fires", "no-data-fires", "ok-resolves"],
)
def test_legacy_alert_becomes_one_event(state: str, status: str) -> None:
    webhook = parse_grafana(_legacy(state), RECEIVED)
    [event] = webhook.events
    assert event.source == "grafana"
    assert event.status == status
    assert event.title == "Panel Title alert"
    assert event.labels == {
        "alertname": "Panel Title alert",
        "state": state,
        "severity": "warning",
        "team": "db",
    }
    assert event.severity == "warning"
    assert event.summary == "Someone is testing the alert notification within Grafana."
    assert event.url == "http://grafana.example/d/abc?tab=alert&editPanel=2&orgId=1"
    assert event.image_url == "https://grafana.example/render/panel.png"
    assert event.annotations["values"] == "High value=100, Higher Value=200.5"


def test_legacy_ok_resolves_the_same_fingerprint_its_alerting_fired() -> None:
    firing = parse_grafana(_legacy("alerting"), RECEIVED).events[0]
    resolved = parse_grafana(_legacy("ok"), RECEIVED).events[0]
    other_rule = parse_grafana(_legacy("alerting", ruleId=2), RECEIVED).events[0]
    assert firing.fingerprint == resolved.fingerprint
    assert firing.fingerprint != other_rule.fingerprint


@pytest.mark.parametrize("with_rule_id", [True, False], ids=["by-rule-id", "by-rule-name"])
def test_legacy_rules_of_the_same_name_in_two_orgs_have_two_fingerprints(
    with_rule_id: bool,
) -> None:
    """Rule ids and names are per org: one org's ok must not resolve another's alerting."""

    def event(state: str, org: int) -> Event:
        data = json.loads(_legacy(state, orgId=org))
        if not with_rule_id:
            del data["ruleId"]  # then the rule is known by its name alone
        return parse_grafana(json.dumps(data).encode(), RECEIVED).events[0]

    assert event("alerting", 1).fingerprint == event("ok", 1).fingerprint
    assert event("alerting", 1).fingerprint != event("alerting", 2).fingerprint


@pytest.mark.parametrize("state", ["paused", "pending"])
def test_legacy_paused_and_pending_give_no_events(state: str) -> None:
    assert parse_grafana(_legacy(state), RECEIVED).events == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "malformed JSON: Expecting value"),
        (b'{"receiver": "x"}', "missing field 'alerts'"),
        (json.dumps({"version": "2", "alerts": []}).encode(),
         "unsupported version '2': expected \"1\" or \"4\""),
        (json.dumps({"version": "1", "status": "firing", "alerts": [{"labels": {},
                     "imageURL": 5}]}).encode(),
         "alerts[0].imageURL must be a string, got number"),
        (_legacy("broken"),
         "state must be 'ok', 'paused', 'alerting', 'pending' or 'no_data', got \"broken\""),
        (_legacy("alerting", evalMatches={}), "evalMatches must be an array, got object"),
        (_legacy("alerting", tags={"a": ["b"]}), "tags.a must be a string, got array"),
        (json.dumps({"version": "1", "status": "firing", "alerts": [{"labels": {},
                     "endsAt": "9999-12-31T23:59:59-05:00"}]}).encode(),
         "alerts[0].endsAt: '9999-12-31T23:59:59-05:00' is out of range"),
        (b'{"ruleId": ' + b"1" * 4301 + b', "state": "alerting"}',
         "malformed JSON: Exceeds the limit (4300 digits)"),
    ],
    ids=["malformed", "no-alerts-not-legacy", "unknown-version", "image-url-number",
         "legacy-bad-state", "legacy-eval-matches-object", "legacy-tag-array",
         "end-after-year-9999-in-utc", "4301-digit-rule-id"],
)  # fmt: skip
def test_bad_grafana_body_is_refused_saying_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_grafana(body, RECEIVED)
    assert str(caught.value).startswith(message)


def test_source_parse_gives_grafana_events_and_reports_no_auth() -> None:
    source = GrafanaSource(GrafanaSourceConfig())
    assert not source.auth_configured
    body = load_fixture("grafana", "zulip-alert-9-resolved.json")
    webhook = source.parse(CIMultiDict(), body, RECEIVED)
    assert [e.status for e in webhook.events] == ["resolved"]
