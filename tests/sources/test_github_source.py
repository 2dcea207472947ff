import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import yaml
from fixture_files import load_fixture, load_fixture_json
from multidict import CIMultiDict
from pydantic import SecretStr

from bridge.config.schema import GithubSourceConfig
from bridge.errors import AuthError, PayloadError
from bridge.model import Event, Webhook
from bridge.routing.matchers import parse_matcher
from bridge.sources.auth import hmac_sha256_hex
from bridge.sources.github import GithubSource, parse_github

RECEIVED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _headers(event: str, content_type: str = JSON, **extra: str) -> CIMultiDict[str]:
    headers = CIMultiDict(
        {
            "Content-Type": content_type,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
            "X-GitHub-Hook-ID": "292430182",
        }
    )
    headers.update(extra)
    return headers


def _parse(event: str, body: bytes | dict[str, Any], content_type: str = JSON) -> Webhook:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_github(_headers(event, content_type), raw, RECEIVED)


# (fixture, X-GitHub-Event, outcome, title, url, labels that must be present)
CASES: list[tuple[str, str, str | None, str, str, dict[str, str]]] = [
    ("octokit-workflow_run.completed.success.json", "workflow_run", "success",
     "CI passed: test on master", "https://github.com/octo-org/octo-repo/actions/runs/289782451",
     {"workflow": "test", "branch": "master", "conclusion": "success", "action": "completed",
      "repository": "octo-org/octo-repo", "head_repository": "octo-org/octo-repo",
      "trigger": "repository_dispatch"}),
    ("octokit-workflow_run.completed.success.with-pull-requests.json", "workflow_run", "success",
     "CI passed: test on master", "https://github.com/octo-org/octo-repo/actions/runs/289782451",
     {"workflow": "test", "conclusion": "success"}),
    ("octokit-workflow_job.completed.failure.with-organization.json", "workflow_job", "failure",
     "CI failed: CodeQL / linters on main", "https://github.com/octo-org/octo-repo/runs/1291536064",
     {"workflow": "CodeQL", "job": "linters", "branch": "main", "conclusion": "failure",
      "severity": "error"}),
    ("octokit-workflow_job.completed.success.with-organization.json", "workflow_job", "success",
     "CI passed: CodeQL / linters on main", "https://github.com/octo-org/octo-repo/runs/1291536064",
     {"conclusion": "success", "severity": "info"}),
    ("octokit-check_run.completed.failure.json", "check_run", "failure",
     "Check failed: Octocoders-linter on changes",
     "https://github.com/Codertocat/Hello-World/runs/128620228",
     {"check": "Octocoders-linter", "branch": "changes", "conclusion": "failure"}),
    ("octokit-check_run.completed.success.json", "check_run", "success",
     "Check passed: Octocoders-linter on changes",
     "https://github.com/Codertocat/Hello-World/runs/128620228", {"conclusion": "success"}),
    ("octokit-check_suite.completed.json", "check_suite", "success",
     "Checks passed: Codertocat/Hello-World on changes",
     "https://github.com/Codertocat/Hello-World/commit/ec26c3e57ca3a959ca5aad62de7213c562f8c821",
     {"branch": "changes", "conclusion": "success"}),
    ("octokit-deployment_status.created.success.json", "deployment_status", "success",
     "Deployed master to production", "https://github.com/Codertocat/Hello-World/deployments",
     {"environment": "production", "state": "success", "branch": "master"}),
    ("octokit-deployment_status.created.in_progress.gh-pages.json", "deployment_status", None,
     "Deploy in progress: master to github-pages",
     "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true",
     {"environment": "github-pages", "state": "in_progress",
      "workflow": "pages build and deployment"}),
    ("zulip-deployment_status__failure.json", "deployment_status", "failure",
     "Deploy failed: master to production",
     "https://github.com/baxterthehacker/public-repo/deployments",
     {"environment": "production", "state": "failure", "severity": "error"}),
    ("octokit-status.success.json", "status", "success", "Status passed: default on master",
     "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
     {"context": "default", "state": "success", "branch": "master"}),
    ("octokit-push.default-branch-created-1commit.json", "push", None,
     "Branch master created in Codertocat/Hello-World",
     "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246",
     {"branch": "master", "is_default_branch": "true", "created": "true", "forced": "false"}),
    ("octokit-push.tag-deleted.json", "push", None,
     "Tag simple-tag deleted in Codertocat/Hello-World",
     "https://github.com/Codertocat/Hello-World/tags",  # its compare link ends at 000000
     {"tag": "simple-tag", "deleted": "true"}),
    ("octokit-pull_request.opened.json", "pull_request", None,
     "PR #2 opened: Update the README with new information.",
     "https://github.com/Codertocat/Hello-World/pull/2",
     {"branch": "master", "head_branch": "changes", "state": "open", "merged": "false"}),
    ("octokit-pull_request.closed.json", "pull_request", None,
     "PR #2 closed: Update the README with new information.",
     "https://github.com/Codertocat/Hello-World/pull/2", {"state": "closed", "merged": "false"}),
    ("octokit-issues.opened.json", "issues", None,
     "Issue #1 opened: Spelling error in the README file",
     "https://github.com/Codertocat/Hello-World/issues/1", {"action": "opened", "state": "open"}),
    ("octokit-issues.labeled.json", "issues", None,
     "Issue #1 labeled bug: Spelling error in the README file",
     "https://github.com/Codertocat/Hello-World/issues/1", {"action": "labeled", "label": "bug"}),
    ("octokit-release.published.json", "release", None,
     "Release 0.0.1 published in Codertocat/Hello-World",
     "https://github.com/Codertocat/Hello-World/releases/tag/0.0.1",
     {"tag": "0.0.1", "action": "published"}),
    ("octokit-dependabot_alert.created.json", "dependabot_alert", "failure",
     "Dependabot alert created: semver (npm) in wolfy1339/pika-pack",
     "https://github.com/wolfy1339/pika-pack/security/dependabot/20",
     {"package": "semver", "ecosystem": "npm", "severity": "medium", "state": "open"}),
    ("octokit-dependabot_alert.fixed.json", "dependabot_alert", "success",
     "Dependabot alert fixed: ansible (pip) in octocat/hello-world",
     "https://github.com/octocat/hello-world/security/dependabot/1",
     {"package": "ansible", "state": "fixed"}),
    ("octokit-code_scanning_alert.created.json", "code_scanning_alert", "failure",
     "Code scanning alert created: Query built from user-controlled sources",
     "https://github.com/Codertocat/Hello-World/security/code-scanning/10",
     {"rule": "java/sql-injection", "tool": "CodeQL", "branch": "code-feature",
      "severity": "error"}),
    ("octokit-secret_scanning_alert.reopened.json", "secret_scanning_alert", "failure",
     "Secret scanning alert reopened: adafruit_io_key in Codertocat/Hello-World",
     "https://github.com/Codertocat/Hello-World/security/secret-scanning/191",
     {"secret_type": "adafruit_io_key", "severity": "critical"}),
    ("octokit-repository_vulnerability_alert.create.json", "repository_vulnerability_alert",
     "failure", "Vulnerable dependency create: rack in Codertocat/Hello-World",
     "https://nvd.nist.gov/vuln/detail/CVE-2018-16470",
     {"package": "rack", "severity": "medium", "ghsa": "GHSA-qqgx-2p2h-9c37"}),
    ("octokit-security_advisory.published.json", "security_advisory", "failure",
     "Security advisory published: Moderate severity vulnerability that affects django",
     "https://github.com/advisories/GHSA-rf4j-j272-fj86",
     {"ghsa": "GHSA-rf4j-j272-fj86", "package": "django", "severity": "medium"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fixture", "event", "outcome", "title", "url", "labels"), CASES, ids=[c[0] for c in CASES]
)
def test_github_fixture_becomes_one_readable_event(
    fixture: str,
    event: str,
    outcome: str | None,
    title: str,
    url: str,
    labels: dict[str, str],
) -> None:
    body = load_fixture("github", fixture)
    webhook = _parse(event, body)

    assert webhook.source == "github"
    assert webhook.kind == event
    assert webhook.delivery_key == "292430182:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    [ev] = webhook.events
    assert ev.source == "github"
    assert ev.status == "firing"
    assert ev.outcome == outcome
    assert ev.title == title
    assert ev.url == url
    assert ev.labels["alertname"] == event
    assert ev.labels["event"] == event
    assert labels.items() <= ev.labels.items()
    assert all(value for value in ev.labels.values()), "empty labels are left out"
    assert ev.severity == ev.labels["severity"]
    assert ev.received_at == RECEIVED
    assert ev.raw == json.loads(body)
    assert len(ev.fingerprint) == 16


def test_every_github_fixture_is_covered() -> None:
    from fixture_files import fixture_path

    covered = {c[0] for c in CASES} | {
        "octokit-ping.repository.json",
        "octokit-ping.organization.json",
    }
    assert {p.name for p in fixture_path("github").glob("*.json")} == covered


@pytest.mark.parametrize(
    "fixture", ["octokit-ping.repository.json", "octokit-ping.organization.json"]
)
def test_ping_is_a_webhook_without_events(fixture: str) -> None:
    webhook = _parse("ping", load_fixture("github", fixture))
    assert webhook.kind == "ping"
    assert webhook.events == []
    assert webhook.delivery_key == "292430182:72d3162e-cc78-11e3-81ab-4c9367dc0958"


def test_form_encoded_delivery_parses_like_json_and_its_signature_is_over_the_form_body() -> None:
    raw_json = load_fixture(
        "github", "octokit-workflow_job.completed.failure.with-organization.json"
    )
    form_body = b"payload=" + quote_plus(raw_json.decode()).encode()
    secret = "It's a Secret to Everybody"
    source = GithubSource(GithubSourceConfig(secret=SecretStr(secret)))
    headers = _headers(
        "workflow_job",
        FORM,
        **{"X-Hub-Signature-256": "sha256=" + hmac_sha256_hex(secret.encode(), form_body)},
    )

    source.check_content_type(FORM)
    source.authenticate(headers, form_body, 0.0)
    from_form = source.parse(headers, form_body, RECEIVED)
    from_json = _parse("workflow_job", raw_json)
    assert from_form.events == from_json.events
    assert from_form.raw == json.loads(raw_json)
    with pytest.raises(AuthError):  # the JSON body's signature is not the form body's
        source.authenticate(headers, raw_json, 0.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"data=%7B%7D", "missing form field 'payload'"),
        (b"payload=%7Bnope", "malformed JSON: Expecting property name"),
        (b"payload=%5B%5D", "expected a JSON object, got array"),
        (b"payload=\xff", "malformed form body: not UTF-8"),
    ],
    ids=["no-payload-field", "payload-not-json", "payload-array", "not-utf8"],
)
def test_bad_form_body_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as caught:
        _parse("push", body, FORM)
    assert str(caught.value).startswith(message)


