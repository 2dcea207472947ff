"""`alertbridge serve` refuses to start, in one line and before sending anything, when another
serve holds its SQLite file or when it cannot listen.

A second bridge on the running one's file used to put the first one's in-flight sends back to
pending as it started and send them again (a duplicate for the recipient), even when it then
failed to bind its port.
"""

from __future__ import annotations

import socket
from pathlib import Path

import aiohttp
import pytest
from blueticks_standin import run_standin
from blueticks_standin_faults import Fault
from serve_process import (
    Processes,
    free_port,
    processes_fixture,  # noqa: F401  (the `processes` fixture)
    read_outbox,
    serve_config,
)

# The first bridge's send is answered this late: still in flight while the second one starts.
IN_FLIGHT = 60.0


@pytest.mark.parametrize("second", ["another-port", "same-port", "same-file-spelt-otherwise"])
async def test_a_second_serve_on_the_same_store_refuses_and_sends_nothing(
    tmp_path: Path, processes: Processes, second: str
) -> None:
    async with run_standin() as standin, aiohttp.ClientSession() as http:
        held = Fault.drop_response(delay=IN_FLIGHT).on(path_prefix="/messages")
        standin.state.faults.push(held, times=2)  # alice's and bob's
        port = free_port()
        config = serve_config(
            tmp_path, standin.url, port, blueticks_extra=f"  timeout: {IN_FLIGHT * 2}s\n"
        )
        first = await processes.serve_ready(http, config, port)
        assert await first.post_alert(http, 0) == 2
        await standin.state.wait_for_messages(2)  # taken, their answers held back
        db = tmp_path / "alertbridge.db"
        assert [n.state for n in await read_outbox(db)] == ["sending", "sending"]

        other_port = port if second == "same-port" else free_port()
        other = tmp_path / "other"
        other.mkdir()
        text = config.read_text(encoding="utf-8").replace(str(port), str(other_port))
        path = db
        if second == "same-file-spelt-otherwise":
            path = other / ".." / "alertbridge.db"
            text = text.replace(str(db), str(path))
        (other / "config.yaml").write_text(text, encoding="utf-8")
        refused = await processes.serve(other / "config.yaml", other_port)

        assert await refused.wait_exit(20) == 1
        assert refused.log_tail().splitlines()[-1] == (
            f"error: {other / 'config.yaml'}: store.path: {path} is in use by another "
            f"alertbridge serve (pid {first.process.pid})"
        )
        assert len(standin.state.messages) == 2
        assert [n.state for n in await read_outbox(db)] == ["sending", "sending"]
        assert first.process.returncode is None


@pytest.mark.parametrize("problem", ["port-in-use", "address-not-on-this-host"])
async def test_serve_that_cannot_listen_says_why_in_one_line_before_opening_the_store(
    tmp_path: Path, processes: Processes, problem: str
) -> None:
    port = free_port()
    config = serve_config(tmp_path, "http://127.0.0.1:9", port)
    listen = f"127.0.0.1:{port}"
    with socket.socket() as taken:
        if problem == "port-in-use":
            taken.bind(("127.0.0.1", port))
            taken.listen()
        else:
            listen = f"192.0.2.1:{port}"  # TEST-NET-1: on no host
            text = config.read_text(encoding="utf-8")
            config.write_text(text.replace(f"127.0.0.1:{port}", listen), encoding="utf-8")
        serve = await processes.serve(config, port)
        assert await serve.wait_exit(20) == 1

    output = serve.log_tail().splitlines()
    assert len(output) == 1 and "Traceback" not in output[0]
    assert output[0].startswith(f"error: {config}: server.listen: {listen}: ")
    assert not (tmp_path / "alertbridge.db").exists()  # nothing started, nothing sent
