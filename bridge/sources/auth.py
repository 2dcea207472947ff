"""Request authentication shared by the sources: bearer, basic and HMAC body signatures.

Every comparison is constant time on bytes, and no message ever contains a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bridge.config.schema import AuthConfig, GrafanaHmacConfig
from bridge.errors import AuthError

AUTHORIZATION = "Authorization"
GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
GITHUB_LEGACY_SIGNATURE_HEADER = "X-Hub-Signature"
_GITHUB_SIGNATURE_PREFIX = "sha256="
# Unix seconds have 10 digits until the year 2286; more is no fresh timestamp, and an unbounded
# one would reach int() (at most 4300 digits) or overflow `now - timestamp` before the refusal.
_MAX_TIMESTAMP_DIGITS = 12


class HeaderCheck(Protocol):
    """Checks the credentials a request carries in its headers."""

    def check(self, headers: Mapping[str, str]) -> None: ...


def hmac_sha256_hex(secret: bytes, message: bytes) -> str:
    """Lowercase hex HMAC-SHA256, the digest GitHub and Grafana both send."""
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _challenge(scheme: str) -> str:
    """The WWW-Authenticate value asking for `scheme` credentials."""
    return f'{scheme} realm="alertbridge"'


def _authorization(headers: Mapping[str, str], expected_scheme: str) -> bytes:
    """The credentials after the scheme; AuthError when missing or of another scheme."""
    challenge = _challenge(expected_scheme)
    value = headers.get(AUTHORIZATION)
    if value is None or not value.strip():
        raise AuthError("missing Authorization header", challenge=challenge)
    scheme, _, credentials = value.strip().partition(" ")
    if scheme.lower() != expected_scheme.lower():
        raise AuthError(
            f"Authorization header must use the {expected_scheme} scheme", challenge=challenge
        )
    return credentials.strip().encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True, repr=False)
class BearerCheck:
    """`Authorization: Bearer <token>`."""

    token: bytes

    def check(self, headers: Mapping[str, str]) -> None:
        presented = _authorization(headers, "Bearer")
        if not hmac.compare_digest(presented, self.token):
            raise AuthError("wrong bearer token", challenge=_challenge("Bearer"))


@dataclass(frozen=True, slots=True, repr=False)
class BasicCheck:
    """`Authorization: Basic base64(username:password)`."""

    username: bytes
    password: bytes

    def check(self, headers: Mapping[str, str]) -> None:
        encoded = _authorization(headers, "Basic")
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError(
                "malformed Basic credentials: not base64", challenge=_challenge("Basic")
            ) from None
        username, colon, password = decoded.partition(b":")
        if not colon:
            raise AuthError(
                "malformed Basic credentials: no ':' between username and password",
                challenge=_challenge("Basic"),
            )
        # Both comparisons run, so the time taken does not tell which part was wrong.
        username_ok = hmac.compare_digest(username, self.username)
        password_ok = hmac.compare_digest(password, self.password)
        if not (username_ok and password_ok):
            raise AuthError("wrong username or password", challenge=_challenge("Basic"))


def compile_header_check(config: AuthConfig | None) -> HeaderCheck | None:
    """The check for a source's `auth:` block, or None when it configures nothing."""
    if config is None:
        return None
    if config.bearer_token is not None:
        return BearerCheck(config.bearer_token.get_secret_value().encode())
    if config.basic is not None:
        return BasicCheck(
            config.basic.username.encode(), config.basic.password.get_secret_value().encode()
        )
    return None


def verify_github_signature(secret: bytes, headers: Mapping[str, str], body: bytes) -> None:
    """`X-Hub-Signature-256: sha256=<hex>` over the raw body, as GitHub documents it."""
    header = headers.get(GITHUB_SIGNATURE_HEADER)
    if header is None or not header.strip():
        if headers.get(GITHUB_LEGACY_SIGNATURE_HEADER):
            raise AuthError(
                f"missing {GITHUB_SIGNATURE_HEADER} header "
                f"(the SHA-1 {GITHUB_LEGACY_SIGNATURE_HEADER} alone is not accepted)"
            )
        raise AuthError(f"missing {GITHUB_SIGNATURE_HEADER} header")
    presented = header.strip()
    if not presented.startswith(_GITHUB_SIGNATURE_PREFIX):
        raise AuthError(f"{GITHUB_SIGNATURE_HEADER} must look like sha256=<hex digest>")
    expected = hmac_sha256_hex(secret, body)
    digest = presented[len(_GITHUB_SIGNATURE_PREFIX) :].lower()
    if not hmac.compare_digest(digest.encode("utf-8", "surrogateescape"), expected.encode()):
        raise AuthError(f"{GITHUB_SIGNATURE_HEADER} does not match the body")


@dataclass(frozen=True, slots=True, repr=False)
class GrafanaSignatureCheck:
    """Grafana 12's `hmacConfig`: hex HMAC-SHA256 over `[ts ":"] body`, with a freshness window."""

    secret: bytes
    header: str
    timestamp_header: str | None
    max_age: float

    @classmethod
    def from_config(cls, config: GrafanaHmacConfig) -> GrafanaSignatureCheck:
        return cls(
            secret=config.secret.get_secret_value().encode(),
            header=config.header,
            timestamp_header=config.timestamp_header,
            max_age=config.max_age,
        )

    def check(self, headers: Mapping[str, str], body: bytes, now: float) -> None:
        presented = headers.get(self.header)
        if presented is None or not presented.strip():
            raise AuthError(f"missing {self.header} header")
        message = body
        timestamp: int | None = None
        if self.timestamp_header is not None:
            raw_timestamp = (headers.get(self.timestamp_header) or "").strip()
            if not raw_timestamp:
                raise AuthError(f"missing {self.timestamp_header} header")
            if (
                not raw_timestamp.isascii()
                or not raw_timestamp.isdigit()
                or len(raw_timestamp) > _MAX_TIMESTAMP_DIGITS
            ):
                raise AuthError(f"{self.timestamp_header} must be Unix seconds")
            timestamp = int(raw_timestamp)
            message = raw_timestamp.encode() + b":" + body
        expected = hmac_sha256_hex(self.secret, message)
        digest = presented.strip().lower().encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(digest, expected.encode()):
            raise AuthError(f"{self.header} does not match the body")
        if timestamp is not None:
            age = now - timestamp
            if age > self.max_age:
                raise AuthError(
                    f"{self.timestamp_header} is {age:.0f}s old (at most {self.max_age:.0f}s)"
                )
            if -age > self.max_age:
                raise AuthError(
                    f"{self.timestamp_header} is {-age:.0f}s in the future "
                    f"(at most {self.max_age:.0f}s)"
                )
