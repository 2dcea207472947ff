"""What a digest says of the alerts it has no room to show: counts by severity, and names.

"… and 185 more" hides whether anything critical is in it; "… and 185 more: 47 critical,
138 warning — KubePodCrashLooping ×10, …" tells an on-call engineer what to open first.
Severity and alertname come from the notifications' briefs (`Notification.event_briefs`).
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from bridge.model import SEVERITY_RANK
from bridge.render.whatsapp import cut_to_length, escape_whatsapp, text_length

# (resolved, severity rank): the smaller, the sooner an on-call engineer needs to see it.
Urgency = tuple[bool, int]
# The rank of a severity SEVERITY_RANK does not know, and of none.
UNRANKED = 4
# Longest a name is shown in a list of names; a longer one (a GitHub title, say) is cut.
NAME_MAX_LENGTH = 60
NAMES_GAP = " — "
# "firing" (for alerts none of which has a severity) is longer than "other": the room kept for
# a line over all alerts must also hold the line over some of them.
_LABEL_SLACK = len("firing") - len("other")


class AlertBrief(NamedTuple):
    """One alert as a digest knows it: its status, and the severity and alertname its message
    carried ("" when the message did not say)."""

    status: str
    severity: str
    name: str

    @property
    def urgency(self) -> Urgency:
        """Firing before resolved, then most severe first: the order the renderer lists."""
        rank = SEVERITY_RANK.get(self.severity.lower(), UNRANKED)
        return (self.status != "firing", rank)


# Alerts counted: a storm's thousands are a few kinds (status, severity, alertname).
AlertCounts = Counter[AlertBrief]


def severity_counts(alerts: AlertCounts) -> str:
    """Firing alerts by severity, most severe first, then the resolved ones: "47 critical,
    138 warning, 3 resolved". Firing ones without a severity are "other" beside ones with a
    severity, else just "firing"."""
    labelled = any(a.severity for a in alerts if a.status == "firing")
    counts: Counter[str] = Counter()
    order: dict[str, tuple[Urgency, bool]] = {}
    for alert, count in alerts.items():
        if alert.status != "firing":
            label, key = "resolved", ((True, UNRANKED + 1), False)
        else:
            label = alert.severity.lower() or ("other" if labelled else "firing")
            key = (alert.urgency, not alert.severity)
        counts[label] += count
        order.setdefault(label, key)
    labels = sorted(counts, key=lambda label: (order[label], label))
    return ", ".join(f"{counts[label]} {escape_whatsapp(label)}" for label in labels)


def alert_names(alerts: AlertCounts, room: int) -> str:
    """The alerts' names with their counts, of the most urgent first, then of the most:
    "KubePodCrashLooping ×10, KubeJobFailed ×10, OOMKilled"; within `room`, ending "+K more
    names" when cut."""
    counts: Counter[str] = Counter()
    best: dict[str, Urgency] = {}
    for alert, count in alerts.items():
        name = " ".join(alert.name.split())
        if name:
            counts[name] += count
            best[name] = min(best.get(name, alert.urgency), alert.urgency)
    ordered = sorted(counts, key=lambda name: (best[name], -counts[name], name))
    items = [_name_item(name, counts[name]) for name in ordered]
    whole = ", ".join(items)
    if text_length(whole) <= room:
        return whole
    suffix_room = text_length(f", +{len(items)} more names")
    kept: list[str] = []
    used = 0
    for item in items:
        length = text_length(item) + (2 if kept else 0)
        if used + length + suffix_room > room:
            break
        kept.append(item)
        used += length
    if not kept:
        return ""
    return ", ".join(kept) + f", +{len(items) - len(kept)} more names"


def left_out_line(head: str, alerts: AlertCounts, room: int) -> str:
    """`head`, then what `alerts` are: counts by severity, and their names as far as `room`
    allows ("… and 185 more: 47 critical, 138 warning — KubePodCrashLooping ×10, …")."""
    counts = severity_counts(alerts)
    line = f"{head}: {counts}" if counts else head
    names = alert_names(alerts, room - text_length(line) - len(NAMES_GAP))
    return f"{line}{NAMES_GAP}{names}" if names else line


def left_out_room(head: str, alerts: AlertCounts, names_room: int) -> int:
    """Room enough for `left_out_line` with `head` or a shorter one, over `alerts` or some of
    them, its names given at least as much room as they get here (at most `names_room`)."""
    counts = severity_counts(alerts)
    line = f"{head}: {counts}" if counts else head
    names = alert_names(alerts, names_room - len(NAMES_GAP))
    return text_length(line) + _LABEL_SLACK + (len(NAMES_GAP) + text_length(names) if names else 0)


def _name_item(name: str, count: int) -> str:
    if text_length(name) > NAME_MAX_LENGTH:
        name = cut_to_length(name, NAME_MAX_LENGTH - 1) + "…"
    return escape_whatsapp(name) + (f" ×{count}" if count > 1 else "")
