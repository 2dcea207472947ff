"""What the worker and the digests ask of the store, on memory and on a SQLite file: claims
capped per phone, a waiting digest taking in more, and what a digest carries."""

from __future__ import annotations

from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import Store

ALICE, BOB, CAROL = "+972501234567", "+14155550123", "+4915112345678"


async def test_a_claim_capped_per_phone_fills_up_with_other_phones(store: Store) -> None:
    # Alice's backlog is older than everyone else's: without the cap it would fill the claim.
    await store.enqueue(
        [make_notification(f"alice-{i}", created_at=100 + i) for i in range(6)]
        + [make_notification("bob-0", phone=BOB, created_at=200)]
        + [make_notification(f"carol-{i}", phone=CAROL, created_at=300 + i) for i in range(2)]
    )
    claimed = await store.claim_due(now=1000, limit=3, per_phone=1)
    assert [n.id for n in claimed] == ["alice-0", "bob-0", "carol-0"]
    assert {n.state for n in claimed} == {"sending"}
    pending = await store.pending_for(ALICE)
    assert [n.id for n in pending] == [f"alice-{i}" for i in range(1, 6)]


async def test_a_claim_capped_per_phone_takes_what_the_cap_and_the_limit_allow(
    store: Store,
) -> None:
    await store.enqueue([make_notification(f"alice-{i}", created_at=100 + i) for i in range(4)])
    claimed = await store.claim_due(now=1000, limit=10, per_phone=2, exclude_phones={BOB})
    assert [n.id for n in claimed] == ["alice-0", "alice-1"]
    assert [n.id for n in await store.claim_due(now=1000, limit=10)] == ["alice-2", "alice-3"]


async def test_a_waiting_digest_takes_in_more_under_its_own_id(store: Store) -> None:
    await store.enqueue([make_notification(f"n{i}", created_at=100 + i) for i in range(4)])
    first = make_notification("digest", text="2 updates", created_at=100, event_keys=[("a", "f")])
    assert await store.merge_into(["n0", "n1"], first) == 2
    grown = make_notification(
        "digest",
        text="4 updates",
        created_at=100,
        route="digest",
        next_attempt_at=500,
        event_keys=[("a", "f"), ("b", "f")],
    )
    assert await store.merge_into(["n2", "n3"], grown) == 2
    digest = await store.get_notification("digest")
    assert digest is not None
    assert (digest.state, digest.attempts, digest.text, digest.route) == (
        "pending",
        0,
        "4 updates",
        "digest",
    )
    assert (digest.next_attempt_at, digest.event_keys) == (500, [("a", "f"), ("b", "f")])
    carried = await store.carried_by(ALICE, "digest")
    assert [n.id for n in carried] == ["n0", "n1", "n2", "n3"]
    assert {(n.state, n.merged_into) for n in carried} == {("merged", "digest")}
    assert await store.carried_by(BOB, "digest") == []


async def test_a_digest_claimed_meanwhile_takes_in_nothing(store: Store) -> None:
    await store.enqueue([make_notification(f"n{i}", created_at=100 + i) for i in range(3)])
    assert await store.merge_into(["n0", "n1"], make_notification("digest", created_at=100)) == 2
    [claimed] = await store.claim_due(now=1000, limit=10, per_phone=1)
    assert claimed.id == "digest"
    later = make_notification("digest", text="what it no longer can say", created_at=100)
    assert await store.merge_into(["n2"], later) == 0
    n2 = await store.get_notification("n2")
    assert n2 is not None and n2.state == "pending"
    digest = await store.get_notification("digest")
    assert digest is not None and digest.text == "message digest"


async def test_a_dead_letter_put_back_by_outbox_retry_counts_as_tried(store: Store) -> None:
    """Its attempts start again from zero, but it may have reached WhatsApp (and v1 refuses its
    Idempotency-Key with another body): it is neither folded into a digest nor grown as one."""
    await store.enqueue([make_notification(f"n{i}", created_at=100 + i) for i in range(3)])
    assert await store.merge_into(["n0"], make_notification("digest", created_at=100)) == 1
    for nid in ("digest", "n1"):
        await store.mark_dead(nid, error="no answer", now=200)
    await store.requeue(None, now=300)

    requeued = {n.id: n for n in await store.pending_for(ALICE)}
    assert {nid: n.never_tried for nid, n in requeued.items()} == {
        "digest": False,
        "n1": False,
        "n2": True,
    }
    assert requeued["n1"].attempts == 0 and "no answer" in (requeued["n1"].last_error or "")
    grown = make_notification("digest", text="what it can no longer say", created_at=100)
    assert await store.merge_into(["n2"], grown) == 0
    digest = await store.get_notification("digest")
    assert digest is not None and digest.text == "message digest"
