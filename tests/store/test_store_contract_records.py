"""The Store contract for records: small JSON documents by kind and key, with optional expiry,
written alone or in one transaction with notifications (Store.enqueue)."""

from __future__ import annotations

from typing import Any

import pytest
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import Store
from bridge.store.base import DedupeEntry

GROUP = {"route": "prod-critical", "events": [["fp1", "firing"]], "count": 2, "open": True}


async def test_record_round_trips_its_json_value(store: Store) -> None:
    await store.put_record("group", "g1", GROUP)
    assert await store.get_record("group", "g1", now=100) == GROUP


async def test_put_record_replaces_value_and_expiry(store: Store) -> None:
    await store.put_record("group", "g1", {"v": 1}, expires_at=150)
    await store.put_record("group", "g1", {"v": 2})
    assert await store.get_record("group", "g1", now=1_000_000) == {"v": 2}
    await store.put_record("group", "g1", {"v": 3}, expires_at=150)
    assert await store.get_record("group", "g1", now=150) is None


async def test_records_of_other_kinds_and_keys_are_apart(store: Store) -> None:
    await store.put_record("group", "k", {"kind": "group"})
    await store.put_record("silence", "k", {"kind": "silence"})
    assert await store.get_record("group", "k", now=100) == {"kind": "group"}
    assert await store.get_record("silence", "k", now=100) == {"kind": "silence"}
    assert await store.get_record("group", "other", now=100) is None
    assert await store.get_record("webhook", "k", now=100) is None


async def test_changing_a_returned_record_does_not_change_the_store(store: Store) -> None:
    value: dict[str, Any] = {"ids": ["a"]}
    await store.put_record("group", "g1", value)
    value["ids"].append("put-side")
    found = await store.get_record("group", "g1", now=100)
    assert found == {"ids": ["a"]}
    found["ids"].append("get-side")
    assert await store.get_record("group", "g1", now=100) == {"ids": ["a"]}


@pytest.mark.parametrize(
    ("expires_at", "checked_at", "found"),
    [
        (None, 1e12, True),
        (160, 159.9, True),
        (160, 160, False),
        (160, 500, False),
    ],
    ids=["never-expires", "just-before-expiry", "at-expiry", "long-after"],
)
async def test_get_record_honours_expiry(
    store: Store, expires_at: float | None, checked_at: float, found: bool
) -> None:
    await store.put_record("silence", "s1", {"id": "s1"}, expires_at=expires_at)
    assert (await store.get_record("silence", "s1", now=checked_at) is not None) is found


async def test_list_records_is_one_kinds_unexpired_records_by_key(store: Store) -> None:
    await store.put_record("silence", "b", {"n": "b"}, expires_at=500)
    await store.put_record("silence", "expired", {"n": "x"}, expires_at=150)
    await store.put_record("silence", "a", {"n": "a"})
    await store.put_record("silence", "c", {"n": "c"}, expires_at=200)
    await store.put_record("group", "a", {"n": "group"})
    assert await store.list_records("silence", now=199) == [
        ("a", {"n": "a"}),
        ("b", {"n": "b"}),
        ("c", {"n": "c"}),
    ]
    assert await store.list_records("silence", now=200) == [("a", {"n": "a"}), ("b", {"n": "b"})]
    assert await store.list_records("unknown", now=100) == []


async def test_list_records_with_a_prefix_gives_only_the_keys_that_start_with_it(
    store: Store,
) -> None:
    for key in ("disks/flap:a", "disks/flap:b", "disks/grp", "disks/flap", "disk/flap:c", "é/x"):
        await store.put_record("group", key, {"key": key})
    await store.put_record("group", "disks/flap:gone", {"key": "gone"}, expires_at=50)
    listed = await store.list_records("group", 100, prefix="disks/flap:")
    assert [key for key, _ in listed] == ["disks/flap:a", "disks/flap:b"]
    assert [doc for _, doc in listed] == [{"key": "disks/flap:a"}, {"key": "disks/flap:b"}]
    assert [k for k, _ in await store.list_records("group", 100, prefix="é")] == ["é/x"]
    assert len(await store.list_records("group", 100)) == 6


async def test_delete_record_removes_it_and_says_whether_it_was_there(store: Store) -> None:
    await store.put_record("group", "g1", GROUP)
    await store.put_record("silence", "g1", {"keep": True})
    assert await store.delete_record("group", "g1") is True
    assert await store.get_record("group", "g1", now=100) is None
    assert await store.delete_record("group", "g1") is False
    assert await store.get_record("silence", "g1", now=100) == {"keep": True}


async def test_purge_expired_drops_expired_records_and_keeps_the_rest(store: Store) -> None:
    await store.put_record("silence", "old", {}, expires_at=150)
    await store.put_record("silence", "new", {}, expires_at=1000)
    await store.put_record("silence", "forever", {})
    await store.remember("old-key", ttl=10, now=100)
    assert await store.purge_expired(now=200) == 2
    assert [key for key, _ in await store.list_records("silence", now=200)] == ["forever", "new"]
    assert await store.delete_record("silence", "old") is False
    assert await store.purge_expired(now=200) == 0


async def test_enqueue_writes_and_deletes_records_with_the_notifications(store: Store) -> None:
    await store.put_record("group", "done", {"v": "old"})
    await store.put_record("group", "kept", {"v": "kept"})
    await store.enqueue(
        [make_notification("n1")],
        records=[
            ("group", "g1", {"v": 1}, 500.0),
            ("group", "forever", {"v": 2}, None),
            ("group", "done", None, None),
        ],
    )
    assert await store.get_notification("n1") is not None
    assert await store.list_records("group", now=499) == [
        ("forever", {"v": 2}),
        ("g1", {"v": 1}),
        ("kept", {"v": "kept"}),
    ]
    assert await store.get_record("group", "g1", now=500) is None


async def test_enqueue_of_records_alone_commits_them(store: Store) -> None:
    await store.enqueue([], records=[("group", "g1", {"v": 1}, None)])
    assert await store.get_record("group", "g1", now=100) == {"v": 1}
    assert sum((await store.outbox_counts()).values()) == 0


async def test_later_record_write_of_one_key_in_an_enqueue_wins(store: Store) -> None:
    await store.enqueue(
        [],
        records=[
            ("group", "a", {"v": 1}, None),
            ("group", "a", None, None),
            ("group", "b", None, None),
            ("group", "b", {"v": 2}, None),
        ],
    )
    assert await store.list_records("group", now=100) == [("b", {"v": 2})]


async def test_enqueue_with_a_record_that_cannot_be_stored_writes_nothing(store: Store) -> None:
    entry = DedupeEntry("firing", 100.0, "n1")
    with pytest.raises(TypeError):
        await store.enqueue(
            [make_notification("n1")],
            [({"dd:k": entry}, 60.0)],
            [("group", "ok", {"v": 1}, None), ("group", "bad", {"v": object()}, None)],
        )
    assert await store.get_notification("n1") is None
    assert await store.get_dedupe(["dd:k"], 120.0) == {}
    assert await store.list_records("group", now=100) == []
