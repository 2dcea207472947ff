"""The four measurements, each against a baseline measured in the same run."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from latency import Latencies, steady_load
from loadgen import post_all, run_wrk, standin_sends, wait_for_sends
from payloads import batch, write_config
from processes import CODE, Service, free_port, start_baseline, start_bridge

WEBHOOK = "/webhook/alertmanager"


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    value: str
    baseline: str
    ratio: str = ""
    goal: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Bench:
    """What every scenario needs: a scratch directory, the stand-in, the run's size."""

    work: Path
    standin: Service
    quick: bool
    counter: int = 0
    last_directory: Path | None = None

    def directory(self, name: str) -> Path:
        self.counter += 1
        path = self.work / f"{self.counter:02d}-{name}"
        path.mkdir(parents=True)
        self.last_directory = path
        return path

    def bridge(
        self,
        name: str,
        *,
        backend: str = "sqlite",
        dedupe_window: str = "1h",
        flap_window: str = "10m",
        generous_pacing: bool = True,
        standin_url: str | None = None,
    ) -> Service:
        """`alertbridge serve` in a new directory (config, db, log), sending to the stand-in."""
        directory = self.directory(name)
        port = free_port()
        path = write_config(
            directory,
            port=port,
            standin_url=standin_url or self.standin.url,
            backend=backend,
            dedupe_window=dedupe_window,
            flap_window=flap_window,
            generous_pacing=generous_pacing,
        )
        return start_bridge(path, port, directory / "serve.log")

    def baseline(self, mode: str, forward_url: str = "") -> Service:
        directory = self.directory(f"baseline-{mode}")
        return start_baseline(mode, free_port(), directory / "server.log", forward_url)


def ingest_ceiling(bench: Bench) -> list[Row]:
    """wrk storm of unique one-alert webhooks: bridge (SQLite, memory) vs the bare parser."""
    seconds = 5 if bench.quick else 15
    warmup = 2 if bench.quick else 3

    def storm(service: Service, run: str) -> tuple[float, int, int]:
        try:
            run_wrk(service.url + WEBHOOK, warmup, run_id=f"{run}w")
            result = run_wrk(service.url + WEBHOOK, seconds, run_id=run)
            return result.requests_per_second, result.errors, result.requests
        finally:
            service.stop()

    base_rps, base_errors, _ = storm(bench.baseline("parse"), "b")
    rows = []
    for backend, goal in (("sqlite", "≥ 0.5"), ("memory", "")):
        before = standin_sends(bench.standin.url)
        rps, errors, requests = storm(
            bench.bridge(f"ingest-{backend}", backend=backend, generous_pacing=False), backend[:2]
        )
        sent = standin_sends(bench.standin.url) - before
        row = Row(
            f"ingest req/s, store={backend}",
            f"{rps:,.0f}",
            f"{base_rps:,.0f}",
            f"{rps / base_rps:.2f}",
            goal,
        )
        if errors or base_errors:
            row.notes.append(f"non-2xx/socket errors: bridge {errors}, baseline {base_errors}")
        row.notes.append(
            f"{requests:,} accepted in {seconds}s; {sent:,} sent meanwhile (default pacing)"
        )
        rows.append(row)
    return rows


