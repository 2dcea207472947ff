"""The webhook body is read whole, however it arrives, and refused (413) once over the limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from alertmanager_webhooks import am_alert, am_webhook
from blueticks_standin import RunningStandin
from conftest import (
    StartBridge,
    am_headers,
    fixture_bytes,
    read_reply,
    serving,
    write_config,
)

from bridge.runtime import load_runtime
from bridge.service import Bridge


async def trickle(body: bytes, pieces: int) -> AsyncIterator[bytes]:
    """The body in `pieces` parts, each sent on its own after a pause (chunked encoding)."""
    size = -(-len(body) // pieces)
    for start in range(0, len(body), size):
        yield body[start : start + size]
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("pieces", [1, 5], ids=["one-piece", "in-five-pieces"])
async def test_a_body_that_arrives_in_pieces_is_accepted_whole(
    start_bridge: StartBridge, pieces: int
) -> None:
    h = await start_bridge()
    body = fixture_bytes("alertmanager", "zulip-alert-firing-2alerts.json")
    async with h.http.post(
        h.url + "/webhook/alertmanager", data=trickle(body, pieces), headers=am_headers()
    ) as response:
        reply = await read_reply(response)
    assert reply.status == 202, reply.body
    assert reply.body["events"] == 2


async def test_a_chunked_body_over_the_limit_is_refused(start_bridge: StartBridge) -> None:
    h = await start_bridge()  # the harness sets server.max_body_bytes to 65536
    alert = json.loads(fixture_bytes("alertmanager", "zulip-alert-firing-2alerts.json"))
    alert["padding"] = "x" * 70_000
    body = json.dumps(alert).encode()
    async with h.http.post(
        h.url + "/webhook/alertmanager", data=trickle(body, 8), headers=am_headers()
    ) as response:
        reply = await read_reply(response)
    assert reply.status == 413
    assert "max_body_bytes" in reply.body["error"]


async def test_an_unpaired_surrogate_escape_is_refused_and_the_next_webhook_still_goes_out(
    start_bridge: StartBridge,
) -> None:
    """JSON lets `\\ud800` through, but no store or API can keep it: 400, not a 500 forever."""
    h = await start_bridge()
    good = fixture_bytes("alertmanager", "zulip-alert-firing-2alerts.json")
    broken = good.replace(b'"High CPU', b'"\\ud800High CPU')
    reply = await h.post("/webhook/alertmanager", broken, am_headers())
    assert reply.status == 400, reply.body
    assert "surrogate" in reply.body["error"]
    paired = good.replace(b'"High CPU', b'"\\ud83d\\udd25 High CPU')  # an emoji, escaped
    reply = await h.post("/webhook/alertmanager", paired, am_headers())
    assert reply.status == 202, reply.body
    assert reply.body["notifications"] == 2


async def test_a_large_alertmanager_group_fits_the_default_body_limit(
    tmp_path: Path, standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    """Alertmanager posts a whole group per request (max_alerts 0, its default) and does not
    retry a 413: 2,000 alerts the size of kube-prometheus' (~1 KiB each) must fit."""
    path = write_config(tmp_path, standin.url)
    path.write_text(path.read_text().replace("  max_body_bytes: 65536\n", ""))
    described = "The container has restarted more than 5 times in the last 10 minutes. " * 6
    alerts = [
        am_alert(
            f"node-{i}.eu-west-1.compute.internal",
            alertname="KubePodCrashLooping",
            annotations={
                "description": described,
                "runbook_url": "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/x",
                "summary": "Pod is crash looping.",
            },
        )
        for i in range(2000)
    ]
    body = am_webhook(*alerts)
    assert len(body) > 1_500_000  # the old 1 MiB limit refused it
    async with serving(Bridge(load_runtime(str(path)))) as url:
        reply = await read_reply(
            await http.post(url + "/webhook/alertmanager", data=body, headers=am_headers())
        )
    assert reply.status == 202, reply.body
    assert reply.body["events"] == 2000
