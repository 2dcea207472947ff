"""One digest message in place of a recipient's backlog: newest state per alert, and counts.

Pure: the worker decides when a backlog is digested and merges it atomically in the store
(`Store.merge_into`); this module only decides what the digest says. The parts of one split
message (same route, recipient, created_at and alerts) are one update in it, in part order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.model import Notification
from bridge.render.whatsapp import WHATSAPP_MAX_LENGTH, cut_to_length, text_length

# One update's text in the digest is cut here, so one long message cannot crowd out the rest.
ENTRY_MAX_LENGTH = 600
DIGEST_ROUTE = "digest"
DIGEST_SOURCE = "digest"
SEPARATOR = "\n\n"
# The "(2/3)" line the renderer puts before each part of a split message.
_PART_PREFIX = re.compile(r"\A\((\d+)/\d+\)\n")


@dataclass(frozen=True, slots=True)
class Update:
    """One message of the backlog: its notifications, one, or the parts of a split message."""

    parts: tuple[Notification, ...]

    @property
    def id(self) -> str:
        return self.parts[0].id

    @property
    def created_at(self) -> float:
        return self.parts[0].created_at

    @property
    def event_keys(self) -> list[tuple[str, str]]:
        return self.parts[0].event_keys

    @property
    def text(self) -> str:
        """The whole message: the parts' texts joined, without their "(i/n)" lines."""
        if len(self.parts) == 1:
            return self.parts[0].text.strip()
        return "\n".join(_PART_PREFIX.sub("", n.text).strip() for n in self.parts)


def updates_of(notifications: Sequence[Notification]) -> list[Update]:
    """The backlog as messages, oldest first: the parts of one split message joined as one."""
    messages: dict[tuple[object, ...], list[Notification]] = {}
    for n in notifications:
        key = (n.route, n.recipient, n.created_at, tuple(map(tuple, n.event_keys)))
        messages.setdefault(key, []).append(n)
    updates = [Update(tuple(sorted(parts, key=_part_order))) for parts in messages.values()]
    return sorted(updates, key=lambda u: u.created_at)


def newest_states(notifications: Sequence[Notification]) -> dict[str, str]:
    """Fingerprint -> its newest status among `notifications` (later ones win)."""
    states: dict[str, str] = {}
    for notification in _oldest_first(notifications):
        for fingerprint, status in notification.event_keys:
            states[fingerprint] = status
    return states


def current_updates(notifications: Sequence[Notification]) -> list[Update]:
    """Newest first, without those whose every alert a newer update reports again."""
    seen: set[str] = set()
    current: list[Update] = []
    for update in reversed(updates_of(notifications)):
        fingerprints = {fingerprint for fingerprint, _ in update.event_keys}
        if not fingerprints or not fingerprints <= seen:
            current.append(update)
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
    header = f"📋 *{len(updates_of(notifications))} updates in one digest*"
    if states:
        firing = sum(1 for status in states.values() if status == "firing")
        header += f" — {firing} firing, {len(states) - firing} resolved"
    updates = current_updates(notifications)
    superseded = len(updates_of(notifications)) - len(updates)
    if superseded:
        header += f"\n_{superseded} older updates left out: newer ones below replace them._"
    tail = f"{SEPARATOR}🔗 {link}" if link else ""
    # Room kept for the longest "… and N more" line this digest could need.
    more_room = text_length(f"{SEPARATOR}… and {len(updates)} more")
    budget = max_length - text_length(header) - text_length(tail)
    parts: list[str] = []
    used = 0
    for index, update in enumerate(updates):
        entry = SEPARATOR + _shorten(update.text, ENTRY_MAX_LENGTH)
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


def _part_order(notification: Notification) -> tuple[int, str]:
    """A part's number from its "(i/n)" line, else 0; then the id (which sorts by part too)."""
    match = _PART_PREFIX.match(notification.text)
    return (int(match.group(1)) if match else 0, notification.id)


def _shorten(text: str, limit: int) -> str:
    """`text` within `limit`, whole lines first; a cut says so, and how many lines it left
    out ("… +3 more lines"), so no alert of a long message vanishes silently."""
    if text_length(text) <= limit:
        return text
    lines = text.split("\n")
    room = limit - text_length(f"\n… +{len(lines)} more lines")
    kept: list[str] = []
    used = 0
    for line in lines:
        length = text_length(line) + (1 if kept else 0)
        if used + length > room:
            break
        kept.append(line)
        used += length
    if not kept:  # even the first line is too long: cut it
        kept = [cut_to_length(lines[0], room).rstrip()]
    left_out = len(lines) - len(kept)
    more = f"\n… +{left_out} more lines" if left_out else "…"
    return "\n".join(kept).rstrip() + more
