"""The Store contract for keys, dedupe entries and the outbox, run against every implementation."""

from __future__ import annotations

import asyncio

import pytest
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import Store
from bridge.store.base import DedupeEntry

# --- one-shot keys ---


async def test_remember_is_true_only_the_first_time(store: Store) -> None:
    assert await store.remember("delivery-1", ttl=60, now=100) is True
    assert await store.remember("delivery-1", ttl=60, now=120) is False
    assert await store.remember("delivery-2", ttl=60, now=120) is True


@pytest.mark.parametrize(
    ("checked_at", "expected"),
    [(100, True), (159.9, True), (160, False), (500, False)],
    ids=["at-start", "just-before-expiry", "at-expiry", "long-after"],
)
async def test_contains_honours_expiry(store: Store, checked_at: float, expected: bool) -> None:
    await store.remember("k", ttl=60, now=100)
    assert await store.contains("k", now=checked_at) is expected


async def test_remember_again_after_expiry_is_true_and_renews(store: Store) -> None:
    await store.remember("k", ttl=60, now=100)
    assert await store.remember("k", ttl=60, now=200) is True
    assert await store.contains("k", now=250) is True
    assert await store.remember("k", ttl=60, now=250) is False


async def test_forget_removes_key_and_says_whether_it_was_there(store: Store) -> None:
    await store.remember("k", ttl=60, now=100)
    assert await store.forget("k") is True
    assert await store.contains("k", now=100) is False
    assert await store.forget("k") is False
    assert await store.remember("k", ttl=60, now=100) is True


async def test_concurrent_remember_of_one_key_is_true_once(store: Store) -> None:
    results = await asyncio.gather(*(store.remember("k", ttl=60, now=100) for _ in range(50)))
    assert results.count(True) == 1


# --- dedupe entries ---


async def test_dedupe_entries_round_trip_until_they_expire(store: Store) -> None:
    await store.put_dedupe(
        {
            "a": DedupeEntry(status="firing", at=100, notification_id="n1"),
            "b": DedupeEntry(status="resolved", at=200),
        },
        ttl=50,
    )
    assert await store.get_dedupe(["a", "b", "missing"], now=120) == {
        "a": DedupeEntry(status="firing", at=100, notification_id="n1"),
        "b": DedupeEntry(status="resolved", at=200),
    }
    assert await store.get_dedupe(["a", "b"], now=150) == {"b": DedupeEntry("resolved", 200)}
    assert await store.get_dedupe(["a", "b"], now=250) == {}


async def test_put_dedupe_overwrites_the_entry(store: Store) -> None:
    await store.put_dedupe({"a": DedupeEntry("firing", 100)}, ttl=50)
    await store.put_dedupe({"a": DedupeEntry("resolved", 130)}, ttl=50)
    assert await store.get_dedupe(["a"], now=170) == {"a": DedupeEntry("resolved", 130)}


async def test_get_dedupe_of_many_keys_finds_them_all(store: Store) -> None:
    entries = {f"k{i}": DedupeEntry("firing", 100) for i in range(1200)}
    await store.put_dedupe(entries, ttl=50)
    assert await store.get_dedupe(list(entries), now=120) == entries


async def test_purge_expired_drops_only_expired_keys_and_entries(store: Store) -> None:
    await store.remember("old", ttl=10, now=100)
    await store.remember("new", ttl=1000, now=100)
    await store.put_dedupe({"old": DedupeEntry("firing", 100)}, ttl=10)
    await store.put_dedupe({"new": DedupeEntry("firing", 100)}, ttl=1000)
    assert await store.purge_expired(now=200) == 2
    assert await store.contains("new", now=200) is True
    assert await store.get_dedupe(["new"], now=200) == {"new": DedupeEntry("firing", 100)}
    assert await store.purge_expired(now=200) == 0


async def test_purge_drops_notifications_finished_before_the_cutoff_only(store: Store) -> None:
    # All created at 1000: sent at 1100 or 3000, dead, sending; merged (no sent_at: created_at
    # counts) into a digest of 3000, and one still pending.
    await store.enqueue([make_notification(n) for n in ("old-sent", "new-sent", "dead", "sending")])
    await store.claim_due(now=1000, limit=100)
    await store.mark_sent("old-sent", now=1100)
    await store.mark_sent("new-sent", now=3000)
    await store.mark_dead("dead", error="400 bad number", now=1100)
    await store.enqueue([make_notification(n) for n in ("merged", "pending")])
    assert await store.merge_into(["merged"], make_notification("digest", created_at=3000)) == 1

    assert await store.purge_expired(now=2000, finished_before=2000) == 2

    kept = {n.id for n in await store.list_notifications(limit=100)}
    assert kept == {"new-sent", "dead", "pending", "sending", "digest"}
    assert await store.purge_expired(now=2000, finished_before=2000) == 0
    assert await store.purge_expired(now=2000) == 0  # no cutoff: the outbox is left alone


