"""The stand-in's calls to a legacy message's `callbackUrl` (blueticks.md §A, §E.12).

INVENTED throughout: the callbackUrl payload is undocumented (§A.2): no event names, fields,
signature or retries are known. The stand-in POSTs the message's status object, as plain JSON.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import aiohttp
from blueticks_standin_webhooks import WebhookDelivery

if TYPE_CHECKING:
    from blueticks_standin import StandinState, StoredMessage


async def call_legacy_callback(
    state: StandinState,
    http: aiohttp.ClientSession,
    message: StoredMessage,
    events: list[dict[str, Any]],
) -> list[WebhookDelivery]:
    """POST each status step of a legacy message to the `callbackUrl` it was sent with.

    INVENTED body (blueticks.md §A.2: the callbackUrl payload is undocumented): the message's
    status object, `{id, to, status, createdAt, confirmedAt…, failureReason?}`, plain JSON with
    no envelope, no signature, no retries."""
    url = message.request.get("callbackUrl")
    if not isinstance(url, str) or not url:
        return []
    deliveries = []
    for event in events:
        if not event["type"].startswith("message."):
            continue  # ack_changed_webhook: a v1 event, not a legacy status report
        body = json.dumps(event["data"], separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        delivery = WebhookDelivery("callbackUrl", event["data"], body, headers)
        try:
            timeout = aiohttp.ClientTimeout(total=state.webhook_timeout)
            async with http.post(url, data=body, headers=headers, timeout=timeout) as response:
                await response.read()
                delivery.status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        state.legacy_callbacks.append(delivery)
        state.changed()
        deliveries.append(delivery)
    return deliveries
