"""The client of Blueticks' legacy `POST /messages` (blueticks.md §A): no idempotency, no ping.

The recipient must be `+<country><number>` (§A.1, §D): a person's chat id `<digits>@c.us` is sent
as `+<digits>`; groups and channels cannot be reached (build_runtime refuses them). A 5xx other
than 503 may come after the message went out, so its outcome is unknown and it is not retried
(unless blueticks.retry_unknown_outcome) — the guide says never to auto-retry this endpoint.

Sends the key both in the body (as the guide's example does) and as a Bearer header (as its
text says), because which one the server honours is undocumented. With server.public_url and
blueticks.callback_token set, each message names its own `callbackUrl`, whose token is derived
from the notification id (bridge.delivery.callbacks.notification_token). A `fileUrl` the API
refuses (400: it could not fetch it) is followed by the text with the image's link: a 400 means
nothing was sent, so the text cannot repeat a message.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr
from yarl import URL

from bridge.config.schema import BluetickConfig
from bridge.delivery.blueticks_http import call_api, raise_for_status
from bridge.delivery.callbacks import callback_path, notification_token
from bridge.delivery.media_urls import RefusedImages, send_image_or_link, text_with_link
from bridge.delivery.sender import SendReceipt
from bridge.errors import PermanentDeliveryError
from bridge.model import Notification

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
DEFAULT_IMAGE_TYPE = "image/png"  # Grafana renders panels as PNG
_PERSON_JID = re.compile(r"(\d+)@c\.us")
_GROUP_OR_CHANNEL = re.compile(r"[\d-]+@(?:g\.us|newsletter)")


def is_group_or_channel(address: str) -> bool:
    """A WhatsApp group or channel id, which the legacy API cannot send to."""
    return _GROUP_OR_CHANNEL.fullmatch(address) is not None


def legacy_recipient(address: str) -> str:
    """The `to` the legacy API takes (`+<country><number>`, §A.1): a person's `<digits>@c.us`
    becomes `+<digits>`; anything else is sent as it is."""
    person = _PERSON_JID.fullmatch(address)
    return f"+{person.group(1)}" if person else address


def image_mime_type(url: str) -> str:
    """The image's MIME type from its URL's extension (PNG when there is none we know)."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return IMAGE_TYPES.get(suffix, DEFAULT_IMAGE_TYPE)


def file_content(notification: Notification) -> dict[str, str]:
    """The message with the image as its attachment (`fileUrl`, `mimeType`)."""
    image = notification.image_url or ""
    return {"message": notification.text, "fileUrl": image, "mimeType": image_mime_type(image)}


def text_content(notification: Notification) -> dict[str, str]:
    """The message with the image's link, if any, after the alert text."""
    return {"message": text_with_link(notification.text, notification.image_url)}


class LegacyBlueticksClient:
    """Sends through `POST {base_url}/messages`; any 2xx means accepted."""

    name = "blueticks-legacy"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: BluetickConfig,
        *,
        public_url: str | None = None,
        callback_token: Callable[[], SecretStr | None] | None = None,
    ) -> None:
        self._session = session
        self._config = config
        # The callback endpoint checks the token of the config in use: so do the URLs here.
        self._callback_token = callback_token or (lambda: config.callback_token)
        self._url = URL(config.base_url.rstrip("/") + "/messages")
        self._public_url = public_url.rstrip("/") if public_url else None
        self._refused_images = RefusedImages()

    def callback_url(self, notification: Notification) -> str | None:
        """Where Blueticks reports this message's delivery status; None when not configured."""
        token = self._callback_token()
        if not self._public_url or token is None or not token.get_secret_value():
            return None
        path = callback_path(notification_token(token.get_secret_value(), notification.id))
        return self._public_url + path

    async def send(self, notification: Notification) -> SendReceipt:
        api_key = self._config.api_key.get_secret_value() if self._config.api_key else ""
        if not api_key:
            raise PermanentDeliveryError(f"{self.name}: no API key configured")
        if is_group_or_channel(notification.phone):
            raise PermanentDeliveryError(
                f"{self.name}: {notification.phone} is a group or channel; the legacy API sends "
                "only to phone numbers (set blueticks.api: v1)"
            )
        return await send_image_or_link(
            notification,
            self._refused_images,
            send_image=lambda: self._send(notification, file_content(notification), api_key),
            send_text=lambda _instead: self._send(
                notification, text_content(notification), api_key
            ),
        )

    async def _send(
        self, notification: Notification, content: dict[str, str], api_key: str
    ) -> SendReceipt:
        to = legacy_recipient(notification.phone)
        body: dict[str, Any] = {"apiKey": api_key, "to": to} | content
        callback_url = self.callback_url(notification)
        if callback_url:
            body["callbackUrl"] = callback_url
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        response = await call_api(
            self._session,
            "POST",
            self._url,
            api_name=self.name,
            time_limit=self._config.timeout,
            headers=headers,
            json_body=body,
        )
        raise_for_status(
            response, api_name=self.name, secret=api_key, server_error_outcome_unknown=True
        )
        # The success body is undocumented (§A.2): take an id or status if one is there.
        data = response.data
        provider_id = data.get("id")
        status = data.get("status")
        return SendReceipt(
            provider_id=str(provider_id) if provider_id is not None else None,
            status=str(status) if status is not None else None,
            request_id=response.request_id,
            http_status=response.status,
        )

    async def ping(self) -> bool | None:
        """The legacy API has no way to tell whether the WhatsApp session is connected."""
        return None
