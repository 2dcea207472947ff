"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) posting to the bridge."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from conftest import AM_TOKEN, BridgeHarness, StartBridge, wait_until

ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="prometheus-alertmanager is not installed (scripts/test installs it)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningAlertmanager:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    async def post_alerts(self, http: aiohttp.ClientSession, alerts: list[dict]) -> None:
        async with http.post(f"{self.url}/api/v2/alerts", json=alerts) as response:
            assert response.status == 200, await response.text()


async def start_alertmanager(tmp_path: Path, bridge_url: str) -> RunningAlertmanager:
    config = {
        "route": {
            "receiver": "whatsapp",
            "group_by": ["alertname"],
            "group_wait": "100ms",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "whatsapp",
                "webhook_configs": [
                    {
                        "url": f"{bridge_url}/webhook/alertmanager",
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials": AM_TOKEN}
                        },
                    }
                ],
            }
        ],
    }
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = tmp_path / "alertmanager.log"
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={config_file}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    am = RunningAlertmanager(f"http://127.0.0.1:{port}", process, log)

    async def ready() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"alertmanager exited: {log.read_text()[-2000:]}")
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{am.url}/-/ready") as r:
                return r.status == 200
        except aiohttp.ClientError:
            return False

    await wait_until(ready, timeout=20, what="alertmanager to be ready")
    return am


@pytest.fixture
async def bridge_and_alertmanager(
    start_bridge: StartBridge, tmp_path: Path
) -> AsyncIterator[tuple[BridgeHarness, RunningAlertmanager]]:
    h = await start_bridge()
    am = await start_alertmanager(tmp_path, h.url)
    try:
        yield h, am
    finally:
        am.process.terminate()
        try:
            await asyncio.to_thread(am.process.wait, 10)
        except subprocess.TimeoutExpired:
            am.process.kill()


def am_alert(ends_at: datetime | None = None) -> dict:
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "DiskFull", "severity": "critical", "instance": "db-1:9100"},
        "annotations": {"summary": "Disk almost full on db-1"},
        "startsAt": (now - timedelta(minutes=1)).isoformat(),
        "generatorURL": "http://prometheus:9090/graph",
    }
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    return alert


async def test_alert_from_real_alertmanager_arrives_firing_then_resolved(
    bridge_and_alertmanager: tuple[BridgeHarness, RunningAlertmanager],
) -> None:
    h, am = bridge_and_alertmanager
    await am.post_alerts(h.http, [am_alert()])
    await h.standin.state.wait_for_messages(2, timeout=20)
    firing = h.texts()
    assert all("FIRING" in t and "DiskFull" in t for t in firing), firing

    await am.post_alerts(h.http, [am_alert(ends_at=datetime.now(UTC) - timedelta(seconds=1))])
    await h.standin.state.wait_for_messages(4, timeout=20)
    resolved = h.texts()[2:]
    assert all("RESOLVED" in t and "DiskFull" in t for t in resolved), resolved
    recipients = sorted(m.request["to"] for m in h.standin.state.messages)
    assert recipients == ["+14155550123", "+14155550123", "+4915112345678", "+4915112345678"]