async def test_dedupe_entries_counts_entries_held_until_the_purge(store: Store) -> None:
    assert store.dedupe_entries() == 0
    await store.put_dedupe({"a": DedupeEntry("firing", 100), "b": DedupeEntry("firing", 100)}, 10)
    await store.enqueue([make_notification("n1")], [({"c": DedupeEntry("firing", 100)}, 10.0)])
    await store.put_dedupe({"a": DedupeEntry("resolved", 105)}, ttl=10)  # replaces, adds none
    assert store.dedupe_entries() == 3
    assert await store.get_dedupe(["a", "b", "c"], now=200) == {}
    assert store.dedupe_entries() == 3  # expired, but held until purged
    await store.purge_expired(now=200)
    assert store.dedupe_entries() == 0


# --- outbox ---


async def test_enqueued_notification_round_trips_every_field(store: Store) -> None:
    original = make_notification(
        "n1",
        image_url="https://grafana.example.com/panel.png",
        source="grafana",
        attempts=2,
        next_attempt_at=5.0,
        last_error="HTTP 503",
        provider_id="bt-1",
        provider_status="queued",
        sent_at=4.0,
        event_keys=[("fp1", "firing"), ("fp2", "resolved")],
        delivery_status="read",
        delivery_status_at=6.0,
        provider_key="true_972501234567@c.us_3EB0",
        merged_into="digest-1",
    )
    await store.enqueue([original])
    assert await store.get_notification("n1") == original


async def test_unknown_notification_is_none(store: Store) -> None:
    assert await store.get_notification("nope") is None


async def test_enqueue_of_an_existing_id_keeps_the_first(store: Store) -> None:
    await store.enqueue([make_notification("n1", text="first")])
    await store.enqueue([make_notification("n1", text="second")])
    found = await store.get_notification("n1")
    assert found is not None and found.text == "first"
    assert (await store.outbox_counts())["pending"] == 1


async def test_changing_a_returned_notification_does_not_change_the_store(store: Store) -> None:
    await store.enqueue([make_notification("n1", event_keys=[("fp", "firing")])])
    found = await store.get_notification("n1")
    assert found is not None
    found.text = "changed"
    found.event_keys.append(("other", "firing"))
    assert await store.get_notification("n1") == make_notification(
        "n1", event_keys=[("fp", "firing")]
    )


async def test_claim_due_takes_only_due_ones_oldest_due_first(store: Store) -> None:
    await store.enqueue(
        [
            make_notification("later", next_attempt_at=500),
            make_notification("due-second", next_attempt_at=90),
            make_notification("due-first", next_attempt_at=10),
            make_notification("due-third", next_attempt_at=100),
        ]
    )
    claimed = await store.claim_due(now=100, limit=2)
    assert [n.id for n in claimed] == ["due-first", "due-second"]
    assert {n.state for n in claimed} == {"sending"}
    assert [n.id for n in await store.claim_due(now=100, limit=10)] == ["due-third"]
    assert await store.claim_due(now=499, limit=10) == []
    assert [n.id for n in await store.claim_due(now=500, limit=10)] == ["later"]


async def test_claim_due_keeps_each_phone_in_order_behind_a_retry(store: Store) -> None:
    """A newer message to a phone waits while an older one to it waits for its retry, so a
    recipient never reads the resolution before the alert (other phones are not held up)."""
    await store.enqueue(
        [
            make_notification("firing", created_at=10, next_attempt_at=300),
            make_notification("resolved", created_at=20, next_attempt_at=20),
            make_notification("other-phone", phone="+14155550123", created_at=30),
        ]
    )
    assert [n.id for n in await store.claim_due(now=100, limit=10)] == ["other-phone"]
    assert [n.id for n in await store.claim_due(now=300, limit=10)] == ["firing", "resolved"]


async def test_claimed_notification_is_not_claimed_again(store: Store) -> None:
    await store.enqueue([make_notification("n1")])
    assert len(await store.claim_due(now=100, limit=10)) == 1
    assert await store.claim_due(now=100, limit=10) == []
    found = await store.get_notification("n1")
    assert found is not None and found.state == "sending"


async def test_concurrent_claims_never_return_the_same_notification(store: Store) -> None:
    ids = [f"n{i:03}" for i in range(300)]
    await store.enqueue([make_notification(nid) for nid in ids])
    claimed: list[str] = []

    async def worker() -> None:
        while batch := await store.claim_due(now=100, limit=7):
            claimed.extend(n.id for n in batch)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(8)))
    assert sorted(claimed) == ids


