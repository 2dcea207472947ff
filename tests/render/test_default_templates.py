"""Default templates per source, on real payloads: one readable message per webhook."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.model import Event, SourceName, Webhook
from bridge.render.renderer import Renderer
from bridge.routing.router import Route
from bridge.sources.grafana import parse_grafana

ROUTE = Route("phone", None, (), (), None, None, 0.0, True, False)


def fixture(source: str, name: str) -> dict[str, Any]:
    """A payload from tests/fixtures, or from the shared copy until it is copied in."""
    for root in (Path(__file__).parents[1] / "fixtures", Path("/work/shared/fixtures")):
        path = root / source / name
        if path.exists():
            loaded: dict[str, Any] = json.loads(path.read_text())
            return loaded
    raise FileNotFoundError(f"{source}/{name}")


def when(text: str | None) -> datetime | None:
    """Alertmanager times (nanoseconds, Z; year 1 means unset) as datetimes."""
    if not text or text.startswith("0001-"):
        return None
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00"))


def alerting_webhook(source: SourceName, payload: dict[str, Any]) -> Webhook:
    """Events as the sources parser makes them, reduced to what the templates read."""
    events = [
        Event(
            source=source,
            fingerprint=alert.get("fingerprint", str(index)),
            status=alert.get("status", payload["status"]),
            labels=alert["labels"],
            annotations=alert["annotations"],
            title=alert["labels"].get("alertname", ""),
            summary=alert["annotations"].get("summary", ""),
            url=alert.get("generatorURL", ""),
            starts_at=when(alert.get("startsAt")),
            ends_at=when(alert.get("endsAt")),
            severity=alert["labels"].get("severity", ""),
            image_url=alert.get("imageURL"),
            raw=alert,
        )
        for index, alert in enumerate(payload["alerts"])
    ]
    return Webhook(source, events, external_url=payload.get("externalURL", ""), raw=payload)


def render(webhook: Webhook) -> str:
    rendered = Renderer(None).render(ROUTE, webhook.events, webhook)
    assert not rendered.fell_back, rendered.error
    return rendered.text


def test_alertmanager_single_firing_alert_reads_well() -> None:
    payload = fixture("alertmanager", "zulip-alert-firing-2alerts.json")
    payload["alerts"] = payload["alerts"][:1]
    payload["alerts"][0]["labels"] |= {"instance": "cobalt:9100", "job": "node"}
    assert render(alerting_webhook("alertmanager", payload)) == (
        "🔥 *FIRING* · CRITICAL\n"
        "*High CPU Temperature*\n"
        "High CPU core temperature\n"
        "CPU core temperature is 34.75C\n"
        "instance: cobalt:9100 · host: andromeda · job: node\n"
        "since 2020-02-06 00:17 UTC\n" + payload["alerts"][0]["generatorURL"]
    )


def test_alertmanager_group_is_one_message_listing_every_alert() -> None:
    webhook = alerting_webhook(
        "alertmanager",
        fixture("alertmanager", "msteams-firing-12alerts-nested-route-groupkey.json"),
    )
    text = render(webhook)
    # The header says what every alert of the group shares (the look-alike ˍ is WhatsApp-safe).
    header = "🔥 *12 firing*\nalertname: NodeEvent · job: dataˍcollector\n\n"
    assert text.startswith(header + "🔥 *FIRING* · PAGE\n*NodeEvent*\n")
    assert text.count("🔥 *FIRING*") == 12
    assert len(text) <= 4096
    # Summaries quote hosts in backticks; they must not turn into monospace.
    assert "Server is down. ˋinfrastructure002Aˋ - ˋuser3environmentcˋ" in text
    assert "job: dataˍcollector" in text
    assert "user3tance" not in text  # only key labels, not all of them


def test_alertmanager_resolved_alert_says_resolved() -> None:
    text = render(
        alerting_webhook(
            "alertmanager", fixture("alertmanager", "zulip-single_alert-resolved.json")
        )
    )
    assert text.startswith("✅ *RESOLVED* · CRITICAL\n*High CPU Temperature*\n")
    assert "🔥" not in text
    assert "since" not in text  # the fixture has no endsAt; a start time would mislead


def test_alertmanager_resolved_alert_says_when() -> None:
    payload = fixture("alertmanager", "zulip-single_alert-resolved.json")
    payload["alerts"][0]["endsAt"] = "2020-02-06T01:02:03Z"
    assert "\nresolved 2020-02-06 01:02 UTC\n" in render(alerting_webhook("alertmanager", payload))


def test_grafana_group_lists_alerts_with_key_labels_and_escaped_summaries() -> None:
    text = render(
        alerting_webhook("grafana", fixture("grafana", "zulip-alert-9-multiple-3alerts.json"))
    )
    assert text.startswith("🔥 *3 firing*\n\n")
    assert text.count("🔥 *FIRING*") == 3
    assert "instance: badhost.example.com · job: rabbitmq" in text
    assert "Testing ∗∗another∗∗ failing alert" in text
    assert "runbook: https://example.com/" in text


def grafana_webhook(name: str) -> Webhook:
    """A Grafana fixture as the Grafana source parses it (its links included)."""
    return parse_grafana(json.dumps(fixture("grafana", name)).encode(), datetime.now(UTC))


def test_grafana_values_panel_and_silence_links_are_shown() -> None:
    payload = fixture("grafana", "zulip-alert_values_v11-values-image.json")
    alert = payload["alerts"][0]
    text = render(grafana_webhook("zulip-alert_values_v11-values-image.json"))
    assert "values: A=2473545728 · B=0 · C=1 · minute=9" in text
    assert text.endswith(f"\n{alert['panelURL']}\nSilence: {alert['silenceURL']}")
    assert "dashboard:" not in text  # the panel link opens the dashboard already


@pytest.mark.parametrize(
    ("name", "silence_lines"),
    [("zulip-alert-9-multiple-3alerts.json", 3), ("zulip-alert-9-resolved.json", 0)],
    ids=["each-firing-alert", "not-when-resolved"],
)
def test_grafana_rule_link_and_silence_link_of_each_alert(name: str, silence_lines: int) -> None:
    payload = fixture("grafana", name)
    text = render(grafana_webhook(name))
    for alert in payload["alerts"]:
        assert f"\n{alert['generatorURL']}\n" in f"{text}\n"  # no panel or dashboard: the rule
        assert (f"\nSilence: {alert['silenceURL']}" in text) == bool(silence_lines)
    assert text.count("Silence: ") == silence_lines


def test_grafana_silence_links_give_way_when_many_alerts_fire() -> None:
    payload = fixture("grafana", "zulip-alert-9-multiple-3alerts.json")
    payload["alerts"] = [dict(payload["alerts"][0], fingerprint=str(i)) for i in range(4)]
    webhook = parse_grafana(json.dumps(payload).encode(), datetime.now(UTC))
    text = render(webhook)
    assert text.count("🔥 *FIRING*") == 4 and "Silence:" not in text


def test_description_is_shown_when_it_differs_from_the_summary() -> None:
    payload = fixture("alertmanager", "zulip-alert-firing-2alerts.json")
    first = payload["alerts"][0]
    first["annotations"] = {"summary": "Disk almost full", "description": "on /var: 95%"}
    second = dict(first, fingerprint="2")
    second["annotations"] = {"summary": "Disk almost full", "description": "on /home: 97%"}
    payload["alerts"] = [first, second]
    text = render(alerting_webhook("alertmanager", payload))
    assert "*High CPU Temperature*\nDisk almost full\non /var: 95%\n" in text
    assert "*High CPU Temperature*\nDisk almost full\non /home: 97%\n" in text


@pytest.mark.parametrize(
    "annotations",
    [{"summary": "same text", "description": "same text\n"}, {"description": "same text"}],
    ids=["equal-to-summary", "description-only"],
)
def test_description_equal_to_the_summary_is_said_once(annotations: dict[str, str]) -> None:
    payload = fixture("alertmanager", "zulip-single_alert-resolved.json")
    payload["alerts"][0]["annotations"] = annotations
    text = render(alerting_webhook("alertmanager", payload))
    assert text.count("same text") == 1


def test_github_failed_job_reads_as_ci_failed() -> None:
    payload = fixture("github", "octokit-workflow_job.completed.failure.with-organization.json")
    job = payload["workflow_job"]
    event = Event(
        source="github",
        fingerprint=str(job["run_id"]),
        status="firing",
        labels={
            "event": "workflow_job",
            "action": payload["action"],
            "repository": payload["repository"]["full_name"],
            "branch": job["head_branch"],
            "workflow": job["workflow_name"],
            "conclusion": job["conclusion"],
            "sender": payload["sender"]["login"],
        },
        title="CI failed",
        summary=f"job {job['name']}",
        url=job["html_url"],
        outcome="failure",
        raw=payload,
    )
    text = render(Webhook("github", [event], kind="workflow_job", raw=payload))
    assert text == (
        "🔴 *CI failed* — CodeQL on main\n"
        "job linters\n"
        "repo: Codertocat/Hello-World · by Codertocat\n"
        "https://github.com/octo-org/octo-repo/runs/1291536064"
    )


def test_github_dependabot_alert_shows_severity() -> None:
    payload = fixture("github", "octokit-dependabot_alert.created.json")
    alert = payload["alert"]
    event = Event(
        source="github",
        fingerprint=str(alert["number"]),
        status="firing",
        labels={
            "event": "dependabot_alert",
            "action": "created",
            "repository": payload["repository"]["full_name"],
        },
        title="Dependabot alert",
        summary=alert["security_advisory"]["summary"],
        url=alert["html_url"],
        severity=alert["security_advisory"]["severity"],
    )
    text = render(Webhook("github", [event], kind="dependabot_alert"))
    assert text.startswith(
        "🔔 *Dependabot alert*\nsemver vulnerable to Regular Expression Denial of Service\n"
    )
    assert "severity: *MEDIUM*" in text
    assert text.endswith(alert["html_url"])


def test_github_event_without_title_names_event_and_action() -> None:
    event = Event("github", "1", "firing", {"event": "release", "action": "published"})
    assert render(Webhook("github", [event])) == "🔔 *release published*"


def test_github_title_is_not_repeated_by_workflow_branch_or_repository() -> None:
    labels = {
        "event": "workflow_job",
        "repository": "octo-org/octo-repo",
        "workflow": "CodeQL",
        "branch": "main",
        "sender": "octocat",
    }
    event = Event(
        source="github",
        fingerprint="1",
        status="firing",
        labels=labels,
        title="CI failed: CodeQL / linters in octo-org/octo-repo",
        url="https://github.com/octo-org/octo-repo/runs/1",
        severity="error",
        outcome="failure",
    )
    assert render(Webhook("github", [event])) == (
        "🔴 *CI failed: CodeQL / linters in octo-org/octo-repo* on main\n"
        "by octocat\n"
        "https://github.com/octo-org/octo-repo/runs/1"
    )


def test_github_sender_is_not_repeated_when_the_summary_names_it() -> None:
    from multidict import CIMultiDict

    from bridge.sources.github import parse_github

    body = json.dumps(fixture("github", "octokit-release.published.json")).encode()
    webhook = parse_github(CIMultiDict({"X-GitHub-Event": "release"}), body, datetime.now())
    text = render(webhook)
    assert "Codertocat" in text
    assert text.count("by Codertocat") == 1, text


def test_a_several_alert_header_names_only_the_labels_every_alert_shares() -> None:
    payload = fixture("alertmanager", "zulip-alert-firing-2alerts.json")
    shared = render(alerting_webhook("alertmanager", payload))
    assert shared.splitlines()[1] == "alertname: High CPU Temperature · host: andromeda"
    payload["alerts"][1]["labels"]["host"] = "cassiopeia"
    apart = render(alerting_webhook("alertmanager", payload))
    assert apart.splitlines()[1] == "alertname: High CPU Temperature"
    payload["alerts"] = payload["alerts"][:1]
    single = render(alerting_webhook("alertmanager", payload))
    assert "alertname:" not in single
