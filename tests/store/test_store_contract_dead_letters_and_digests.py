"""The Store contract for dead letters (requeue, drop) and digests (pending_for, merge_into)."""

from __future__ import annotations

import asyncio

import pytest
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.delivery.callbacks import ACK_STATUSES, BLUETICKS_STATUSES
from bridge.model import Notification
from bridge.store import Store
from bridge.store.base import DELIVERED_STATUSES, REQUEUED_NOTE, Requeued

BOB = "+14155550123"


async def _outbox_in_every_state(store: Store) -> None:
    """dead-1 and dead-2 dead, one sending, one sent, and one pending (due at 1000; the
    newest, so the claim does not keep the others behind it)."""
    await store.enqueue(
        [make_notification(nid) for nid in ("dead-1", "dead-2", "sending", "sent")]
        + [make_notification("pending", next_attempt_at=1000, created_at=1001)]
    )
    await store.claim_due(now=100, limit=10)
    await store.mark_dead("dead-1", error="HTTP 401", now=101)
    await store.mark_dead("dead-2", error="HTTP 400", now=101)
    await store.mark_sent("sent", now=101)


async def _states(store: Store) -> dict[str, str]:
    return {n.id: n.state for n in await store.list_notifications(limit=1000)}


# --- requeue ---


@pytest.mark.parametrize(
    ("ids", "requeued"),
    [
        (None, {"dead-1", "dead-2"}),
        (["dead-2"], {"dead-2"}),
        (["dead-2", "dead-2"], {"dead-2"}),
        (["sending", "sent", "pending", "unknown"], set()),
        ([], set()),
    ],
    ids=["all-dead", "one-id", "repeated-id", "only-dead-ones", "empty-list-is-none"],
)
async def test_requeue_returns_only_dead_notifications_to_pending(
    store: Store, ids: list[str] | None, requeued: set[str]
) -> None:
    await _outbox_in_every_state(store)
    before = await _states(store)
    assert await store.requeue(ids, now=500) == Requeued(len(requeued), skipped_delivered=0)
    after = await _states(store)
    assert {nid for nid in after if after[nid] != before[nid]} == requeued
    assert all(after[nid] == "pending" for nid in requeued)


async def test_requeued_notification_starts_over_due_now(store: Store) -> None:
    await _outbox_in_every_state(store)
    dead = await store.get_notification("dead-1")
    assert dead is not None and dead.last_error
    await store.requeue(["dead-1"], now=500)
    found = await store.get_notification("dead-1")
    assert found is not None
    assert (found.state, found.attempts, found.next_attempt_at) == ("pending", 0, 500)
    # Its attempts start over, its last error stays: it was tried (never_tried is False).
    assert found.last_error == REQUEUED_NOTE + dead.last_error
    assert not found.never_tried
    assert await store.claim_due(now=499, limit=10) == []
    assert [n.id for n in await store.claim_due(now=500, limit=10)] == ["dead-1"]


@pytest.mark.parametrize(
    ("status", "sent_again"),
    [
        ("confirmed", False),
        ("received", False),
        ("read", False),
        ("failed", True),
        ("pending", False),
        (None, True),
    ],
    ids=["confirmed", "received", "read", "failed", "pending", "no-status"],
)
@pytest.mark.parametrize("by_id", [True, False], ids=["by-id", "all"])
async def test_requeue_leaves_dead_letters_blueticks_reported_delivered(
    store: Store, status: str | None, sent_again: bool, by_id: bool
) -> None:
    """A legacy send that timed out is dead ("may have been sent"); a callback may then say it
    reached WhatsApp, and sending it again would deliver it twice."""
    await _outbox_in_every_state(store)
    if status is not None:
        await store.set_delivery_status("dead-1", status=status, at=102)
    outcome = await store.requeue(["dead-1", "dead-2"] if by_id else None, now=500)
    assert outcome == Requeued(1 + sent_again, skipped_delivered=int(not sent_again))
    states = await _states(store)
    assert (states["dead-1"], states["dead-2"]) == ("pending" if sent_again else "dead", "pending")


def test_delivered_statuses_are_those_callbacks_record_for_a_message_blueticks_took() -> None:
    """The store's list and the callback decisions must agree on what "taken" is: queued at
    Blueticks or further; only a failure may be sent again."""
    taken = {BLUETICKS_STATUSES[s] for s in ("queued", "sent", "delivered", "read", "played")}
    taken |= {ACK_STATUSES[ack] for ack in (0, 1, 2, 3, 4)}
    assert taken == DELIVERED_STATUSES
    assert BLUETICKS_STATUSES["failed"] not in DELIVERED_STATUSES


