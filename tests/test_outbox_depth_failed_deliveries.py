"""`alertbridge_outbox_depth{state="failed"}` counts what `outbox list --state failed` lists: the
sent notifications Blueticks reported failed and not resent yet (no notification is stored in
the state "failed", so the series was always 0)."""

from __future__ import annotations

import time

from conftest import BridgeHarness, StartBridge, wait_until
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)
from test_cli_outbox_failed_deliveries import failed_delivery

from bridge.store import Store
from bridge.store.base import FAILED_DELIVERY


def failed_depth(h: BridgeHarness) -> float | None:
    labels = {"state": FAILED_DELIVERY}
    return h.bridge.metrics.registry.get_sample_value("alertbridge_outbox_depth", labels)


async def test_the_failed_depth_counts_failed_deliveries_until_they_are_resent(
    start_bridge: StartBridge,
) -> None:
    h, failed = await failed_delivery(start_bridge)
    assert [n.id for n in await h.bridge.store.list_notifications(FAILED_DELIVERY)] == [failed.id]

    async def gauge_is(value: float) -> bool:
        return failed_depth(h) == value

    await wait_until(lambda: gauge_is(1), what='outbox_depth{state="failed"} to be 1')
    outcome = await h.bridge.store.requeue([failed.id], now=time.time())
    assert [old for old, _ in outcome.resent] == [failed.id]
    await wait_until(lambda: gauge_is(0), what='outbox_depth{state="failed"} to be 0 again')
    assert await h.bridge.store.list_notifications(FAILED_DELIVERY) == []


async def test_outbox_counts_count_failed_deliveries_as_they_are_listed(store: Store) -> None:
    """Reported failed, not yet resent: counted under failed, and under sent (their state)."""
    ids = ("failed-1", "failed-2", "read-1", "resent-1")
    await store.enqueue([make_notification(nid, created_at=10) for nid in ids])
    await store.claim_due(now=100, limit=10)
    for nid in ids:
        await store.mark_sent(nid, now=101, provider_id=f"bt-{nid}")
    for nid in ("failed-1", "failed-2", "resent-1"):
        await store.set_delivery_status(nid, status="failed", at=102)
    await store.set_delivery_status("read-1", status="read", at=102)
    await store.requeue(["resent-1"], now=200)

    counts = await store.outbox_counts()
    listed = await store.list_notifications(FAILED_DELIVERY)
    assert counts[FAILED_DELIVERY] == len(listed) == 2
    assert (counts["sent"], counts["pending"]) == (4, 1)  # the resend of resent-1 waits
