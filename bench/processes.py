"""Starting, pinning, watching and stopping the processes a benchmark measures."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
# The tree whose bridge/ and tests/ run: this checkout, or a snapshot (`run.py --tree`), since
# the working tree may be mid-edit while a benchmark runs.
CODE = {"root": ROOT}
PYTHON = sys.executable
SERVER_CORE = 0  # the process under test
LOAD_CORE = 1  # wrk, the stand-in, the Python load generator
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

TOOLS = {
    "wrk": "apt-get install -y wrk",
    "taskset": "apt-get install -y util-linux",
}
OPTIONAL_TOOLS = {"py-spy": "pip install py-spy   (only for --profile)"}


def missing_tools(names: Sequence[str]) -> list[str]:
    """The tools not on PATH, each with the command that installs it."""
    hints = TOOLS | OPTIONAL_TOOLS
    return [
        f"{name}: not found; install with `{hints[name]}`"
        for name in names
        if not shutil.which(name)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", str(core), *argv]


@dataclass
class Service:
    """A server subprocess on one port."""

    name: str
    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident set size now, in MiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"{self.name}: no VmRSS")

    def cpu_seconds(self) -> float:
        """CPU time so far: nanosecond schedstat of the live threads, else clock-tick stat."""
        try:
            tasks = Path(f"/proc/{self.pid}/task").iterdir()
            return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks) / 1e9
        except (OSError, ValueError, IndexError):
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(
    name: str, argv: Sequence[str], port: int, *, core: int, log: Path, ready_path: str = "/healthz"
) -> Service:
    """Start `argv` pinned to `core` and wait (up to 20 s) until `ready_path` answers 200."""
    root = CODE["root"]
    env = os.environ | {"PYTHONPATH": str(root)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            pinned(core, argv), stdout=out, stderr=subprocess.STDOUT, cwd=root, env=env
        )
    service = Service(name, process, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(service.url + ready_path, timeout=1) as reply:
                if reply.status == 200:
                    return service
        except OSError:
            pass
        if time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"{name} did not become ready in 20 s; see {log}")
        time.sleep(0.05)


def start_bridge(config: Path, port: int, log: Path) -> Service:
    """The real `alertbridge serve` (log level info, JSON lines to a file)."""
    argv = [PYTHON, "-m", "bridge", "serve", "--config", str(config)]
    return start_service("alertbridge", argv, port, core=SERVER_CORE, log=log)


def start_baseline(mode: str, port: int, log: Path, forward_url: str = "") -> Service:
    argv = [PYTHON, str(BENCH / "baseline_server.py"), "--port", str(port), "--mode", mode]
    if forward_url:
        argv += ["--forward-url", forward_url]
    return start_service(f"baseline-{mode}", argv, port, core=SERVER_CORE, log=log)


def start_standin(port: int, log: Path) -> Service:
    """The Blueticks stand-in from tests/, on the load core (it plays the outside world)."""
    argv = [PYTHON, str(CODE["root"] / "tests" / "blueticks_standin.py"), "--port", str(port)]
    return start_service(
        "standin", argv, port, core=LOAD_CORE, log=log, ready_path="/_standin/calls"
    )
