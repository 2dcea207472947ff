"""`alertbridge serve` as a process: SIGTERM drains and keeps the rest, SIGHUP reloads the config.

The bridge is a subprocess; the Blueticks stand-in runs in the test, so its state is at hand.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import aiohttp
from blueticks_standin import run_standin
from blueticks_standin_faults import Fault
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

ALICE, BOB = "+14155550123", "+4915112345678"
GRACE = 5.0
RELOADS = "alertbridge_config_reloads_total"
IN_FLIGHT_DELAY = 1.5  # under the client timeout (2 s), so the answer arrives during the grace


async def test_sigterm_finishes_in_flight_sends_and_keeps_the_rest_for_the_next_start(
    tmp_path: Path, processes: Processes
) -> None:
    pending = 4
    async with run_standin() as standin, aiohttp.ClientSession() as http:
        faults = standin.state.faults
        # The first send is answered late (in flight at SIGTERM); the others keep failing.
        faults.push(Fault.drop_response(delay=IN_FLIGHT_DELAY).on(path_prefix=SEND_PATH))
        faults.push(Fault.error(503).on(path_prefix=SEND_PATH), times=10_000)
        port = free_port()
        config = serve_config(
            tmp_path,
            standin.url,
            port,
            api="v1",
            routes=routes_per_instance(1 + pending),
            blueticks_extra="  max_attempts: 1000\n",
        )
        serve = await processes.serve_ready(http, config, port, "--grace", str(GRACE))
        await serve.post_alert(http, 0)
        await standin.state.wait_for_messages(1)
        for instance in range(1, 1 + pending):
            await serve.post_alert(http, instance)

        async def each_failed_once() -> bool:
            sends = [c for c in standin.state.calls if c.path.startswith(SEND_PATH)]
            return len(sends) >= 1 + pending

        await wait_until(each_failed_once, 10, "the later sends to fail")
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        answer_due = standin.state.calls[0].at + IN_FLIGHT_DELAY
        assert time.time() < answer_due, "the first send was answered before SIGTERM"
        assert await serve.wait_exit(GRACE + 5) == 0, serve.log_tail()
        assert time.monotonic() - started < GRACE

        outbox = {n.phone: n for n in await read_outbox(tmp_path / "alertbridge.db")}
        in_flight = outbox.pop(chat_of(0))
        assert in_flight.state == "sent"
        assert in_flight.provider_id == standin.state.messages[0].id
        assert sorted(outbox) == [chat_of(i) for i in range(1, 1 + pending)]
        assert {n.state for n in outbox.values()} == {"pending"}

        faults.clear()
        restarted = await processes.serve_ready(http, config, port)
        await restarted.wait_sent(http, 1 + pending, 10)
        await restarted.stop(GRACE + 5)

    chats = sorted(m.chat_id for m in standin.state.messages)
    assert chats == [chat_of(i) for i in range(1 + pending)]


async def test_sigterm_gives_a_hung_send_only_the_grace_and_it_is_replayed_after_restart(
    tmp_path: Path, processes: Processes
) -> None:
    grace = 1.0
    async with run_standin() as standin, aiohttp.ClientSession() as http:
        # Blueticks creates the message but holds the answer far beyond the grace period.
        standin.state.faults.push(Fault.drop_response(delay=60).on(path_prefix=SEND_PATH))
        port = free_port()
        config = serve_config(
            tmp_path,
            standin.url,
            port,
            api="v1",
            routes=routes_per_instance(1),
            blueticks_extra="  timeout: 30s\n",
        )
        serve = await processes.serve_ready(http, config, port, "--grace", str(grace))
        await serve.post_alert(http, 0)
        [message] = await standin.state.wait_for_messages(1)
        started = time.monotonic()
        serve.send_signal(signal.SIGTERM)
        assert await serve.wait_exit(grace + 5) == 0, serve.log_tail()
        assert time.monotonic() - started < grace + 2
        [left] = await read_outbox(tmp_path / "alertbridge.db")
        assert left.state == "pending"

        restarted = await processes.serve_ready(http, config, port)
        await restarted.wait_sent(http, 1, 10)
        await restarted.stop(10)
        [delivered] = await read_outbox(tmp_path / "alertbridge.db")

    assert standin.state.messages == [message]
    assert delivered.provider_id == message.id


def routes_to(recipient: str) -> str:
    return f"routes:\n  - {{name: alerts, source: alertmanager, to: [{recipient}]}}\n"


async def test_sighup_reloads_the_config_and_refuses_a_bad_one(
    tmp_path: Path, processes: Processes
) -> None:
    async with run_standin() as standin, aiohttp.ClientSession() as http:
        port = free_port()
        config = serve_config(tmp_path, standin.url, port, api="v1", routes=routes_to("alice"))
        serve = await processes.serve_ready(http, config, port)
        await serve.post_alert(http, 1)
        await standin.state.wait_for_messages(1)

        serve_config(tmp_path, standin.url, port, api="v1", routes=routes_to("bob"))
        serve.send_signal(signal.SIGHUP)
        await serve.wait_metric(http, RELOADS, 1, 10, outcome="success")
        await serve.post_alert(http, 2)
        await standin.state.wait_for_messages(2)

        serve_config(tmp_path, standin.url, port, api="v1", routes=routes_to("nobody"))
        serve.send_signal(signal.SIGHUP)
        await serve.wait_metric(http, RELOADS, 1, 10, outcome="failure")
        assert await serve.metric(http, "alertbridge_config_last_reload_successful") == 0
        await serve.post_alert(http, 3)
        await standin.state.wait_for_messages(3)
        await serve.stop(15)

    assert [m.chat_id for m in standin.state.messages] == [ALICE, BOB, BOB]
    assert "unknown recipient 'nobody'" in serve.log_path.read_text()
