"""Which changed settings a reload applies at once, and which wait for a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_config

from bridge.config.loader import load_config
from bridge.delivery.sender import DryRunSender
from bridge.runtime import load_runtime
from bridge.service import Bridge, changed_settings


@pytest.mark.parametrize(
    ("old", "new", "changed"),
    [
        ("admin_token: admin-test-token", "admin_token: other-token-1", ["server.admin_token"]),
        ("max_body_bytes: 65536", "max_body_bytes: 1024", ["server.max_body_bytes"]),
        ("store: {backend: sqlite", "store: {retention: 1d, backend: sqlite", ["store.retention"]),
        ("api: legacy", "api: v1", ["blueticks.api"]),
    ],
    ids=["admin-token", "body-limit", "retention", "api"],
)
def test_changed_settings_are_named_by_section_and_field(
    tmp_path: Path, old: str, new: str, changed: list[str]
) -> None:
    before = write_config(tmp_path, "http://127.0.0.1:9")
    after = tmp_path / "after.yaml"
    text = before.read_text()
    assert old in text
    after.write_text(text.replace(old, new))
    assert changed_settings(load_config(str(before)).config, load_config(str(after)).config) == (
        changed
    )


def test_reload_says_which_settings_apply_now_and_which_wait(
    tmp_path: Path, json_logs: pytest.CaptureFixture[str]
) -> None:
    """store.retention is read by every purge, api when the sender is built at start."""
    path = write_config(tmp_path, "http://127.0.0.1:9")
    bridge = Bridge(load_runtime(str(path)), sender=DryRunSender())
    text = path.read_text()
    path.write_text(
        text.replace("store: {", "store: {retention: 1d, ", 1).replace("api: legacy", "api: v1")
    )
    json_logs.readouterr()

    assert bridge.reload() == []

    lines = [json.loads(line) for line in json_logs.readouterr().err.splitlines()]
    events = {line["event"]: line.get("settings") for line in lines}
    assert events["config.applied_now"] == ["store.retention"]
    assert events["config.restart_needed"] == ["blueticks.api"]
    assert bridge.runtime.config.store.retention == 86400
