"""`alertbridge_dedupe_entries` on /metrics follows the dedupe state the store holds.

The bridge runs behind its real HTTP server, built here rather than with `start_bridge`: these
tests need a purge interval of their own, which is a Bridge argument and not in the config.
"""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
import pytest
from alertmanager_webhooks import am_alert, am_webhook
from conftest import am_headers, serving, wait_until, write_config

from bridge.delivery.sender import DryRunSender
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.store import MemoryStore, SqliteStore
from bridge.store.base import DedupeEntry

GAUGE = "alertbridge_dedupe_entries"
ROUTES = """\
routes:
  - name: alerts
    source: alertmanager
    to: [oncall]
"""
# Dedupe entries live the longer of the two windows: both short, so they expire in the test.
SHORT_WINDOWS = "defaults: {dedupe_window: 1s, flap_window: 1s}\n"
NO_SENDS = "http://127.0.0.1:9"  # the dry-run sender never calls it


async def gauge_value(http: aiohttp.ClientSession, url: str) -> float:
    """The gauge as Prometheus scrapes it."""
    async with http.get(url + "/metrics") as reply:
        assert reply.status == 200
        text = await reply.text()
    values = [line.split()[1] for line in text.splitlines() if line.startswith(GAUGE + " ")]
    assert len(values) == 1, f"{GAUGE} exported {len(values)} times"
    return float(values[0])


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
async def test_gauge_counts_entries_and_falls_to_zero_after_the_purge(
    tmp_path: Path, backend: str
) -> None:
    config = write_config(tmp_path, NO_SENDS, ROUTES, extra=SHORT_WINDOWS)
    bridge = Bridge(
        load_runtime(str(config)),
        store=MemoryStore() if backend == "memory" else None,  # None: the config's SQLite file
        sender=DryRunSender(),
        purge_interval=0.05,
    )
    async with serving(bridge) as url, aiohttp.ClientSession() as http:

        async def gauge_is(expected: float) -> bool:
            return await gauge_value(http, url) == expected

        body = am_webhook(am_alert("db1"), am_alert("db2"))
        async with http.post(url + "/webhook/alertmanager", data=body, headers=am_headers()) as r:
            assert r.status == 202
        # Two alerts, each sent to the two people of oncall: four firing entries.
        await wait_until(lambda: gauge_is(4), timeout=5, what=f"{GAUGE} 4 once accepted")
        await wait_until(lambda: gauge_is(0), timeout=5, what=f"{GAUGE} 0 once they expired")
        assert bridge.store.dedupe_entries() == 0


async def test_gauge_shows_the_entries_of_the_file_from_the_start(tmp_path: Path) -> None:
    config = write_config(tmp_path, NO_SENDS, ROUTES)
    earlier = SqliteStore(str(tmp_path / "alertbridge.db"))  # the config's store path
    await earlier.open()
    now = time.time()
    await earlier.put_dedupe(
        {"dd:a": DedupeEntry("firing", now), "dd:b": DedupeEntry("firing", now)}, 3600
    )
    await earlier.close()
    # No purge runs during the test: the value must come from the start.
    bridge = Bridge(load_runtime(str(config)), sender=DryRunSender(), purge_interval=3600)
    async with serving(bridge) as url, aiohttp.ClientSession() as http:
        assert await gauge_value(http, url) == 2