def test_missing_event_header_is_a_payload_error() -> None:
    headers = _headers("push")
    del headers["X-GitHub-Event"]
    with pytest.raises(PayloadError, match="missing X-GitHub-Event header"):
        parse_github(headers, b"{}", RECEIVED)


def test_delivery_without_guid_has_no_delivery_key() -> None:
    headers = _headers("ping")
    del headers["X-GitHub-Delivery"]
    assert parse_github(headers, b"{}", RECEIVED).delivery_key is None


@pytest.mark.parametrize(
    ("event", "payload", "message"),
    [
        ("workflow_run", {"action": "completed"}, "missing field 'workflow_run'"),
        ("workflow_run", {"workflow_run": []}, "workflow_run must be an object, got array"),
        ("pull_request", {"pull_request": "x"}, "pull_request must be an object, got string"),
        ("dependabot_alert", {"action": "created"}, "missing field 'alert'"),
        ("deployment_status", {}, "missing field 'deployment_status'"),
    ],
    ids=["no-workflow-run", "workflow-run-array", "pr-string", "no-alert", "no-deployment-status"],
)
def test_event_without_its_object_is_refused(
    event: str, payload: dict[str, Any], message: str
) -> None:
    with pytest.raises(PayloadError, match=message):
        _parse(event, payload)


