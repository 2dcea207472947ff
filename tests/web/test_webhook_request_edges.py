"""Requests aiohttp itself finds fault with, and 401s: a specific JSON error, never a 500; the
challenge names the scheme the source wants; aiohttp's own log lines are JSON and redacted."""

from __future__ import annotations

import asyncio
import json
import zlib

import pytest
from conftest import (
    AM_TOKEN,
    StartBridge,
    am_headers,
    fixture_bytes,
    github_headers,
    grafana_headers,
)

AM_BODY = fixture_bytes("alertmanager", "zulip-alert-firing-2alerts.json")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_corrupt_compressed_body_is_a_400_and_a_good_one_is_accepted(
    start_bridge: StartBridge, encoding: str
) -> None:
    h = await start_bridge()
    # aiohttp closes the connection after such a body: the client must not reuse it.
    corrupt = am_headers() | {"Content-Encoding": encoding, "Connection": "close"}
    reply = await h.post("/webhook/alertmanager", b"this is not " + encoding.encode(), corrupt)
    assert reply.status == 400, reply.body
    assert f"body is not valid {encoding} data" in reply.body["error"]
    assert reply.body["request_id"]
    wbits = 16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS
    packer = zlib.compressobj(wbits=wbits)
    packed = packer.compress(AM_BODY) + packer.flush()
    reply = await h.post("/webhook/alertmanager", packed, corrupt)
    assert reply.status == 202, reply.body


async def test_a_corrupt_compressed_body_to_an_admin_endpoint_is_a_400(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    headers = {
        "Connection": "close",
        "Authorization": "Bearer admin-test-token",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    reply = await h.post("/api/v1/silences", b"not gzip", headers)
    assert reply.status == 400, reply.body
    assert "body is not valid gzip data" in reply.body["error"]


async def test_a_webhook_without_content_type_is_told_it_is_missing(
    start_bridge: StartBridge,
) -> None:
    h = await start_bridge()
    headers = {"Authorization": f"Bearer {AM_TOKEN}"}
    reply = await h.request(
        "POST",
        "/webhook/alertmanager",
        data=AM_BODY,
        headers=headers,
        skip_auto_headers=["Content-Type"],
    )
    assert reply.status == 415, reply.body
    assert reply.body["error"].startswith("missing Content-Type"), reply.body


@pytest.mark.parametrize(
    ("path", "headers", "challenge"),
    [
        ("/webhook/alertmanager", am_headers(), 'Bearer realm="alertbridge"'),
        ("/webhook/grafana", grafana_headers(), 'Basic realm="alertbridge"'),
        ("/webhook/github", github_headers("ping", b"{}"), None),
    ],
    ids=["bearer-source", "basic-source", "signed-source"],
)
async def test_a_401_challenges_with_the_scheme_the_source_wants(
    start_bridge: StartBridge, path: str, headers: dict[str, str], challenge: str | None
) -> None:
    h = await start_bridge()
    if "Authorization" in headers:
        headers = headers | {"Authorization": headers["Authorization"] + "x"}  # wrong credentials
    else:
        headers = headers | {"X-Hub-Signature-256": "sha256=" + "0" * 64}
    reply = await h.post(path, AM_BODY, headers)
    assert reply.status == 401, reply.body
    assert reply.headers.get("WWW-Authenticate") == challenge


async def test_aiohttps_own_error_log_is_a_json_line_with_the_token_redacted(
    start_bridge: StartBridge, json_logs: pytest.CaptureFixture[str]
) -> None:
    """A header aiohttp refuses (a control character) makes it log the raw request headers."""
    h = await start_bridge()
    json_logs.readouterr()
    host, port = h.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        b"POST /webhook/alertmanager HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {AM_TOKEN}\x7f\r\n".encode()
        + b"Content-Length: 2\r\n\r\n{}"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5.0)
    writer.close()
    assert status_line.split()[1] == b"400", status_line
    err = json_logs.readouterr().err
    assert AM_TOKEN not in err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    aiohttp_lines = [line for line in lines if line.get("logger", "").startswith("aiohttp")]
    assert aiohttp_lines, err
