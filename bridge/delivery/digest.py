"""One digest message in place of a recipient's backlog: newest state per alert, and counts.

Pure: the worker decides when a backlog is digested and merges it atomically in the store
(`Store.merge_into`); this module only decides what the digest says.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.model import Notification
from bridge.render.whatsapp import WHATSAPP_MAX_LENGTH, cut_to_length, text_length

# One update's text in the digest is cut here, so one long message cannot crowd out the rest.
ENTRY_MAX_LENGTH = 600
DIGEST_ROUTE = "digest"
DIGEST_SOURCE = "digest"
SEPARATOR = "\n\n"


def newest_states(notifications: Sequence[Notification]) -> dict[str, str]:
    """Fingerprint -> its newest status among `notifications` (later ones win)."""
    states: dict[str, str] = {}
    for notification in _oldest_first(notifications):
        for fingerprint, status in notification.event_keys:
            states[fingerprint] = status
    return states


def current_updates(notifications: Sequence[Notification]) -> list[Notification]:
    """Newest first, without those whose every alert a newer notification reports again."""
    seen: set[str] = set()
    current: list[Notification] = []
    for notification in reversed(_oldest_first(notifications)):
        fingerprints = {fingerprint for fingerprint, _ in notification.event_keys}
        if not fingerprints or not fingerprints <= seen:
            current.append(notification)
        seen |= fingerprints
    return current


def digest_text(
    notifications: Sequence[Notification],
    *,
    max_length: int = WHATSAPP_MAX_LENGTH,
    link: str | None = None,
) -> str:
    """The digest's WhatsApp text, at most `max_length` long as Blueticks counts (UTF-16)."""
    states = newest_states(notifications)
    header = f"📋 *{len(notifications)} updates in one digest*"
    if states:
        firing = sum(1 for status in states.values() if status == "firing")
        header += f" — {firing} firing, {len(states) - firing} resolved"
    updates = current_updates(notifications)
    superseded = len(notifications) - len(updates)
    if superseded:
        header += f"\n_{superseded} older updates left out: newer ones below replace them._"
    tail = f"{SEPARATOR}🔗 {link}" if link else ""
    # Room kept for the longest "… and N more" line this digest could need.
    more_room = text_length(f"{SEPARATOR}… and {len(updates)} more")
    budget = max_length - text_length(header) - text_length(tail)
    parts: list[str] = []
    used = 0
    for index, update in enumerate(updates):
        entry = SEPARATOR + _shorten(update.text.strip(), ENTRY_MAX_LENGTH)
        left_after = len(updates) - index - 1
        room = budget - used - (more_room if left_after else 0)
        length = text_length(entry)
        if length > room:
            break
        parts.append(entry)
        used += length
    omitted = len(updates) - len(parts)
    more = f"{SEPARATOR}… and {omitted} more" if omitted else ""
    return cut_to_length(header + "".join(parts) + more + tail, max_length)


def build_digest(
    notifications: Sequence[Notification],
    *,
    digest_id: str,
    now: float,
    max_length: int = WHATSAPP_MAX_LENGTH,
    link: str | None = None,
) -> Notification:
    """A pending notification to the same recipient that says what `notifications` said."""
    if not notifications:
        raise ValueError("a digest needs at least one notification")
    first = notifications[0]
    if any(n.phone != first.phone for n in notifications):
        raise ValueError("a digest goes to one recipient; these notifications go to several")
    routes = {n.route for n in notifications}
    return Notification(
        id=digest_id,
        route=routes.pop() if len(routes) == 1 else DIGEST_ROUTE,
        recipient=first.recipient,
        phone=first.phone,
        text=digest_text(notifications, max_length=max_length, link=link),
        # Latency is measured from the oldest update the digest carries.
        created_at=min(n.created_at for n in notifications),
        source=DIGEST_SOURCE,
        next_attempt_at=now,
        event_keys=list(newest_states(notifications).items()),
    )


def _oldest_first(notifications: Sequence[Notification]) -> list[Notification]:
    return sorted(notifications, key=lambda n: n.created_at)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
