"""The Store contract for `sent_since`: the recent send times a restarted worker's pacing resumes
from, by phone, oldest first; only sent notifications, only the newest `limit`."""

from __future__ import annotations

import pytest
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import Store

ALICE, BOB = "+14155550123", "+4915112345678"


async def _sent_at(store: Store, sends: list[tuple[str, str, float]]) -> None:
    """Each (id, phone, sent_at) enqueued, claimed and marked sent at its time."""
    await store.enqueue([make_notification(nid, phone=phone) for nid, phone, _ in sends])
    await store.claim_due(now=1000, limit=100)
    for nid, _, at in sends:
        await store.mark_sent(nid, now=at)


async def test_nothing_sent_is_empty(store: Store) -> None:
    await store.enqueue([make_notification("pending-1")])
    assert await store.sent_since(0, limit=100) == {}


async def test_send_times_by_phone_oldest_first_from_since_on(store: Store) -> None:
    await _sent_at(
        store,
        [
            ("a-late", ALICE, 2030.0),
            ("b-1", BOB, 2010.0),
            ("a-early", ALICE, 2005.0),
            ("a-at-since", ALICE, 2000.0),
            ("a-before", ALICE, 1999.0),
        ],
    )
    assert await store.sent_since(2000.0, limit=100) == {
        ALICE: [2000.0, 2005.0, 2030.0],
        BOB: [2010.0],
    }


async def test_only_sent_notifications_count(store: Store) -> None:
    await _sent_at(store, [("sent-1", ALICE, 2001.0)])
    claimed = ("dead-1", "retried-1", "sending-1")
    await store.enqueue(
        [make_notification(nid, created_at=1001 + i) for i, nid in enumerate(claimed)]
        + [make_notification("merged-1", created_at=1010)]
    )
    assert [n.id for n in await store.claim_due(now=1000, limit=3)] == list(claimed)
    await store.mark_dead("dead-1", error="HTTP 400", now=2002.0)
    await store.mark_retry("retried-1", error="HTTP 503", next_attempt_at=2003.0)
    digest = make_notification("digest", created_at=1011, next_attempt_at=3000)
    assert await store.merge_into(["merged-1"], digest) == 1
    assert await store.sent_since(0, limit=100) == {ALICE: [2001.0]}


async def test_a_failed_delivery_was_still_sent(store: Store) -> None:
    await _sent_at(store, [("n1", ALICE, 2001.0)])
    await store.set_delivery_status("n1", status="failed", at=2002.0)
    assert await store.sent_since(2000.0, limit=100) == {ALICE: [2001.0]}


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (2, {ALICE: [2003.0], BOB: [2004.0]}),
        (3, {ALICE: [2002.0, 2003.0], BOB: [2004.0]}),
        (0, {}),
    ],
    ids=["newest-two", "newest-three", "none"],
)
async def test_limit_keeps_the_newest(
    store: Store, limit: int, expected: dict[str, list[float]]
) -> None:
    await _sent_at(
        store,
        [
            ("a1", ALICE, 2001.0),
            ("a2", ALICE, 2002.0),
            ("a3", ALICE, 2003.0),
            ("b1", BOB, 2004.0),
        ],
    )
    assert await store.sent_since(2000.0, limit=limit) == expected
