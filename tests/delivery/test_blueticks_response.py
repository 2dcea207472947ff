"""How a Blueticks response is read: request ids from either spelling, readable error text."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.delivery.blueticks_http import ApiResponse, raise_for_status
from bridge.errors import PermanentDeliveryError, TransientDeliveryError


def response(
    payload: Any, status: int = 400, headers: dict[str, str] | None = None, body: bytes = b""
) -> ApiResponse:
    return ApiResponse(status, headers or {}, body, payload)


@pytest.mark.parametrize(
    ("payload", "headers", "expected"),
    [
        ({"error": {"code": "x", "requestId": "req_camel"}}, {}, "req_camel"),
        ({"error": {"code": "x", "request_id": "req_snake"}}, {}, "req_snake"),
        ({"error": {"code": "x", "requestId": None}}, {"X-Request-Id": "req_hdr"}, "req_hdr"),
        (None, {"X-Request-Id": "req_hdr"}, "req_hdr"),
        ({"error": {"code": "x"}}, {}, None),
    ],
    ids=["requestId", "request_id", "null-falls-back-to-header", "non-json-header", "none"],
)
def test_request_id_is_found_wherever_the_api_put_it(
    payload: Any, headers: dict[str, str], expected: str | None
) -> None:
    assert response(payload, headers=headers).request_id == expected


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(405, PermanentDeliveryError), (408, TransientDeliveryError), (599, TransientDeliveryError)],
    ids=["other-4xx-permanent", "408-transient", "any-5xx-transient"],
)
def test_statuses_outside_the_documented_table_are_classified(
    status: int, error_class: type[Exception]
) -> None:
    with pytest.raises(error_class):
        raise_for_status(response(None, status), api_name="api", secret=None)


def test_api_key_in_an_error_message_is_redacted() -> None:
    echoed = response({"error": {"code": "invalid_request", "message": "bad key bt_live_s3cret"}})

    with pytest.raises(PermanentDeliveryError) as caught:
        raise_for_status(echoed, api_name="api", secret="bt_live_s3cret")

    assert "bt_live_s3cret" not in str(caught.value)
    assert "bad key ***" in str(caught.value)


def test_success_is_not_an_error() -> None:
    raise_for_status(response({"success": True, "data": {}}, 201), api_name="api", secret=None)
