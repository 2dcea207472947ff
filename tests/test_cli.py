"""The command line, run as users run it: `python -m bridge ...` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import FIXTURES

from bridge.config.loader import load_config

ROOT = Path(__file__).parent.parent
# The credentials config.example.yaml reads; it has no defaults for them, so every use sets them.
EXAMPLE_SECRETS = {
    name: f"test-{name.lower()}"
    for name in ("ADMIN_TOKEN", "ALERTMANAGER_TOKEN", "GRAFANA_PASSWORD", "GITHUB_WEBHOOK_SECRET")
}


def example_env(**extra: str) -> dict[str, str]:
    """This process's environment with the example's credentials set and no Blueticks key."""
    env = {k: v for k, v in os.environ.items() if k not in EXAMPLE_SECRETS}
    env.pop("BLUETICKS_API_KEY", None)
    return env | EXAMPLE_SECRETS | extra


def run(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env=example_env() if env is None else env,
    )


def test_check_accepts_the_example_config() -> None:
    result = run("check", "--config", "config.example.yaml")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_the_example_config_has_no_working_placeholder_credentials() -> None:
    """A published default token would let anyone post webhooks: each one must be set."""
    env = {k: v for k, v in example_env().items() if k not in EXAMPLE_SECRETS}
    result = run("check", "--config", "config.example.yaml", env=env)
    assert result.returncode == 1
    for name in EXAMPLE_SECRETS:
        assert f"environment variable {name} is not set" in result.stderr


def test_the_example_config_has_no_api_key_without_the_variable() -> None:
    """No key: notifications wait pending. A made-up one would dead-letter every one (401)."""
    loaded = load_config(ROOT / "config.example.yaml", env=example_env())
    key = loaded.config.blueticks.api_key
    assert key is None or key.get_secret_value() == ""
    loaded = load_config(ROOT / "config.example.yaml", env=example_env(BLUETICKS_API_KEY="bt_k"))
    assert loaded.config.blueticks.api_key is not None
    assert loaded.config.blueticks.api_key.get_secret_value() == "bt_k"


# Both configs hold a broken matcher too: a bad number stops the check before routes are read.
BROKEN_MATCHER_ROUTE = "routes:\n  - {name: r, to: [alice], matchers: ['severity=~\"(\"']}\n"


@pytest.mark.parametrize(
    ("alice", "path"),
    [("+1 not a number", "recipients.alice"), ("+14155550123", "routes[0].matchers[0]")],
    ids=["bad-number", "broken-matcher"],
)
def test_check_names_the_bad_value_with_file_and_path(
    tmp_path: Path, alice: str, path: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(f"recipients:\n  alice: '{alice}'\n" + BROKEN_MATCHER_ROUTE)
    result = run("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}: {path}" in result.stderr
    assert result.stdout == ""


def routes_test(source: str, payload: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`alertbridge routes test` of one payload against the example config."""
    config = ("--config", "config.example.yaml")
    return run("routes", "test", *config, "--source", source, str(payload), *options)


