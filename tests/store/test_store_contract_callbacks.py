"""The Store contract for Blueticks callbacks: finding a notification and its delivery status."""

from __future__ import annotations

import pytest
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import Store


async def _sent(store: Store, nid: str, provider_id: str, **fields: object) -> None:
    await store.enqueue([make_notification(nid, **fields)])
    await store.claim_due(now=100, limit=100)
    await store.mark_sent(nid, now=101, provider_id=provider_id)


@pytest.mark.parametrize(
    "lookup",
    [
        {"provider_id": "bt-1"},
        {"provider_key": "wa-key-1"},
        {"provider_id": "unknown", "provider_key": "wa-key-1"},
    ],
    ids=["provider-id", "provider-key", "falls-back-to-the-key"],
)
async def test_find_notification_by_each_identifier(store: Store, lookup: dict[str, str]) -> None:
    await _sent(store, "other", "bt-2")
    await store.set_delivery_status("other", status="received", at=102, provider_key="wa-key-2")
    await _sent(store, "n1", "bt-1")
    await store.set_delivery_status("n1", status="received", at=102, provider_key="wa-key-1")
    found = await store.find_notification(**lookup)
    assert found is not None and found.id == "n1"


@pytest.mark.parametrize(
    "lookup",
    [
        {},
        {"provider_id": "bt-9"},
        {"provider_key": "bt-1"},
        {"provider_id": "wa-key-1"},
        {"provider_id": "bt-9", "provider_key": "wa-key-9"},
    ],
    ids=["nothing-given", "unknown-id", "id-given-as-key", "key-given-as-id", "neither-known"],
)
async def test_find_notification_without_a_match_is_none(
    store: Store, lookup: dict[str, str]
) -> None:
    await _sent(store, "n1", "bt-1")
    await store.set_delivery_status("n1", status="received", at=102, provider_key="wa-key-1")
    assert await store.find_notification(**lookup) is None


async def test_find_notification_tries_provider_id_before_the_key(store: Store) -> None:
    await _sent(store, "by-id", "bt-1")
    await _sent(store, "by-key", "bt-2")
    await store.set_delivery_status("by-key", status="received", at=102, provider_key="wa-key-1")
    found = await store.find_notification(provider_id="bt-1", provider_key="wa-key-1")
    assert found is not None and found.id == "by-id"


async def test_found_notification_is_a_copy(store: Store) -> None:
    await _sent(store, "n1", "bt-1")
    before = await store.get_notification("n1")
    found = await store.find_notification(provider_id="bt-1")
    assert found is not None
    found.text = "changed"
    assert await store.get_notification("n1") == before


async def test_set_delivery_status_records_status_time_and_key(store: Store) -> None:
    await _sent(store, "n1", "bt-1")
    await store.set_delivery_status("n1", status="received", at=102, provider_key="wa-key-1")
    found = await store.get_notification("n1")
    assert found is not None
    assert (found.delivery_status, found.delivery_status_at, found.provider_key) == (
        "received",
        102,
        "wa-key-1",
    )
    assert (found.state, found.provider_id) == ("sent", "bt-1")


async def test_set_delivery_status_without_a_key_keeps_the_known_key(store: Store) -> None:
    await _sent(store, "n1", "bt-1")
    await store.set_delivery_status("n1", status="received", at=102, provider_key="wa-key-1")
    await store.set_delivery_status("n1", status="read", at=103)
    found = await store.get_notification("n1")
    assert found is not None
    assert (found.delivery_status, found.delivery_status_at, found.provider_key) == (
        "read",
        103,
        "wa-key-1",
    )
    by_key = await store.find_notification(provider_key="wa-key-1")
    assert by_key is not None and by_key.id == "n1"


async def test_set_delivery_status_of_an_unknown_notification_changes_nothing(
    store: Store,
) -> None:
    await _sent(store, "n1", "bt-1")
    await store.set_delivery_status("nope", status="read", at=103, provider_key="wa-key-9")
    assert await store.find_notification(provider_key="wa-key-9") is None
    found = await store.get_notification("n1")
    assert found is not None and found.delivery_status is None


async def test_a_replaced_provider_key_no_longer_finds_the_notification(store: Store) -> None:
    await _sent(store, "n1", "bt-1")
    await store.set_delivery_status("n1", status="received", at=102, provider_key="wa-key-1")
    await store.set_delivery_status("n1", status="read", at=103, provider_key="wa-key-2")
    assert await store.find_notification(provider_key="wa-key-1") is None
    found = await store.find_notification(provider_key="wa-key-2")
    assert found is not None and found.id == "n1"
