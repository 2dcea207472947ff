"""What a digest leads with and what it says of what it cannot show: the most urgent entries
first (firing, most severe), and what is left out counted by severity and named."""

from __future__ import annotations

import random

import pytest

from bridge.delivery.digest import DigestContent, digest_text
from bridge.model import Notification
from bridge.render.whatsapp import text_length

ALICE = "+14155550123"
LINK = "https://bridge.example/outbox"


def alert(
    n: int,
    severity: str,
    *,
    name: str = "",
    status: str = "firing",
    fingerprint: str = "",
    text: str = "",
) -> Notification:
    """One alert's message, accepted n seconds in, as the pipeline makes one."""
    name = name or f"Alert{n}"
    fingerprint = fingerprint or f"fp{n}"
    return Notification(
        id=f"n{n:03}",
        route="alerts",
        recipient="alice",
        phone=ALICE,
        text=text or f"{status} {name} ({severity or 'no severity'})",
        created_at=1000.0 + n,
        event_keys=[(fingerprint, status)],
        event_briefs=[(fingerprint, severity, name)],
    )


def grouped(n: int, alerts: list[tuple[str, str]], *, marked: bool = True) -> Notification:
    """One message of several alerts ((severity, name), in the renderer's order), as the
    default template writes it (each alert begins "🔥 *FIRING*") or one of a route's own."""
    blocks = [
        (f"🔥 *FIRING* · {severity.upper()}\n" if marked else f"- {severity} ")
        + f"*{name}*\n"
        + "\n".join(f"detail {line} of alert {i}" for line in range(4))
        for i, (severity, name) in enumerate(alerts)
    ]
    keys = [(f"g{n}-{i}", "firing") for i in range(len(alerts))]
    return Notification(
        id=f"g{n:03}",
        route="alerts",
        recipient="alice",
        phone=ALICE,
        text=f"🔥 *{len(alerts)} firing*\n\n" + "\n\n".join(blocks),
        created_at=1000.0 + n,
        event_keys=keys,
        event_briefs=[(fp, sev, name) for (fp, _), (sev, name) in zip(keys, alerts, strict=True)],
    )


def named_counts(names: str) -> dict[str, int]:
    """ "Disk ×8, Cpu" as {"Disk": 8, "Cpu": 1}."""
    items = [item.partition(" ×") for item in names.split(", ")]
    return {name: int(count or 1) for name, _, count in items}


def entries(text: str) -> list[str]:
    """The digest's entries, first line each, without the header and the closing lines."""
    return [e.split("\n")[0] for e in text.split("\n\n")[1:] if not e.startswith(("… ", "🔗"))]


def test_entries_lead_with_firing_critical_alerts_and_resolved_ones_come_last() -> None:
    backlog = [
        alert(1, "critical"),
        alert(2, "info"),
        alert(3, ""),
        alert(4, "warning"),
        alert(5, "critical", status="resolved"),
        alert(6, "error"),
        alert(7, "critical"),
        alert(8, "Warning"),
        alert(9, "info", status="resolved"),
    ]
    assert entries(digest_text(backlog)) == [
        "firing Alert7 (critical)",  # the newest first among equals
        "firing Alert1 (critical)",
        "firing Alert6 (error)",
        "firing Alert8 (Warning)",
        "firing Alert4 (warning)",
        "firing Alert2 (info)",
        "firing Alert3 (no severity)",
        "resolved Alert5 (critical)",
        "resolved Alert9 (info)",
    ]


def test_an_entry_ranks_by_its_most_urgent_alert_still_current() -> None:
    """A message whose critical alert a newer message resolved ranks by the alerts it still
    reports."""
    mixed = Notification(
        id="mixed",
        route="alerts",
        recipient="alice",
        phone=ALICE,
        text="critical db down and warning disk",
        created_at=1001.0,
        event_keys=[("db", "firing"), ("disk", "firing")],
        event_briefs=[("db", "critical", "DbDown"), ("disk", "warning", "Disk")],
    )
    backlog = [
        mixed,
        alert(2, "warning"),
        alert(3, "critical", status="resolved", fingerprint="db", text="db resolved"),
    ]
    assert entries(digest_text(backlog)) == [
        "firing Alert2 (warning)",
        "critical db down and warning disk",
        "db resolved",
    ]


def test_the_header_counts_firing_alerts_by_severity() -> None:
    backlog = [alert(i, "critical" if i % 4 == 0 else "warning") for i in range(1, 13)]
    backlog += [alert(20, "", status="firing"), alert(21, "critical", status="resolved")]
    assert digest_text(backlog).startswith(
        "📋 *14 updates in one digest* — 13 firing (3 critical, 9 warning, 1 other), 1 resolved"
    )


