"""WhatsApp text formatting: keep substituted values from creating bold, italic or code."""

from __future__ import annotations

import re

# WhatsApp reads *bold*, _italic_, ~strike~ and `code`; in values these become look-alikes,
# so an alert label full of markers reads the same but cannot change the formatting.
_LOOKALIKES = str.maketrans({"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb"})
# Links stay as they are: a changed character would break the link, and WhatsApp applies no
# formatting inside a link it has recognised.
_LINK = re.compile(r"https?://\S+")


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
