"""Ids: unique within a process, across processes and restarts, and in a forked child."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from bridge.ids import new_id

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_ids_have_the_uuid4_hex_shape_and_never_repeat() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(HEX32.fullmatch(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_each_process_draws_its_own_prefix() -> None:
    code = "from bridge.ids import new_id; print(new_id())"
    env = os.environ | {"PYTHONPATH": os.getcwd()}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
        ).stdout.strip()
        for _ in range(3)
    ]
    # Same counter position in every run, so only a different prefix keeps them apart.
    assert len(set(runs)) == 3
    assert {r[16:] for r in runs} == {f"{0:016x}"}


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send one id and leave without running pytest's teardown
        os.close(read)
        os.write(write, new_id().encode())
        os._exit(0)
    os.close(write)
    child_id = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent_next = new_id()
    assert HEX32.fullmatch(child_id)
    assert child_id[:16] != parent_next[:16]
