"""Message length as Blueticks counts it: UTF-16 code units, where an emoji such as 🔥 is 2.

The v1 API refuses a `text` over 4096 of them (Zod counts JavaScript string length, blueticks.md
§B.3, §B.6), so the renderer's cap must count the same way or an emoji-heavy alert is a 400.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.model import Event, Webhook
from bridge.render.renderer import Renderer
from bridge.render.whatsapp import cut_to_length, text_length
from bridge.routing.router import Route

FIRE = "🔥"  # outside the BMP: one Python character, two UTF-16 code units
LINES = "{% for e in events %}{{ e.title }}\n{% endfor %}"


def route(message: str = LINES, overflow: str = "digest", max_parts: int = 3) -> Route:
    return Route(
        "r",
        None,
        (),
        (),
        None,
        message,
        0.0,
        True,
        False,
        overflow=overflow,  # type: ignore[arg-type]
        max_parts=max_parts,
    )


def alerts(count: int, title_fires: int) -> list[Event]:
    start = datetime(2024, 5, 1, tzinfo=UTC)
    return [
        Event(
            source="alertmanager",
            fingerprint=f"fp{i}",
            status="firing",
            labels={"alertname": f"a{i}"},
            title=f"{i:03d}" + FIRE * title_fires,
            starts_at=start - timedelta(minutes=i),
        )
        for i in range(count)
    ]


def hook(events: list[Event]) -> Webhook:
    return Webhook("alertmanager", events, external_url="http://am:9093", receiver="wa")


def utf16_units(text: str) -> int:
    """Counted independently of the code under test: the UTF-16 encoding's size."""
    return len(text.encode("utf-16-le")) // 2  # strict: a half emoji would raise here


@pytest.mark.parametrize(
    ("text", "length"),
    [("", 0), ("disk full", 9), ("✅ ok", 4), (FIRE, 2), (f"{FIRE} CPU {FIRE}", 9), ("📋" * 3, 6)],
    ids=["empty", "ascii", "bmp-symbol", "one-emoji", "emoji-and-text", "three-emoji"],
)
def test_length_counts_utf16_code_units(text: str, length: int) -> None:
    assert text_length(text) == length == utf16_units(text)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 4, "abcd"),
        ("abcdef", 10, "abcdef"),
        (f"a{FIRE}b", 3, f"a{FIRE}"),
        (f"a{FIRE}b", 2, "a"),  # the cut falls inside the emoji: none of it is kept
        (FIRE * 3, 5, FIRE * 2),
        ("abc", 0, ""),
    ],
    ids=["ascii", "fits", "emoji-fits", "emoji-split", "emoji-run", "zero"],
)
def test_cut_keeps_whole_emoji_within_the_limit(text: str, limit: int, expected: str) -> None:
    assert cut_to_length(text, limit) == expected


def test_emoji_heavy_message_fits_the_api_limit() -> None:
    # 100 lines of 3 digits and 50 🔥: 4096 Python characters hold ~76 lines but 8000+ units.
    events = alerts(100, 50)
    rendered = Renderer(None).render(route(), events, hook(events))
    assert utf16_units(rendered.text) <= 4096
    assert rendered.omitted > 0
    assert rendered.text.endswith(
        f"+{rendered.omitted} more ({rendered.omitted} other)\nhttp://am:9093"
    )


def test_one_event_longer_than_the_cap_is_cut_between_emoji() -> None:
    events = alerts(1, 3000)
    rendered = Renderer(None).render(route(), events, hook(events))
    assert utf16_units(rendered.text) <= 4096
    assert rendered.text.endswith(FIRE + "…")


def test_split_parts_each_fit_the_api_limit() -> None:
    events = alerts(60, 50)  # 3,240 Python characters: one part by that count, 6,240 units
    rendered = Renderer(None).render(route(overflow="split"), events, hook(events))
    assert (len(rendered.parts), rendered.omitted) == (2, 0)
    assert all(utf16_units(part) <= 4096 for part in rendered.parts)