async def test_mark_sent_records_provider_and_time(store: Store) -> None:
    await store.enqueue([make_notification("n1")])
    await store.claim_due(now=100, limit=1)
    await store.mark_sent("n1", now=101, provider_id="bt-42", provider_status="queued")
    found = await store.get_notification("n1")
    assert found is not None
    assert (found.state, found.sent_at, found.provider_id, found.provider_status) == (
        "sent",
        101,
        "bt-42",
        "queued",
    )
    assert found.attempts == 1


async def test_mark_retry_puts_it_back_for_later_with_the_error(store: Store) -> None:
    await store.enqueue([make_notification("n1")])
    await store.claim_due(now=100, limit=1)
    await store.mark_retry("n1", error="HTTP 503", next_attempt_at=130)
    found = await store.get_notification("n1")
    assert found is not None
    assert (found.state, found.attempts, found.last_error, found.next_attempt_at) == (
        "pending",
        1,
        "HTTP 503",
        130,
    )
    assert await store.claim_due(now=129, limit=1) == []
    assert [n.attempts for n in await store.claim_due(now=130, limit=1)] == [1]


async def test_mark_dead_moves_it_to_the_dead_letter_list(store: Store) -> None:
    await store.enqueue([make_notification("n1"), make_notification("n2")])
    await store.claim_due(now=100, limit=2)
    await store.mark_dead("n1", error="HTTP 401", now=101)
    dead = await store.list_notifications("dead")
    assert [(n.id, n.attempts, n.last_error) for n in dead] == [("n1", 1, "HTTP 401")]
    await store.requeue_inflight()
    assert [n.id for n in await store.claim_due(now=1000, limit=10)] == ["n2"]


async def test_outbox_counts_every_state(store: Store) -> None:
    assert await store.outbox_counts() == {
        "pending": 0,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "dead": 0,
        "merged": 0,
    }
    await store.enqueue([make_notification(f"n{i}") for i in range(5)])
    await store.claim_due(now=100, limit=3)
    await store.mark_sent("n0", now=101)
    await store.mark_dead("n1", error="HTTP 400", now=101)
    await store.merge_into(["n3"], make_notification("digest"))
    assert await store.outbox_counts() == {
        "pending": 2,
        "sending": 1,
        "sent": 1,
        "failed": 0,
        "dead": 1,
        "merged": 1,
    }


async def test_list_notifications_is_newest_first_filtered_and_limited(store: Store) -> None:
    await store.enqueue([make_notification(f"n{i}", created_at=100 + i) for i in range(5)])
    await store.claim_due(now=100, limit=2)  # all due at 0: ties broken by created_at -> n0, n1
    assert [n.id for n in await store.list_notifications()] == ["n4", "n3", "n2", "n1", "n0"]
    assert [n.id for n in await store.list_notifications(limit=2)] == ["n4", "n3"]
    assert [n.id for n in await store.list_notifications("sending")] == ["n1", "n0"]
    assert [n.id for n in await store.list_notifications("pending", limit=1)] == ["n4"]


async def test_requeue_inflight_returns_sending_to_pending(store: Store) -> None:
    await store.enqueue([make_notification(f"n{i}") for i in range(4)])
    await store.claim_due(now=100, limit=3)
    await store.mark_sent("n0", now=101)
    assert await store.requeue_inflight() == 2
    counts = await store.outbox_counts()
    assert (counts["pending"], counts["sending"], counts["sent"]) == (3, 0, 1)
    assert await store.requeue_inflight() == 0


async def test_ping_succeeds_on_an_open_store(store: Store) -> None:
    await store.ping()


async def test_enqueue_writes_dedupe_entries_with_the_notifications(store: Store) -> None:
    entry = DedupeEntry("firing", 100.0, "n-atomic")
    await store.enqueue([make_notification("n-atomic")], [({"dd:k": entry}, 60.0)])
    assert await store.get_notification("n-atomic") is not None
    assert await store.get_dedupe(["dd:k"], 120.0) == {"dd:k": entry}
    assert await store.get_dedupe(["dd:k"], 161.0) == {}


async def test_claim_leaves_notifications_to_excluded_phones_pending(store: Store) -> None:
    await store.enqueue(
        [
            make_notification("to-paced", phone="+14155550123", next_attempt_at=0),
            make_notification("to-other", phone="+4915112345678", next_attempt_at=0),
        ]
    )
    claimed = await store.claim_due(now=10, limit=5, exclude_phones={"+14155550123"})
    assert [n.id for n in claimed] == ["to-other"]
    assert [n.id for n in await store.pending_for("+14155550123")] == ["to-paced"]
