"""alertbridge benchmarks: one command, a table of figures with the same run's baselines beside.

    python bench/run.py [--quick] [--only ingest,latency,cpu,memory,expiry] [--keep]

The process under test runs pinned to core 0 (taskset -c 0); wrk, the Blueticks stand-in and this
script's own load generator run on core 1. Installs nothing: it says what is missing.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from loadgen import pin_this_process
from processes import CODE, free_port, missing_tools, start_standin
from scenarios import (
    Bench,
    Row,
    accept_to_send,
    cpu_per_alert,
    dedupe_expiry,
    ingest_ceiling,
    memory_after,
)

SCENARIOS: dict[str, Callable[[Bench], list[Row]]] = {
    "ingest": ingest_ceiling,
    "latency": accept_to_send,
    "cpu": cpu_per_alert,
    "memory": memory_after,
    "expiry": dedupe_expiry,
}
HEADERS = ("measure", "alertbridge", "baseline", "ratio", "goal")


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return (
        f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def table(rows: list[Row]) -> str:
    cells = [HEADERS] + [(r.measure, r.value, r.baseline, r.ratio, r.goal) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]

    def line(row: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    out = [line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in cells[1:]]
    notes = [f"- {r.measure}: {note}" for r in rows for note in r.notes]
    return "\n".join(out + (["", *notes] if notes else []))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="shorter runs (about 3 minutes: the expiry check waits for a purge)",
    )
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--keep", action="store_true", help="keep configs, databases and logs")
    parser.add_argument(
        "--tree",
        type=Path,
        help="run the bridge from this tree (e.g. `git archive HEAD | tar -x -C DIR`), not ./",
    )
    args = parser.parse_args()
    if args.tree:
        CODE["root"] = args.tree.resolve()
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in SCENARIOS]
    if unknown:
        parser.error(
            f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    problems = missing_tools(["taskset"] + (["wrk"] if "ingest" in chosen else []))
    if (os.cpu_count() or 1) < 2:
        problems.append("needs 2 cores: the server on core 0, the load on core 1")
    if problems:
        print("cannot run the benchmarks:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2

    pin_this_process()
    work = Path(tempfile.mkdtemp(prefix="alertbridge-bench-"))
    print(f"machine: {machine()}\ncode: {CODE['root']}\nwork directory: {work}\n", flush=True)
    port = free_port()
    standin = start_standin(port, work / "standin.log")
    rows: list[Row] = []
    try:
        bench = Bench(work, standin, args.quick)
        for name in chosen:
            started = time.monotonic()
            print(f"running {name} …", flush=True)
            rows += SCENARIOS[name](bench)
            print(f"  done in {time.monotonic() - started:.0f}s", flush=True)
    finally:
        standin.stop()
        print()
        print(table(rows))
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