def _workflow_run(conclusion: str | None, branch: str = "master") -> dict[str, Any]:
    data = load_fixture_json("github", "octokit-workflow_run.completed.success.json")
    data["workflow_run"]["conclusion"] = conclusion
    data["workflow_run"]["head_branch"] = branch
    return data


def test_workflow_success_shares_the_fingerprint_of_its_failure() -> None:
    [failure] = _parse("workflow_run", _workflow_run("failure")).events
    [success] = _parse("workflow_run", _workflow_run("success")).events
    [other_branch] = _parse("workflow_run", _workflow_run("failure", "dev")).events
    assert failure.outcome == "failure" and success.outcome == "success"
    assert failure.title == "CI failed: test on master"
    assert failure.severity == "error"
    assert failure.fingerprint == success.fingerprint
    assert other_branch.fingerprint != failure.fingerprint


def _from_fork(conclusion: str) -> dict[str, Any]:
    """The captured run as a fork's pull request would send it: its own `master`."""
    data = _workflow_run(conclusion)
    data["workflow_run"]["event"] = "pull_request"
    head = data["workflow_run"]["head_repository"]
    head["full_name"] = "contributor/octo-repo"
    head["owner"]["login"] = "contributor"
    return data


def _shipped_route_matches(name: str, event: Event) -> bool:
    rules = yaml.safe_load((Path(__file__).parents[2] / "rules" / "github.yaml").read_text())
    [route] = [r for r in rules if r["name"] == name]
    return all(parse_matcher(m).matches(event.labels) for m in route["matchers"])


def test_fork_run_on_its_master_is_not_this_repositorys_master() -> None:
    [upstream] = _parse("workflow_run", _workflow_run("failure")).events
    [fork_failure] = _parse("workflow_run", _from_fork("failure")).events
    [fork_success] = _parse("workflow_run", _from_fork("success")).events

    assert upstream.labels["branch"] == "master"
    assert _shipped_route_matches("ci-failures-main", upstream)
    assert "branch" not in fork_failure.labels
    assert fork_failure.labels["head_repository"] == "contributor/octo-repo"
    assert fork_failure.labels["trigger"] == "pull_request"
    assert fork_failure.title == "CI failed: test on contributor/octo-repo:master"
    assert not _shipped_route_matches("ci-failures-main", fork_failure)
    # A fork's success ends the fork's failure, never this repository's.
    assert fork_success.fingerprint == fork_failure.fingerprint
    assert fork_success.fingerprint != upstream.fingerprint


