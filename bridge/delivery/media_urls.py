"""Which image URLs Blueticks can fetch as an attachment; the others go as a link in the text.

Blueticks fetches media itself, from the public internet (blueticks.md §B.3): a Grafana panel
on an in-cluster or private host, or a URL over 2048 characters, is refused (a 400 that would
dead-letter the alert) or lost. Both APIs send such an image as a link after the alert text.
A host is judged here by its name only: one whose public-looking name resolves to a private
address, or that needs a login, is refused by Blueticks itself, and the alert then goes again
as text with the link (`send_image_or_link`), so an image problem never loses the alert.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import replace
from urllib.parse import urlsplit

import structlog

from bridge.delivery.sender import SendReceipt
from bridge.errors import PermanentDeliveryError
from bridge.model import Notification
from bridge.render.whatsapp import WHATSAPP_MAX_LENGTH, text_length

log = structlog.get_logger("alertbridge.delivery")

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


# What Blueticks answers a send it finds invalid (blueticks.md §B.6: 400 payload shape, 422
# semantically invalid; the legacy API has 400 only). For a media send that is most often the
# image, which the server resolves and fetches (§B.3), and no error code says so: any of them
# sends the text alone. Not 401/403 (the key) nor 429 (the rate): the text would fare the same.
IMAGE_REFUSAL_STATUSES = frozenset({400, 422})
TEXT_FALLBACK_KEY_SUFFIX = "-text"
MAX_REFUSALS_KEPT = 10_000

SendBody = Callable[[], Awaitable[SendReceipt]]
SendText = Callable[[bool], Awaitable[SendReceipt]]


def text_fallback_key(idempotency_key: str) -> str:
    """The v1 Idempotency-Key of the text sent instead of a refused image: its own (the API
    answers 409 to a key reused with another body) and derived, so a retry replays it."""
    return idempotency_key[: 64 - len(TEXT_FALLBACK_KEY_SUFFIX)] + TEXT_FALLBACK_KEY_SUFFIX


class RefusedImages:
    """The notifications whose image Blueticks refused, so a retry sends their text at once
    (with the same fallback key) instead of offering the image again; bounded, oldest out."""

    def __init__(self, max_kept: int = MAX_REFUSALS_KEPT) -> None:
        self.max_kept = max_kept
        self._ids: dict[str, None] = {}

    def add(self, notification_id: str) -> None:
        self._ids[notification_id] = None
        while len(self._ids) > self.max_kept:
            del self._ids[next(iter(self._ids))]

    def __contains__(self, notification_id: object) -> bool:
        return notification_id in self._ids


async def send_image_or_link(
    notification: Notification,
    refused: RefusedImages,
    *,
    send_image: SendBody,
    send_text: SendText,
) -> SendReceipt:
    """Send the image as an attachment when the API may take it, else (or when it refuses it
    with IMAGE_REFUSAL_STATUSES) the text with the image's link; `send_text(True)` is the
    text that replaces a refused image. The receipt has the refusal's status, for the metrics."""
    image = notification.image_url
    if not image or not media_url_allowed(image):
        return await send_text(False)
    if notification.id in refused:
        return await send_text(True)
    try:
        return await send_image()
    except PermanentDeliveryError as exc:
        if exc.status not in IMAGE_REFUSAL_STATUSES:
            raise
        refusal = exc
    refused.add(notification.id)
    log.warning(
        "notification.image_refused",
        notification=notification.id,
        image_host=urlsplit(image).hostname,
        error=str(refusal),
        blueticks_request_id=refusal.request_id,
        message="Blueticks refused the image: the alert is sent as text with its link",
    )
    receipt = await send_text(True)
    return replace(receipt, image_refused_status=refusal.status)
