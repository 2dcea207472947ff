"""Shared test harness: the real bridge on a real port, in front of the Blueticks stand-in."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import sys
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import pytest
import yaml
from aiohttp import web
from multidict import CIMultiDict
from pydantic import SecretStr

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))

from blueticks_standin import DEFAULT_API_KEY, RunningStandin, run_standin  # noqa: E402

from bridge.config.schema import BluetickConfig  # noqa: E402
from bridge.logs import configure_logging, redactor, reset_logging  # noqa: E402
from bridge.model import Notification, NotificationState  # noqa: E402
from bridge.runtime import load_runtime  # noqa: E402
from bridge.service import Bridge  # noqa: E402
from bridge.web.app import create_app  # noqa: E402

FIXTURES = TESTS / "fixtures"
AM_TOKEN = "am-test-token"
GRAFANA_USER, GRAFANA_PASSWORD = "grafana", "grafana-test-password"
GITHUB_SECRET = "github-test-secret"
ADMIN_TOKEN = "admin-test-token"
ALICE_PHONE, BOB_PHONE = "+14155550123", "+4915112345678"  # alice and bob of BASE_CONFIG

SERVER_SETTINGS = """\
  listen: "127.0.0.1:0"
  admin_token: {admin}
  max_body_bytes: 65536
"""

BLUETICKS_SETTINGS = """\
  api: {api}
  base_url: {standin}
  api_key: {api_key}
  timeout: 2s
  backoff_initial: 50ms
  backoff_max: 200ms
  # No /v1/ping unless a test asks: it would mix into the stand-in's calls and faults.
  session_check_interval: 0s
"""

BASE_CONFIG = """\
server:
{server}blueticks:
{blueticks}store: {{backend: sqlite, path: {db}}}
sources:
  alertmanager: {{auth: {{bearer_token: {am_token}}}}}
  grafana: {{auth: {{basic: {{username: {g_user}, password: {g_password}}}}}}}
  github: {{secret: {gh_secret}}}
# Generous pacing, so tests that are not about pacing are not slowed by it.
pacing:
  global_rate: {{per_minute: 60000, burst: 1000}}
  per_recipient: {{per_minute: 60000, burst: 1000}}
recipients:
  alice: "{alice_phone}"
  bob: {{phone: "{bob_phone}"}}
  oncall: [alice, bob]
"""

DEFAULT_ROUTES = """\
routes:
  - name: alerts
    source: [alertmanager, grafana]
    to: [oncall]
  - name: github
    source: github
    matchers: ['event!="push"']
    to: [alice]
"""


def fixture_bytes(*parts: str) -> bytes:
    return FIXTURES.joinpath(*parts).read_bytes()


def fixture_json(*parts: str) -> Any:
    return json.loads(fixture_bytes(*parts))


def am_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}


def grafana_headers() -> dict[str, str]:
    basic = base64.b64encode(f"{GRAFANA_USER}:{GRAFANA_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {basic}", "Content-Type": "application/json"}


def github_headers(
    event: str, body: bytes, delivery: str = "d-1", hook: str = "7"
) -> dict[str, str]:
    signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "X-GitHub-Hook-ID": hook,
        "X-Hub-Signature-256": f"sha256={signature}",
        "Content-Type": "application/json",
    }


@dataclass
class Reply:
    status: int
    body: Any
    headers: CIMultiDict[str]


async def read_reply(response: aiohttp.ClientResponse) -> Reply:
    """The response's status, headers and body: parsed JSON, or the text when it is not JSON."""
    text = await response.text()
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = text
    return Reply(response.status, parsed, CIMultiDict(response.headers))


@dataclass
class BridgeHarness:
    """A running bridge (real server, real SQLite file) sending to a running stand-in."""

    url: str
    bridge: Bridge
    standin: RunningStandin
    http: aiohttp.ClientSession
    config_path: Path

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return await self.request("POST", path, data=body, headers=headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers=headers or {})

    async def request(self, method: str, path: str, **options: Any) -> Reply:
        """Any request to the bridge; `options` are aiohttp's (data, json, headers...)."""
        async with self.http.request(method, self.url + path, **options) as response:
            return await read_reply(response)

    def texts(self) -> list[str]:
        """The message texts the stand-in received, in order."""
        return [
            m.request.get("message") or m.request.get("text") or ""
            for m in self.standin.state.messages
        ]


def write_config(
    tmp_path: Path,
    standin_url: str,
    routes: str = DEFAULT_ROUTES,
    api: str = "legacy",
    extra: str = "",
    blueticks_extra: str = "",
    server_extra: str = "",
) -> Path:
    """The test config. `routes` and `extra` are top-level YAML, `blueticks_extra` lines
    (indented two spaces) of the blueticks section, `server_extra` flow-mapping items
    (", public_url: x") of the server section. A key they give replaces the base's key of the
    same name in its place; the loader refuses a key written twice."""
    server = override_entries(
        SERVER_SETTINGS.format(admin=ADMIN_TOKEN), flow_items_as_block(server_extra), indent=2
    )
    blueticks = override_entries(
        BLUETICKS_SETTINGS.format(api=api, standin=standin_url, api_key=DEFAULT_API_KEY),
        blueticks_extra,
        indent=2,
    )
    base = BASE_CONFIG.format(
        server=server,
        blueticks=blueticks,
        db=tmp_path / "alertbridge.db",
        am_token=AM_TOKEN,
        g_user=GRAFANA_USER,
        g_password=GRAFANA_PASSWORD,
        gh_secret=GITHUB_SECRET,
        alice_phone=ALICE_PHONE,
        bob_phone=BOB_PHONE,
    )
    text = override_entries(override_entries(base, textwrap.dedent(routes), 0), extra, 0)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def override_entries(base: str, overrides: str, indent: int) -> str:
    """Block-mapping YAML whose keys start `indent` spaces in: each entry of `overrides`
    replaces the entry of `base` with its key (where that one was), or is added at the end.

    Done on the text, not on parsed data, so the config keeps the wording tests look for.
    """
    entries = mapping_entries(base, indent)
    entries.update(mapping_entries(overrides, indent))
    return "".join(entries.values())


