"""One digest message in place of a recipient's backlog: newest state per alert, and counts.

Pure: the worker decides when a backlog is digested and merges it atomically in the store
(`Store.merge_into`); this module only decides what the digest says. The parts of one split
message (same route, recipient, created_at and alerts) are one update in it, in part order.
A digest still waiting to be sent takes in the updates that came after it (`DigestContent.fold`)
and then says what one digest over all of them says.
"""

from __future__ import annotations

import math
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
# A line that is only a link: how the default templates end each alert, and "+N more".
_LINK_LINE = re.compile(r"^https?://\S+$", re.MULTILINE)

# What makes notifications parts of one message: route, recipient, created_at and alerts.
UpdateKey = tuple[object, ...]
# Which of two updates is newer: created_at, then id.
UpdateOrder = tuple[float, str]


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
    def order(self) -> UpdateOrder:
        return (self.created_at, self.id)

    @property
    def event_keys(self) -> list[tuple[str, str]]:
        return self.parts[0].event_keys

    @property
    def text(self) -> str:
        """The whole message: the parts' texts joined, without their "(i/n)" lines."""
        if len(self.parts) == 1:
            return self.parts[0].text.strip()
        return "\n".join(_PART_PREFIX.sub("", n.text).strip() for n in self.parts)

    @property
    def link(self) -> str | None:
        """The message's link: its last line that is only a link, if it has one."""
        links = _LINK_LINE.findall(self.text)
        return links[-1] if links else None


def updates_of(notifications: Sequence[Notification]) -> list[Update]:
    """The backlog as messages, oldest first: the parts of one split message joined as one."""
    messages: dict[UpdateKey, list[Notification]] = {}
    for n in notifications:
        messages.setdefault(_update_key(n), []).append(n)
    updates = [Update(tuple(sorted(parts, key=_part_order))) for parts in messages.values()]
    return sorted(updates, key=lambda u: u.created_at)


