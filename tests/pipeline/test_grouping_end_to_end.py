"""Grouping, HA duplicates, flapping and restarts through the real bridge and the stand-in."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from alertmanager_webhooks import am_alert, am_flapping, am_webhook
from blueticks_standin import run_standin
from conftest import BridgeHarness, StartBridge, am_headers, wait_until, write_config

from bridge.metrics import Metrics
from bridge.model import utcnow
from bridge.pipeline.grouping import record_key
from bridge.pipeline.ingest import IngestResult, Pipeline
from bridge.pipeline.silences import parse_silence
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.store import SqliteStore

GROUPED = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: {wait}
    group_interval: {interval}
    repeat_interval: 1h
    to: [oncall]
"""

IMMEDIATE = """\
routes:
  - name: disks
    source: alertmanager
    to: [alice]
"""


async def post(h: BridgeHarness, *alerts: dict[str, object]) -> None:
    reply = await h.post("/webhook/alertmanager", am_webhook(*alerts), am_headers())
    assert reply.status == 202, reply.body


async def test_group_sends_one_message_then_only_what_changed(start_bridge: StartBridge) -> None:
    h = await start_bridge(GROUPED.format(wait="150ms", interval="300ms"))
    await post(h, am_alert("db-1"))
    await post(h, am_alert("db-1"), am_alert("db-2"))  # Alertmanager re-posts the whole group
    await post(h, am_alert("db-3"))
    await h.standin.state.wait_for_messages(2)
    first = h.texts()
    assert all(all(f"db-{i}" in t for i in (1, 2, 3)) for t in first), first

    await post(h, *(am_alert(f"db-{i}") for i in (1, 2, 3, 4)))
    await h.standin.state.wait_for_messages(4)
    joined = h.texts()[2:]
    assert all("db-4" in t and "db-1" not in t and "db-3" not in t for t in joined), joined

    await post(
        h, am_alert("db-1", "resolved"), am_alert("db-2"), am_alert("db-3"), am_alert("db-4")
    )
    await h.standin.state.wait_for_messages(6)
    resolved = h.texts()[4:]
    assert all("RESOLVED" in t and "db-1" in t and "db-2" not in t for t in resolved), resolved

    await post(h, *(am_alert(f"db-{i}", "resolved") for i in (2, 3, 4)))
    await h.standin.state.wait_for_messages(8)
    await asyncio.sleep(0)  # nothing else may come: the group is gone once all resolved
    await wait_until(lambda: _no_groups(h), timeout=3, what="the resolved group to be forgotten")
    assert len(h.texts()) == 8


