"""Logs are JSON lines with request ids, and never contain a secret."""

from __future__ import annotations

import json

import pytest
import structlog
from conftest import (
    ADMIN_TOKEN,
    AM_TOKEN,
    GITHUB_SECRET,
    GRAFANA_PASSWORD,
    BridgeHarness,
    StartBridge,
    am_headers,
    fixture_bytes,
    github_headers,
    grafana_headers,
    outbox_state_count,
    wait_until,
)

from bridge.logs import REDACTED, redactor


async def sent(h: BridgeHarness) -> bool:
    return await outbox_state_count(h, "sent") == 2


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    captured = capsys.readouterr()
    return [json.loads(line) for line in captured.err.splitlines() if line.startswith("{")]


def test_secret_named_keys_and_known_values_are_redacted(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    redactor.set_secrets(["bt_live_supersecret"])
    log = structlog.get_logger("t")
    log.info(
        "x",
        api_key="bt_live_supersecret",
        headers={"Authorization": "Bearer abc"},
        detail="request failed for key bt_live_supersecret at /messages",
        route="ok",
    )
    (line,) = log_lines(json_logs)
    assert line["api_key"] == REDACTED
    assert line["headers"]["Authorization"] == REDACTED
    assert line["detail"] == f"request failed for key {REDACTED} at /messages"
    assert line["route"] == "ok"


async def test_no_secret_reaches_the_logs_end_to_end(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str]
) -> None:
    h = await start_bridge()
    body = fixture_bytes("alertmanager", "zulip-alert-firing-2alerts.json")
    assert (await h.post("/webhook/alertmanager", body, am_headers())).status == 202
    await h.post("/webhook/alertmanager", body, {**am_headers(), "Authorization": "Bearer bad"})
    await h.post("/webhook/grafana", b"{", grafana_headers())
    gh = fixture_bytes("github", "octokit-ping.repository.json")
    await h.post("/webhook/github", gh, github_headers("ping", gh))
    await h.post("/-/reload", b"", {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    await wait_until(lambda: sent(h), what="both notifications marked sent")
    lines = log_lines(json_logs)
    text = "\n".join(json.dumps(line) for line in lines)
    assert "bridge.started" in text and "notification.sent" in text
    for secret in (AM_TOKEN, GRAFANA_PASSWORD, GITHUB_SECRET, ADMIN_TOKEN, "bt_live_standin"):
        assert secret not in text
    requests = [line for line in lines if line["event"] == "http.request"]
    assert requests and all(len(line["request_id"]) == 32 for line in requests)


def test_known_secret_in_a_logged_exception_is_redacted(
    json_logs: pytest.CaptureFixture[str],
) -> None:
    redactor.set_secrets(["bt_live_supersecret"])
    log = structlog.get_logger("t")
    try:
        raise RuntimeError("POST /messages failed: apiKey=bt_live_supersecret")
    except RuntimeError:
        log.exception("outbox.send_crashed")
    (line,) = log_lines(json_logs)
    assert "RuntimeError" in line["exception"]
    assert "bt_live_supersecret" not in json.dumps(line)
