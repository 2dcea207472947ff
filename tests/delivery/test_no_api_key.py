"""Without an API key nothing can be sent: notifications wait in the outbox, and it shows."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from alertmanager_webhooks import am_alert, am_webhook
from blueticks_standin import DEFAULT_API_KEY, run_standin
from conftest import am_headers, serving, wait_until, write_config

from bridge.runtime import load_runtime
from bridge.service import Bridge


async def test_without_an_api_key_notifications_wait_and_readiness_says_why(
    tmp_path: Path,
) -> None:
    async with run_standin() as standin:
        config = write_config(tmp_path, standin.url)
        text = config.read_text()
        assert f"api_key: {DEFAULT_API_KEY}" in text
        config.write_text(text.replace(f"api_key: {DEFAULT_API_KEY}", 'api_key: ""'))
        bridge = Bridge(load_runtime(str(config)))
        async with serving(bridge) as url, aiohttp.ClientSession() as http:
            body = am_webhook(am_alert("db-1"))
            async with http.post(
                f"{url}/webhook/alertmanager", data=body, headers=am_headers()
            ) as r:
                assert r.status == 202
            async with http.get(f"{url}/readyz") as r:
                ready = await r.json()
                assert r.status == 200
            assert "no blueticks.api_key" in ready["checks"]["sender"]
            assert bridge.metrics.registry.get_sample_value("alertbridge_sender_ready") == 0

            async def worker_saw_it_pending() -> bool:
                # The depth gauge is refreshed in the worker's round, after its claim step.
                depth = bridge.metrics.registry.get_sample_value(
                    "alertbridge_outbox_depth", {"state": "pending"}
                )
                return depth is not None and depth >= 1

            await wait_until(worker_saw_it_pending, 10, "a worker round after the webhook")
            states = {n.state for n in await bridge.store.list_notifications(limit=10)}
        assert states == {"pending"}  # not dead: they go out once a key is set and it restarts
        assert standin.state.calls == []
