"""`alertbridge outbox list|retry|drop`, run as users run it: `python -m bridge` in a subprocess.

On the SQLite file the config names (`--config`), and through a running bridge's admin API
(`--url`, `--token`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from blueticks_standin_faults import Fault
from conftest import (
    ADMIN_TOKEN,
    BridgeHarness,
    StartBridge,
    am_headers,
    outbox_state_count,
    state_of,
    wait_until,
    write_config,
)

from bridge.model import Notification
from bridge.store.sqlite import SqliteStore

ROOT = Path(__file__).parent.parent
ALICE, BOB = "+14155550123", "+4915112345678"


@dataclass
class Run:
    code: int
    out: str
    err: str


async def alertbridge(*args: str, env: dict[str, str] | None = None) -> Run:
    """Run the command line without blocking the event loop (a bridge may serve on it)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bridge",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def notification(nid: str, phone: str) -> Notification:
    return Notification(
        id=nid,
        route="alerts",
        recipient="alice" if phone == ALICE else "bob",
        phone=phone,
        text=f"message {nid}",
        created_at=time.time(),
    )


@pytest.fixture
async def outbox_file(tmp_path: Path) -> tuple[Path, SqliteStore]:
    """A config whose SQLite outbox holds dead letters n-dead-1 and n-dead-2, and n-sent."""
    config = write_config(tmp_path, "http://127.0.0.1:9")
    store = SqliteStore(str(tmp_path / "alertbridge.db"))
    await store.open()
    await store.enqueue(
        [notification(n, p) for n, p in (("n-dead-1", ALICE), ("n-dead-2", BOB), ("n-sent", BOB))]
    )
    for nid in ("n-dead-1", "n-dead-2"):
        await store.mark_dead(nid, error="blueticks answered HTTP 400: bad number", now=time.time())
    await store.mark_sent("n-sent", now=time.time(), provider_id="bt-1")
    await store.close()
    return config, store


async def states(store: SqliteStore) -> dict[str, str]:
    await store.open()
    try:
        return {n.id: n.state for n in await store.list_notifications(None)}
    finally:
        await store.close()


async def test_list_shows_dead_letters_with_their_error(
    outbox_file: tuple[Path, SqliteStore],
) -> None:
    config, _ = outbox_file
    run = await alertbridge("outbox", "list", "--config", str(config))
    assert run.code == 0, run.err
    header, *rows = run.out.splitlines()
    assert header.split()[:3] == ["ID", "STATE", "ROUTE"]
    assert sorted(row.split()[0] for row in rows) == ["n-dead-1", "n-dead-2"]
    assert all("HTTP 400: bad number" in row for row in rows)


@pytest.mark.parametrize(
    ("state", "expected"),
    [("dead", ["n-dead-1", "n-dead-2"]), ("sent", ["n-sent"]), ("pending", [])],
    ids=["dead", "sent", "pending"],
)
async def test_list_json_selects_by_state(
    outbox_file: tuple[Path, SqliteStore], state: str, expected: list[str]
) -> None:
    config, _ = outbox_file
    run = await alertbridge("outbox", "list", "--config", str(config), "--state", state, "--json")
    assert run.code == 0, run.err
    listed = json.loads(run.out)
    assert sorted(n["id"] for n in listed) == expected
    assert all(n["state"] == state for n in listed)


@pytest.mark.parametrize(
    ("args", "output", "after"),
    [
        (
            ["retry", "--id", "n-dead-1"],
            "requeued 1 dead letter(s)",
            {"n-dead-1": "pending", "n-dead-2": "dead"},
        ),
        (
            ["retry", "--all"],
            "requeued 2 dead letter(s)",
            {"n-dead-1": "pending", "n-dead-2": "pending"},
        ),
        (
            ["drop", "--id", "n-dead-2", "n-dead-2"],
            "dropped 1 dead letter(s)",
            {"n-dead-1": "dead"},
        ),
        (["drop", "--all"], "dropped 2 dead letter(s)", {}),
    ],
    ids=["retry-one", "retry-all", "drop-one-named-twice", "drop-all"],
)
async def test_retry_and_drop_change_only_dead_letters(
    outbox_file: tuple[Path, SqliteStore], args: list[str], output: str, after: dict[str, str]
) -> None:
    config, store = outbox_file
    run = await alertbridge("outbox", *args, "--config", str(config))
    assert run.code == 0, run.err
    assert run.out.strip() == output
    assert await states(store) == {**after, "n-sent": "sent"}


