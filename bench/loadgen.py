"""Load from the bench process itself (pinned to the load core): wrk runs and Python posters."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from payloads import TOKEN
from processes import BENCH, LOAD_CORE, pinned


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    requests: int
    errors: int  # non-2xx answers plus socket errors


def run_wrk(url: str, seconds: float, *, connections: int = 16, run_id: str = "r") -> WrkResult:
    """POST unique one-alert webhooks to `url` for `seconds` with wrk on the load core."""
    argv = pinned(
        LOAD_CORE,
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "post_alerts.lua"),
            url,
        ],
    )
    env = os.environ | {"BENCH_TOKEN": TOKEN, "BENCH_RUN": run_id}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    rps = float(_field(out, r"Requests/sec:\s+([\d.]+)"))
    requests = int(_field(out, r"(\d+) requests in"))
    non2xx = int(_field(out, r"Non-2xx or 3xx responses:\s+(\d+)", "0"))
    socket_errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return WrkResult(rps, requests, non2xx + socket_errors)


def _field(text: str, pattern: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match:
        return match.group(1)
    if default is not None:
        return default
    raise RuntimeError(f"wrk output without {pattern!r}:\n{text}")


def pin_this_process() -> None:
    os.sched_setaffinity(0, {LOAD_CORE})


async def post_all(
    url: str, bodies: list[bytes] | Callable[[int], bytes], count: int, *, concurrency: int = 8
) -> int:
    """POST `count` bodies with `concurrency` requests in flight; returns how many were not 202."""
    make = bodies.__getitem__ if isinstance(bodies, list) else bodies
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    failures = 0
    next_index = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures, next_index
        while next_index < count:
            index = next_index
            next_index += 1
            async with session.post(url, data=make(index), headers=headers) as reply:
                await reply.read()
                failures += reply.status != 202

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return failures


def standin_sends(standin_url: str) -> int:
    """How many send requests the stand-in subprocess has received so far."""
    with urllib.request.urlopen(standin_url + "/_standin/calls", timeout=10) as reply:
        calls = json.loads(reply.read())
    data = calls["data"] if isinstance(calls, dict) else calls
    return sum(1 for c in data if c["method"] == "POST" and c["path"] == "/messages")


def wait_for_sends(standin_url: str, expected: int, timeout: float) -> int:
    """Wait until the stand-in has `expected` sends (or `timeout` passes); returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        seen = standin_sends(standin_url)
        if seen >= expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)
