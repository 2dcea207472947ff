"""A reload of a config that cannot even be read (not UTF-8, an endless alias) keeps the old
config, answers with the error and says so in the metrics and one log line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import ADMIN_TOKEN, StartBridge, am_headers, write_config

from bridge.delivery.sender import DryRunSender
from bridge.runtime import load_runtime
from bridge.service import Bridge

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LATIN1 = "caf\xe9".encode("latin-1")
TEMPLATE_ROUTE = """\
templates: {directory: templates}
routes:
  - {name: alerts, source: alertmanager, to: [alice], template: alert.j2}
"""


def break_rule_file(config: Path) -> str:
    """A rule file in Latin-1: what a `check` or reload read before as a UnicodeDecodeError."""
    rules = config.parent / "rules" / "extra.yaml"
    rules.parent.mkdir(exist_ok=True)
    rules.write_bytes(b"- {name: x, to: [alice], message: '" + LATIN1 + b"'}\n")
    config.write_text(config.read_text() + "rule_files: [rules/*.yaml]\n")
    return f"{rules}: not valid UTF-8"


def break_with_an_endless_alias(config: Path) -> str:
    config.write_text(config.read_text() + "time_intervals: &t [*t]\n")
    return f"{config}: time_intervals[0]: an alias refers to its own anchor"


def break_the_template(config: Path) -> str:
    template = config.parent / "templates" / "alert.j2"
    template.write_bytes(b"{{ route }} " + LATIN1)
    return f"{config}: routes[0].template: template {template}: not valid UTF-8"


@pytest.mark.parametrize(
    "break_config",
    [break_rule_file, break_with_an_endless_alias, break_the_template],
    ids=["rule-file-not-utf8", "endless-alias", "template-not-utf8"],
)
async def test_post_reload_refuses_an_unreadable_config_and_keeps_the_old_one(
    start_bridge: StartBridge, tmp_path: Path, break_config: Callable[[Path], str]
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "alert.j2").write_text("{{ firing | length }} firing")
    h = await start_bridge(TEMPLATE_ROUTE)
    expected = break_config(h.config_path)

    refused = await h.post("/-/reload", b"", ADMIN)

    assert refused.status == 400, refused.body
    assert refused.body["error"] == "invalid configuration; the old one is kept"
    assert [e for e in refused.body["errors"] if e.startswith(expected)], refused.body
    metrics = (await h.get("/metrics")).body
    assert 'alertbridge_config_reloads_total{outcome="failure"} 1.0' in metrics
    assert "alertbridge_config_last_reload_successful 0.0" in metrics
    accepted = await h.post("/webhook/alertmanager", am_webhook(am_alert("db-1")), am_headers())
    assert accepted.status == 202 and accepted.body["notifications"] == 1


def test_a_signalled_reload_of_an_unreadable_config_logs_one_json_line(
    tmp_path: Path, json_logs: pytest.CaptureFixture[str]
) -> None:
    """SIGHUP calls Bridge.reload from the event loop: nothing may escape it as a traceback."""
    path = write_config(tmp_path, "http://127.0.0.1:9")
    bridge = Bridge(load_runtime(str(path)), sender=DryRunSender())
    before = bridge.runtime
    expected = break_rule_file(path)
    json_logs.readouterr()

    errors = bridge.reload()

    assert [e for e in errors if e.startswith(expected)], errors
    assert bridge.runtime is before
    [line] = json_logs.readouterr().err.splitlines()
    logged = json.loads(line)
    assert logged["event"] == "config.reload_failed"
    assert logged["errors"] == errors
    registry = bridge.metrics.registry
    assert registry.get_sample_value("alertbridge_config_last_reload_successful") == 0
    assert (
        registry.get_sample_value("alertbridge_config_reloads_total", {"outcome": "failure"}) == 1
    )