class DigestContent:
    """What one digest says of the updates folded into it: how many there were, the newest
    state of each alert, and the current updates (each the newest report of one of its alerts,
    or reporting none). A replaced update is only counted, so folding in more costs what the
    new ones cost, not what the digest already carries."""

    def __init__(self) -> None:
        self.updates = 0
        self.created_at = math.inf
        self.routes: set[str] = set()
        self.recipient = ""
        self.phone = ""
        self._current: dict[UpdateKey, Update] = {}
        # fingerprint -> its newest status, and the update that reports it (order, key)
        self._states: dict[str, str] = {}
        self._newest: dict[str, tuple[UpdateOrder, UpdateKey]] = {}
        self._firing = 0
        # current update -> how many alerts it is the newest report of
        self._owned: dict[UpdateKey, int] = {}

    @classmethod
    def of(cls, notifications: Sequence[Notification]) -> DigestContent:
        content = cls()
        content.fold(notifications)
        return content

    def fold(self, notifications: Sequence[Notification]) -> None:
        """Take in more of the recipient's backlog, older or newer than what it holds."""
        if not notifications:
            return
        if not self.phone:
            self.phone, self.recipient = notifications[0].phone, notifications[0].recipient
        if any(n.phone != self.phone for n in notifications):
            raise ValueError("a digest goes to one recipient; these notifications go to several")
        self.routes.update(n.route for n in notifications)
        self.created_at = min(self.created_at, min(n.created_at for n in notifications))
        for update in updates_of(notifications):
            self._take(update)

    @property
    def states(self) -> dict[str, str]:
        """Fingerprint -> its newest status."""
        return dict(self._states)

    @property
    def current(self) -> list[Update]:
        """Newest first, without those whose every alert a newer update reports again."""
        return sorted(self._current.values(), key=lambda u: u.order, reverse=True)

    @property
    def link(self) -> str | None:
        """Where to look, kept at the end of the digest when long entries are cut: the link
        of the newest update that has one."""
        return next((link for u in self.current if (link := u.link) is not None), None)

    def text(self, *, max_length: int = WHATSAPP_MAX_LENGTH, link: str | None = None) -> str:
        """The digest's WhatsApp text, at most `max_length` long as Blueticks counts (UTF-16)."""
        header = f"📋 *{self.updates} updates in one digest*"
        if self._states:
            resolved = len(self._states) - self._firing
            header += f" — {self._firing} firing, {resolved} resolved"
        updates = self.current
        superseded = self.updates - len(updates)
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
        body = "".join(parts)
        if link and link in body:
            tail = ""  # an entry shown says it already
        return cut_to_length(header + body + more + tail, max_length)

    def notification(
        self,
        *,
        digest_id: str,
        now: float,
        max_length: int = WHATSAPP_MAX_LENGTH,
        link: str | None = None,
    ) -> Notification:
        """A pending notification to the same recipient that says what the updates said."""
        if not self.updates:
            raise ValueError("a digest needs at least one notification")
        return Notification(
            id=digest_id,
            route=next(iter(self.routes)) if len(self.routes) == 1 else DIGEST_ROUTE,
            recipient=self.recipient,
            phone=self.phone,
            text=self.text(max_length=max_length, link=link),
            # Latency is measured from the oldest update the digest carries.
            created_at=self.created_at,
            source=DIGEST_SOURCE,
            next_attempt_at=now,
            event_keys=list(self._states.items()),
        )

    def _take(self, update: Update) -> None:
        key = _update_key(update.parts[0])
        known = self._current.get(key)
        if known is not None:  # more parts of a split message already taken in
            self._current[key] = Update(tuple(sorted(known.parts + update.parts, key=_part_order)))
            return
        self.updates += 1
        owned = 0
        for fingerprint, status in dict(update.event_keys).items():
            newest = self._newest.get(fingerprint)
            if newest is not None:
                if newest[0] > update.order:
                    continue  # a newer update reports this alert
                self._release(newest[1])
            self._set_state(fingerprint, status)
            self._newest[fingerprint] = (update.order, key)
            owned += 1
        if owned or not update.event_keys:
            self._current[key] = update
            self._owned[key] = owned

    def _set_state(self, fingerprint: str, status: str) -> None:
        self._firing += (status == "firing") - (self._states.get(fingerprint) == "firing")
        self._states[fingerprint] = status

    def _release(self, key: UpdateKey) -> None:
        """A newer update reports one of this update's alerts; once it reports none, it goes."""
        self._owned[key] -= 1
        if not self._owned[key]:
            del self._owned[key], self._current[key]


def newest_states(notifications: Sequence[Notification]) -> dict[str, str]:
    """Fingerprint -> its newest status among `notifications` (later ones win)."""
    return DigestContent.of(notifications).states


def current_updates(notifications: Sequence[Notification]) -> list[Update]:
    """Newest first, without those whose every alert a newer update reports again."""
    return DigestContent.of(notifications).current


def digest_text(
    notifications: Sequence[Notification],
    *,
    max_length: int = WHATSAPP_MAX_LENGTH,
    link: str | None = None,
) -> str:
    """The digest's WhatsApp text, at most `max_length` long as Blueticks counts (UTF-16)."""
    return DigestContent.of(notifications).text(max_length=max_length, link=link)


def build_digest(
    notifications: Sequence[Notification],
    *,
    digest_id: str,
    now: float,
    max_length: int = WHATSAPP_MAX_LENGTH,
    link: str | None = None,
) -> Notification:
    """A pending notification to the same recipient that says what `notifications` said."""
    content = DigestContent.of(notifications)
    return content.notification(digest_id=digest_id, now=now, max_length=max_length, link=link)


def _update_key(notification: Notification) -> UpdateKey:
    n = notification
    return (n.route, n.recipient, n.created_at, tuple(map(tuple, n.event_keys)))


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