def accept_to_send(bench: Bench) -> list[Row]:
    """p50/p99 from request to the stand-in receiving the send, at 200 req/s, no grouping.

    Baseline: a bare handler that forwards each webhook to the stand-in before answering, the
    shortest path one extra HTTP hop allows (no store, no queue, no template).
    """
    rate = 200.0
    seconds = 5.0 if bench.quick else 20.0

    sys.path.insert(0, str(CODE["root"] / "tests"))
    from blueticks_standin import run_standin

    async def measure() -> tuple[Latencies, Latencies]:
        async with run_standin() as standin:
            results = []
            for name, prefix in (("bridge", "A"), ("baseline", "F")):
                if name == "bridge":
                    service = bench.bridge("latency", standin_url=standin.url)
                else:
                    service = bench.baseline("forward", forward_url=standin.url)
                try:
                    url = service.url + WEBHOOK
                    await steady_load(url, standin, run=f"{prefix}w", rate=rate, seconds=1)
                    results.append(
                        await steady_load(url, standin, run=prefix, rate=rate, seconds=seconds)
                    )
                finally:
                    service.stop()
            return results[0], results[1]

    bridge, base = asyncio.run(measure())
    notes = [f"{bridge.samples:,} probes over {seconds:g}s; default template, SQLite store"]
    if bridge.missing or bridge.refused or base.missing or base.refused:
        notes.append(
            f"missing/refused: bridge {bridge.missing}/{bridge.refused}, "
            f"baseline {base.missing}/{base.refused}"
        )
    return [
        Row(
            "accept-to-send p50 ms @200 req/s",
            f"{bridge.p50_ms:.1f}",
            f"{base.p50_ms:.1f}",
            f"{bridge.p50_ms / base.p50_ms:.1f}×",
            notes=notes,
        ),
        Row(
            "accept-to-send p99 ms @200 req/s",
            f"{bridge.p99_ms:.1f}",
            f"{base.p99_ms:.1f}",
            f"{bridge.p99_ms / base.p99_ms:.1f}×",
            "< 20",
        ),
    ]


def cpu_per_alert(bench: Bench) -> list[Row]:
    """CPU µs per alert for 100-alert webhooks, sends included; baseline: the bare parser."""
    webhooks = 50 if bench.quick else 200
    alerts = 100

    def measure(service: Service, run: str, wait_sends: bool) -> float:
        try:
            url = service.url + WEBHOOK
            warm_before = standin_sends(bench.standin.url)
            warmup = [batch(f"{run}w", i * alerts, alerts) for i in range(5)]
            asyncio.run(post_all(url, warmup, len(warmup), concurrency=2))
            if wait_sends:
                wait_for_sends(bench.standin.url, warm_before + len(warmup), 10)
            bodies = [batch(run, i * alerts, alerts) for i in range(webhooks)]
            sent_before = standin_sends(bench.standin.url)
            cpu_before = service.cpu_seconds()
            failures = asyncio.run(post_all(url, bodies, webhooks, concurrency=4))
            if wait_sends:
                wait_for_sends(bench.standin.url, sent_before + webhooks, 30)
            cpu = service.cpu_seconds() - cpu_before
            if failures:
                raise RuntimeError(f"{service.name}: {failures} webhooks not accepted")
            return cpu / (webhooks * alerts) * 1e6
        finally:
            service.stop()

    base = measure(bench.baseline("parse"), "cb", wait_sends=False)
    bridge = measure(bench.bridge("cpu"), "cs", wait_sends=True)
    return [
        Row(
            "CPU µs per alert (100-alert webhook)",
            f"{bridge:,.0f}",
            f"{base:,.1f}",
            f"{bridge / base:.0f}×",
            notes=[f"{webhooks} webhooks, persisted, rendered and sent (stand-in)"],
        )
    ]


def memory_after(bench: Bench) -> list[Row]:
    """RSS after 100,000 distinct alerts have been accepted and sent; baseline: RSS at start."""
    total = 20_000 if bench.quick else 100_000
    per_webhook = 10
    rows = []
    for backend in ("sqlite", "memory"):
        service = bench.bridge(f"memory-{backend}", backend=backend)
        try:
            start_rss = service.rss_mb()
            sent_before = standin_sends(bench.standin.url)
            webhooks = total // per_webhook
            failures = asyncio.run(
                post_all(
                    service.url + WEBHOOK,
                    lambda i, b=backend: batch(f"m{b}", i * per_webhook, per_webhook),
                    webhooks,
                )
            )
            # Not waiting for the whole backlog: after a burst the worker drains ~8/s (see notes).
            sent = wait_for_sends(bench.standin.url, sent_before + webhooks, 10) - sent_before
            rss = service.rss_mb()
        finally:
            service.stop()
        row = Row(
            f"RSS MiB after {total:,} alerts, store={backend}",
            f"{rss:.0f}",
            f"{start_rss:.0f}",
            f"+{rss - start_rss:.0f}",
            "< 150" if backend == "sqlite" else "",
            [
                f"{webhooks:,} webhooks of {per_webhook}; {sent:,} sent, the rest still queued "
                f"10s later; {failures} refused"
            ],
        )
        rows.append(row)
    return rows


