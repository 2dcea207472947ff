"""MemoryStore-only promises: memory stays bounded however long the bridge runs."""

from __future__ import annotations

from bridge.model import Notification
from bridge.store import MemoryStore
from bridge.store.base import DedupeEntry


def make_notification(nid: str) -> Notification:
    return Notification(
        id=nid, route="r", recipient="alice", phone="+972501234567", text="t", created_at=1000.0
    )


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
