"""Alertmanager bodies and bridge configs for the benchmarks (the same shape wrk posts)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TOKEN = "bench-token"
API_KEY = "bt_live_standin_0123456789abcdef"  # the stand-in's default key
PHONE = "+14155550123"


def alert(alert_id: str, summary: str | None = None) -> dict[str, Any]:
    """One firing alert whose fingerprint and labels no other alert of the run shares."""
    return {
        "status": "firing",
        "labels": {
            "alertname": "BenchAlert",
            "instance": alert_id,
            "job": "bench",
            "severity": "warning",
        },
        "annotations": {
            "summary": summary or f"Load test alert {alert_id}",
            "description": "Synthetic alert from the alertbridge benchmark.",
        },
        "startsAt": "2026-01-01T00:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.bench:9090/graph",
        "fingerprint": f"fp-{alert_id}",
    }


def webhook(alerts: list[dict[str, Any]], group: str) -> bytes:
    """An Alertmanager (version 4) webhook body carrying `alerts`."""
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="BenchAlert",group="{group}"}}',
        "status": "firing",
        "receiver": "whatsapp",
        "groupLabels": {"alertname": "BenchAlert"},
        "commonLabels": {"alertname": "BenchAlert", "severity": "warning", "job": "bench"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench:9093",
        "alerts": alerts,
    }
    return json.dumps(body).encode()


def batch(run: str, start: int, count: int) -> bytes:
    """A webhook of `count` distinct alerts numbered from `start` within run `run`."""
    return webhook([alert(f"{run}-{i}") for i in range(start, start + count)], f"{run}-{start}")


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def write_config(
    directory: Path,
    *,
    port: int,
    standin_url: str,
    backend: str = "sqlite",
    dedupe_window: str = "1h",
    flap_window: str = "10m",
    generous_pacing: bool = True,
) -> Path:
    """One route, one recipient, the default template, no grouping; pacing generous or default."""
    pacing = (
        "pacing:\n"
        "  global_rate: {per_minute: 600000, burst: 10000}\n"
        "  per_recipient: {per_minute: 600000, burst: 10000}\n"
        if generous_pacing
        else ""
    )
    text = (
        f'server: {{listen: "127.0.0.1:{port}"}}\n'
        "blueticks:\n"
        "  api: legacy\n"
        f"  base_url: {standin_url}\n"
        f"  api_key: {API_KEY}\n"
        "  timeout: 5s\n"
        f"store: {{backend: {backend}, path: {directory / 'bench.db'}}}\n"
        f"sources: {{alertmanager: {{auth: {{bearer_token: {TOKEN}}}}}}}\n"
        f'recipients: {{oncall: "{PHONE}"}}\n'
        # Dedupe entries live max(dedupe_window, flap_window): both short, or nothing expires.
        f"defaults: {{dedupe_window: {dedupe_window}, flap_window: {flap_window}}}\n"
        f"{pacing}"
        "routes:\n"
        "  - name: bench\n"
        "    source: alertmanager\n"
        "    to: [oncall]\n"
    )
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path
