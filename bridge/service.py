"""The running bridge: the current runtime, the store, the sender and the outbox worker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
import structlog

from bridge.config.loader import load_config
from bridge.config.schema import BridgeConfig
from bridge.delivery.callback_intake import CallbackIntake
from bridge.delivery.sender import NO_API_KEY, ApiKeyStatus, Sender, build_sender
from bridge.delivery.session import SessionMonitor
from bridge.delivery.worker import OutboxWorker
from bridge.errors import BridgeError, ConfigErrors, StoreUnavailable
from bridge.logs import redactor
from bridge.metrics import Metrics
from bridge.model import utcnow
from bridge.pipeline.flush import GroupFlusher
from bridge.pipeline.ingest import IngestResult, Pipeline
from bridge.pipeline.silence_cache import SilenceCache
from bridge.runtime import Runtime, build_runtime
from bridge.store import build_store
from bridge.store.base import Store

log = structlog.get_logger("alertbridge")


# Settings of the sections below that are read on every request, so a reload applies them at
# once; the rest are read when the bridge starts (the store, the sender, the worker, the
# listening socket) and wait for a restart.
RESTART_SECTIONS = ("server", "store", "blueticks", "pacing")
LIVE_SETTINGS = frozenset(
    {
        "server.admin_token",
        "server.max_body_bytes",
        "store.retention",  # read by every purge
        "blueticks.callback_token",
        "blueticks.webhook_secret",
        "blueticks.webhook_tolerance",
    }
)


def changed_settings(old: BridgeConfig, new: BridgeConfig) -> list[str]:
    """`section.field` of every setting in RESTART_SECTIONS that differs between two configs."""
    changed = []
    for section in RESTART_SECTIONS:
        before, after = getattr(old, section), getattr(new, section)
        for name in type(before).model_fields:
            if getattr(before, name) != getattr(after, name):
                changed.append(f"{section}.{name}")
    return changed


@dataclass(frozen=True, slots=True)
class Readiness:
    ready: bool
    checks: dict[str, str]


class Bridge:
    """One alertbridge instance: what `serve`, the tests and the demo all run."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        store: Store | None = None,
        sender: Sender | None = None,
        metrics: Metrics | None = None,
        shutdown_grace: float = 10.0,
        purge_interval: float = 60.0,
    ) -> None:
        self.runtime = runtime
        # Seconds in-flight sends get on shutdown (`alertbridge serve --grace`).
        self.shutdown_grace = shutdown_grace
        # How often expired dedupe entries, one-shot keys and records leave the store.
        self.purge_interval = purge_interval
        self.metrics = metrics or Metrics()
        self.store = store or build_store(runtime.config.store)
        self._sender = sender
        self.sender: Sender | None = sender
        # Loaded at start; the silences API writes through it (the only writer).
        self.silences = SilenceCache(self.store)
        self.pipeline = Pipeline(self.store, self.metrics, silences=self.silences)
        self.flusher = GroupFlusher(self.pipeline, lambda: self.runtime, self._wake_worker)
        self.pipeline.group_scheduled = self.flusher.schedule
        self.worker: OutboxWorker | None = None
        self.http: aiohttp.ClientSession | None = None
        self._purger: asyncio.Task[None] | None = None
        # Whether Blueticks accepts the API key: the worker's sends and the session pings tell.
        self.api_key = ApiKeyStatus(self.metrics)
        self.session = SessionMonitor(
            self.metrics, runtime.config.blueticks.session_check_interval, self.api_key
        )
        self.callbacks = CallbackIntake(self.store, self.metrics, self.session)
        redactor.set_secrets(runtime.loaded.secrets)

    async def start(self) -> None:
        await self.store.open()
        # Read at every scrape: an in-memory count in both stores, so always current.
        self.metrics.dedupe_entries.set_function(self.store.dedupe_entries)
        await self.silences.load(utcnow())
        if self.sender is None:
            timeout = aiohttp.ClientTimeout(total=self.runtime.config.blueticks.timeout)
            # trust_env: HTTPS_PROXY / NO_PROXY, for clusters whose egress goes through a proxy.
            self.http = aiohttp.ClientSession(timeout=timeout, trust_env=True)
            self.sender = build_sender(
                self.http,
                self.runtime.config.blueticks,
                public_url=self.runtime.config.server.public_url,
                callback_token=lambda: self.runtime.config.blueticks.callback_token,
            )
        blueticks = self.runtime.config.blueticks
        if self.sender.name != "dry-run" and not (
            blueticks.api_key and blueticks.api_key.get_secret_value()
        ):
            self.api_key.refused(NO_API_KEY)
        self.worker = OutboxWorker(
            self.store,
            self.sender,
            self.metrics,
            self.runtime.config.blueticks,
            self.runtime.config.pacing,
            key_status=self.api_key,
            max_length=lambda: self.runtime.config.templates.max_length,
            session=self.session,
        )
        await self.worker.start()
        self._purger = asyncio.create_task(self._purge_expired(), name="purge-expired")
        await self.flusher.start()
        await self.session.start(self.sender)
        for name, source in self.runtime.sources.items():
            if not source.auth_configured:
                log.warning(
                    "source.unauthenticated",
                    source=name,
                    message=f"no auth configured for {name}: anyone who can reach "
                    f"/webhook/{name} can send notifications",
                )
        log.info(
            "bridge.started",
            config=self.runtime.loaded.file,
            routes=len(self.runtime.routes),
            store=self.runtime.config.store.backend,
            sender=self.sender.name,
        )

    async def stop(self, grace: float | None = None) -> None:
        """Stop sending: in-flight sends get `grace` seconds (default: shutdown_grace)."""
        await self.session.stop()
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        await self.flusher.stop()
        if self.worker is not None:
            await self.worker.stop(self.shutdown_grace if grace is None else grace)
        if self.http is not None:
            await self.http.close()
        await self.store.close()
        log.info("bridge.stopped")

    async def _purge_expired(self) -> None:
        """Drop expired dedupe entries, keys and records, and notifications finished longer ago
        than store.retention, now and then, so state stays bounded."""
        while True:
            await asyncio.sleep(self.purge_interval)
            try:
                now = time.time()
                retention = self.runtime.config.store.retention
                purged = await self.store.purge_expired(now, finished_before=now - retention)
            except StoreUnavailable as exc:
                log.error("store.purge_failed", error=str(exc))
                continue
            if purged:
                log.debug("store.purged", count=purged)

    def _wake_worker(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    async def receive(
        self, source_name: str, headers: Mapping[str, str], body: bytes, content_type: str
    ) -> IngestResult:
        """Authenticate, parse and ingest one webhook; raises the errors the web layer maps."""
        runtime = self.runtime
        source = runtime.sources[source_name]
        source.authenticate(headers, body, time.time())
        source.check_content_type(content_type)
        webhook = source.parse(headers, body, utcnow())
        if webhook.kind:
            self.metrics.count_github_event(webhook.kind)
        result = await self.pipeline.ingest(
            webhook, runtime.routes, runtime.renderer, runtime.time_intervals
        )
        if result.notifications and self.worker is not None:
            self.worker.wake({n.phone for n in result.notifications})
        return result

    def reload(self) -> list[str]:
        """Load the config file again; keep the current one if the new one is bad.

        Returns the errors found, empty when the new config is in use.
        """
        file = self.runtime.loaded.file
        unexpected: Exception | None = None
        try:
            runtime = build_runtime(load_config(file))
            errors: list[str] = []
        except ConfigErrors as exc:
            errors = [str(e) for e in exc.errors]
        except BridgeError as exc:
            errors = [str(exc)]
        # Whatever else loading raises (a bug, a file that defeats the checks) must neither
        # replace the running config nor escape: SIGHUP would print a bare traceback and
        # POST /-/reload answer 500, with the reload metric still saying all is well.
        except Exception as exc:
            errors = [f"{file}: cannot load the config: {type(exc).__name__}: {exc}"]
            unexpected = exc
        if errors:
            self.metrics.config_reloads.labels("failure").inc()
            self.metrics.config_last_reload_successful.set(0)
            log.error(
                "config.reload_failed", config=file, errors=errors, exc_info=unexpected or False
            )
            return errors
        changed = changed_settings(self.runtime.config, runtime.config)
        later = [name for name in changed if name not in LIVE_SETTINGS]
        if later:
            log.warning("config.restart_needed", settings=later, message="kept until restart")
        if len(later) < len(changed):
            log.info("config.applied_now", settings=[n for n in changed if n in LIVE_SETTINGS])
        # Old secrets stay redacted too: in-flight log lines may still carry them.
        redactor.set_secrets(runtime.loaded.secrets | self.runtime.loaded.secrets)
        self.runtime = runtime
        self.flusher.recheck()  # groups the new routes orphaned are routed again now
        self.metrics.config_reloads.labels("success").inc()
        self.metrics.config_last_reload_successful.set(1)
        log.info("config.reloaded", config=file, routes=len(runtime.routes))
        return []

    async def readiness(self) -> Readiness:
        """Ready: config loaded, store reachable (DESIGN.md). The sender and the WhatsApp
        session are details, not conditions: with either down the bridge still accepts and
        queues webhooks, and a bridge taken out of its Service would receive none, send none,
        and never see the key or the session work again."""
        checks = {"config": "ok"}
        try:
            await self.store.ping()
            checks["store"] = "ok"
        except StoreUnavailable as exc:
            checks["store"] = f"unavailable: {exc}"
        ready = all(v == "ok" for v in checks.values())
        checks["sender"] = self.api_key.describe()
        checks["whatsapp_session"] = self.session.describe()
        return Readiness(ready, checks)
