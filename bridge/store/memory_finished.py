"""The memory store's finished notifications (sent or merged), oldest first.

Only the last `max_sent` are kept (MemoryStore drops the oldest over the cap), and the rate
limiter's history (`sent_since`) and purges read them in this order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from bridge.model import Notification, NotificationState

FINISHED_STATES: frozenset[NotificationState] = frozenset({"sent", "merged"})


class FinishedOrder:
    """Finished ids, oldest first (a dict used as an ordered set)."""

    def __init__(self) -> None:
        self._ids: dict[str, None] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def track(self, nid: str, state: NotificationState, *, cap: int) -> list[str]:
        """Note nid's new state (a finished one moves it to the end); the oldest finished ids
        over the cap, oldest first, for the store to remove."""
        self._ids.pop(nid, None)
        if state not in FINISHED_STATES:
            return []
        self._ids[nid] = None
        return list(itertools.islice(self._ids, max(len(self._ids) - cap, 0)))

    def discard(self, nid: str) -> None:
        self._ids.pop(nid, None)


def sends_by_phone(
    finished: Iterable[Notification], since: float, limit: int
) -> dict[str, list[float]]:
    """Each phone's send times since `since`, oldest first (the newest `limit` only)."""
    sent = [
        (n.sent_at, n.phone)
        for n in finished
        if n.state == "sent" and n.sent_at is not None and n.sent_at >= since
    ]
    newest = sorted(sent)[-limit:] if limit > 0 else []
    by_phone: dict[str, list[float]] = {}
    for at, phone in newest:
        by_phone.setdefault(phone, []).append(at)
    return by_phone


def finished_at(notification: Notification) -> float:
    return notification.sent_at if notification.sent_at is not None else notification.created_at