async def test_group_that_fires_again_after_it_was_forgotten_is_sent(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(GROUPED.format(wait="50ms", interval="100ms"))
    await post(h, am_alert("db-1"))
    await h.standin.state.wait_for_messages(2)
    await post(h, am_alert("db-1", "resolved"))
    await h.standin.state.wait_for_messages(4)
    await wait_until(lambda: _no_groups(h), timeout=3, what="the resolved group to be forgotten")
    # It fires again (a later startsAt): the same group opens again, its flushes count from 0.
    await post(h, am_alert("db-1", startsAt="2026-11-25T12:00:00Z"))
    await h.standin.state.wait_for_messages(6, timeout=5)
    assert all("FIRING" in t for t in h.texts()[4:])


THREE_WAYS = """\
defaults: {flap_window: 1h}
routes:
  - name: disks
    source: alertmanager
    continue: true
    to: [alice]
  - name: grouped
    source: alertmanager
    group_by: [alertname]
    group_wait: 1h
    to: [oncall]
"""


async def test_ingest_persists_everything_in_one_transaction(tmp_path: Path) -> None:
    runtime = load_runtime(str(write_config(tmp_path, "http://127.0.0.1:9", THREE_WAYS)))
    store = SqliteStore(str(tmp_path / "one.db"))
    await store.open()
    try:
        pipeline = Pipeline(store, Metrics())

        async def ingest(*alerts: dict[str, object]) -> IngestResult:
            body = am_webhook(*alerts)
            webhook = runtime.sources["alertmanager"].parse({}, body, utcnow())
            return await pipeline.ingest(webhook, runtime.routes, runtime.renderer)

        fired, resolved, refired = am_flapping("db-1", "firing", "resolved", "firing")
        await ingest(fired)
        await ingest(resolved)
        before = store.commits
        # On "disks" db-2 is sent and db-1 held as flapping; "grouped" holds both in its group.
        result = await ingest(refired, am_alert("db-2"))
        assert store.commits == before + 1
        assert [n.event_keys for n in result.notifications] == [[("fp-db-2", "firing")]]
        assert await store.get_notification(result.notifications[0].id) is not None
        held = {o.route: o.group for o in result.outcomes if o.group}
        assert held == {"disks": "disks|flapping:fp-db-1", "grouped": "grouped{alertname='Disk'}"}
        records = {key for key, _ in await store.list_records("group", 0)}
        assert records == {
            record_key("disks", "disks|flapping:fp-db-1"),
            record_key("grouped", "grouped{alertname='Disk'}"),
        }
    finally:
        await store.close()


async def _no_groups(h: BridgeHarness) -> bool:
    return not await h.bridge.store.list_records("group", 0)


async def test_ha_pair_posting_the_same_group_at_once_is_sent_once(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(IMMEDIATE)
    body = am_webhook(am_alert("db-1"), am_alert("db-2"))
    replies = await asyncio.gather(
        *(h.post("/webhook/alertmanager", body, am_headers()) for _ in range(4))
    )
    assert sorted(r.body["notifications"] for r in replies) == [0, 0, 0, 1]
    await h.standin.state.wait_for_messages(1)
    await post(h, am_alert("db-1"), am_alert("db-2"))  # an Alertmanager retry, later
    assert len(h.texts()) == 1
    labels = {"route": "disks", "reason": "duplicate"}
    registry = h.bridge.metrics.registry
    assert registry.get_sample_value("alertbridge_dedupe_suppressed_total", labels) == 8


async def test_ha_pair_posting_to_a_grouped_route_is_sent_once(start_bridge: StartBridge) -> None:
    h = await start_bridge(GROUPED.format(wait="100ms", interval="200ms"))
    body = am_webhook(am_alert("db-1"))
    await asyncio.gather(*(h.post("/webhook/alertmanager", body, am_headers()) for _ in range(3)))
    await h.standin.state.wait_for_messages(2)
    await post(h, am_alert("db-1"))
    await wait_until(lambda: _flushed_twice(h), timeout=3, what="two more flushes")
    assert len(h.texts()) == 2


async def _flushed_twice(h: BridgeHarness) -> bool:
    records = await h.bridge.store.list_records("group", 0)
    return bool(records) and records[0][1]["flushes"] >= 3


async def test_flapping_alert_is_collapsed_into_one_message(start_bridge: StartBridge) -> None:
    h = await start_bridge(IMMEDIATE, extra="defaults: {flap_window: 400ms}\n")
    flapping = am_flapping("db-1", "firing", "resolved", "firing", "resolved", "firing")
    for alert in flapping:
        await post(h, alert)
    await h.standin.state.wait_for_messages(3, timeout=5)
    texts = h.texts()
    assert "FIRING" in texts[0] and "RESOLVED" in texts[1]
    assert "flapped: 4 status changes, now firing" in texts[2] and "FIRING" in texts[2]
    await post(h, flapping[-1])  # the flapping message counts as the firing sent
    assert len(h.texts()) == 3
    assert await h.bridge.store.list_records("group", 0) == []  # and no new hold opened


async def test_restart_during_group_wait_sends_the_group_once(tmp_path: Path) -> None:
    async with run_standin() as standin:
        config = write_config(tmp_path, standin.url, GROUPED.format(wait="600ms", interval="1h"))
        first = Bridge(load_runtime(str(config)))
        await first.start()
        webhook = first.runtime.sources["alertmanager"].parse(
            {}, am_webhook(am_alert("db-1"), am_alert("db-2")), utcnow()
        )
        result = await first.pipeline.ingest(webhook, first.runtime.routes, first.runtime.renderer)
        assert [o.group for o in result.outcomes] == ["disks{alertname='Disk'}"] * 2
        await first.stop()
        assert standin.state.messages == []

        second = Bridge(load_runtime(str(config)))
        await second.start()
        try:
            await standin.state.wait_for_messages(2, timeout=5)
            resumed = await second.store.list_records("group", 0)
            assert resumed and resumed[0][1]["flushes"] == 1
        finally:
            await second.stop()
        assert len(standin.state.messages) == 2
        texts = [m.request.get("message", "") for m in standin.state.messages]
        assert all("db-1" in t and "db-2" in t for t in texts)


async def test_silenced_and_muted_events_are_not_sent_and_are_counted(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge(
        "routes:\n  - name: night\n    source: alertmanager\n    continue: true\n"
        "    mute_time_intervals: [always]\n    to: [bob]\n" + IMMEDIATE.split("routes:\n", 1)[1],
        extra="time_intervals:\n  - name: always\n    time_intervals: [{}]\n",
    )
    await post(h, am_alert("db-1"))
    await h.standin.state.wait_for_messages(1)
    now = utcnow()
    silence = parse_silence(
        {
            "matchers": ['instance="db-2"'],
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "test",
            "comment": "maintenance",
        },
        now=now,
        silence_id="s-1",
    )
    await h.bridge.silences.save(silence)
    reply = await h.post("/webhook/alertmanager", am_webhook(am_alert("db-2")), am_headers())
    assert reply.body["notifications"] == 0
    registry = h.bridge.metrics.registry
    sample = registry.get_sample_value
    assert sample("alertbridge_suppressed_total", {"route": "night", "reason": "muted"}) == 1
    assert sample("alertbridge_suppressed_total", {"route": "disks", "reason": "silenced"}) == 1
    assert sample("alertbridge_suppressed_total", {"route": "night", "reason": "silenced"}) == 1
    assert len(h.texts()) == 1 and "+14155550123" in json.dumps(h.standin.state.messages[0].request)


GROUPED_WITH_TEMPLATE = """\
routes:
  - name: disks
    source: alertmanager
    group_by: [alertname]
    group_wait: 50ms
    group_interval: 200ms
    repeat_interval: 1h
    to: [alice]
    message: >-
      {{ webhook.raw.receiver }} / {{ webhook.raw.groupLabels.alertname }}: {{ events | length }}
"""


async def test_a_grouped_template_reads_the_webhooks_top_level(start_bridge: StartBridge) -> None:
    h = await start_bridge(GROUPED_WITH_TEMPLATE)
    await post(h, am_alert("db-1"), am_alert("db-2"))
    await h.standin.state.wait_for_messages(1)
    assert h.texts() == ["whatsapp / Disk: 2"]  # the route's template, not the fallback
    # The next flush reads the latest webhook that changed the group, not the first one.
    body = am_webhook(am_alert("db-1"), am_alert("db-2"), am_alert("db-3"), receiver="pager")
    reply = await h.post("/webhook/alertmanager", body, am_headers())
    assert reply.status == 202, reply.body
    await h.standin.state.wait_for_messages(2)
    assert h.texts()[1] == "pager / Disk: 1"
    failures = h.bridge.metrics.registry.get_sample_value(
        "alertbridge_template_failures_total", {"route": "disks"}
    )
    assert not failures
