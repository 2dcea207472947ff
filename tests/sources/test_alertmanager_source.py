import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fixture_files import load_fixture, load_fixture_json
from multidict import CIMultiDict
from pydantic import SecretStr

from bridge.config.schema import AlertmanagerSourceConfig, AuthConfig
from bridge.errors import AuthError, PayloadError
from bridge.sources.alertmanager import AlertmanagerSource, label_fingerprint, parse_alertmanager

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
GO_ZERO_TIME = "0001-01-01T00:00:00Z"


def test_firing_alerts_become_firing_events_with_the_senders_fingerprints() -> None:
    body = load_fixture("alertmanager", "zulip-alert-firing-2alerts.json")
    webhook = parse_alertmanager(body, RECEIVED)

    assert webhook.source == "alertmanager"
    assert webhook.group_key == "{}/{}:{}"
    assert webhook.receiver == "ops-zulip"
    assert webhook.external_url == "http://ops1:9093"
    assert webhook.raw == json.loads(body)
    assert [e.fingerprint for e in webhook.events] == ["a1bc48475b20e73d", "c2ea85182f28cbd9"]
    first = webhook.events[0]
    assert first.source == "alertmanager"
    assert first.status == "firing"
    assert first.labels == {
        "alertname": "High CPU Temperature",
        "host": "andromeda",
        "severity": "critical",
    }
    assert first.annotations["topic"] == "andromeda"
    assert first.title == "High CPU Temperature"
    assert first.summary == "High CPU core temperature"
    assert first.url.startswith("http://cobalt:9090/graph?g0.expr=")
    assert first.severity == "critical"
    assert first.starts_at == datetime(2020, 2, 6, 0, 17, 58, 432911, UTC)
    assert first.ends_at is None
    assert first.received_at == RECEIVED
    assert first.raw == json.loads(body)["alerts"][0]
    assert webhook.events[1].annotations["description"] == "CPU core temperature is 17.625C"


def test_resolved_alert_becomes_a_resolved_event() -> None:
    webhook = parse_alertmanager(
        load_fixture("alertmanager", "zulip-single_alert-resolved.json"), RECEIVED
    )
    [event] = webhook.events
    assert event.status == "resolved"
    assert event.fingerprint == "a1bc48475b20e73d"


def test_resolved_alert_end_time_is_parsed() -> None:
    data = load_fixture_json("alertmanager", "zulip-single_alert-resolved.json")
    data["alerts"][0]["endsAt"] = "2020-02-06T00:27:58.1234567+01:00"
    [event] = parse_alertmanager(json.dumps(data).encode(), RECEIVED).events
    assert event.ends_at == datetime(2020, 2, 5, 23, 27, 58, 123456, UTC)


def test_old_payload_takes_group_status_and_computes_the_label_fingerprint() -> None:
    body = load_fixture("alertmanager", "msteams-prom_post_request-firing-1alert.json")
    [event] = parse_alertmanager(body, RECEIVED).events
    assert event.status == "firing"
    assert event.fingerprint == label_fingerprint(event.labels)
    assert event.severity == "warning"
    assert event.summary == "Server High Memory usage"
    assert event.url == ""
    assert event.starts_at == datetime(2018, 3, 7, 11, 33, 21, 873077, UTC)


def test_old_resolved_payload_takes_resolved_from_the_group_status() -> None:
    data = load_fixture_json("alertmanager", "msteams-firing-2alerts.json")
    data["status"] = "resolved"
    events = parse_alertmanager(json.dumps(data).encode(), RECEIVED).events
    assert [e.status for e in events] == ["resolved", "resolved"]


def test_every_alert_of_a_big_group_is_an_event() -> None:
    body = load_fixture("alertmanager", "msteams-firing-12alerts-nested-route-groupkey.json")
    webhook = parse_alertmanager(body, RECEIVED)
    assert len(webhook.events) == 12
    assert webhook.group_key.endswith(':{alertname="NodeEvent"}')
    assert webhook.receiver == "prometheus-tool-dev"
    assert len({e.fingerprint for e in webhook.events}) == 12


@pytest.mark.parametrize(
    ("labels", "fingerprint"),
    [
        ({"alertname": "alert1", "lbl1": "val1"}, "fac0861a85de433a"),
        (
            {"alertname": "High CPU Temperature", "host": "andromeda", "severity": "critical"},
            "a1bc48475b20e73d",
        ),
        ({}, "cbf29ce484222325"),
    ],
    ids=["documented-example", "zulip-capture", "empty-label-set"],
)
def test_label_fingerprint_matches_alertmanager(labels: dict[str, str], fingerprint: str) -> None:
    assert label_fingerprint(labels) == fingerprint


def test_label_fingerprint_ignores_label_order() -> None:
    assert label_fingerprint({"b": "2", "a": "1"}) == label_fingerprint({"a": "1", "b": "2"})


def test_summary_falls_back_to_description() -> None:
    data = load_fixture_json("alertmanager", "zulip-single_alert-resolved.json")
    del data["alerts"][0]["annotations"]["summary"]
    [event] = parse_alertmanager(json.dumps(data).encode(), RECEIVED).events
    assert event.summary == "CPU core temperature is 34.75C"


