"""One digest message in place of a recipient's backlog: newest state per alert, and counts.

Pure: the worker decides when a backlog is digested and merges it atomically in the store
(`Store.merge_into`); this module only decides what the digest says. The parts of one split
message (same route, recipient, created_at and alerts) are one update in it, in part order.
A digest still waiting to be sent takes in the updates that came after it (`DigestContent.fold`)
and then says what one digest over all of them says.

Entries are listed as the renderer lists alerts (firing first, most severe first), newest first
among equals; what has no room is counted by severity and named (`bridge.delivery.digest_brief`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from bridge.delivery.digest_brief import (
    AlertBrief,
    AlertCounts,
    Urgency,
    left_out_line,
    left_out_room,
    severity_counts,
)
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
# How the default Alertmanager and Grafana templates begin each alert of a message: a cut entry
# counts these to know how many of its alerts it still shows.
_ALERT_START = re.compile(r"^(🔥 \*FIRING\*|✅ \*RESOLVED\*)")
# Where an update reporting no alert (a GitHub notice) goes: after firing alerts of any severity.
_NO_ALERTS: Urgency = (False, 5)
# At most this share of the room left after the entries names what they leave out.
_NAMES_SHARE = 3

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

    @property
    def alerts(self) -> list[AlertBrief]:
        """The message's alerts in the order it lists them, as far as its briefs tell."""
        statuses = dict(self.event_keys)
        briefs = {fp: (severity, name) for fp, severity, name in self.parts[0].event_briefs}
        order = [fp for fp in briefs if fp in statuses]
        order += [fp for fp in statuses if fp not in briefs]
        return [AlertBrief(statuses[fp], *briefs.get(fp, ("", ""))) for fp in order]


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
        # fingerprint -> the update that reports it newest (order, key), and what it says of
        # it (status, severity, alertname); and those counted
        self._newest: dict[str, tuple[UpdateOrder, UpdateKey]] = {}
        self._alerts: dict[str, AlertBrief] = {}
        self._counts: AlertCounts = Counter()
        self._firing = 0
        # current update -> the alerts it is the newest report of, counted, and the most urgent
        self._owned: dict[UpdateKey, AlertCounts] = {}
        self._urgency: dict[UpdateKey, Urgency] = {}

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
        return {fingerprint: alert.status for fingerprint, alert in self._alerts.items()}

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
        """The digest's WhatsApp text, at most `max_length` long as Blueticks counts (UTF-16):
        the most urgent entries that fit, then what the others carry, counted and named."""
        header = f"📋 *{self.updates} updates in one digest*"
        if self._alerts:
            header += " — " + self._state_counts()
        updates = self._most_urgent_first()
        superseded = self.updates - len(updates)
        if superseded:
            header += f"\n_{superseded} older updates left out: newer ones below replace them._"
        tail = f"{SEPARATOR}🔗 {link}" if link else ""
        budget = max_length - text_length(header) - text_length(tail)
        # Room kept for the longest closing line this digest could need.
        names_room = max(budget, 0) // _NAMES_SHARE
        longest = f"… and {len(updates)} more updates, {len(self._alerts)} alerts"
        more_room = text_length(SEPARATOR) + left_out_room(longest, self._counts, names_room)
        parts: list[str] = []
        left_out = self._counts.copy()
        used = 0
        for index, (key, update) in enumerate(updates):
            entry = SEPARATOR + _shorten(update, ENTRY_MAX_LENGTH)
            left_after = len(updates) - index - 1
            room = budget - used - (more_room if left_after else 0)
            length = text_length(entry)
            if length > room:
                break
            parts.append(entry)
            left_out -= self._owned[key]
            used += length
        omitted = len(updates) - len(parts)
        more = ""
        if omitted:
            room = max(budget - used, more_room) - text_length(SEPARATOR)
            more = SEPARATOR + left_out_line(_omitted_head(omitted, left_out), left_out, room)
        body = "".join(parts)
        if link and link in body:
            tail = ""  # an entry shown says it already
        return cut_to_length(header + body + more + tail, max_length)

    def _state_counts(self) -> str:
        """The newest states counted, firing ones by severity: "12 firing (3 critical,
        9 warning), 4 resolved"."""
        firing = Counter({a: n for a, n in self._counts.items() if a.status == "firing"})
        resolved = len(self._alerts) - self._firing
        if any(alert.severity for alert in firing):
            return f"{self._firing} firing ({severity_counts(firing)}), {resolved} resolved"
        return f"{self._firing} firing, {resolved} resolved"

    def _most_urgent_first(self) -> list[tuple[UpdateKey, Update]]:
        """The current updates by their most urgent alert (firing first, most severe first),
        newest first among equals: what an on-call engineer needs first leads."""

        newest_first = sorted(self._current.items(), key=lambda i: i[1].order, reverse=True)
        # Stable: newest first among equals.
        return sorted(newest_first, key=lambda item: self._urgency[item[0]])

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
            event_keys=list(self.states.items()),
        )

    def _take(self, update: Update) -> None:
        key = _update_key(update.parts[0])
        known = self._current.get(key)
        if known is not None:  # more parts of a split message already taken in
            self._current[key] = Update(tuple(sorted(known.parts + update.parts, key=_part_order)))
            return
        self.updates += 1
        owned: AlertCounts = Counter()
        briefs = {fp: (severity, name) for fp, severity, name in update.parts[0].event_briefs}
        for fingerprint, status in dict(update.event_keys).items():
            newest = self._newest.get(fingerprint)
            if newest is not None:
                if newest[0] > update.order:
                    continue  # a newer update reports this alert
                self._release(newest[1], self._alerts[fingerprint])
            alert = AlertBrief(status, *briefs.get(fingerprint, ("", "")))
            self._set_state(fingerprint, alert)
            self._newest[fingerprint] = (update.order, key)
            owned[alert] += 1
        if owned or not update.event_keys:
            self._current[key] = update
            self._owned[key] = owned
            self._urgency[key] = _most_urgent(owned)

    def _set_state(self, fingerprint: str, alert: AlertBrief) -> None:
        known = self._alerts.get(fingerprint)
        if known is not None:
            self._firing -= known.status == "firing"
            _take_one(self._counts, known)
        self._firing += alert.status == "firing"
        self._counts[alert] += 1
        self._alerts[fingerprint] = alert

    def _release(self, key: UpdateKey, alert: AlertBrief) -> None:
        """A newer update reports one of this update's alerts; once it reports none, it goes."""
        owned = self._owned[key]
        _take_one(owned, alert)
        if owned:
            self._urgency[key] = _most_urgent(owned)
        else:
            del self._owned[key], self._current[key], self._urgency[key]


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


