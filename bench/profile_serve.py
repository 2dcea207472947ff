"""Profile `alertbridge serve` under a wrk storm with py-spy; print the hottest functions.

    python bench/profile_serve.py [--seconds 20] [--tree DIR] [--store sqlite|memory]

Self time: samples where the function itself was running. Total: samples where it was anywhere
on the stack. Needs py-spy (`pip install py-spy`) and wrk (`apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadgen import pin_this_process, run_wrk
from payloads import write_config
from processes import CODE, free_port, missing_tools, start_bridge, start_standin

# Leaves that mean "waiting": an executor thread blocked on its queue, the loop in epoll.
IDLE_LEAVES = (
    "_worker (concurrent/futures/thread.py",
    ".select (selectors.py",
    "Condition.wait (threading.py",  # the SQLite store thread, waiting for work
)


def hotspots(raw: str, top: int) -> str:
    """Self and total percentages of busy samples per function, from py-spy's raw output."""
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        if any(marker in frames[-1] for marker in IDLE_LEAVES):
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            anywhere[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} busy samples (idle waits left out)", "", "self%  total%  function"]
    for frame, count in own.most_common(top):
        lines.append(f"{100 * count / total:5.1f}  {100 * anywhere[frame] / total:6.1f}  {frame}")
    lines += ["", "by total (inclusive) time, project code only:", "total%  function"]
    ours = [(f, c) for f, c in anywhere.most_common() if "bridge/" in f]
    for frame, count in ours[: top + 5]:
        lines.append(f"{100 * count / total:6.1f}  {frame}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py)` -> `func (pkg/mod.py)`."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "lib/python3.11/", str(CODE["root"]) + "/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--tree", type=Path)
    args = parser.parse_args()
    if args.tree:
        CODE["root"] = args.tree.resolve()
    problems = missing_tools(["taskset", "wrk", "py-spy"])
    if problems:
        print("cannot profile:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    pin_this_process()
    work = Path(tempfile.mkdtemp(prefix="alertbridge-profile-"))
    standin = start_standin(free_port(), work / "standin.log")
    port = free_port()
    config = write_config(
        work, port=port, standin_url=standin.url, backend=args.store, generous_pacing=False
    )
    bridge = start_bridge(config, port, work / "serve.log")
    raw = work / "profile.txt"
    try:
        run_wrk(bridge.url + "/webhook/alertmanager", 2, run_id="pw")
        load = threading.Thread(
            target=run_wrk,
            args=(bridge.url + "/webhook/alertmanager", args.seconds + 2),
            kwargs={"run_id": "p"},
        )
        load.start()
        subprocess.run(
            [
                "py-spy",
                "record",
                "--pid",
                str(bridge.pid),
                "--duration",
                str(args.seconds),
                "--rate",
                "250",
                "--function",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            check=True,
            capture_output=True,
        )
        load.join()
    finally:
        bridge.stop()
        standin.stop()
    print(f"py-spy samples of alertbridge serve (store={args.store}) under wrk; raw: {raw}\n")
    print(hotspots(raw.read_text(), args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
