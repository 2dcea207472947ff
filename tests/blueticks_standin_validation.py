"""Request checks of the Blueticks stand-in, and the API error they raise (blueticks.md §B.3, §E.3).

Kept apart from the HTTP handlers so the rules read as one table of what the real API refuses.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
JID = re.compile(r"^\d+(?:-\d+)?@(?:c\.us|s\.whatsapp\.net|g\.us|lid|broadcast|newsletter)$")

SEND_FIELDS = frozenset(
    {
        "type",
        "text",
        "mediaUrl",
        "mediaBase64",
        "mediaKind",
        "mediaFilename",
        "pollQuestion",
        "pollOptions",
        "pollAllowMultiple",
        "replyTo",
        "secret",
        "sendAt",
    }
)
MESSAGE_TYPES = ("text", "media", "poll")
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker", "voice", "gif")
# field -> (min length, max length) for the plain string fields of the send body. Lengths are
# JavaScript's (Zod): UTF-16 code units, so an emoji outside the BMP counts 2.
STRING_LIMITS: dict[str, tuple[int, int]] = {
    "text": (0, 4096),
    "mediaUrl": (1, 2048),
    "mediaBase64": (1, 15_728_640),
    "mediaFilename": (1, 255),
    "pollQuestion": (1, 255),
    "replyTo": (0, 256),
    "secret": (1, 256),
}
# Host names that are not on the public internet. The real API resolves the host and refuses a
# private address (blueticks.md §B.3: "must be a public, non-private host"); the stand-in cannot
# resolve, so it refuses the names that can only be private.
PRIVATE_SUFFIXES = ("localhost", "local", "internal", "svc", "lan", "home.arpa", "test", "invalid")
SEND_AT_MIN = timedelta(seconds=10)
SEND_AT_MAX = timedelta(days=365)


class ApiError(Exception):
    """An error the stand-in answers with the Blueticks error envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def invalid_request(message: str, details: list[dict[str, str]] | None = None) -> ApiError:
    return ApiError(400, "invalid_request", message, details=details)


def issue(path: str, code: str, message: str) -> dict[str, str]:
    """One entry of `error.details`, Zod style as the real API reports them."""
    return {"path": path, "code": code, "message": message}


def js_length(text: str) -> int:
    """A string's length as JavaScript (and so Zod) counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def is_private_host(host: str) -> bool:
    """An IP literal that is not global, a single-label name, or a private-use suffix."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        return not ipaddress.ip_address(name).is_global
    except ValueError:
        pass
    return "." not in name or any(name == s or name.endswith("." + s) for s in PRIVATE_SUFFIXES)


def validate_media_host(
    body: dict[str, Any],
    *,
    field: str = "mediaUrl",
    resolves_private: Collection[str] = (),
    fetch_fails: Collection[str] = (),
    status: int | None = None,
) -> None:
    """Refuse a media URL the server will not take (checked after the shape): a host that can
    only be private, or one of `resolves_private` (a public-looking name the real API resolves
    to a private address), with 422; one of `fetch_fails` (the file is behind a login, or
    missing), with 400. `status` replaces both (the legacy API documents 400 only).

    The messages and the 400 for a failed fetch are invented: the real answers are undocumented.
    """
    url = body.get(field)
    if not isinstance(url, str):
        return
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    if host is None or is_private_host(host) or host in resolves_private:
        raise ApiError(
            status or 422,
            "invalid_request",
            f"{field} must point to a public host",
            details=[issue(field, "custom", "private or local hosts are not allowed")],
        )
    if host in fetch_fails:
        raise ApiError(
            status or 400,
            "invalid_request",
            f"Could not fetch the media at {field}",
            details=[issue(field, "custom", "the media URL answered HTTP 401")],
        )


def chat_id_to_jid(chat_id: str) -> str:
    """The recipient as the API reports it: `+972…` becomes `972…@c.us`, JIDs stay."""
    return f"{chat_id[1:]}@c.us" if chat_id.startswith("+") else chat_id


def validate_chat_id(chat_id: str) -> None:
    if not (E164.match(chat_id) or JID.match(chat_id)):
        raise invalid_request(
            "Invalid chatId",
            [issue("chatId", "invalid_string", "expected E.164 (+972…) or a WhatsApp JID")],
        )