def test_routes_test_shows_routes_recipients_and_text() -> None:
    payload = FIXTURES / "alertmanager" / "zulip-alert-firing-2alerts.json"
    result = routes_test("alertmanager", payload, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert len(report["events"]) == 2
    by_route = {r["route"]: r for r in report["routes"]}
    # Not critical+prod, not team=platform, not a database alert: the catch-all route.
    assert list(by_route) == ["everything-else"]
    assert by_route["everything-else"]["recipients"] == [{"name": "alice", "phone": "+14155550123"}]
    assert "High CPU Temperature" in by_route["everything-else"]["text"]


# What the example config's comments promise: each alert reaches one route's people, once.
SRE = ["alice", "bob"]
EXAMPLE_ROUTING = [
    ({"severity": "critical", "env": "prod"}, {"prod-critical": SRE}),
    ({"severity": "critical", "env": "prod", "team": "platform"}, {"prod-critical": SRE}),
    ({"severity": "warning", "team": "platform"}, {"platform-warnings": [*SRE, "carol"]}),
    (
        {"severity": "critical", "env": "staging", "team": "platform"},
        {"platform-warnings": [*SRE, "carol"]},
    ),
    ({"severity": "warning", "alertname": "PostgresReplicationLag"}, {"database": ["carol"]}),
    ({"severity": "warning", "cluster": "eu-1"}, {"warnings-grouped": SRE}),
    ({"severity": "info"}, {"everything-else": ["alice"]}),
]


@pytest.mark.parametrize(
    ("labels", "expected"),
    EXAMPLE_ROUTING,
    ids=[
        "prod-critical-to-sre",
        "prod-critical-of-platform-to-sre-only",
        "platform-warning-to-platform",
        "platform-critical-outside-prod-to-platform",
        "database-warning-to-carol",
        "other-warning-grouped-to-sre",
        "anything-else-to-alice",
    ],
)
def test_the_example_routes_send_each_alert_to_one_routes_people(
    tmp_path: Path, labels: dict[str, str], expected: dict[str, list[str]]
) -> None:
    payload = tmp_path / "webhook.json"
    payload.write_bytes(am_webhook(am_alert("i1", labels={"alertname": "Disk", **labels})))
    result = routes_test("alertmanager", payload, "--json")
    assert result.returncode == 0, result.stderr
    routed = {
        r["route"]: [person["name"] for person in r["recipients"]]
        for r in json.loads(result.stdout)["routes"]
    }
    assert routed == expected


def test_routes_test_guesses_the_github_event() -> None:
    payload = FIXTURES / "github" / "octokit-release.published.json"
    result = routes_test("github", payload)
    assert result.returncode == 0, result.stderr
    assert "(release)" in result.stdout
    assert "route releases: 1 event(s) -> bob (+4915112345678)" in result.stdout


def test_routes_test_sends_a_deployment_status_made_by_actions_to_the_deploys_route(
    tmp_path: Path,
) -> None:
    # This delivery embeds workflow_run and check_run; GitHub sends it as deployment_status.
    config = tmp_path / "c.yaml"
    config.write_text(
        "recipients: {alice: '+14155550123'}\n"
        "routes:\n"
        "  - {name: ci, source: github, matchers: ['event=~\"workflow_run|check_run\"'],"
        " to: [alice]}\n"
        "  - {name: deploys, source: github, matchers: ['event=\"deployment_status\"'],"
        " to: [alice]}\n"
    )
    payload = FIXTURES / "github" / "octokit-deployment_status.created.in_progress.gh-pages.json"
    result = run("routes", "test", "--config", str(config), "--source", "github", str(payload))
    assert result.returncode == 0, result.stderr
    assert "(deployment_status)" in result.stdout
    assert "route deploys: 1 event(s)" in result.stdout
    assert "route ci" not in result.stdout


def test_check_names_the_matcher_entry_with_an_empty_matcher(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "recipients: {alice: '+14155550123'}\n"
        "routes:\n"
        "  - {name: r, to: [alice], matchers: ['a=b', 'team!=infra,, severity=critical']}\n"
    )
    result = run("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}: routes[0].matchers[1]: empty matcher between two commas" in result.stderr


def test_routes_test_rejects_a_payload_of_the_wrong_shape(tmp_path: Path) -> None:
    payload = tmp_path / "p.json"
    payload.write_text('{"version": "4"}')
    result = routes_test("alertmanager", payload)
    assert result.returncode == 1
    assert "alerts" in result.stderr


def test_demo_prints_messages_from_all_three_sources_and_exits_0() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for source in ("alertmanager", "grafana", "github"):
        assert f"POST /webhook/{source}" in out
    assert "would be sent" in out
    assert out.count("── WhatsApp to") >= 10
    assert "*FIRING*" in out and "*RESOLVED*" in out and "Dependabot" in out


def test_demo_ends_naming_its_config_and_what_to_try_next() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    *_, config, hint = result.stdout.splitlines()
    assert config == f"demo config: {ROOT / 'bridge' / 'demo' / 'config.yaml'}"
    assert "alertbridge check --config config.example.yaml" in hint
    assert "alertbridge routes test --config config.example.yaml" in hint


@pytest.mark.parametrize(
    ("fixture", "routed"),
    [
        ("octokit-workflow_job.completed.failure.with-organization.json", True),
        ("octokit-check_run.completed.failure.json", False),
    ],
    ids=["a-failed-job-is-sent", "its-check-run-is-not-sent-again"],
)
def test_demo_ci_route_takes_one_kind_of_ci_event(fixture: str, routed: bool) -> None:
    """One Actions failure is a job, a check run, a check suite and a run: one kind, one message."""
    config = ROOT / "bridge" / "demo" / "config.yaml"
    payload = FIXTURES / "github" / fixture
    result = run("routes", "test", "--config", str(config), "--source", "github", str(payload))
    assert result.returncode == 0, result.stderr
    assert ("route ci-failures:" in result.stdout) is routed


@pytest.mark.parametrize(
    ("store", "said"),
    [
        ("{backend: sqlite, path: 'ABSOLUTE'}", "store.path: no store at "),
        ("{backend: sqlite, path: ./alertbridge.db}", "store.path: no store at ./alertbridge.db ("),
        ("{backend: memory}", "store.backend is memory: "),
    ],
    ids=["no-file-at-an-absolute-path", "no-file-at-a-relative-path-from-here", "memory-store"],
)
def test_explain_refuses_when_it_cannot_see_the_bridges_state(
    tmp_path: Path, store: str, said: str
) -> None:
    """Explaining against an empty store would answer "sent" for everything."""
    config = tmp_path / "c.yaml"
    db = tmp_path / "never-created.db"
    config.write_text(
        f"store: {store.replace('ABSOLUTE', str(db))}\n"
        "recipients: {alice: '+14155550123'}\n"
        "routes:\n  - {name: all, to: [alice]}\n"
    )
    payload = FIXTURES / "alertmanager" / "zulip-single_alert-resolved.json"
    explain = ("explain", "--config", str(config), "--source", "alertmanager", str(payload))
    result = run(*explain, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {config}: {said}")
    assert len(result.stderr.splitlines()) == 1
    assert not db.exists() and not (tmp_path / "alertbridge.db").exists()


def test_check_refuses_the_redis_backend_until_it_exists(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("store: {backend: redis}\n")
    result = run("check", "--config", str(config))
    assert result.returncode == 1
    assert f"{config}: store.backend: the redis backend is not available yet" in result.stderr


def test_serve_with_a_store_it_cannot_open_says_so_in_one_line(tmp_path: Path) -> None:
    text = (ROOT / "config.example.yaml").read_text()
    unusable = str(tmp_path / "no-such-dir" / "alertbridge.db")
    (tmp_path / "c.yaml").write_text(text.replace("path: ./alertbridge.db", f"path: {unusable}"))
    (tmp_path / "rules").symlink_to(ROOT / "rules")
    result = run("serve", "--config", str(tmp_path / "c.yaml"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'c.yaml'}:")
    assert "Traceback" not in result.stderr and "does not exist" in result.stderr
