"""Digest messages: newest state per alert, counts, and a length WhatsApp accepts."""

from __future__ import annotations

import itertools

import pytest

from bridge.delivery.digest import (
    DigestContent,
    build_digest,
    current_updates,
    digest_text,
    newest_states,
)
from bridge.model import Notification

ALICE = "+14155550123"


def update(
    n: int, keys: list[tuple[str, str]], text: str | None = None, route: str = "alerts"
) -> Notification:
    return Notification(
        id=f"n{n}",
        route=route,
        recipient="alice",
        phone=ALICE,
        text=text if text is not None else f"update {n}",
        created_at=1000.0 + n,
        event_keys=keys,
    )


def test_newest_state_per_alert_wins() -> None:
    backlog = [
        update(1, [("cpu", "firing"), ("disk", "firing")]),
        update(2, [("cpu", "resolved")]),
        update(3, [("mem", "firing")]),
    ]
    assert newest_states(backlog) == {"cpu": "resolved", "disk": "firing", "mem": "firing"}


def test_updates_whose_alerts_are_all_reported_again_later_are_left_out() -> None:
    backlog = [
        update(1, [("cpu", "firing")]),
        update(2, [("cpu", "resolved"), ("disk", "firing")]),
        update(3, [("disk", "resolved")]),
        update(4, []),  # no alert keys (e.g. a GitHub notice): always kept
    ]
    assert [n.id for n in current_updates(backlog)] == ["n4", "n3", "n2"]


def test_digest_header_counts_updates_and_newest_states() -> None:
    backlog = [update(i, [(f"a{i % 7}", "firing" if i < 9 else "resolved")]) for i in range(12)]
    text = digest_text(backlog)
    firing = sum(1 for s in newest_states(backlog).values() if s == "firing")
    assert text.startswith(
        f"📋 *12 updates in one digest* — {firing} firing, {7 - firing} resolved"
    )
    assert "5 older updates left out" in text


def test_digest_lists_newest_first() -> None:
    text = digest_text([update(1, [("a", "firing")]), update(2, [("b", "firing")])])
    assert text.index("update 2") < text.index("update 1")


@pytest.mark.parametrize(
    ("count", "text_length", "max_length"),
    [(200, 300, 4096), (30, 5000, 4096), (50, 100, 500), (3, 10, 4096)],
    ids=["many-updates", "huge-updates", "small-limit", "few-short-updates"],
)
def test_digest_fits_the_limit_and_says_how_many_are_not_shown(
    count: int, text_length: int, max_length: int
) -> None:
    backlog = [update(i, [(f"a{i}", "firing")], text="x" * text_length) for i in range(count)]
    text = digest_text(backlog, max_length=max_length, link="https://bridge.example/outbox")
    assert len(text) <= max_length
    assert text.endswith("🔗 https://bridge.example/outbox")
    shown = text.count("\n\nx")
    if shown < count:
        assert f"… and {count - shown} more" in text
    else:
        assert "more" not in text


def test_build_digest_goes_to_the_same_recipient_with_the_oldest_accept_time() -> None:
    backlog = [
        update(1, [("cpu", "firing")], route="alerts"),
        update(2, [("cpu", "resolved")], route="github"),
    ]
    digest = build_digest(backlog, digest_id="d1", now=2000.0)
    assert (digest.id, digest.phone, digest.recipient) == ("d1", ALICE, "alice")
    assert (digest.route, digest.source, digest.state) == ("digest", "digest", "pending")
    assert digest.created_at == 1001.0
    assert digest.event_keys == [("cpu", "resolved")]


def test_a_digest_of_one_route_keeps_the_route_name() -> None:
    digest = build_digest([update(1, []), update(2, [])], digest_id="d", now=0.0)
    assert digest.route == "alerts"


def test_a_digest_never_mixes_recipients() -> None:
    other = update(2, [])
    other.phone = "+4915112345678"
    with pytest.raises(ValueError, match="one recipient"):
        build_digest([update(1, []), other], digest_id="d", now=0.0)


def test_emoji_heavy_digest_fits_the_api_limit_counted_in_utf16() -> None:
    """Blueticks counts `text` in UTF-16 code units (🔥 is 2): 4096 Python characters of
    emoji would be a 400 and a dead letter."""
    backlog = [update(i, [(f"a{i}", "firing")], text="🔥" * 500) for i in range(20)]
    text = digest_text(backlog, link="https://bridge.example/outbox")
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert text.endswith("🔗 https://bridge.example/outbox")
    assert "… and " in text


def split_message(
    ids: list[str], keys: list[tuple[str, str]], created_at: float
) -> list[Notification]:
    """The parts of one split message, as the renderer numbers them."""
    return [
        Notification(
            id=nid,
            route="alerts",
            recipient="alice",
            phone=ALICE,
            text=f"({part}/{len(ids)})\nalerts of part {part}",
            created_at=created_at,
            event_keys=keys,
        )
        for part, nid in enumerate(ids, start=1)
    ]


def test_the_parts_of_one_split_message_are_one_update_in_part_order() -> None:
    keys = [(f"a{i}", "firing") for i in range(9)]
    parts = split_message(["p2", "p3", "p1"], keys, 1000.0)  # ids out of part order
    backlog = [*parts, update(5, [("b", "firing")])]
    [newest, message] = current_updates(backlog)
    assert newest.id == "n5" and len(message.parts) == 3
    text = digest_text(backlog)
    assert text.startswith("📋 *2 updates in one digest*")
    assert "left out" not in text
    shown = [text.index(f"alerts of part {part}") for part in (1, 2, 3)]
    assert shown == sorted(shown)
    assert "(1/3)" not in text


def test_a_shortened_update_says_how_much_it_left_out() -> None:
    lines = [f"alert {i}: disk full on db-{i}" for i in range(60)]
    text = digest_text([update(1, [("a", "firing")], text="\n".join(lines))])
    shown = sum(1 for line in lines if line in text)
    assert 0 < shown < 60
    assert f"… +{60 - shown} more lines" in text


def storm_backlog() -> list[Notification]:
    """Alerts firing and resolving (so older updates are replaced), and one split message."""
    backlog = [
        update(i, [(f"a{i % 5}", "firing" if i < 8 else "resolved")], text=f"update {i}\n" * 30)
        for i in range(12)
    ]
    return backlog + split_message(["p1", "p2"], [("b", "firing")], 1020.0)


@pytest.mark.parametrize(
    "split_at",
    [[], [5], [3, 9, 13], list(range(1, 14))],
    ids=["at-once", "two-looks", "four-looks", "one-by-one"],
)
@pytest.mark.parametrize("newest_first", [False, True], ids=["in-order", "out-of-order"])
def test_a_digest_that_takes_in_more_says_what_one_digest_over_all_of_them_says(
    split_at: list[int], newest_first: bool
) -> None:
    backlog = storm_backlog()
    cuts = [0, *split_at, len(backlog)]
    looks = [backlog[start:end] for start, end in itertools.pairwise(cuts)]
    content = DigestContent()
    for look in reversed(looks) if newest_first else looks:
        content.fold(look)
    folded = content.notification(digest_id="d", now=2000.0, link="https://bridge.example")
    at_once = build_digest(backlog, digest_id="d", now=2000.0, link="https://bridge.example")
    assert folded.text == at_once.text
    assert dict(folded.event_keys) == dict(at_once.event_keys)
    assert folded.text.startswith("📋 *13 updates in one digest* — 2 firing, 4 resolved")
