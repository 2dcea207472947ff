"""What both Blueticks clients share: one bounded HTTP call, and its outcome classified.

2xx is sent; 429, 408 and 5xx are transient; other statuses are permanent (blueticks.md §B.6),
except a refusal because no WhatsApp session is connected (`SessionDownError`): the message is
fine and goes once the session is back. A failure after the request may have reached the API
is flagged `outcome_unknown`: a lost answer, and, for an API without idempotency, a 5xx that
may come after the message was sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bridge.delivery.retry_after import parse_retry_after
from bridge.errors import PermanentDeliveryError, TransientDeliveryError

TRANSIENT_STATUSES = frozenset({408, 425, 429})
# What the API answers a send while no WhatsApp session is connected is undocumented (§B.8);
# a 400/422 whose text says so is taken for it (the stand-in's: "No WhatsApp session is
# connected"). Any other 400/422 stays a refusal of the message.
SESSION_DOWN_STATUSES = frozenset({400, 422})
# It must name the session (or engine) as down: "number has no WhatsApp account" is the
# message's problem, not the session's.
_SESSION_DOWN_TEXT = re.compile(
    r"no (?:connected |active )?(?:whatsapp )?(?:session|engine)"
    r"|(?:session|engine|whatsapp)s? (?:is |are )?(?:not connected|disconnected)",
    re.I,
)
# 5xx statuses that say the request was not handled (RFC 9110 §15.6.4): safe to send again.
NOT_HANDLED_SERVER_STATUSES = frozenset({503})
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
SNIPPET_CHARS = 160


class SessionDownError(TransientDeliveryError):
    """Blueticks refused a send because no WhatsApp session is connected: not the message's
    fault, so no attempt of it; it waits for the session to come back."""


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A response read in full: status, headers, raw body and the JSON body when there is one."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    payload: Any

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def data(self) -> dict[str, Any]:
        """The `data` object of a success envelope, or the body itself when not enveloped."""
        if not isinstance(self.payload, dict):
            return {}
        data = self.payload.get("data", self.payload)
        return data if isinstance(data, dict) else {}

    @property
    def error(self) -> dict[str, Any]:
        error = self.payload.get("error") if isinstance(self.payload, dict) else None
        return error if isinstance(error, dict) else {}

    @property
    def request_id(self) -> str | None:
        """`requestId` (spec) or `request_id` (older guide, SDK 4.0.1), else `X-Request-Id`."""
        for name in ("requestId", "request_id"):
            value = self.error.get(name)
            if isinstance(value, str) and value:
                return value
        return self.headers.get("X-Request-Id")

    def describe_error(self) -> str:
        """`code: message` from the envelope, or a short text of a non-JSON body (an HTML page)."""
        code, message = self.error.get("code"), self.error.get("message")
        if code or message:
            return ": ".join(str(part) for part in (code, message) if part)
        text = _SPACE.sub(" ", _TAG.sub(" ", self.body.decode("utf-8", "replace"))).strip()
        return f"non-JSON body: {text[:SNIPPET_CHARS]}" if text else "empty body"


# Blueticks answers with small JSON documents; anything larger is not read into memory whole.
MAX_RESPONSE_BYTES = 1_048_576


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The response body, at most MAX_RESPONSE_BYTES of it."""
    body = bytearray()
    while len(body) < MAX_RESPONSE_BYTES:
        chunk = await response.content.read(MAX_RESPONSE_BYTES - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


async def call_api(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    *,
    api_name: str,
    time_limit: float,
    headers: Mapping[str, str],
    json_body: Any = None,
) -> ApiResponse:
    """Make one call with a total timeout; network failures become TransientDeliveryError.

    Redirects are not followed: the legacy API carries the key in the body, which a redirect
    would hand to whatever host it names (raise_for_status refuses the 3xx instead).
    A connect that hangs (SYNs dropped) sent nothing: it gives up at half the limit, as a
    connect timeout, before the total limit would have to call the outcome unknown."""
    client_timeout = aiohttp.ClientTimeout(total=time_limit, sock_connect=time_limit / 2)
    try:
        async with session.request(
            method,
            url,
            headers=dict(headers),
            json=json_body,
            timeout=client_timeout,
            allow_redirects=False,
        ) as response:
            body = await _read_capped(response)
            return ApiResponse(response.status, response.headers, body, _parse_json(body))
    except aiohttp.ConnectionTimeoutError as exc:
        raise TransientDeliveryError(f"{api_name}: connect timed out ({exc})") from exc
    except TimeoutError as exc:
        message = f"{api_name}: no response within {time_limit:g}s; the message may have been sent"
        raise TransientDeliveryError(message, outcome_unknown=True) from exc
    except aiohttp.ClientConnectorError as exc:
        raise TransientDeliveryError(f"{api_name}: cannot connect ({exc.os_error})") from exc
    except aiohttp.ClientError as exc:
        message = f"{api_name}: connection failed after sending ({type(exc).__name__}: {exc})"
        raise TransientDeliveryError(message, outcome_unknown=True) from exc


def raise_for_status(
    response: ApiResponse,
    *,
    api_name: str,
    secret: str | None,
    reason: str | None = None,
    server_error_outcome_unknown: bool = False,
) -> None:
    """Raise the delivery error a non-2xx response means; `reason` replaces the API's text.

    `server_error_outcome_unknown`: a 5xx other than 503 may have been answered after the
    message was processed (say so for an API without idempotency, where a retry may repeat it).
    """
    if response.ok:
        return
    if 300 <= response.status < 400 and reason is None:
        location = response.headers.get("Location", "")[:SNIPPET_CHARS]
        where = location or "nowhere"
        reason = f"a redirect to {where}, not followed: is blueticks.base_url right?"
    text = f"{api_name} answered HTTP {response.status}: {reason or response.describe_error()}"
    if secret:
        text = text.replace(secret, "***")
    request_id = response.request_id
    if response.status in TRANSIENT_STATUSES or response.status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        unknown = (
            server_error_outcome_unknown
            and response.status >= 500
            and response.status not in NOT_HANDLED_SERVER_STATUSES
        )
        raise TransientDeliveryError(
            text,
            status=response.status,
            request_id=request_id,
            retry_after=retry_after,
            outcome_unknown=unknown,
        )
    if response.status in SESSION_DOWN_STATUSES and _SESSION_DOWN_TEXT.search(
        response.describe_error()
    ):
        raise SessionDownError(text, status=response.status, request_id=request_id)
    raise PermanentDeliveryError(text, status=response.status, request_id=request_id)


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None
