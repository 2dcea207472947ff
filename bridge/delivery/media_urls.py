"""Which image URLs Blueticks can fetch as an attachment; the others go as a link in the text.

Blueticks fetches media itself, from the public internet (blueticks.md §B.3): a Grafana panel
on an in-cluster or private host, or a URL over 2048 characters, is refused (a 400 that would
dead-letter the alert) or lost. Both APIs send such an image as a link after the alert text.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from bridge.render.whatsapp import WHATSAPP_MAX_LENGTH, text_length

MEDIA_URL_MAX_LENGTH = 2048
# Names that never resolve on the public internet: the API refuses them as a mediaUrl host.
# Private-use suffixes (RFC 6762 App. G, RFC 8375, RFC 2606) and Kubernetes service names.
PRIVATE_NAME_SUFFIXES = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "home.arpa",
    "svc",
    "test",
    "invalid",
    "example",
)


def is_public_host(host: str) -> bool:
    """Whether Blueticks could fetch from `host`: a global IP or a dotted public name."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        return ipaddress.ip_address(name).is_global
    except ValueError:
        pass
    if "." not in name:  # a single label (grafana, an in-cluster short name) or a bare number
        return False
    return not any(name == s or name.endswith("." + s) for s in PRIVATE_NAME_SUFFIXES)


def media_url_allowed(url: str) -> bool:
    """Whether the API takes `url` as mediaUrl: https, at most 2048 long, a public host
    (blueticks.md §B.3); anything else is refused with a 400 that dead-letters the alert."""
    if not url.startswith("https://") or text_length(url) > MEDIA_URL_MAX_LENGTH:
        return False
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return host is not None and is_public_host(host)


def text_with_link(text: str, image_url: str | None) -> str:
    """The message text with the image's link appended, when there is one and it fits in the
    4096 the API allows (the alert text comes first)."""
    if image_url and text_length(text) + 1 + text_length(image_url) <= WHATSAPP_MAX_LENGTH:
        return f"{text}\n{image_url}"
    return text
