"""The legacy Blueticks webhook signature (blueticks.md §C.3), checked against its test vector."""

from __future__ import annotations

import pytest
from blueticks_standin_webhooks import sign_webhook

from bridge.delivery.callbacks import verify_signature
from bridge.errors import AuthError

# The documented vector (§C.3), checked there against the Blueticks SDK.
SECRET = "whsec_test_secret"
TIMESTAMP = 1714234567
BODY = b'{"id":"evt_1","type":"message.delivered","created_at":"2026-04-23T00:00:00Z","data":{}}'
SIGNATURE = "v1=3c10c33da1724be92cbd6248e1d2a33ec5c7a14c907e6dafddf2b122ea5a67d6"


def headers(signature: str = SIGNATURE, timestamp: str = str(TIMESTAMP)) -> dict[str, str]:
    return {"Blueticks-Webhook-Timestamp": timestamp, "Blueticks-Webhook-Signature": signature}


def verify(hdrs: dict[str, str], body: bytes = BODY, now: float = TIMESTAMP) -> None:
    verify_signature(hdrs, body, secret=SECRET, tolerance=300, now=now)


@pytest.mark.parametrize(
    ("signature", "now"),
    [
        (SIGNATURE, TIMESTAMP),
        (f"v0={'0' * 64}, {SIGNATURE}", TIMESTAMP),
        (f"v1={'a' * 64},{SIGNATURE}", TIMESTAMP),
        (SIGNATURE, TIMESTAMP + 300),
        (SIGNATURE, TIMESTAMP - 300),
    ],
    ids=["vector", "v0-then-v1-list", "second-v1-matches", "300s-late", "300s-early"],
)
def test_valid_signature_is_accepted(signature: str, now: float) -> None:
    verify(headers(signature), now=now)


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "reason"),
    [
        (headers(), BODY + b" ", TIMESTAMP, "mismatch"),
        (headers(SIGNATURE.upper().replace("V1=", "v1=")), BODY, TIMESTAMP, "mismatch"),
        (headers(SIGNATURE.replace("v1=", "v0=")), BODY, TIMESTAMP, "missing v1 scheme"),
        (headers(), BODY, TIMESTAMP + 301, "expired timestamp"),
        (headers(), BODY, TIMESTAMP - 301, "expired timestamp"),
        (headers(timestamp="1714234567.5"), BODY, TIMESTAMP, "invalid timestamp"),
        (headers(timestamp="1" * 400), BODY, TIMESTAMP, "invalid timestamp"),
        (headers(timestamp="+1714234567"), BODY, TIMESTAMP, "invalid timestamp"),
        (headers("v1=ab\udcffc"), BODY, TIMESTAMP, "mismatch"),
        ({"Blueticks-Webhook-Signature": SIGNATURE}, BODY, TIMESTAMP, "missing"),
        (headers("v1="), BODY, TIMESTAMP, "mismatch"),
        (headers(SIGNATURE[:20]), BODY, TIMESTAMP, "mismatch"),
        (headers(SIGNATURE[:-1]), BODY, TIMESTAMP, "mismatch"),
        (headers(f"v1=,{SIGNATURE[:-1]}"), BODY, TIMESTAMP, "mismatch"),
    ],
    ids=[
        "body-changed",
        "uppercase-hex",
        "only-v0",
        "stale",
        "from-the-future",
        "fractional-timestamp",
        "400-digit-timestamp",
        "signed-timestamp",
        "undecodable-signature-byte",
        "no-timestamp",
        "empty-v1",
        "digest-prefix",
        "digest-one-short",
        "only-cut-short-v1s",
    ],
)
def test_bad_signature_is_refused_saying_why(
    hdrs: dict[str, str], body: bytes, now: float, reason: str
) -> None:
    with pytest.raises(AuthError, match=reason):
        verify(hdrs, body, now)


def test_signature_made_with_another_secret_is_refused() -> None:
    signature = sign_webhook("whsec_other", TIMESTAMP, BODY)

    with pytest.raises(AuthError, match="mismatch"):
        verify(headers(signature))
