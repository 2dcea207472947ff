"""What the Blueticks stand-in holds: the state tests set up and read back, and its records.

Tests mutate `StandinState` freely between calls (API keys, session, refused media hosts,
scripted faults, webhook behaviour) and read back the calls, messages and deliveries it recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from blueticks_standin_faults import Fault, FaultQueue
from blueticks_standin_webhooks import WebhookDelivery, WebhookSigning, WebhookSubscription

DEFAULT_API_KEY = "bt_live_standin_0123456789abcdef"
ALL_SCOPES = frozenset(
    {
        "messages:write",
        "messages:read",
        "chats:read",
        "groups:read",
        "webhooks:read",
        "webhooks:write",
        "engines:read",
        "account:read",
    }
)


@dataclass(slots=True)
class CallRecord:
    """One request the API received, before any fault or check applied."""

    method: str
    path: str  # decoded
    raw_path: str  # as sent, e.g. with %2B
    headers: dict[str, str]
    json: Any
    body: bytes
    at: float
    request_id: str  # the X-Request-Id the stand-in answered (or would have) with


@dataclass(slots=True)
class StoredMessage:
    """A message the stand-in accepted; `data` is its ScheduledMessage as the API reports it."""

    id: str
    api: Literal["v1", "legacy"]
    chat_id: str
    request: dict[str, Any]
    data: dict[str, Any]


@dataclass(slots=True)
class IdempotencyRecord:
    fingerprint: str
    data_json: bytes
    at: float


@dataclass
class StandinState:
    """Everything a test sets up or reads back; mutate it freely between calls."""

    api_keys: dict[str, frozenset[str]] = field(
        default_factory=lambda: {DEFAULT_API_KEY: ALL_SCOPES}
    )
    request_id_field: Literal["requestId", "request_id"] = "requestId"
    conflict_status: int = 409
    conflict_code: str = "conflict"  # invented: the real 409 code is undocumented (§B.5)
    idempotency_ttl: float = 86_400.0
    session_connected: bool = True
    # What a send gets while no session is connected (undocumented, §B.8): kept pending, or 422.
    disconnected_sends: Literal["hold", "error"] = "hold"
    # Media hosts the real API refuses (it resolves the host and fetches the file, §B.3): names
    # that resolve to a private address (422) and files it cannot fetch, e.g. behind a login
    # (400). The legacy API answers 400 for both. Invented answers: they are undocumented.
    private_media_hosts: set[str] = field(default_factory=set)
    unfetchable_media_hosts: set[str] = field(default_factory=set)
    faults: FaultQueue = field(default_factory=FaultQueue)
    calls: list[CallRecord] = field(default_factory=list)
    messages: list[StoredMessage] = field(default_factory=list)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    webhooks: dict[str, WebhookSubscription] = field(default_factory=dict)
    webhook_deliveries: list[WebhookDelivery] = field(default_factory=list)
    legacy_callbacks: list[WebhookDelivery] = field(default_factory=list)  # to callbackUrl
    webhook_signing: WebhookSigning | None = None
    webhook_duplicates: bool = False
    webhook_reverse_order: bool = False
    webhook_timeout: float = 10.0
    webhook_retry_delays: tuple[float, ...] = ()  # e.g. (60, 300, ...) compressed for tests
    message_event_data: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: data
    clock: Callable[[], float] = time.time
    closing: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    def rate_limit(self, calls: int, retry_after: str | None = "1") -> None:
        """The next `calls` API calls get 429 rate_limited with this Retry-After."""
        self.faults.push(Fault.error(429, retry_after=retry_after), times=calls)

    def message(self, message_id: str) -> StoredMessage:
        for message in self.messages:
            if message.id == message_id:
                return message
        raise KeyError(message_id)

    def changed(self) -> None:
        """Wake every waiter; each re-checks its condition."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[StoredMessage]:
        """Wait until at least `count` messages were accepted; TimeoutError after `timeout`."""
        await self._wait_until(lambda: len(self.messages) >= count, timeout)
        return list(self.messages)

    async def wait_for_calls(self, count: int, timeout: float = 5.0) -> list[CallRecord]:
        await self._wait_until(lambda: len(self.calls) >= count, timeout)
        return list(self.calls)

    async def _wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                await self._changed.wait()
