"""MemoryStore-only promises: memory stays bounded however long the bridge runs."""

from __future__ import annotations

from notification_factory import make_notification

from bridge.store import MemoryStore
from bridge.store.base import DedupeEntry


async def test_only_the_latest_sent_notifications_are_kept() -> None:
    store = MemoryStore(max_sent=3)
    await store.enqueue([make_notification(f"n{i}") for i in range(6)])
    await store.claim_due(now=100, limit=6)
    for i in range(5):
        await store.mark_sent(f"n{i}", now=100 + i)
    assert [n.id for n in await store.list_notifications("sent")] == ["n4", "n3", "n2"]
    assert await store.get_notification("n0") is None
    assert (await store.outbox_counts())["sending"] == 1


async def test_expired_keys_are_dropped_without_an_explicit_purge() -> None:
    store = MemoryStore()
    for i in range(20_000):
        await store.remember(f"delivery-{i}", ttl=1, now=i)
    # Everything but the most recent writes expired long ago and was dropped along the way.
    assert await store.purge_expired(now=1_000_000) < 5_000


async def test_expired_dedupe_entries_are_dropped_without_an_explicit_purge() -> None:
    store = MemoryStore()
    for i in range(20_000):
        await store.contains("clock", now=i)  # callers' times drive the lazy purge
        await store.put_dedupe({f"k{i}": DedupeEntry("firing", at=i)}, ttl=1)
    assert await store.purge_expired(now=1_000_000) < 5_000


async def test_only_the_latest_finished_notifications_are_kept_merged_ones_too() -> None:
    store = MemoryStore(max_sent=3)
    await store.enqueue([make_notification(f"n{i}") for i in range(6)])
    await store.merge_into(["n0", "n1", "n2", "n3"], make_notification("digest"))
    assert [n.id for n in await store.list_notifications("merged")] == ["n3", "n2", "n1"]
    await store.claim_due(now=100, limit=10)
    await store.mark_sent("digest", now=101)
    assert {n.id for n in await store.list_notifications(limit=100)} == {
        "n2",
        "n3",
        "n4",
        "n5",
        "digest",
    }


async def test_evicted_and_dropped_notifications_cannot_be_found_by_callbacks() -> None:
    store = MemoryStore(max_sent=1)
    await store.enqueue([make_notification(f"n{i}") for i in range(3)])
    await store.claim_due(now=100, limit=3)
    await store.mark_sent("n0", now=101, provider_id="bt-0")
    await store.mark_sent("n1", now=102, provider_id="bt-1")
    await store.mark_dead("n2", error="HTTP 400", now=102)
    await store.set_delivery_status("n2", status="failed", at=102, provider_key="wa-2")
    await store.drop(["n2"])
    assert await store.find_notification(provider_id="bt-0") is None
    assert await store.find_notification(provider_key="wa-2") is None
    found = await store.find_notification(provider_id="bt-1")
    assert found is not None and found.id == "n1"


async def test_expired_records_are_dropped_without_an_explicit_purge() -> None:
    store = MemoryStore()
    for i in range(20_000):
        await store.get_record("clock", "k", now=i)  # callers' times drive the lazy purge
        await store.put_record("group", f"g{i}", {"i": i}, expires_at=i + 1)
    assert await store.purge_expired(now=1_000_000) < 5_000
