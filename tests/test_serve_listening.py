"""`alertbridge serve` says where it listens, once it serves: the one line to look for at start."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).parent.parent
START_TIMEOUT = 20.0
CONFIG = """\
server: {listen: "127.0.0.1:0"}
blueticks: {dry_run: true}
store: {backend: memory}
recipients: {alice: "+14155550123"}
routes: [{name: all, to: [alice]}]
"""


async def read_log_line(stream: asyncio.StreamReader, event: str) -> dict[str, Any]:
    """The first JSON log line of `event`; fails after START_TIMEOUT or when the stream ends."""

    async def find() -> dict[str, Any]:
        while line := await stream.readline():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("event") == event:
                    return dict(entry)
        raise AssertionError(f"serve ended its log without {event}")

    return await asyncio.wait_for(find(), START_TIMEOUT)


async def test_serve_logs_the_url_it_listens_on(tmp_path: Path) -> None:
    """Port 0 here: the logged URL is the port the OS gave, and it answers."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        "serve",
        "--config",
        str(config),
        "--log-format",
        "json",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert process.stderr is not None
        line = await read_log_line(process.stderr, "serve.listening")
        assert line["level"] == "info"
        (url,) = line["urls"]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        async with aiohttp.ClientSession() as http, http.get(f"{url}/healthz") as response:
            assert response.status == 200
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), START_TIMEOUT)
