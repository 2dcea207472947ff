"""`alertbridge outbox --url`: an admin token read from a file or `echo` ends in a line break,
which is not part of it; one inside it is refused in one line, not with aiohttp's traceback."""

from __future__ import annotations

import os

import pytest
from conftest import ADMIN_TOKEN, StartBridge
from test_cli_outbox import alertbridge


@pytest.mark.parametrize(
    ("given", "ending"),
    [("--token", "\n"), ("--token", "\r\n"), ("env", "\n"), ("env", " \r")],
    ids=["option-lf", "option-crlf", "env-lf", "env-space-cr"],
)
async def test_a_token_ending_in_a_line_break_is_used_without_it(
    start_bridge: StartBridge, given: str, ending: str
) -> None:
    h = await start_bridge()
    env = {k: v for k, v in os.environ.items() if k != "ALERTBRIDGE_ADMIN_TOKEN"}
    args = ["outbox", "list", "--url", h.url]
    if given == "env":
        env["ALERTBRIDGE_ADMIN_TOKEN"] = ADMIN_TOKEN + ending
    else:
        args += ["--token", ADMIN_TOKEN + ending]
    run = await alertbridge(*args, env=env)
    assert run.code == 0, run.err
    assert run.out.strip() == "no dead letters or failed deliveries"


async def test_a_token_with_a_line_break_inside_is_refused_in_one_line() -> None:
    run = await alertbridge("outbox", "list", "--url", "http://127.0.0.1:9", "--token", "abc\ndef")
    assert run.code == 1
    assert run.err == "error: the admin token holds a line break or control character\n"
