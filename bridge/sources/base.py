"""What every webhook source is (the Source protocol) and the body checks they share."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from bridge.errors import PayloadError, UnsupportedMediaType
from bridge.model import SourceName, Webhook

JSON_MEDIA_TYPE = "application/json"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
# How much of an offending value an error quotes: enough to recognise it, not a copy of the body.
EXCERPT_CHARS = 80


class Source(Protocol):
    """One webhook sender: checks the request's media type and credentials, then parses it."""

    name: SourceName
    # False when no credentials are configured; the app warns about it at start.
    auth_configured: bool

    def check_content_type(self, content_type: str) -> None:
        """Raise UnsupportedMediaType unless the body's media type is one this source takes."""
        ...

    def authenticate(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        """Raise AuthError unless the request carries the configured credentials or signature."""
        ...

    def parse(self, headers: Mapping[str, str], body: bytes, received_at: datetime) -> Webhook:
        """The request as a Webhook of normalised events; PayloadError when it is not one."""
        ...


class PayloadShape(BaseModel):
    """Base of the payload shape models: frozen, unknown fields accepted (raw keeps them)."""

    model_config = ConfigDict(frozen=True, extra="ignore")


ShapeT = TypeVar("ShapeT", bound=PayloadShape)


def media_type(content_type: str) -> str:
    """`application/json; charset=utf-8` -> `application/json`."""
    return content_type.partition(";")[0].strip().lower()


def require_media_type(source: str, content_type: str, accepted: Iterable[str]) -> str:
    """The request's media type when accepted, else UnsupportedMediaType naming what is."""
    accepted = tuple(accepted)
    found = media_type(content_type)
    if found in accepted:
        return found
    wanted = " or ".join(accepted)
    if not found:
        raise UnsupportedMediaType(f"missing Content-Type: the {source} endpoint accepts {wanted}")
    raise UnsupportedMediaType(
        f"unsupported Content-Type {found!r}: the {source} endpoint accepts {wanted}"
    )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` cut to `limit` characters with an ellipsis, so an error reply and its log line
    stay small whatever the sender put in the field."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type_name(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def decode_json_object(body: bytes | str) -> dict[str, Any]:
    """The body as a JSON object; PayloadError("malformed JSON: ...") otherwise."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise PayloadError(f"malformed JSON: {exc}") from None
    except UnicodeDecodeError:
        raise PayloadError("malformed JSON: the body is not UTF-8") from None
    except RecursionError:
        raise PayloadError("malformed JSON: nested too deeply") from None
    except ValueError as exc:  # an integer longer than sys.get_int_max_str_digits()
        raise PayloadError(f"malformed JSON: {str(exc).partition(';')[0]}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"expected a JSON object, got {json_type_name(data)}")
    if isinstance(body, str):
        suspect = _SURROGATE_ESCAPE.search(body) is not None
    else:  # NUL bytes: UTF-16 or UTF-32, which json.loads decodes letting surrogates through
        suspect = _SURROGATE_ESCAPE_BYTES.search(body) is not None or b"\x00" in body
    if suspect:
        refuse_unpaired_surrogates(data)
    return data


# How a surrogate gets into decoded JSON: a `\uD800`-`\uDFFF` escape (raw ones are not UTF-8).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_unpaired_surrogates(data: Any) -> None:
    """PayloadError if any key or string holds a lone surrogate: JSON's grammar lets it
    through, but it is not text; no store, log or API can encode it (it would be a 500)."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise PayloadError("malformed JSON: a string holds an unpaired surrogate escape")


def json_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a JSON path: ('alerts', 2, 'labels') -> alerts[2].labels."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier() and len(part) <= EXCERPT_CHARS:
            path += f".{part}" if path else part
        else:  # a key the sender chose (a label name) can be of any length
            path += f"[{excerpt(json.dumps(part))}]"
    return path


_TYPE_WORDS = {
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "an array",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean",
    "bool_parsing": "a boolean",
}


def describe_error(error: ErrorDetails) -> str:
    """One pydantic error in our words: "alerts[2].labels must be an object, got array"."""
    path = json_path(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return f"missing field {path!r}"
    if kind in _TYPE_WORDS:
        return f"{path} must be {_TYPE_WORDS[kind]}, got {json_type_name(error['input'])}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return f"{path} must be {expected}, got {excerpt(json.dumps(error['input']))}"
    if kind == "value_error":
        return f"{path}: {error.get('ctx', {}).get('error', error['msg'])}"
    return f"{path}: {error['msg']}"


def describe_validation_error(exc: ValidationError, limit: int = 3) -> str:
    """The first few problems of a payload, joined, so one reply says what to fix."""
    errors = exc.errors(include_url=False)
    described = "; ".join(describe_error(error) for error in errors[:limit])
    if len(errors) > limit:
        described += f"; and {len(errors) - limit} more"
    return described


def validate_shape(model: type[ShapeT], data: dict[str, Any]) -> ShapeT:
    """The decoded body checked against a shape model; PayloadError naming what is wrong."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PayloadError(describe_validation_error(exc)) from None