@pytest.mark.parametrize(
    ("conclusion", "outcome"),
    [("failure", "failure"), ("timed_out", "failure"), ("startup_failure", "failure"),
     ("action_required", "failure"), ("some_new_conclusion", "failure"), ("success", "success"),
     ("cancelled", None), ("skipped", None), ("neutral", None), ("stale", None), (None, None)],
    ids=lambda value: str(value),
)  # fmt: skip
def test_workflow_conclusion_decides_the_outcome(
    conclusion: str | None, outcome: str | None
) -> None:
    [event] = _parse("workflow_run", _workflow_run(conclusion)).events
    assert event.outcome == outcome


@pytest.mark.parametrize(
    ("state", "outcome"),
    [("failure", "failure"), ("error", "failure"), ("success", "success"), ("pending", None)],
)
def test_commit_status_success_shares_the_fingerprint_of_its_failure(
    state: str, outcome: str | None
) -> None:
    data = load_fixture_json("github", "octokit-status.success.json")
    [reference] = _parse("status", data).events
    data["state"] = state
    [event] = _parse("status", data).events
    assert event.outcome == outcome
    assert event.fingerprint == reference.fingerprint


def test_deployment_success_resolves_a_failure_in_the_same_environment() -> None:
    data = load_fixture_json("github", "octokit-deployment_status.created.success.json")
    [success] = _parse("deployment_status", data).events
    data["deployment_status"]["state"] = "error"
    [failure] = _parse("deployment_status", data).events
    assert failure.outcome == "failure"
    assert failure.title == "Deploy failed: master to production"
    assert failure.fingerprint == success.fingerprint


def test_merged_pull_request_says_merged_and_differs_from_closed() -> None:
    data = load_fixture_json("github", "octokit-pull_request.closed.json")
    [closed] = _parse("pull_request", data).events
    data["pull_request"]["merged"] = True
    [merged] = _parse("pull_request", data).events
    assert merged.title == "PR #2 merged: Update the README with new information."
    assert merged.labels["merged"] == "true"
    assert closed.fingerprint != _parse("pull_request", load_fixture_json(
        "github", "octokit-pull_request.opened.json")).events[0].fingerprint  # fmt: skip


def test_one_off_events_get_distinct_fingerprints() -> None:
    fingerprints = {
        _parse(event, load_fixture("github", fixture)).events[0].fingerprint
        for fixture, event in [
            ("octokit-push.default-branch-created-1commit.json", "push"),
            ("octokit-push.tag-deleted.json", "push"),
            ("octokit-issues.opened.json", "issues"),
            ("octokit-issues.labeled.json", "issues"),
            ("octokit-pull_request.opened.json", "pull_request"),
            ("octokit-release.published.json", "release"),
        ]
    }
    assert len(fingerprints) == 6


def test_workflow_run_with_a_start_time_after_year_9999_is_kept_without_it() -> None:
    data = _workflow_run("failure")
    data["workflow_run"]["run_started_at"] = "9999-12-31T23:59:59-05:00"
    [event] = _parse("workflow_run", data).events
    assert event.outcome == "failure"
    assert event.starts_at is None


def test_workflow_job_names_the_failed_step() -> None:
    body = load_fixture("github", "octokit-workflow_job.completed.failure.with-organization.json")
    [event] = _parse("workflow_job", body).events
    assert event.annotations == {"failed_step": "Run yarn run format-check"}
    assert event.summary == "step 'Run yarn run format-check' failed"


def test_unknown_event_becomes_a_generic_event() -> None:
    data = {
        "action": "created",
        "starred_at": "2019-05-15T15:20:40Z",
        "repository": {"full_name": "Codertocat/Hello-World", "html_url": "https://github.com/Codertocat/Hello-World"},
        "sender": {"login": "Codertocat"},
    }  # fmt: skip
    webhook = _parse("star", data)
    [event] = webhook.events
    assert webhook.kind == "star"
    assert event.labels == {
        "alertname": "star",
        "event": "star",
        "action": "created",
        "repository": "Codertocat/Hello-World",
        "sender": "Codertocat",
        "severity": "info",
    }
    assert event.title == "GitHub star created in Codertocat/Hello-World"
    assert event.outcome is None
    other_delivery = parse_github(
        _headers("star", **{"X-GitHub-Delivery": "another-guid"}),
        json.dumps(data).encode(),
        RECEIVED,
    )
    assert other_delivery.events[0].fingerprint != event.fingerprint
