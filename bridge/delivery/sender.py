"""The Sender interface the outbox worker sends through, its receipt, the dry-run sender, and
whether Blueticks accepts the API key."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import structlog
from pydantic import SecretStr

from bridge.config.schema import BluetickConfig
from bridge.errors import ConfigError
from bridge.metrics import Metrics
from bridge.model import Notification

log = structlog.get_logger("alertbridge.delivery")

# What each refusal of the key means for the operator; the key is checked again on every send.
# Not an HTTP status: the config has no key, so nothing is sent (not even tried).
NO_API_KEY = 0
KEY_REFUSALS = {
    NO_API_KEY: "no blueticks.api_key is configured: nothing is sent (notifications wait in the "
    "outbox) until one is set and the bridge restarted",
    401: "Blueticks rejected the API key (401): it is wrong or revoked; every notification "
    "will fail until blueticks.api_key is fixed",
    403: "Blueticks refused the API key (403): it lacks the messages:write scope; every "
    "notification will fail until the key is given that scope or replaced",
}


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What the API said when it accepted a message; `image_refused_status`: the HTTP status
    it refused the image with first, when the text then went alone, with the image's link."""

    provider_id: str | None
    status: str | None
    request_id: str | None
    http_status: int
    image_refused_status: int | None = None


class Sender(Protocol):
    """Sends one notification; raises TransientDeliveryError or PermanentDeliveryError."""

    name: str

    async def send(self, notification: Notification) -> SendReceipt: ...

    async def ping(self) -> bool | None:
        """True/False: a WhatsApp session is connected or not; None: this API cannot tell."""
        ...


class ApiKeyStatus:
    """Whether Blueticks accepts the API key: the alertbridge_sender_ready gauge, a critical
    log line on the way down, and the `sender` detail of /readyz.

    A detail, never a readiness condition: a bridge taken out of its Service would receive no
    webhooks, so send nothing, so never learn the key works again. A successful send clears it;
    so does a successful `/v1/ping` for a 401 (ping needs no scope, so it cannot clear a 403).
    """

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.refused_with: int | None = None  # 401 or 403 while refused

    @property
    def accepted(self) -> bool:
        return self.refused_with is None

    def refused(self, status: int) -> None:
        """Blueticks answered `status` (401 or 403) to a call made with the key."""
        if status not in KEY_REFUSALS:
            return
        if self.refused_with != status and status == NO_API_KEY:
            # Nothing was rejected: there is no key to send.
            log.critical("blueticks.api_key_missing", message=KEY_REFUSALS[status])
        elif self.refused_with != status:
            log.critical("blueticks.api_key_rejected", status=status, message=KEY_REFUSALS[status])
        self.refused_with = status
        self.metrics.sender_ready.set(0)

    def sent(self) -> None:
        """A send went through: the key works, with the scope sends need."""
        self._clear()

    def pinged(self) -> None:
        """`GET /v1/ping` answered with the key: it is valid (its scopes are not checked)."""
        if self.refused_with == 401:
            self._clear()

    def describe(self) -> str:
        return "ok" if self.refused_with is None else KEY_REFUSALS[self.refused_with]

    def _clear(self) -> None:
        if self.refused_with is None:
            return  # the common case, once per send
        log.info("blueticks.api_key_accepted", previously=self.refused_with)
        self.refused_with = None
        self.metrics.sender_ready.set(1)


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
    callback_token: Callable[[], SecretStr | None] | None = None,
) -> Sender:
    """The sender `config` asks for; the app owns `session` (one per app) and closes it.

    `public_url` (server.public_url) lets the legacy client name per-message callback URLs;
    `callback_token` gives it the token in use now (a reload may rotate it), not at start."""
    # Imported here because both clients import SendReceipt from this module.
    from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
    from bridge.delivery.blueticks_v1 import V1BlueticksClient

    if config.dry_run:
        return DryRunSender()
    if session is None:
        raise ConfigError("an HTTP session is needed unless dry_run is set", path="blueticks")
    if config.api == "v1":
        return V1BlueticksClient(session, config)
    return LegacyBlueticksClient(
        session, config, public_url=public_url, callback_token=callback_token
    )
