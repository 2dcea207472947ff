"""Accept-to-send latency at a steady request rate, seen from the Blueticks stand-in's side.

The stand-in runs inside this (load-core) process, so the client's send time and the stand-in's
receive time come from one clock. Each probe alert's summary carries its id; the rendered message
carries the summary; the stand-in's call log gives the time the send arrived.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp
from payloads import alert, headers, webhook

if TYPE_CHECKING:
    from blueticks_standin import RunningStandin

PROBE = re.compile(r"probe([A-Za-z0-9]+)")


@dataclass(frozen=True)
class Latencies:
    p50_ms: float
    p99_ms: float
    samples: int
    missing: int
    refused: int


def probe_body(probe_id: str) -> bytes:
    return webhook([alert(probe_id, summary=f"probe{probe_id}")], probe_id)


async def steady_load(
    url: str, standin: RunningStandin, *, run: str, rate: float, seconds: float
) -> Latencies:
    """POST one new alert every 1/rate s (open loop); wait for every send; p50/p99 in ms."""
    count = int(rate * seconds)
    ids = [f"{run}{i}" for i in range(count)]
    bodies = [probe_body(i) for i in ids]
    sent_at: dict[str, float] = {}
    refused = 0
    loop = asyncio.get_running_loop()

    async def post(session: aiohttp.ClientSession, body: bytes) -> None:
        nonlocal refused
        async with session.post(url, data=body, headers=headers()) as reply:
            await reply.read()
            refused += reply.status != 202

    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = []
        start = loop.time() + 0.05
        for index, (probe_id, body) in enumerate(zip(ids, bodies, strict=True)):
            delay = start + index / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sent_at[probe_id] = time.time()
            tasks.append(asyncio.create_task(post(session, body)))
        await asyncio.gather(*tasks)

    received = await _wait_for_probes(standin, set(ids), timeout=30)
    latencies = sorted((received[probe_id] - sent_at[probe_id]) * 1000 for probe_id in received)
    if len(latencies) < 2:
        raise RuntimeError(f"only {len(latencies)} of {count} probes reached the stand-in")
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Latencies(cuts[49], cuts[98], len(latencies), count - len(latencies), refused)


async def _wait_for_probes(
    standin: RunningStandin, wanted: set[str], timeout: float
) -> dict[str, float]:
    """The stand-in's receive time of each wanted probe, once all arrived or `timeout` passed."""
    deadline = time.monotonic() + timeout
    while True:
        received: dict[str, float] = {}
        for call in standin.state.calls:
            if call.path != "/messages" or not isinstance(call.json, dict):
                continue
            match = PROBE.search(str(call.json.get("message", "")))
            if match and match.group(1) in wanted:
                received.setdefault(match.group(1), call.at)
        if len(received) == len(wanted) or time.monotonic() > deadline:
            return received
        await asyncio.sleep(0.1)
