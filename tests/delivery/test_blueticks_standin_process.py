"""The stand-in runs as its own process (for crash tests) and is driven over HTTP."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from blueticks_standin import DEFAULT_API_KEY

SCRIPT = Path(__file__).resolve().parents[1] / "blueticks_standin.py"


@pytest.fixture
async def standin_url() -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--port", "0", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=10)
        match = re.search(r"http://\S+", line.decode())
        assert match, line
        yield match.group(0)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), timeout=10)


async def test_standalone_process_accepts_sends_and_reports_them(standin_url: str) -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    async with aiohttp.ClientSession() as http:
        send = f"{standin_url}/v1/scheduled-messages/%2B972501234567"
        async with http.post(send, json={"type": "text", "text": "hi"}, headers=headers) as resp:
            assert resp.status == 201
        fault = {"kind": "status", "status": 503, "times": 1}
        async with http.post(f"{standin_url}/_standin/faults", json=fault) as resp:
            assert resp.status == 200
        async with http.post(send, json={"type": "text", "text": "hi"}, headers=headers) as resp:
            assert resp.status == 503
        async with http.get(f"{standin_url}/_standin/messages") as resp:
            messages = (await resp.json())["data"]

    assert [m["to"] for m in messages] == ["972501234567@c.us"]