# `alertbridge serve` drops expired dedupe state every minute (Bridge.purge_interval = 60 s);
# alertbridge_dedupe_entries counts what it holds, expired entries included until then.
PURGE_INTERVAL = 60.0
DEDUPE_GAUGE = "alertbridge_dedupe_entries"


def dedupe_expiry(bench: Bench) -> list[Row]:
    """With a short dedupe window, dedupe state must go once the purge has run: the bridge's
    dedupe gauge falls below one round's alerts (for SQLite the rows in the file witness it too)."""
    rounds = 3 if bench.quick else 5
    per_round = 10_000 if bench.quick else 20_000
    per_webhook = 100  # few notifications, so an outbox backlog hardly shows in RSS
    window = 2.0
    rows = []
    for backend in ("sqlite", "memory"):
        service = bench.bridge(
            f"expiry-{backend}",
            backend=backend,
            dedupe_window=f"{window:g}s",
            flap_window=f"{window:g}s",
        )
        assert bench.last_directory is not None
        db = bench.last_directory / "bench.db" if backend == "sqlite" else None
        series: list[tuple[int, float]] = []
        url = service.url + WEBHOOK
        try:
            for r in range(rounds):
                _post_round(url, f"x{backend}{r}", per_round, per_webhook)
                time.sleep(window + 0.5)  # the window passes: everything so far has expired
                series.append(_expiry_sample(service, db))
            before = _dedupe_gauge(service.url)
            after = _dedupe_gauge_after_next_purge(service.url, before, below=per_round)
            if db is not None:  # the gauge (the store's mirror) drops as the purge is queued;
                _wait_for_rows_below(db, per_round, timeout=10.0)  # the rows at its commit
            series.append(_expiry_sample(service, db))
        finally:
            service.stop()
        growth = [f"{rss:.0f}" for _, rss in series]
        detail = f"RSS by round, the last after the purge: {' → '.join(growth)} MiB"
        if db is not None:
            detail += f"; dedupe rows: {' → '.join(f'{n:,}' for n, _ in series)}"
        detail += f"; {DEDUPE_GAUGE} before → after the purge: {before:,} → {after:,}"
        rows.append(
            Row(
                f"dedupe state expires (window {window:g}s), store={backend}",
                "yes" if after < per_round else "NO",  # less than one round left: purged
                f"{rounds}×{per_round:,} alerts",
                goal="yes",
                notes=[detail],
            )
        )
    return rows


def _dedupe_gauge_after_next_purge(bridge_url: str, before: int, *, below: int) -> int:
    """The dedupe gauge once a purge has run after now. With no webhooks coming, only a purge
    changes it, so a value other than `before` is a purge's; a value that never changes
    (0 → 0) is read once the next purge is surely past (at most PURGE_INTERVAL away)."""
    deadline = time.monotonic() + PURGE_INTERVAL + 5.0
    changed = False
    while True:
        value = _dedupe_gauge(bridge_url)
        changed = changed or value != before
        if (changed and value < below) or time.monotonic() > deadline:
            return value
        time.sleep(1.0)


def _wait_for_rows_below(db: Path, rows: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _dedupe_rows(db) >= rows and time.monotonic() < deadline:
        time.sleep(0.2)


def _dedupe_gauge(bridge_url: str) -> int:
    """alertbridge_dedupe_entries as the bridge's /metrics exports it."""
    with urllib.request.urlopen(bridge_url + "/metrics", timeout=10) as reply:
        text = reply.read().decode()
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == DEDUPE_GAUGE:
            return int(float(value))
    raise RuntimeError(f"{bridge_url}/metrics has no {DEDUPE_GAUGE}")


def _post_round(url: str, tag: str, alerts: int, per_webhook: int) -> None:
    bodies = [batch(tag, i * per_webhook, per_webhook) for i in range(alerts // per_webhook)]
    asyncio.run(post_all(url, bodies, len(bodies)))


def _expiry_sample(service: Service, db: Path | None) -> tuple[int, float]:
    """(dedupe rows in the SQLite file, or -1 without one; RSS in MiB)."""
    return (_dedupe_rows(db) if db is not None else -1, service.rss_mb())


def _dedupe_rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT count(*) FROM dedupe").fetchone()[0])
