"""The memory store's index for delivery callbacks: notification ids by Blueticks id or wire key.

Kept in step with the outbox by MemoryStore: a notification is dropped from the index before
its provider fields change or it leaves the store, and added again after.
"""

from __future__ import annotations

from bridge.model import Notification

# Fields callbacks look notifications up by, in the order `find` tries them.
LOOKUP_FIELDS = ("provider_id", "provider_key")


class ProviderLookup:
    """field -> value -> notification id; the last notification written wins."""

    def __init__(self) -> None:
        self._by_field: dict[str, dict[str, str]] = {name: {} for name in LOOKUP_FIELDS}

    def add(self, notification: Notification) -> None:
        for name, by_value in self._by_field.items():
            value = getattr(notification, name)
            if value is not None:
                by_value[value] = notification.id

    def discard(self, notification: Notification) -> None:
        """Forget the notification's lookup values, unless a later one has taken them over."""
        for name, by_value in self._by_field.items():
            value = getattr(notification, name)
            if value is not None and by_value.get(value) == notification.id:
                del by_value[value]

    def find(self, *, provider_id: str | None, provider_key: str | None) -> str | None:
        """The id for the first of provider_id, provider_key (in that order) that matches."""
        for name, value in zip(LOOKUP_FIELDS, (provider_id, provider_key), strict=True):
            nid = None if value is None else self._by_field[name].get(value)
            if nid is not None:
                return nid
        return None