def test_a_storm_digest_counts_and_names_what_it_leaves_out() -> None:
    """The reviewer's storm: 20 alertnames in 10 namespaces, every fourth name critical,
    accepted in no order."""
    names = [f"Alertname{i:02}" for i in range(20)]
    arrivals = [name for name in names for _ in range(10)]
    random.Random(3).shuffle(arrivals)
    storm = [
        alert(
            i,
            "critical" if names.index(name) % 4 == 0 else "warning",
            name=name,
            text=f"🔥 *FIRING*\n*{name}*\n" + "labels and annotations\n" * 10,
        )
        for i, name in enumerate(arrivals)
    ]
    text = digest_text(storm, link=LINK)
    assert text_length(text) <= 4096 and text.endswith(f"🔗 {LINK}")
    shown = [e.split("\n")[1].strip("*") for e in text.split("\n\n") if e.startswith("🔥")]
    assert shown and all(names.index(name) % 4 == 0 for name in shown)  # critical ones first
    [more] = [e for e in text.split("\n\n") if e.startswith("… ")]
    assert more.startswith(
        f"… and {200 - len(shown)} more: {50 - len(shown)} critical, 150 warning"
    )
    # Each alertname left out is named with how many of its alerts are, the critical ones first.
    left_out = named_counts(more.split(" — ")[1])
    assert left_out == {name: 10 - shown.count(name) for name in names if shown.count(name) < 10}
    critical_left = [name for name in left_out if names.index(name) % 4 == 0]
    assert list(left_out)[: len(critical_left)] == critical_left


@pytest.mark.parametrize("marked", [True, False], ids=["default-template", "own-template"])
def test_an_entry_cut_short_says_how_many_alerts_it_left_out_and_which(marked: bool) -> None:
    alerts = [("critical", "DbDown")] * 2 + [("warning", "Disk_Full")] * 20
    text = digest_text([grouped(1, alerts, marked=marked)])
    assert text_length(text) < 800
    [cut] = [line for line in text.split("\n") if line.startswith("… ")]
    if marked:  # the alerts begun in what is kept are shown; the rest are counted
        shown = text.count("🔥 *FIRING*")
        assert 0 < shown < 22
        left = [s for s, _ in alerts[shown:]]
        critical, warning = left.count("critical"), left.count("warning")
        counts = f"{critical} critical, {warning} warning" if critical else f"{warning} warning"
        assert cut.startswith(f"… +{22 - shown} more alerts: {counts} — ")
    else:  # which alerts the kept lines show cannot be told: it says what the message carries
        assert " more lines; its 22 alerts: 2 critical, 20 warning — DbDown ×2, " in cut
    # A name's WhatsApp markers are look-alikes: "_Full" would start italics.
    assert "Disk\u02cdFull ×" in cut and "Disk_Full" not in cut


def test_a_single_alert_entry_cut_short_still_counts_lines() -> None:
    lines = [f"line {i} of one long alert" for i in range(60)]
    text = digest_text([alert(1, "critical", text="\n".join(lines))])
    shown = sum(1 for line in lines if line in text)
    assert f"… +{60 - shown} more lines" in text


def test_names_that_do_not_fit_end_with_how_many_more() -> None:
    backlog = [alert(i, "warning", name=f"VeryLongAlertname{i:03}" * 2) for i in range(150)]
    text = digest_text(backlog, max_length=1000, link=LINK)
    assert text_length(text) <= 1000 and text.endswith(f"🔗 {LINK}")
    [more] = [e for e in text.split("\n\n") if e.startswith("… ")]
    assert more.startswith("… and ") and " warning — VeryLongAlertname" in more
    *listed, rest = more.split(" — ")[1].split(", ")
    assert listed and rest == f"+{150 - len(entries(text)) - len(listed)} more names"


@pytest.mark.parametrize("max_length", [300, 700, 2000, 4096], ids=lambda n: f"max-{n}")
@pytest.mark.parametrize("severity", ["critical", "🔥sev🔥"], ids=["ascii", "emoji-severity"])
def test_a_digest_keeps_to_max_length_counted_in_utf16(max_length: int, severity: str) -> None:
    names = ["🔥Burning🔥", "Disk*Full", "CPU"]
    backlog = [
        alert(i, severity if i % 3 else "warning", name=names[i % 3], text="🔥" * (i % 400))
        for i in range(300)
    ]
    backlog.append(grouped(400, [(severity, "🔥Group🔥")] * 30))
    text = digest_text(backlog, max_length=max_length, link=LINK)
    assert text_length(text) <= max_length
    assert text.endswith(f"🔗 {LINK}")  # the closing lines were not cut to make it fit
    assert "… and " in text


def test_folding_in_more_says_what_one_digest_over_all_of_them_says() -> None:
    backlog = [
        alert(i, ["critical", "warning", "info", ""][i % 4], fingerprint=f"a{i % 7}")
        for i in range(40)
    ]
    backlog += [alert(50, "critical", status="resolved", fingerprint="a3")]
    content = DigestContent()
    for start in range(len(backlog), 0, -9):  # newest looks first
        content.fold(backlog[max(start - 9, 0) : start])
    assert content.text(max_length=600, link=LINK) == digest_text(
        backlog, max_length=600, link=LINK
    )


def test_a_backlog_stored_before_briefs_were_kept_reads_as_before() -> None:
    old = [
        Notification(
            id=f"old{i}",
            route="alerts",
            recipient="alice",
            phone=ALICE,
            text="x" * 300,
            created_at=1000.0 + i,
            event_keys=[(f"fp{i}", "firing")],
        )
        for i in range(30)
    ]
    text = digest_text(old)
    assert text.startswith("📋 *30 updates in one digest* — 30 firing, 0 resolved\n")
    shown = text.count("\n\nx")
    assert text.endswith(f"… and {30 - shown} more: {30 - shown} firing")
