"""Two clustered real Alertmanagers (Debian's prometheus-alertmanager) in front of the bridge:
the replica that missed a resolution re-announces the alert with its original startsAt, and
the phone hears of it neither as firing again nor as resolved a second time."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import AM_TOKEN, BridgeHarness, StartBridge, wait_until
from test_real_alertmanager import ALERTMANAGER, free_port

pytestmark = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="prometheus-alertmanager is not installed (scripts/test installs it)",
)

ROUTES = {
    "grouped": """\
routes:
  - name: latency
    source: alertmanager
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    to: [alice]
""",
    "ungrouped": """\
routes:
  - name: latency
    source: alertmanager
    to: [alice]
""",
}


class Replica:
    """One Alertmanager of the cluster."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.process, self.log = url, process, log

    async def post(self, http: aiohttp.ClientSession, *alerts: dict[str, Any]) -> None:
        async with http.post(f"{self.url}/api/v2/alerts", json=list(alerts)) as response:
            assert response.status == 200, await response.text()


def start_replica(tmp_path: Path, name: str, bridge_url: str, gossip: int, peer: int) -> Replica:
    config = {
        "route": {
            "receiver": "whatsapp",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "2s",
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
    config_file = tmp_path / f"am-{name}.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    port = free_port()
    log = tmp_path / f"am-{name}.log"
    process = subprocess.Popen(
        [
            str(ALERTMANAGER),
            f"--config.file={config_file}",
            f"--storage.path={tmp_path / f'am-{name}-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--cluster.listen-address=127.0.0.1:{gossip}",
            f"--cluster.advertise-address=127.0.0.1:{gossip}",
            f"--cluster.peer=127.0.0.1:{peer}",
            "--cluster.gossip-interval=50ms",
            "--cluster.pushpull-interval=1s",
            "--cluster.peer-timeout=2s",
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Replica(f"http://127.0.0.1:{port}", process, log)


async def cluster_size(http: aiohttp.ClientSession, replica: Replica) -> int:
    if replica.process.poll() is not None:
        raise AssertionError(f"alertmanager exited: {replica.log.read_text()[-2000:]}")
    try:
        async with http.get(f"{replica.url}/api/v2/status") as response:
            if response.status != 200:
                return 0
            return len((await response.json())["cluster"].get("peers") or [])
    except aiohttp.ClientError:
        return 0


@pytest.fixture
async def bridge_and_pair(
    request: pytest.FixtureRequest, start_bridge: StartBridge, tmp_path: Path
) -> AsyncIterator[tuple[BridgeHarness, Replica, Replica]]:
    h = await start_bridge(ROUTES[request.param], extra="defaults: {flap_window: 1s}\n")
    gossip = free_port(), free_port()
    am1 = start_replica(tmp_path, "1", h.url, gossip[0], gossip[1])
    am2 = start_replica(tmp_path, "2", h.url, gossip[1], gossip[0])
    try:
        for am in (am1, am2):

            async def joined(am: Replica = am) -> bool:
                return await cluster_size(h.http, am) == 2

            await wait_until(joined, timeout=30, what="the two alertmanagers to form a cluster")
        yield h, am1, am2
    finally:
        for am in (am1, am2):
            am.process.terminate()
        for am in (am1, am2):
            try:
                await asyncio.to_thread(am.process.wait, 10)
            except subprocess.TimeoutExpired:
                am.process.kill()


def latency(instance: str, began: datetime, *, resolved: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC)
    ends = now - timedelta(seconds=1) if resolved else now + timedelta(minutes=5)
    return {
        "labels": {"alertname": "HighLatency", "severity": "critical", "instance": instance},
        "annotations": {"summary": f"latency high on {instance}"},
        "startsAt": began.isoformat(),
        "endsAt": ends.isoformat(),
    }


@pytest.mark.parametrize("bridge_and_pair", list(ROUTES), indirect=True)
async def test_a_lagging_replica_does_not_announce_a_resolved_alert_again(
    bridge_and_pair: tuple[BridgeHarness, Replica, Replica],
) -> None:
    h, am1, am2 = bridge_and_pair
    state = h.standin.state
    began = datetime.now(UTC) - timedelta(minutes=1)

    async def told(text: str, since: int = 0) -> bool:
        return any(text in t.lower() for t in h.texts()[since:])

    for am in (am1, am2):
        await am.post(h.http, latency("api-a", began), latency("api-b", began))
    await wait_until(lambda: told("api-a"), timeout=30, what="api-a and api-b firing")
    await am1.post(h.http, latency("api-a", began, resolved=True))  # AM2 misses it
    await wait_until(lambda: told("resolved"), timeout=30, what="api-a resolved")
    resolved_at = len(state.messages)

    # AM2 still holds api-a firing, with its startsAt: it posts it with a new alert, api-c.
    await am2.post(h.http, latency("api-c", datetime.now(UTC)))
    await wait_until(lambda: told("api-c"), timeout=30, what="api-c firing")
    # AM2 catches up: its group now says api-a resolved.
    await am2.post(h.http, latency("api-a", began, resolved=True))

    async def ingested_second_resolution() -> bool:
        sample = h.bridge.metrics.registry.get_sample_value
        labels = {"source": "alertmanager", "status": "resolved"}
        return (sample("alertbridge_events_total", labels) or 0) >= 2

    await wait_until(ingested_second_resolution, timeout=30, what="AM2's resolution of api-a")
    # What a flush or a flap hold would make of it comes within 5 s (group_interval 2s,
    # flap_window 1s): nothing about api-a may, firing or resolved.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert not await told("api-a", since=resolved_at), h.texts()[resolved_at:]
        await asyncio.sleep(0.05)
    later = h.texts()[resolved_at:]
    assert later and all("api-c" in t for t in later), later