async def test_an_id_that_is_not_dead_is_reported_and_exits_1(
    outbox_file: tuple[Path, SqliteStore],
) -> None:
    config, store = outbox_file
    run = await alertbridge(
        "outbox",
        "retry",
        "--id",
        "n-dead-1",
        "n-sent",
        "no-such-id",
        "--config",
        str(config),
        "--json",
    )
    assert run.code == 1
    assert json.loads(run.out) == {"requeued": 1, "skipped_delivered": 0, "resent": {}}
    assert "2 of the 3 ids given are not dead letters" in run.err
    assert (await states(store))["n-sent"] == "sent"


async def mark_delivered(store: SqliteStore, notification_id: str, status: str) -> None:
    """What a Blueticks callback records on a dead letter that was sent after all."""
    await store.open()
    try:
        await store.set_delivery_status(notification_id, status=status, at=time.time())
    finally:
        await store.close()


async def test_retry_leaves_dead_letters_blueticks_reported_delivered(
    outbox_file: tuple[Path, SqliteStore],
) -> None:
    config, store = outbox_file
    await mark_delivered(store, "n-dead-1", "read")

    listed = await alertbridge("outbox", "list", "--config", str(config))
    header, *rows = listed.out.splitlines()
    column = header.index("DELIVERY")  # the columns are aligned
    delivery = {row.split()[0]: row[column:].split()[0] for row in rows}
    assert delivery == {"n-dead-1": "read", "n-dead-2": "-"}

    by_id = await alertbridge("outbox", "retry", "--id", "n-dead-1", "--config", str(config))
    assert by_id.code == 1
    assert by_id.out.strip() == "requeued 0 dead letter(s)"
    assert "1 dead letter(s) not requeued: Blueticks reported them delivered" in by_id.err
    assert "not dead letters" not in by_id.err

    run = await alertbridge("outbox", "retry", "--all", "--config", str(config), "--json")
    assert run.code == 0, run.err
    assert json.loads(run.out) == {"requeued": 1, "skipped_delivered": 1, "resent": {}}
    assert "Blueticks reported them delivered" in run.err
    assert await states(store) == {"n-dead-1": "dead", "n-dead-2": "pending", "n-sent": "sent"}


@pytest.mark.parametrize("limit", ["0", "-1", "1001"])
async def test_list_limit_outside_1_to_1000_is_refused(
    outbox_file: tuple[Path, SqliteStore], limit: str
) -> None:
    config, _ = outbox_file
    run = await alertbridge("outbox", "list", "--config", str(config), "--limit", limit)
    assert run.code == 2
    assert f"--limit: must be from 1 to 1000, not {limit}" in run.err
    assert run.out == ""


async def test_retry_needs_ids_or_all(outbox_file: tuple[Path, SqliteStore]) -> None:
    config, store = outbox_file
    run = await alertbridge("outbox", "retry", "--config", str(config))
    assert run.code == 2
    assert "one of the arguments --id --all is required" in run.err
    assert (await states(store))["n-dead-1"] == "dead"


