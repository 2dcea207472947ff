"""WhatsApp text: keep substituted values from creating bold, italic or code, and measure text
the way Blueticks limits it."""

from __future__ import annotations

import re

# WhatsApp reads *bold*, _italic_, ~strike~ and `code`; in values these become look-alikes,
# so an alert label full of markers reads the same but cannot change the formatting.
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
# Links stay as they are: a changed character would break the link, and WhatsApp applies no
# formatting inside a link it has recognised.
_LINK = re.compile(r"https?://\S+")


# Blueticks' v1 `text` is at most 4096 long as JavaScript counts (Zod: UTF-16 code units,
# blueticks.md §B.3, §B.6): an emoji such as 🔥 outside the BMP counts 2.
WHATSAPP_MAX_LENGTH = 4096


def text_length(text: str) -> int:
    """The length Blueticks checks: UTF-16 code units, not Python characters."""
    if text.isascii():
        return len(text)  # the common case: one unit per character
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def cut_to_length(text: str, limit: int) -> str:
    """The longest start of `text` whose text_length is at most `limit`, no emoji split in two."""
    if text_length(text) <= limit:
        return text
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * max(limit, 0)]
    kept = units.decode("utf-16-le", "surrogatepass")
    # A cut between the two halves of a surrogate pair leaves half an emoji: drop it.
    return kept[:-1] if kept and "\ud800" <= kept[-1] <= "\udbff" else kept


class FormattedText(str):
    """Text already written in WhatsApp markup: inserted into a message without escaping."""

    __slots__ = ()


def escape_whatsapp(text: str) -> str:
    """Replace WhatsApp's formatting characters with look-alikes, leaving links intact."""
    if "*" not in text and "_" not in text and "~" not in text and "`" not in text:
        return text  # the common case, and the hot path: most values have no markers
    parts: list[str] = []
    pos = 0
    for link in _LINK.finditer(text):
        parts.append(text[pos : link.start()].translate(_LOOKALIKES))
        parts.append(link.group())
        pos = link.end()
    parts.append(text[pos:].translate(_LOOKALIKES))
    return "".join(parts)


def finalize_value(value: object) -> str:
    """How a template prints `{{ value }}`: escaped unless marked FormattedText; None is empty."""
    if isinstance(value, FormattedText):
        return str(value)
    if value is None:
        return ""
    return escape_whatsapp(str(value))
