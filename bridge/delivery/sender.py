"""The Sender interface the outbox worker sends through, its receipt, and the dry-run sender."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from bridge.config.schema import BluetickConfig
from bridge.errors import ConfigError
from bridge.model import Notification


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What the API said when it accepted a message."""

    provider_id: str | None
    status: str | None
    request_id: str | None
    http_status: int


class Sender(Protocol):
    """Sends one notification; raises TransientDeliveryError or PermanentDeliveryError."""

    name: str

    async def send(self, notification: Notification) -> SendReceipt: ...

    async def ping(self) -> bool | None:
        """True/False: a WhatsApp session is connected or not; None: this API cannot tell."""
        ...


class DryRunSender:
    """Sends nothing: keeps what it was given (and shows it through `on_send`), for demos."""

    name = "dry-run"

    def __init__(
        self, on_send: Callable[[Notification], None] | None = None, max_kept: int = 10_000
    ) -> None:
        # Bounded: `serve` in dry-run mode must not grow without end.
        self.sent: deque[Notification] = deque(maxlen=max_kept)
        self._on_send = on_send

    async def send(self, notification: Notification) -> SendReceipt:
        self.sent.append(notification)
        if self._on_send is not None:
            self._on_send(notification)
        return SendReceipt(f"dry-run-{notification.id}", "dry-run", None, 200)

    async def ping(self) -> bool | None:
        return None


def build_sender(
    session: aiohttp.ClientSession | None,
    config: BluetickConfig,
    *,
    public_url: str | None = None,
) -> Sender:
    """The sender `config` asks for; the app owns `session` (one per app) and closes it.

    `public_url` (server.public_url) lets the legacy client name per-message callback URLs."""
    # Imported here because both clients import SendReceipt from this module.
    from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
    from bridge.delivery.blueticks_v1 import V1BlueticksClient

    if config.dry_run:
        return DryRunSender()
    if session is None:
        raise ConfigError("an HTTP session is needed unless dry_run is set", path="blueticks")
    if config.api == "v1":
        return V1BlueticksClient(session, config)
    return LegacyBlueticksClient(session, config, public_url=public_url)
