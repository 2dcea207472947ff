"""Accepted means delivered, once: SIGKILL `alertbridge serve` while Blueticks fails, restart it.

The bridge and the stand-in are real processes; the outbox is a SQLite file. The v1 API's
Idempotency-Key makes "none twice" provable even for the send in flight at the kill.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import aiohttp
from conftest import wait_until
from serve_process import (
    SEND_PATH,
    Processes,
    chat_of,
    free_port,
    processes_fixture,  # noqa: F401  (the `processes` fixture)
    read_outbox,
    routes_per_instance,
    serve_config,
)

WEBHOOKS = 8
# Attempts survive the restart, so the scripted failures must not exhaust them; a long client
# timeout keeps the unanswered send in flight until the kill (later keys override earlier ones).
BLUETICKS_EXTRA = "  max_attempts: 1000\n  timeout: 30s\n"


async def test_sigkill_while_blueticks_fails_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, processes: Processes
) -> None:
    db = tmp_path / "alertbridge.db"
    async with aiohttp.ClientSession() as http:
        standin = await processes.standin()
        # Three failures, then one send that Blueticks performs but does not answer (in flight
        # at the kill), then failures until the test clears them.
        await standin.push_fault(http, kind="status", status=503, times=3, path=SEND_PATH)
        await standin.push_fault(http, kind="drop_response", delay=60, path=SEND_PATH)
        await standin.push_fault(http, kind="status", status=503, times=400, path=SEND_PATH)

        port = free_port()
        config = serve_config(
            tmp_path,
            standin.url,
            port,
            api="v1",
            routes=routes_per_instance(WEBHOOKS),
            blueticks_extra=BLUETICKS_EXTRA,
        )
        first = await processes.serve_ready(http, config, port)
        accepted = 0
        for instance in range(WEBHOOKS):
            accepted += await first.post_alert(http, instance)
        assert accepted == WEBHOOKS

        async def failing_with_one_in_flight() -> bool:
            in_flight = len(await standin.messages(http)) == 1
            return in_flight and await standin.send_calls(http) >= WEBHOOKS + 2

        await wait_until(failing_with_one_in_flight, 15, "sends failing, one in flight")
        first.send_signal(signal.SIGKILL)
        assert await first.wait_exit(10) == -signal.SIGKILL
        at_kill = Counter(n.state for n in await read_outbox(db))
        assert at_kill["sent"] == 0 and at_kill["sending"] >= 1, at_kill
        assert at_kill.total() == accepted, at_kill
        await standin.drain_faults(http, 503)

        second = await processes.serve_ready(http, config, port)
        await second.wait_sent(http, accepted, 20)
        await second.stop(15)
        messages = await standin.messages(http)
        notifications = await read_outbox(db)

    per_chat = Counter(m["to"] for m in messages)
    assert per_chat == Counter(chat_of(i) for i in range(WEBHOOKS)), per_chat
    assert [n.state for n in notifications] == ["sent"] * accepted
    # Each notification holds the id Blueticks gave its one message: none was sent twice,
    # including the one whose answer was lost at the kill (replayed by its Idempotency-Key).
    assert sorted(n.provider_id or "" for n in notifications) == sorted(m["id"] for m in messages)
