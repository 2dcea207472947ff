"""`alertbridge serve` and the Blueticks stand-in as real processes, for crash and signal tests.

Every process a test starts goes through `Processes`, which kills what is still running when the
test ends, pass or fail. Waits poll a condition with a deadline; nothing sleeps and hopes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from alertmanager_webhooks import one_alert_webhook
from conftest import am_headers, wait_until, write_config
from prometheus_client.parser import text_string_to_metric_families

from bridge.model import Notification
from bridge.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
STANDIN_SCRIPT = ROOT / "tests" / "blueticks_standin.py"
SEND_PATH = "/v1/scheduled-messages"
START_TIMEOUT = 20.0


def free_port() -> int:
    """A port nothing listens on right now (the OS picks it; the caller binds it soon after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def chat_of(instance: int) -> str:
    """The WhatsApp chat (a JID) that alerts of one instance go to: one chat per instance."""
    return f"49170000{instance:04d}@c.us"


def routes_per_instance(count: int) -> str:
    """Routes sending instance i's alerts to chat_of(i): the worker sends to one chat at a
    time, so separate chats let sends fail, wait and succeed side by side."""
    lines = ["routes:"]
    for i in range(count):
        lines += [
            f"  - name: instance-{i}",
            "    source: alertmanager",
            f"    matchers: ['instance=\"{i}\"']",
            f'    to: ["{chat_of(i)}"]',
        ]
    return "\n".join(lines) + "\n"


def serve_config(tmp_path: Path, standin_url: str, port: int, **options: Any) -> Path:
    """The harness config (conftest.write_config), listening on `port` instead of port 0."""
    path = write_config(tmp_path, standin_url, **options)
    text = path.read_text(encoding="utf-8")
    listen = 'listen: "127.0.0.1:0"'
    assert listen in text, "the harness config no longer listens on 127.0.0.1:0"
    path.write_text(text.replace(listen, f'listen: "127.0.0.1:{port}"'), encoding="utf-8")
    return path


@dataclass
class ServeProcess:
    """One `python -m bridge serve` process; its output goes to `log_path`."""

    process: asyncio.subprocess.Process
    url: str
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = START_TIMEOUT) -> None:
        """Until GET /readyz answers 200; fails at once (with the log) if the process exits."""

        async def ready() -> bool:
            if self.process.returncode is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                async with http.get(f"{self.url}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(ready, timeout, "alertbridge serve to be ready")

    async def post_alert(self, http: aiohttp.ClientSession, instance: int) -> int:
        """Post one firing alert of `instance` (to chat_of(instance) with routes_per_instance);
        asserts 202; how many notifications it queued."""
        body = one_alert_webhook(
            str(instance), alertname="DiskFull", fingerprint=f"instance-{instance:04d}"
        )
        async with http.post(
            f"{self.url}/webhook/alertmanager", data=body, headers=am_headers()
        ) as response:
            assert response.status == 202, await response.text()
            return int((await response.json())["notifications"])

    def send_signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int:
        """The exit code; fails if the process is still running after `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"serve still running {timeout}s after the signal:\n{self.log_tail()}"
            ) from None

    async def stop(self, timeout: float) -> None:
        """SIGTERM; fails unless the process exits with 0 within `timeout` seconds."""
        self.send_signal(signal.SIGTERM)
        assert await self.wait_exit(timeout) == 0, self.log_tail()

    async def wait_metric(
        self, http: aiohttp.ClientSession, sample: str, value: float, timeout: float, **labels: str
    ) -> None:
        """Until one sample of GET /metrics has `value`."""

        async def reached() -> bool:
            return await self.metric(http, sample, **labels) == value

        await wait_until(reached, timeout, f"{sample}{labels or ''} == {value}")

    async def wait_sent(self, http: aiohttp.ClientSession, count: int, timeout: float) -> None:
        """Until the outbox holds `count` notifications marked sent."""
        await self.wait_metric(http, "alertbridge_outbox_depth", count, timeout, state="sent")

    async def metric(self, http: aiohttp.ClientSession, sample: str, **labels: str) -> float:
        """One sample of GET /metrics (0 when absent)."""
        async with http.get(f"{self.url}/metrics") as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return 0.0


@dataclass
class StandinProcess:
    """`python tests/blueticks_standin.py --port 0`, driven through its /_standin routes."""

    process: asyncio.subprocess.Process
    url: str

    async def push_fault(self, http: aiohttp.ClientSession, **spec: Any) -> None:
        async with http.post(f"{self.url}/_standin/faults", json=spec) as response:
            assert response.status == 200, await response.text()

    async def messages(self, http: aiohttp.ClientSession) -> list[dict[str, Any]]:
        """The messages it accepted (each ScheduledMessage's data), in order."""
        async with http.get(f"{self.url}/_standin/messages") as response:
            return list((await response.json())["data"])

    async def send_calls(self, http: aiohttp.ClientSession) -> int:
        """How many send requests reached it, failed or not."""
        async with http.get(f"{self.url}/_standin/calls") as response:
            calls = (await response.json())["data"]
        return sum(1 for c in calls if c["method"] == "POST" and c["path"].startswith(SEND_PATH))

    async def drain_faults(self, http: aiohttp.ClientSession, status: int) -> None:
        """Use up the queued `status` faults on the send path (there is no clear route).

        A fault applies to any method, so harmless GETs take them one by one until a call
        gets through (an ordinary 404 for an unknown message).
        """
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            async with http.get(f"{self.url}{SEND_PATH}/drain-faults") as response:
                if response.status != status:
                    return
        raise AssertionError("the stand-in kept answering with faults")


class Processes:
    """The subprocesses one test started; `close` kills every one still running."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self._started: list[asyncio.subprocess.Process] = []

    async def standin(self) -> StandinProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(STANDIN_SCRIPT),
            "--port",
            "0",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=ROOT,
        )
        self._started.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), START_TIMEOUT)
        _, found, url = line.decode().strip().partition("listening on ")
        assert found, f"the stand-in printed {line!r} instead of its URL"
        return StandinProcess(process, url)

    async def serve_ready(
        self, http: aiohttp.ClientSession, config: Path, port: int, *args: str
    ) -> ServeProcess:
        """`serve`, then wait until it answers ready."""
        process = await self.serve(config, port, *args)
        await process.wait_ready(http)
        return process

    async def serve(self, config: Path, port: int, *args: str) -> ServeProcess:
        index = sum(1 for p in self.tmp_path.glob("serve-*.log"))
        log_path = self.tmp_path / f"serve-{index}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bridge",
                "serve",
                "--config",
                str(config),
                "--log-format",
                "json",
                *args,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                cwd=ROOT,
            )
        self._started.append(process)
        return ServeProcess(process, f"http://127.0.0.1:{port}", log_path)

    async def close(self) -> None:
        for process in reversed(self._started):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()


@pytest.fixture(name="processes")
async def processes_fixture(tmp_path: Path) -> AsyncIterator[Processes]:
    """The test's `Processes`, killed when it ends (imported by name by the tests that use it)."""
    group = Processes(tmp_path)
    try:
        yield group
    finally:
        await group.close()


async def read_outbox(db: Path) -> list[Notification]:
    """Every notification in a SQLite outbox file, read with the store itself."""
    store = SqliteStore(str(db))
    await store.open()
    try:
        return await store.list_notifications(None, limit=10_000)
    finally:
        await store.close()