# --- drop ---


@pytest.mark.parametrize(
    ("ids", "dropped"),
    [
        (None, {"dead-1", "dead-2"}),
        (["dead-1", "dead-1"], {"dead-1"}),
        (["sending", "sent", "pending", "unknown"], set()),
        ([], set()),
    ],
    ids=["all-dead", "repeated-id", "only-dead-ones", "empty-list-is-none"],
)
async def test_drop_deletes_only_dead_notifications(
    store: Store, ids: list[str] | None, dropped: set[str]
) -> None:
    await _outbox_in_every_state(store)
    before = await _states(store)
    assert await store.drop(ids) == len(dropped)
    assert set(await _states(store)) == set(before) - dropped
    for nid in dropped:
        assert await store.get_notification(nid) is None


# --- pending_for ---


async def test_pending_for_is_one_phones_pending_oldest_first_and_limited(store: Store) -> None:
    await store.enqueue(
        [
            make_notification("newer", created_at=300),
            make_notification("older", created_at=100),
            make_notification("claimed", created_at=50, next_attempt_at=-1),
            make_notification("for-bob", created_at=10, phone=BOB),
            make_notification("middle", created_at=200),
        ]
    )
    await store.claim_due(now=-1, limit=10)
    assert [n.id for n in await store.pending_for("+972501234567")] == ["older", "middle", "newer"]
    assert [n.id for n in await store.pending_for("+972501234567", limit=2)] == ["older", "middle"]
    assert [n.id for n in await store.pending_for(BOB)] == ["for-bob"]
    assert await store.pending_for("+10000000000") == []


# --- merge_into ---


def _digest(nid: str = "digest") -> Notification:
    return make_notification(nid, text="3 alerts", created_at=2000)


async def test_merge_into_folds_pending_ones_into_an_enqueued_digest(store: Store) -> None:
    await store.enqueue([make_notification(f"n{i}") for i in range(3)])
    assert await store.merge_into(["n0", "n1", "n2", "n1"], _digest()) == 3
    for nid in ("n0", "n1", "n2"):
        found = await store.get_notification(nid)
        assert found is not None
        assert (found.state, found.merged_into) == ("merged", "digest")
    assert await store.get_notification("digest") == _digest()
    assert [n.id for n in await store.claim_due(now=100, limit=10)] == ["digest"]


async def test_merge_into_skips_ids_no_longer_pending(store: Store) -> None:
    await _outbox_in_every_state(store)
    ids = ["dead-1", "sending", "sent", "pending", "unknown"]
    assert await store.merge_into(ids, _digest()) == 1
    states = await _states(store)
    assert states == {
        "dead-1": "dead",
        "dead-2": "dead",
        "sending": "sending",
        "sent": "sent",
        "pending": "merged",
        "digest": "pending",
    }


@pytest.mark.parametrize(
    "ids",
    [[], ["unknown"], ["dead-1", "sending", "sent"]],
    ids=["no-ids", "unknown-id", "none-still-pending"],
)
async def test_digest_is_not_enqueued_when_none_were_pending(store: Store, ids: list[str]) -> None:
    await _outbox_in_every_state(store)
    before = await _states(store)
    assert await store.merge_into(ids, _digest()) == 0
    assert await store.get_notification("digest") is None
    assert await _states(store) == before


async def test_merge_racing_claims_never_both_merges_and_claims_one(store: Store) -> None:
    ids = [f"n{i:03}" for i in range(200)]
    await store.enqueue([make_notification(nid) for nid in ids])

    async def claim_all() -> list[str]:
        claimed: list[str] = []
        while batch := await store.claim_due(now=100, limit=7):
            claimed.extend(n.id for n in batch if not n.id.startswith("digest"))
            await asyncio.sleep(0)
        return claimed

    async def merge_in_slices() -> int:
        merged = 0
        for start in range(0, len(ids), 20):
            merged += await store.merge_into(ids[start : start + 20], _digest(f"digest-{start}"))
            await asyncio.sleep(0)
        return merged

    claimed, merged = await asyncio.gather(claim_all(), merge_in_slices())
    states = await _states(store)
    merged_ids = {nid for nid in ids if states[nid] == "merged"}
    assert merged == len(merged_ids)
    assert merged_ids.isdisjoint(claimed)
    assert merged_ids | set(claimed) == set(ids)
