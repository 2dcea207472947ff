"""The log lines that tell an operator why nothing is sent, or why the session is not watched,
say what actually happened."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import structlog
from blueticks_standin import RunningStandin
from conftest import blueticks_config, serving, wait_until, write_config

from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
from bridge.delivery.session import SessionMonitor
from bridge.metrics import Metrics
from bridge.runtime import load_runtime
from bridge.service import Bridge


async def test_a_missing_api_key_is_logged_as_missing_not_rejected(
    tmp_path: Path, standin: RunningStandin
) -> None:
    """Nothing was rejected: no key means no call was made."""
    config = write_config(tmp_path, standin.url, blueticks_extra='  api_key: ""')
    with structlog.testing.capture_logs() as logs:
        async with serving(Bridge(load_runtime(str(config)))):
            pass

    missing = [e for e in logs if e["event"] == "blueticks.api_key_missing"]
    assert [e["log_level"] for e in missing] == ["critical"]
    assert "status" not in missing[0] and "no blueticks.api_key" in missing[0]["message"]
    assert not [e for e in logs if e["event"] == "blueticks.api_key_rejected"]
    assert standin.state.calls == []


async def test_legacy_api_says_why_the_session_is_not_checked(
    standin: RunningStandin, http: aiohttp.ClientSession
) -> None:
    monitor = SessionMonitor(Metrics(), interval=0.01)
    legacy = LegacyBlueticksClient(http, blueticks_config(standin.url, api="legacy"))

    with structlog.testing.capture_logs() as logs:
        await monitor.start(legacy)

        async def stopped() -> bool:
            return not monitor.polling

        await wait_until(stopped, what="polling to stop")

    (line,) = [e for e in logs if e["event"] == "whatsapp.session_check_unavailable"]
    assert "no session endpoint" in line["reason"]
    assert "blueticks.api: v1" in line["reason"]