def _shorten(update: Update, limit: int) -> str:
    """The update's text within `limit`, whole lines first. A cut says what it left out: how
    many of the message's alerts, by severity and name ("… +8 more alerts: 8 warning —
    KubeJobFailed ×8"), or for a message of one alert how many lines."""
    text = update.text
    if text_length(text) <= limit:
        return text
    lines = text.split("\n")
    alerts = update.alerts
    if len(alerts) < 2:  # its one alert is named in what is kept
        kept = _lines_within(lines, limit - text_length(f"\n… +{len(lines)} more lines"))
        left_out = len(lines) - len(kept)
        return "\n".join(kept).rstrip() + (f"\n… +{left_out} more lines" if left_out else "…")
    # Room for the longest line the cut could end with: every alert left out, many lines.
    head = f"… +{len(lines)} more lines; its {len(alerts)} alerts"
    room = 1 + left_out_room(head, Counter(alerts), limit // _NAMES_SHARE)
    kept = _lines_within(lines, limit - room)
    lines_cut = f"+{len(lines) - len(kept)} more lines" if len(kept) < len(lines) else "cut"
    if any(_ALERT_START.match(line) for line in lines):
        # The default templates: the alerts not begun in what is kept are left out.
        shown = sum(1 for line in kept if _ALERT_START.match(line))
        cut = alerts[shown:]
        head = f"… +{len(cut)} more alerts"
        more = left_out_line(head, Counter(cut), room - 1) if cut else ""
    else:  # a template of its own: what is kept cannot be told apart by alert
        head = f"… {lines_cut}; its {len(alerts)} alerts"
        more = left_out_line(head, Counter(alerts), room - 1)
    return "\n".join(kept).rstrip() + "\n" + (more or f"… {lines_cut}")


def _most_urgent(alerts: AlertCounts) -> Urgency:
    return min((alert.urgency for alert in alerts), default=_NO_ALERTS)


def _take_one(counts: AlertCounts, alert: AlertBrief) -> None:
    """One alert fewer in `counts`, which keeps no zeros (they would be named as left out)."""
    counts[alert] -= 1
    if not counts[alert]:
        del counts[alert]


def _omitted_head(updates: int, alerts: AlertCounts) -> str:
    """How many updates are left out ("… and 11 more"), and how many alerts they carry when
    that is another number."""
    total = sum(alerts.values())
    if total in (0, updates):
        return f"… and {updates} more"
    return f"… and {updates} more updates, {total} alerts"


def _lines_within(lines: list[str], room: int) -> list[str]:
    """The leading lines whose text (joined by newlines) is at most `room` long; at least part
    of the first, cut, when even that is too long."""
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
    return kept