def validate_send_body(body: dict[str, Any], now: datetime) -> None:
    """Raise 400 invalid_request listing every problem of a scheduled-message body."""
    problems: list[dict[str, str]] = []
    for key in sorted(set(body) - SEND_FIELDS):
        problems.append(issue(key, "unrecognized_keys", f"Unrecognized key in body: {key!r}"))
    kind = body.get("type")
    if kind is None:
        problems.append(issue("type", "invalid_type", "Required"))
    elif kind not in MESSAGE_TYPES:
        problems.append(issue("type", "invalid_enum_value", f"expected one of {MESSAGE_TYPES}"))
    problems += _string_problems(body)
    problems += _type_specific_problems(kind, body)
    problems += _send_at_problems(body.get("sendAt"), now)
    if problems:
        raise invalid_request("Request validation failed", problems)


def _string_problems(body: dict[str, Any]) -> list[dict[str, str]]:
    problems = []
    for name, (low, high) in STRING_LIMITS.items():
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(issue(name, "invalid_type", "Expected string"))
        elif js_length(value) < low:
            problems.append(issue(name, "too_small", f"at least {low} characters"))
        elif js_length(value) > high:
            problems.append(issue(name, "too_big", f"at most {high} characters"))
    url = body.get("mediaUrl")
    if isinstance(url, str) and not url.startswith("https://"):
        problems.append(issue("mediaUrl", "invalid_string", "mediaUrl must be an https URL"))
    if "mediaKind" in body and body["mediaKind"] not in MEDIA_KINDS:
        problems.append(issue("mediaKind", "invalid_enum_value", f"expected one of {MEDIA_KINDS}"))
    if "pollAllowMultiple" in body and not isinstance(body["pollAllowMultiple"], bool):
        problems.append(issue("pollAllowMultiple", "invalid_type", "Expected boolean"))
    return problems


def _type_specific_problems(kind: Any, body: dict[str, Any]) -> list[dict[str, str]]:
    if kind == "text" and not body.get("text"):
        return [issue("text", "too_small", "text is required (1-4096 characters) for type text")]
    if kind == "media" and not (body.get("mediaUrl") or body.get("mediaBase64")):
        return [issue("mediaUrl", "invalid_type", "media needs mediaUrl or mediaBase64")]
    if kind != "poll":
        return []
    problems = []
    if not body.get("pollQuestion"):
        problems.append(issue("pollQuestion", "invalid_type", "Required for type poll"))
    options = body.get("pollOptions")
    if not isinstance(options, list) or not 2 <= len(options) <= 12:
        problems.append(issue("pollOptions", "too_small", "2-12 options are required"))
    elif not all(isinstance(o, str) and 1 <= js_length(o) <= 100 for o in options):
        problems.append(issue("pollOptions", "invalid_string", "each option has 1-100 characters"))
    return problems


def _send_at_problems(value: Any, now: datetime) -> list[dict[str, str]]:
    if value is None:
        return []
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        return [issue("sendAt", "invalid_string", "expected an ISO 8601 date-time with offset")]
    if not now + SEND_AT_MIN <= when.astimezone(UTC) <= now + SEND_AT_MAX:
        return [issue("sendAt", "custom", "sendAt must be 10 seconds to 365 days ahead")]
    return []


def page_query(query: Mapping[str, str]) -> tuple[int, int, str]:
    """`skip`, `limit` and `order` of a list call, checked as the API does (400 otherwise)."""
    problems = []
    values: dict[str, int] = {}
    for name, default, low, high in (("skip", 0, 0, None), ("limit", 50, 1, 200)):
        text = query.get(name, str(default))
        value = int(text) if text.isdigit() else -1
        if value < low or (high is not None and value > high):
            bounds = f"{low}-{high}" if high is not None else f"at least {low}"
            problems.append(issue(name, "invalid_type", f"expected {bounds}"))
        values[name] = value
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        problems.append(issue("order", "invalid_enum_value", "expected asc or desc"))
    if problems:
        raise invalid_request("Invalid query", problems)
    return values["skip"], values["limit"], order


def validate_idempotency_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= 64:
        raise invalid_request(
            "Invalid Idempotency-Key",
            [issue("Idempotency-Key", "too_big", "at most 64 characters")],
        )
