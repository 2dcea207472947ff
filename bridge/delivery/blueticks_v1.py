"""The client of the Blueticks v1 API: sends (`POST /v1/scheduled-messages/{chatId}`), the
session check (`GET /v1/ping`) and webhook subscriptions (`/v1/webhooks`).

Every send carries the notification's Idempotency-Key, so a retry after a lost response is
answered with the original message instead of a second one (blueticks.md §B.5), and its id as
`secret`, so a delivery callback correlates even when it lacks the message id (§C.4). An image
Blueticks refuses (it fetches media itself) is sent again as text with its link, under a key
of its own (`bridge.delivery.media_urls`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bridge.config.schema import BluetickConfig
from bridge.delivery.blueticks_http import ApiResponse, call_api, raise_for_status
from bridge.delivery.media_urls import (
    RefusedImages,
    media_url_allowed,
    send_image_or_link,
    text_fallback_key,
    text_with_link,
)
from bridge.delivery.sender import SendReceipt
from bridge.errors import PermanentDeliveryError
from bridge.model import Notification

CONFLICT_REASON = "idempotency key reused with a different body"
LIST_PAGE_SIZE = 200  # the API's largest `limit`
MAX_LIST_PAGES = 100  # a bound, should a broken server page forever


def message_body(notification: Notification) -> dict[str, Any]:
    """The send body: media for an image the API can fetch, else text with the image's link
    appended when it fits in the 4096 the API allows (the alert text comes first)."""
    image = notification.image_url
    if image and media_url_allowed(image):
        return {"type": "media", "mediaUrl": image, "text": notification.text}
    return text_body(notification)


def text_body(notification: Notification) -> dict[str, Any]:
    """The text with the image's link, if any: for an image the API cannot (or did not) take."""
    return {"type": "text", "text": text_with_link(notification.text, notification.image_url)}


class V1BlueticksClient:
    """Sends scheduled messages (sent now) and reports the WhatsApp session from `/v1/ping`."""

    name = "blueticks-v1"

    def __init__(self, session: aiohttp.ClientSession, config: BluetickConfig) -> None:
        self._session = session
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._refused_images = RefusedImages()

    def _api_key(self) -> str:
        api_key = self._config.api_key.get_secret_value() if self._config.api_key else ""
        if not api_key:
            raise PermanentDeliveryError(f"{self.name}: no API key configured")
        return api_key

    def message_url(self, chat_id: str) -> URL:
        """The send URL with the recipient percent-encoded (`+` is `%2B`; `@` kept)."""
        path = quote(chat_id, safe="@.-")
        return URL(f"{self._base}/v1/scheduled-messages/{path}", encoded=True)

    async def send(self, notification: Notification) -> SendReceipt:
        key = notification.idempotency_key

        async def send_text(instead_of_image: bool) -> SendReceipt:
            text_key = text_fallback_key(key) if instead_of_image else key
            return await self._send(notification, text_body(notification), text_key)

        return await send_image_or_link(
            notification,
            self._refused_images,
            send_image=lambda: self._send(notification, message_body(notification), key),
            send_text=send_text,
        )

    async def _send(
        self, notification: Notification, body: dict[str, Any], idempotency_key: str
    ) -> SendReceipt:
        api_key = self._api_key()
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
        }
        body = body | {"secret": notification.id}
        response = await self._call("POST", self.message_url(notification.phone), headers, body)
        reason = CONFLICT_REASON if response.status == 409 else None
        raise_for_status(response, api_name=self.name, secret=api_key, reason=reason)
        data = response.data
        provider_id, status = data.get("id"), data.get("status")
        return SendReceipt(
            provider_id=str(provider_id) if provider_id is not None else None,
            status=str(status) if status is not None else None,
            request_id=response.request_id,
            http_status=response.status,
        )

    async def ping(self) -> bool | None:
        """Whether a WhatsApp session is connected; raises DeliveryError when the call fails."""
        response = await self._authorized("GET", URL(f"{self._base}/v1/ping"), None)
        return bool(response.data.get("whatsappConnections"))

    async def create_webhook(
        self, url: str, events: Sequence[str], description: str | None = None
    ) -> dict[str, Any]:
        """Subscribe `url` to `events` (`POST /v1/webhooks`); the created subscription."""
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if description:
            body["description"] = description
        response = await self._authorized("POST", URL(f"{self._base}/v1/webhooks"), body)
        return response.data

    async def update_webhook(self, webhook_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a subscription (`PATCH /v1/webhooks/{id}`: url, events, description, status)."""
        url = URL(f"{self._base}/v1/webhooks/{quote(webhook_id, safe='')}", encoded=True)
        response = await self._authorized("PATCH", url, changes)
        return response.data

    async def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook subscription of the workspace, page by page (`skip`/`limit`, §B.2)."""
        hooks: list[dict[str, Any]] = []
        for _ in range(MAX_LIST_PAGES):
            url = URL(f"{self._base}/v1/webhooks").with_query(skip=len(hooks), limit=LIST_PAGE_SIZE)
            response = await self._authorized("GET", url, None)
            payload = response.payload if isinstance(response.payload, dict) else {}
            data = payload.get("data")
            page = [h for h in data if isinstance(h, dict)] if isinstance(data, list) else []
            hooks += page
            total = payload.get("total")
            if len(page) < LIST_PAGE_SIZE or (isinstance(total, int) and len(hooks) >= total):
                break
        return hooks

    async def _authorized(self, method: str, url: URL, body: Any) -> ApiResponse:
        api_key = self._api_key()
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        response = await self._call(method, url, headers, body)
        raise_for_status(response, api_name=self.name, secret=api_key)
        return response

    async def _call(self, method: str, url: URL, headers: dict[str, str], body: Any) -> ApiResponse:
        return await call_api(
            self._session,
            method,
            url,
            api_name=self.name,
            time_limit=self._config.timeout,
            headers=headers,
            json_body=body,
        )
