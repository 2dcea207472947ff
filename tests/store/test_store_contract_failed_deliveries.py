"""The Store contract for failed deliveries: sent notifications Blueticks later reported failed.

They are listed under the state "failed" and `requeue` sends each again as a new notification (a
new id, so a new v1 Idempotency-Key), once; dead letters keep their own rules.
"""

from __future__ import annotations

import pytest
from notification_factory import make_notification
from store_fixture import store_fixture  # noqa: F401  (the `store` fixture)

from bridge.store import Store
from bridge.store.base import FAILED_DELIVERY, RESENT_NOTE


async def _sent_with_statuses(store: Store) -> None:
    """sent-failed, sent-read and sent-none sent (the first reported failed, the second read),
    dead-1 dead, pending-1 pending."""
    ids = ("sent-failed", "sent-read", "sent-none", "dead-1")
    await store.enqueue(
        [
            make_notification(nid, created_at=10 + i, event_keys=[(f"fp-{nid}", "firing")])
            for i, nid in enumerate(ids)
        ]
        + [make_notification("pending-1", next_attempt_at=1000, created_at=1001)]
    )
    await store.claim_due(now=100, limit=10)
    for nid in ("sent-failed", "sent-read", "sent-none"):
        await store.mark_sent(nid, now=101, provider_id=f"bt-{nid}")
    await store.mark_dead("dead-1", error="HTTP 400", now=101)
    await store.set_delivery_status("sent-failed", status="failed", at=102)
    await store.set_delivery_status("sent-read", status="read", at=102)


async def test_failed_state_lists_the_sent_notifications_blueticks_reported_failed(
    store: Store,
) -> None:
    await _sent_with_statuses(store)
    listed = await store.list_notifications(FAILED_DELIVERY)
    assert [(n.id, n.state, n.delivery_status) for n in listed] == [
        ("sent-failed", "sent", "failed")
    ]


@pytest.mark.parametrize(
    ("ids", "dead_requeued"),
    [(None, 1), (["sent-failed"], 0), (["sent-failed", "sent-failed", "sent-read"], 0)],
    ids=["all", "by-id", "repeated-id-and-a-delivered-one"],
)
async def test_requeue_sends_a_failed_delivery_again_as_a_new_notification_once(
    store: Store, ids: list[str] | None, dead_requeued: int
) -> None:
    await _sent_with_statuses(store)
    failed = await store.get_notification("sent-failed")
    assert failed is not None

    outcome = await store.requeue(ids, now=500)

    [(old, new)] = outcome.resent
    assert old == "sent-failed" and new != old
    assert (outcome.requeued, outcome.skipped_delivered) == (dead_requeued + 1, 0)
    resend = await store.get_notification(new)
    assert resend is not None
    assert (resend.state, resend.attempts, resend.next_attempt_at) == ("pending", 0, 500)
    assert (resend.route, resend.recipient, resend.phone, resend.text) == (
        failed.route,
        failed.recipient,
        failed.phone,
        failed.text,
    )
    assert (resend.created_at, resend.event_keys) == (failed.created_at, failed.event_keys)
    assert resend.provider_id is None and resend.delivery_status is None
    assert resend.last_error == RESENT_NOTE.format(id="sent-failed")
    assert not resend.never_tried  # tried before: never folded into a digest
    # The failed one stays as it was, pointing at its resend, and leaves the failed list.
    kept = await store.get_notification("sent-failed")
    assert kept is not None
    assert (kept.state, kept.delivery_status, kept.merged_into) == ("sent", "failed", new)
    assert await store.list_notifications(FAILED_DELIVERY) == []
    assert [n.id for n in await store.claim_due(now=500, limit=10)] == [new] + (
        ["dead-1"] if dead_requeued else []
    )
    # A second retry finds nothing left to send again.
    again = await store.requeue(ids, now=600)
    assert (again.requeued, again.resent) == (0, ())


async def test_requeue_leaves_sent_notifications_not_reported_failed(store: Store) -> None:
    await _sent_with_statuses(store)
    outcome = await store.requeue(["sent-read", "sent-none", "pending-1"], now=500)
    assert (outcome.requeued, outcome.resent) == (0, ())
    states = {n.id: n.state for n in await store.list_notifications(limit=100)}
    assert states == {
        "sent-failed": "sent",
        "sent-read": "sent",
        "sent-none": "sent",
        "dead-1": "dead",
        "pending-1": "pending",
    }


async def test_drop_leaves_failed_deliveries(store: Store) -> None:
    """Only dead letters are dropped; a failed delivery is a sent notification, purged after
    store.retention."""
    await _sent_with_statuses(store)
    assert await store.drop(["sent-failed"]) == 0
    assert await store.get_notification("sent-failed") is not None
