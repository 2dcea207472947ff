"""SIGHUP with a config that cannot be read: the process keeps serving the old config and
logs only JSON lines (no bare traceback from the signal handler)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import aiohttp
from blueticks_standin import run_standin
from serve_process import (
    Processes,
    free_port,
    processes_fixture,  # noqa: F401  (the `processes` fixture)
    serve_config,
)

RELOADS = "alertbridge_config_reloads_total"


async def test_sighup_with_a_config_that_is_not_utf8_keeps_serving(
    tmp_path: Path, processes: Processes
) -> None:
    async with run_standin() as standin, aiohttp.ClientSession() as http:
        port = free_port()
        config = serve_config(tmp_path, standin.url, port, api="v1")
        serve = await processes.serve_ready(http, config, port)

        text = config.read_bytes()
        config.write_bytes(text + b"# caf\xe9 (Latin-1)\n")
        bad_line = text.count(b"\n") + 1
        serve.send_signal(signal.SIGHUP)
        await serve.wait_metric(http, RELOADS, 1, 10, outcome="failure")
        assert await serve.metric(http, "alertbridge_config_last_reload_successful") == 0
        assert await serve.post_alert(http, 1) == 2  # the old routes, to alice and bob
        await serve.stop(15)

    lines = serve.log_path.read_text(encoding="utf-8").splitlines()
    logged = [json.loads(line) for line in lines]  # every line is JSON: no traceback
    [failed] = [entry for entry in logged if entry["event"] == "config.reload_failed"]
    assert failed["errors"] == [
        f"{config}: not valid UTF-8 (byte 0xe9 on line {bad_line}): save the file as UTF-8"
    ]
