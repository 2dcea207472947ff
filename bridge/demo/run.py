"""`alertbridge demo`: the real bridge, in dry-run mode, fed the bundled example payloads."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import sys
import time
from importlib import resources
from pathlib import Path

import aiohttp
from aiohttp import web

from bridge.delivery.sender import DryRunSender
from bridge.logs import configure_logging
from bridge.model import Notification
from bridge.runtime import load_runtime
from bridge.service import Bridge
from bridge.web.app import create_app

DEMO_DIR = Path(str(resources.files("bridge.demo")))
DEMO_CONFIG = DEMO_DIR / "config.yaml"
# Where a newcomer goes from here: the same tools on a real config (a checkout's example).
NEXT_STEP = (
    "next: alertbridge check --config config.example.yaml (in a checkout; set the variables its "
    "header lists), then alertbridge routes test --config config.example.yaml "
    "--source alertmanager PAYLOAD.json"
)
GITHUB_EVENTS = {
    "github-workflow_job.json": "workflow_job",
    "github-dependabot_alert.json": "dependabot_alert",
    "github-release.json": "release",
}


def _headers(source: str, name: str, body: bytes) -> dict[str, str]:
    """The headers each sender would add, with the demo config's credentials."""
    if source == "alertmanager":
        return {"Authorization": "Bearer demo-alertmanager-token"}
    if source == "grafana":
        basic = base64.b64encode(b"grafana:demo-grafana-password").decode()
        return {"Authorization": f"Basic {basic}"}
    signature = hmac.new(b"demo-github-secret", body, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": GITHUB_EVENTS[name],
        "X-GitHub-Delivery": f"demo-{name}",
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": f"sha256={signature}",
    }


def _print_message(n: Notification) -> None:
    print(f"── WhatsApp to {n.recipient} ({n.phone}) · route {n.route} ──")
    print(n.text)
    if n.image_url:
        print(f"[image: {n.image_url}]")
    print()


async def run_demo(wait_seconds: float = 15.0) -> int:
    configure_logging("warning")
    runtime = load_runtime(str(DEMO_CONFIG))
    sent_one = asyncio.Event()
    sender = DryRunSender(on_send=lambda _: sent_one.set())
    bridge = Bridge(runtime, sender=sender)
    runner = web.AppRunner(create_app(bridge), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(
        f"alertbridge demo: bridge listening on http://127.0.0.1:{port} (dry run: nothing sent)\n"
    )
    expected = 0
    try:
        async with aiohttp.ClientSession() as http:
            for path in sorted((DEMO_DIR / "payloads").glob("*.json")):
                source = path.name.split("-", 1)[0]
                body = path.read_bytes()
                headers = {"Content-Type": "application/json", **_headers(source, path.name, body)}
                url = f"http://127.0.0.1:{port}/webhook/{source}"
                async with http.post(url, data=body, headers=headers) as response:
                    reply = await response.json()
                print(
                    f"POST /webhook/{source} {path.name} -> {response.status} {reply['status']}, "
                    f"{reply.get('notifications', 0)} message(s)"
                )
                if response.status != 202:
                    return 1
                expected += int(reply["notifications"])
        deadline = time.monotonic() + wait_seconds
        while len(sender.sent) < expected and time.monotonic() < deadline:
            sent_one.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sent_one.wait(), deadline - time.monotonic())
        print(f"\n{len(sender.sent)} WhatsApp message(s) would be sent:\n")
        for notification in sender.sent:
            _print_message(notification)
        print(f"demo config: {DEMO_CONFIG}\n{NEXT_STEP}")
        if len(sender.sent) < expected:
            print(
                f"only {len(sender.sent)} of {expected} messages were sent in {wait_seconds}s",
                file=sys.stderr,
            )
            return 1
        return 0
    finally:
        await runner.cleanup()