def mapping_entries(text: str, indent: int) -> dict[str, str]:
    """Split block-mapping YAML into its entries by key: a key's line and the lines nested
    under it, after the comments and blank lines just above it."""
    key_line = re.compile(rf" {{{indent}}}([A-Za-z_][\w.-]*) *:(?: |$)")
    entries: dict[str, str] = {}
    key, above = "", ""
    for line in text.splitlines(keepends=True):
        line = line if line.endswith("\n") else line + "\n"
        if not line.strip() or line.lstrip().startswith("#"):
            above += line
        elif match := key_line.match(line):
            # A key written twice stays twice (in the first's place), for the loader to refuse.
            key = match.group(1)
            entries[key], above = entries.get(key, "") + above + line, ""
        else:
            nested = line.startswith((" " * (indent + 1), " " * indent + "- "))
            assert key and nested, f"not a block-mapping entry at indent {indent}: {line!r}"
            entries[key], above = entries[key] + above + line, ""
    if above:
        entries[key] = entries.get(key, "") + above
    return entries


def flow_items_as_block(items: str) -> str:
    """Items of a flow mapping (", public_url: x") as block lines indented two spaces."""
    parsed = yaml.safe_load("{" + items.strip().removeprefix(",") + "}")
    return "".join(f"  {key}: {json.dumps(value)}\n" for key, value in parsed.items())


StartBridge = Callable[..., Awaitable[BridgeHarness]]


@pytest.fixture
async def start_bridge(tmp_path: Path) -> AsyncIterator[StartBridge]:
    """Start the stand-in and a bridge configured to send to it; both stop after the test."""
    cleanups: list[Callable[[], Awaitable[Any]]] = []

    async def start(routes: str = DEFAULT_ROUTES, **options: str) -> BridgeHarness:
        """`options`: those of write_config (api, extra, blueticks_extra, server_extra)."""
        standin_cm = run_standin()
        standin = await standin_cm.__aenter__()
        cleanups.append(lambda: standin_cm.__aexit__(None, None, None))
        config_path = write_config(tmp_path, standin.url, routes, **options)
        bridge = Bridge(load_runtime(str(config_path)))
        runner = web.AppRunner(create_app(bridge), access_log=None)
        await runner.setup()
        cleanups.append(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        http = aiohttp.ClientSession()
        cleanups.append(http.close)
        port = runner.addresses[0][1]
        return BridgeHarness(f"http://127.0.0.1:{port}", bridge, standin, http, config_path)

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout: float = 5.0, what: str = "condition"
) -> None:
    """Poll an async condition until it holds; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def outbox_state_count(h: BridgeHarness, state: str) -> int:
    return (await h.bridge.store.outbox_counts()).get(state, 0)  # type: ignore[call-overload]


def due_notification(
    phone: str = ALICE_PHONE, text: str = "disk full", fingerprint: str = ""
) -> Notification:
    """A notification due now, to alice or bob of the test config, as the pipeline makes one;
    `fingerprint` gives it the key of one firing event (digests merge by it)."""
    now = time.time()
    return Notification(
        id=uuid.uuid4().hex,
        route="alerts",
        recipient="bob" if phone == BOB_PHONE else "alice",
        phone=phone,
        text=text,
        created_at=now,
        next_attempt_at=now,
        event_keys=[(fingerprint, "firing")] if fingerprint else [],
    )


async def queue(h: BridgeHarness, *notifications: Notification) -> None:
    """Put notifications in the outbox and wake the worker, as the pipeline does after a 202."""
    await h.bridge.store.enqueue(list(notifications))
    assert h.bridge.worker is not None
    h.bridge.worker.wake()


async def state_of(h: BridgeHarness, notification_id: str) -> NotificationState | None:
    n = await h.bridge.store.get_notification(notification_id)
    return None if n is None else n.state


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Log lines as JSON on stderr, read through capsys; the default configuration after."""
    configure_logging("debug", json=True)
    yield capsys
    reset_logging()
    redactor.set_secrets([])


@pytest.fixture
async def render() -> AsyncIterator[Any]:
    """The chart tests' helm renderer (tests/deploy/chart_render.py). Here, not in a conftest of
    tests/deploy: two conftest modules would clash on `from conftest import ...`."""
    from chart_render import rendering  # on sys.path only while tests/deploy is collected

    async with rendering() as install:
        yield install


@pytest.fixture
async def standin() -> AsyncIterator[RunningStandin]:
    """The Blueticks stand-in alone, for tests that drive it or a client directly."""
    async with run_standin() as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def blueticks_config(
    base_url: str,
    api: Literal["legacy", "v1"] = "v1",
    api_key: str = DEFAULT_API_KEY,
    timeout: float = 2.0,
) -> BluetickConfig:
    """Client settings for the stand-in at `base_url`, with its key unless a test gives another."""
    return BluetickConfig(api=api, base_url=base_url, api_key=SecretStr(api_key), timeout=timeout)


@contextlib.asynccontextmanager
async def serving(bridge: Bridge) -> AsyncIterator[str]:
    """The bridge's HTTP server on a free port (starting it starts the bridge); yields its URL.

    For tests that build their own Bridge (a purge interval, a store of their own)."""
    runner = web.AppRunner(create_app(bridge), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