async def test_memory_store_is_refused_with_a_pointer_to_the_admin_api(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", extra="store: {backend: memory}\n")
    run = await alertbridge("outbox", "list", "--config", str(config))
    assert run.code == 1
    assert "store.backend is memory" in run.err and "--url" in run.err
    assert run.out == ""


async def test_missing_outbox_file_is_refused_not_created(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9")
    run = await alertbridge("outbox", "list", "--config", str(config))
    assert run.code == 1 and "store.path: no store at" in run.err
    assert not (tmp_path / "alertbridge.db").exists()


async def bridge_with_dead_letters(start_bridge: StartBridge) -> BridgeHarness:
    h = await start_bridge()
    h.standin.state.faults.push(Fault.error(400), times=2)
    body = ROOT / "tests/fixtures/alertmanager/msteams-prom_post_request-firing-1alert.json"
    reply = await h.post("/webhook/alertmanager", body.read_bytes(), am_headers())
    assert reply.status == 202 and reply.body["notifications"] == 2, reply.body

    async def both_dead() -> bool:
        return await outbox_state_count(h, "dead") == 2

    await wait_until(both_dead, what="two dead letters")
    return h


async def both_delivered(h: BridgeHarness) -> None:
    async def sent() -> bool:
        return await outbox_state_count(h, "sent") == 2

    await wait_until(sent, what="both retried notifications sent")
    assert sorted(m.request["to"] for m in h.standin.state.messages) == [ALICE, BOB]


async def test_retry_through_the_admin_api_delivers_at_once(start_bridge: StartBridge) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    env = {**os.environ, "ALERTBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN}
    listed = await alertbridge("outbox", "list", "--url", h.url, "--json", env=env)
    assert listed.code == 0, listed.err
    assert sorted(n["phone"] for n in json.loads(listed.out)) == [ALICE, BOB]
    run = await alertbridge("outbox", "retry", "--all", "--url", h.url, env=env)
    assert run.code == 0, run.err
    assert run.out.strip() == "requeued 2 dead letter(s)"
    await both_delivered(h)


async def test_retry_on_the_file_of_a_running_bridge_is_sent_by_it(
    start_bridge: StartBridge,
) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    run = await alertbridge("outbox", "retry", "--all", "--config", str(h.config_path))
    assert run.code == 0, run.err
    await both_delivered(h)


async def test_retry_through_the_admin_api_reports_delivered_dead_letters(
    start_bridge: StartBridge,
) -> None:
    h = await bridge_with_dead_letters(start_bridge)
    [delivered] = [n for n in await h.bridge.store.list_notifications("dead") if n.phone == ALICE]
    await h.bridge.store.set_delivery_status(delivered.id, status="received", at=time.time())
    env = {**os.environ, "ALERTBRIDGE_ADMIN_TOKEN": ADMIN_TOKEN}
    run = await alertbridge("outbox", "retry", "--all", "--url", h.url, env=env)
    assert run.code == 0, run.err
    assert run.out.strip() == "requeued 1 dead letter(s)"
    assert "1 dead letter(s) not requeued: Blueticks reported them delivered" in run.err

    async def bob_sent() -> bool:
        return await outbox_state_count(h, "sent") == 1

    await wait_until(bob_sent, what="bob's notification sent")
    assert [m.request["to"] for m in h.standin.state.messages] == [BOB]
    assert await state_of(h, delivered.id) == "dead"


@pytest.mark.parametrize("token", ["wrong-token", None], ids=["wrong-token", "no-token"])
async def test_admin_api_without_the_right_token_fails_cleanly(
    start_bridge: StartBridge, token: str | None
) -> None:
    h = await start_bridge()
    env = {k: v for k, v in os.environ.items() if k != "ALERTBRIDGE_ADMIN_TOKEN"}
    args = ["outbox", "list", "--url", h.url] + (["--token", token] if token else [])
    run = await alertbridge(*args, env=env)
    assert run.code == 1
    assert ("401" in run.err) if token else ("--url needs --token" in run.err)
    assert "Traceback" not in run.err


async def test_unreachable_bridge_is_one_line_error() -> None:
    run = await alertbridge("outbox", "list", "--url", "http://127.0.0.1:9", "--token", "t")
    assert run.code == 1
    assert run.err.startswith("error: cannot reach http://127.0.0.1:9/api/v1/outbox")
    assert "Traceback" not in run.err
