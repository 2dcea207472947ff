"""Alert storm benchmark: many distinct alerts, few groups, one grouped route, two recipients.

Runs `alertbridge serve` as a subprocess (SQLite store, dry-run sender), posts Alertmanager
webhooks to it over HTTP on localhost, waits for every group to flush, stops it, and reads the
outbox it left. Reports messages per recipient, the bridge's peak RSS (VmHWM), p50/p99 time to
accept, whether every alert appears in some message, and the most messages one recipient got
for one group within one group_interval (the goal: 1).

    .venv/bin/python bench/storm.py                       # 10,000 alerts in 60 s, 200 groups
    .venv/bin/python bench/storm.py --alerts 2000 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.store.sqlite import SqliteStore  # noqa: E402

TOKEN = "storm-token"
CONFIG = """\
server: {{listen: "127.0.0.1:{port}", max_body_bytes: 1048576}}
blueticks: {{dry_run: true}}
store: {{backend: sqlite, path: {db}}}
sources:
  alertmanager: {{auth: {{bearer_token: {token}}}}}
pacing:
  global_rate: {{per_minute: 600000, burst: 10000}}
  per_recipient: {{per_minute: 600000, burst: 10000}}
  digest_after: 1000
recipients:
  alice: "+14155550123"
  bob: "+4915112345678"
routes:
  - name: storm
    source: alertmanager
    group_by: [service]
    group_wait: {group_wait}s
    group_interval: {group_interval}s
    repeat_interval: 4h
    to: [alice, bob]
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def payload(group: int, first: int, count: int) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency",
                "service": f"svc-{group:03d}",
                "instance": f"host-{i:05d}",
                "severity": ("critical", "warning", "info")[i % 3],
            },
            "annotations": {"summary": f"p99 latency above 2s on host-{i:05d}"},
            "startsAt": "2026-11-25T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": f"fp{i:06d}",
        }
        for i in range(first, first + count)
    ]
    return json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "whatsapp",
            "groupKey": f'{{}}:{{service="svc-{group:03d}"}}',
            "groupLabels": {"service": f"svc-{group:03d}"},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }
    ).encode()


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"the bridge exited with {proc.returncode}")
            try:
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise SystemExit("the bridge did not become healthy")


async def storm(
    url: str, alerts: int, groups: int, duration: float, batch: int, concurrency: int
) -> tuple[list[float], int, float]:
    """Post `alerts` alerts in batches, spread evenly over `duration`; returns accept times."""
    posts = [
        (k % groups, k * batch, min(batch, alerts - k * batch)) for k in range(-(-alerts // batch))
    ]
    gap = duration / len(posts)
    latencies: list[float] = []
    failures = 0
    limit = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    start = time.monotonic()

    async def one(index: int, http: aiohttp.ClientSession) -> None:
        nonlocal failures
        group, first, count = posts[index]
        body = payload(group, first, count)
        await asyncio.sleep(max(0.0, start + index * gap - time.monotonic()))
        async with limit:
            sent = time.monotonic()
            async with http.post(url + "/webhook/alertmanager", data=body, headers=headers) as r:
                await r.read()
                latencies.append(time.monotonic() - sent)
                failures += r.status != 202

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(one(i, http) for i in range(len(posts))))
    return latencies, failures, time.monotonic() - start


async def read_outbox(db: Path) -> list[tuple[str, float, list[str]]]:
    store = SqliteStore(str(db))
    await store.open()
    try:
        rows = await store.list_notifications(None, limit=1_000_000)
    finally:
        await store.close()
    return [(n.recipient, n.created_at, [fp for fp, _ in n.event_keys]) for n in rows]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to post over")
    parser.add_argument("--batch", type=int, default=5, help="alerts per webhook")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--group-wait", type=float, default=5.0)
    parser.add_argument("--group-interval", type=float, default=30.0)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="alertbridge-storm-"))
    db, port = workdir / "storm.db", free_port()
    config = workdir / "config.yaml"
    config.write_text(
        CONFIG.format(
            port=port,
            db=db,
            token=TOKEN,
            group_wait=args.group_wait,
            group_interval=args.group_interval,
        )
    )
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bridge", "serve", "--config", str(config)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning", "--log-format", "json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(wait_healthy(url, proc))
        latencies, failures, took = asyncio.run(
            storm(url, args.alerts, args.groups, args.duration, args.batch, args.concurrency)
        )
        # Every group's last change flushes at most group_interval after it (or group_wait).
        time.sleep(args.group_interval + args.group_wait + 2.0)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    rows = asyncio.run(read_outbox(db))

    group_of = {f"fp{i:06d}": (i // args.batch) % args.groups for i in range(args.alerts)}
    per_recipient: dict[str, int] = defaultdict(int)
    seen: dict[str, set[str]] = defaultdict(set)
    times: dict[tuple[str, int], list[float]] = defaultdict(list)
    for recipient, created, fps in rows:
        per_recipient[recipient] += 1
        seen[recipient].update(fps)
        times[(recipient, group_of[fps[0]])].append(created)
    worst = 0
    for stamps in times.values():
        stamps.sort()
        for i, at in enumerate(stamps):
            window = sum(1 for t in stamps[i:] if t - at < args.group_interval - 0.01)
            worst = max(worst, window)
    complete = {r: len(seen[r]) == args.alerts for r in ("alice", "bob")}

    table = [
        ("alerts posted", f"{args.alerts} in {took:.1f} s ({args.alerts / took:.0f}/s)"),
        ("webhooks (202 / failed)", f"{len(latencies) - failures} / {failures}"),
        ("groups", str(args.groups)),
        ("group_wait / group_interval", f"{args.group_wait:g} s / {args.group_interval:g} s"),
        ("messages to alice", str(per_recipient["alice"])),
        ("messages to bob", str(per_recipient["bob"])),
        ("max messages per group per interval", f"{worst} (goal: 1)"),
        ("every alert in some message", ", ".join(f"{r}: {ok}" for r, ok in complete.items())),
        (
            "accept time p50 / p99",
            f"{percentile(latencies, 0.5) * 1000:.1f} ms / "
            f"{percentile(latencies, 0.99) * 1000:.1f} ms",
        ),
        ("bridge peak RSS (VmHWM)", f"{rss:.1f} MB (goal: < 150 MB)"),
    ]
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")
    ok = failures == 0 and worst <= 1 and all(complete.values()) and rss < 150
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
