import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fixture_files import load_fixture_json
from multidict import CIMultiDict

from bridge.model import Webhook
from bridge.sources.github import parse_github

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _parse(event: str, payload: dict[str, Any]) -> Webhook:
    headers = CIMultiDict({"Content-Type": "application/json", "X-GitHub-Event": event})
    return parse_github(headers, json.dumps(payload).encode(), RECEIVED)


def test_dependabot_fix_shares_the_fingerprint_of_the_alert() -> None:
    data = load_fixture_json("github", "octokit-dependabot_alert.created.json")
    [created] = _parse("dependabot_alert", data).events
    data["action"], data["alert"]["state"] = "fixed", "fixed"
    [fixed] = _parse("dependabot_alert", data).events
    assert (created.outcome, fixed.outcome) == ("failure", "success")
    assert created.fingerprint == fixed.fingerprint


@pytest.mark.parametrize(
    ("event", "action", "state"),
    [
        ("dependabot_alert", "dismissed", "dismissed"),
        ("dependabot_alert", "auto_dismissed", "auto_dismissed"),
        ("code_scanning_alert", "closed_by_user", "dismissed"),
    ],
    ids=["dependabot-dismissed", "dependabot-auto-dismissed", "code-scanning-dismissed"],
)
def test_dismissed_security_alert_resolves_the_alert_it_closes(
    event: str, action: str, state: str
) -> None:
    """Dismissing is closing: the alert's earlier failure must end, not stay open for good."""
    data = load_fixture_json("github", f"octokit-{event}.created.json")
    [created] = _parse(event, data).events
    data["action"], data["alert"]["state"] = action, state
    [dismissed] = _parse(event, data).events
    assert (created.outcome, dismissed.outcome) == ("failure", "success")
    assert dismissed.fingerprint == created.fingerprint


LEAKED = "ghp_LEAKED_SECRET_VALUE_1234567890"


def test_secret_scanning_alert_never_carries_the_secret() -> None:
    data = load_fixture_json("github", "octokit-secret_scanning_alert.reopened.json")
    data["alert"]["secret"] = LEAKED
    data["alert"]["html_url"] = (
        "https://github.com/Codertocat/Hello-World/security/secret-scanning/191"
    )
    webhook = _parse("secret_scanning_alert", data)
    [event] = webhook.events
    shown = [
        event.title,
        event.summary,
        event.url,
        *event.labels.values(),
        *event.annotations.values(),
        json.dumps(event.raw),
        json.dumps(webhook.raw),
    ]
    assert not any(LEAKED in text for text in shown)
    assert "secret" not in event.raw["alert"]
    assert event.raw["alert"]["secret_type"] == "adafruit_io_key"
    assert event.outcome == "failure"


def test_secret_scanning_resolution_succeeds_with_the_same_fingerprint() -> None:
    data = load_fixture_json("github", "octokit-secret_scanning_alert.reopened.json")
    [reopened] = _parse("secret_scanning_alert", data).events
    data["action"], data["alert"]["resolution"] = "resolved", "revoked"
    [resolved] = _parse("secret_scanning_alert", data).events
    assert resolved.outcome == "success"
    assert resolved.fingerprint == reopened.fingerprint