def _alert(**fields: Any) -> dict[str, Any]:
    return {"status": "firing", "labels": {"alertname": "A"}, "annotations": {}, **fields}


def _body(**fields: Any) -> bytes:
    payload = {"version": "4", "status": "firing", "alerts": [_alert()], **fields}
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "malformed JSON: Expecting property name enclosed in double quotes"),
        (b"", "malformed JSON: Expecting value"),
        (b"\xff\xfe{}", "malformed JSON"),
        (b"[]", "expected a JSON object, got array"),
        (b"{}", "missing field 'alerts'"),
        (_body(alerts={}), "alerts must be an array, got object"),
        (_body(alerts=[_alert(), _alert(), _alert(labels=["a"])]),
         "alerts[2].labels must be an object, got array"),
        (_body(alerts=[_alert(labels={"severity": 3})]),
         "alerts[0].labels.severity must be a string, got number"),
        (_body(alerts=[{"status": "firing"}]), "missing field 'alerts[0].labels'"),
        (_body(alerts=[_alert(status="broken")]),
         "alerts[0].status must be 'firing' or 'resolved', got \"broken\""),
        (_body(alerts=[_alert(startsAt="yesterday")]),
         "alerts[0].startsAt: 'yesterday' is not an RFC 3339 timestamp"),
        (_body(alerts=[_alert(endsAt=17)]),
         "alerts[0].endsAt: expected an RFC 3339 timestamp string, got number"),
        (_body(alerts=[_alert(endsAt="9999-12-31T23:59:59-05:00")]),
         "alerts[0].endsAt: '9999-12-31T23:59:59-05:00' is out of range"),
        (b'{"alerts": [], "count": ' + b"7" * 5000 + b"}",
         "malformed JSON: Exceeds the limit (4300 digits) for integer string conversion"),
        (_body(status=None, alerts=[{"labels": {}}]),
         "missing field 'alerts[0].status' (and no top-level status)"),
        (_body(version="1"), "unsupported version '1': expected \"4\""),
        (_body(receiver=5, groupKey=[]),
         "receiver must be a string, got number; groupKey must be a string, got array"),
    ],
    ids=["truncated", "empty", "not-utf8", "array", "no-alerts", "alerts-object",
         "labels-array", "label-value-number", "alert-without-labels", "bad-status",
         "bad-timestamp", "timestamp-number", "end-after-year-9999-in-utc", "5000-digit-number",
         "no-status-anywhere", "grafana-version", "two-problems"],
)  # fmt: skip
def test_bad_body_is_refused_saying_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager(body, RECEIVED)
    assert str(caught.value).startswith(message)


LONG = "x" * 200_000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_body(alerts=[_alert(status=LONG)]),
         "alerts[0].status must be 'firing' or 'resolved', got \"xxx"),
        (_body(alerts=[_alert(status={"nested": LONG})]),
         "alerts[0].status must be 'firing' or 'resolved', got {\"nested\": \"xxx"),
        (_body(alerts=[_alert(startsAt=LONG)]), "alerts[0].startsAt: 'xxx"),
        (_body(version=LONG), "unsupported version 'xxx"),
        (_body(alerts=[_alert(labels={LONG: 1})]), "alerts[0].labels[\"xxx"),
        (_body(alerts=[_alert(labels={"a" * 200_000: 1})]), "alerts[0].labels[\"aaa"),
    ],
    ids=["status", "status-object", "timestamp", "version", "label-name", "identifier-label"],
)  # fmt: skip
def test_errors_quote_only_the_start_of_a_long_value(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_alertmanager(body, RECEIVED)
    error = str(caught.value)
    assert error.startswith(message)
    assert "…" in error and len(error) < 250, len(error)


def test_go_zero_end_time_and_null_annotations_are_tolerated() -> None:
    body = _body(alerts=[_alert(annotations=None, endsAt=GO_ZERO_TIME, startsAt="")])
    [event] = parse_alertmanager(body, RECEIVED).events
    assert event.annotations == {}
    assert event.ends_at is None and event.starts_at is None


def test_source_checks_the_configured_bearer_token() -> None:
    source = AlertmanagerSource(
        AlertmanagerSourceConfig(auth=AuthConfig(bearer_token=SecretStr("tok")))
    )
    assert source.auth_configured
    source.authenticate(CIMultiDict({"authorization": "Bearer tok"}), b"{}", 0.0)
    with pytest.raises(AuthError, match="wrong bearer token"):
        source.authenticate(CIMultiDict({"Authorization": "Bearer tak"}), b"{}", 0.0)


def test_source_without_auth_accepts_anything_and_says_so() -> None:
    source = AlertmanagerSource(AlertmanagerSourceConfig())
    assert not source.auth_configured
    source.authenticate(CIMultiDict(), b"{}", 0.0)


def test_source_parse_gives_alertmanager_events() -> None:
    source = AlertmanagerSource(AlertmanagerSourceConfig())
    body = load_fixture("alertmanager", "msteams-firing-2alerts.json")
    webhook = source.parse(CIMultiDict({"Content-Type": "application/json"}), body, RECEIVED)
    assert [e.source for e in webhook.events] == ["alertmanager", "alertmanager"]
