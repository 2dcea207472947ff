"""The `alertbridge` command line: serve, check, routes test, demo."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import structlog

from bridge import __version__
from bridge.errors import BridgeError, ConfigErrors, PayloadError, StoreUnavailable
from bridge.logs import configure_logging
from bridge.runtime import Runtime, load_runtime

log = structlog.get_logger("alertbridge")


def _load(path: str) -> Runtime:
    """Load the runtime or exit 1 with every error on its own line."""
    try:
        return load_runtime(path)
    except ConfigErrors as exc:
        for error in exc.errors:
            print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from exc
    except BridgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


def use_uvloop_if_installed() -> str:
    """Run asyncio on uvloop when it is installed (optional: `pip install uvloop`); the
    name of the event loop in use."""
    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        return "asyncio"
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return "uvloop"


# Young-generation threshold for a long-running server (CPython's default is 700). Every
# webhook allocates a few hundred short-lived objects, and with the default each burst set off
# older-generation passes over the whole heap (the dedupe mirror, the templates): about a tenth
# of the CPU of a storm. Cycles are still collected, only in fewer, larger passes.
GC_THRESHOLDS = (10_000, 20, 20)


def tune_gc_for_serving() -> None:
    """Fewer collections, and none over what startup built (config, templates, modules).

    The startup runtime stays frozen after a reload replaces it: one runtime, not one per
    reload (later ones are collected as usual)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def listening_sockets(host: str, port: int, backlog: int = 128) -> list[socket.socket]:
    """Bind and listen on every address `host` resolves to, as aiohttp's own site would
    (SO_REUSEADDR; an IPv6 socket takes IPv6 only), before the bridge starts: a port in use or
    an address not on this host fails here, before the store is opened or anything sent."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web
    from yarl import URL

    from bridge.service import Bridge
    from bridge.store.sqlite_lock import ServeLock
    from bridge.web.app import create_app

    configure_logging(args.log_level, json={"json": True, "console": False}.get(args.log_format))
    runtime = _load(args.config)
    server, store = runtime.config.server, runtime.config.store
    # Held until the process ends: a second serve on this file would resend in-flight messages.
    lock = ServeLock(store.path) if store.backend == "sqlite" and store.path != ":memory:" else None
    try:
        if lock is not None:
            lock.acquire()
        sockets = listening_sockets(server.host, server.port)
    except StoreUnavailable as exc:
        print(f"error: {args.config}: store.path: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if lock is not None:
            lock.release()
        reason = exc.strerror or str(exc)
        print(f"error: {args.config}: server.listen: {server.listen}: {reason}", file=sys.stderr)
        return 1
    loop_name = use_uvloop_if_installed()
    bridge = Bridge(runtime, shutdown_grace=args.grace)
    app = create_app(bridge)

    async def on_startup(app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, bridge.reload)
        tune_gc_for_serving()
        log.info("serve.event_loop", event_loop=loop_name)

    bound = [sock.getsockname()[:2] for sock in sockets]

    def log_listening(_banner: str) -> None:
        """run_app's `print`: called once the bridge has started and every socket serves."""
        urls = [str(URL.build(scheme="http", host=host, port=port)) for host, port in bound]
        log.info("serve.listening", urls=urls)

    app.on_startup.append(on_startup)
    try:
        web.run_app(
            app, sock=sockets, print=log_listening, access_log=None, shutdown_timeout=args.grace
        )
    except StoreUnavailable as exc:  # an unwritable volume, say: one line, not a traceback
        print(f"error: {args.config}: store.path: {exc}", file=sys.stderr)
        return 1
    finally:
        for sock in sockets:
            sock.close()
        if lock is not None:
            lock.release()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    runtime = _load(args.config)
    files = sorted({r.file for r in runtime.loaded.routes})
    print(
        f"{args.config}: OK ({len(runtime.routes)} routes from {len(files) or 1} file(s), "
        f"{sum(len(r.recipients) for r in runtime.routes)} route recipients)"
    )
    return 0


def _on_payload(args: argparse.Namespace, describe: Callable[[Runtime, bytes], str]) -> int:
    """Load the config and the payload file, print what `describe` says of them; exit 1 with
    one line naming the file when either cannot be read or the payload is not of its shape."""
    runtime = _load(args.config)
    try:
        body = Path(args.payload).read_bytes()
        print(describe(runtime, body))
    except OSError as exc:
        print(f"error: {args.payload}: {exc.strerror}", file=sys.stderr)
        return 1
    except PayloadError as exc:
        print(f"error: {args.payload}: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_routes_test(args: argparse.Namespace) -> int:
    from bridge.routes_test import explain_payload, format_explanation

    def describe(runtime: Runtime, body: bytes) -> str:
        report = explain_payload(runtime, args.source, body, github_event=args.event)
        if args.json:
            return json.dumps(report, indent=2, ensure_ascii=False)
        return format_explanation(report)

    return _on_payload(args, describe)


def cmd_explain(args: argparse.Namespace) -> int:
    from bridge.commands.explain import run_explain
    from bridge.commands.store_file import CommandError, store_error

    def describe(runtime: Runtime, body: bytes) -> str:
        return asyncio.run(run_explain(runtime, args.source, body, args.event, args.json))

    try:
        return _on_payload(args, describe)
    except StoreUnavailable as exc:  # not a database, unreadable, busy
        print(store_error(args.config, exc), file=sys.stderr)
        return 1
    except CommandError as exc:  # no state to explain from: a memory store, no file
        print(exc, file=sys.stderr)
        return 1


def cmd_demo(args: argparse.Namespace) -> int:
    from bridge.demo.run import run_demo

    return asyncio.run(run_demo())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alertbridge",
        description="Alertmanager, Grafana and GitHub webhooks to WhatsApp through Blueticks.",
    )
    parser.add_argument("--version", action="version", version=f"alertbridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--config", required=True, help="config file (YAML)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--log-format", default="auto", choices=["auto", "json", "console"])
    serve.add_argument(
        "--grace", type=float, default=10.0, help="seconds to finish in-flight sends on SIGTERM"
    )
    serve.set_defaults(func=cmd_serve)

    check = commands.add_parser("check", help="validate config, rules and templates")
    check.add_argument("--config", required=True)
    check.set_defaults(func=cmd_check)

    routes = commands.add_parser("routes", help="routing tools")
    routes_commands = routes.add_subparsers(dest="routes_command", required=True)
    test = routes_commands.add_parser(
        "test", help="show which routes match a payload, who gets what, and the text; sends nothing"
    )
    test.add_argument("--config", required=True)
    test.add_argument("--source", required=True, choices=["alertmanager", "grafana", "github"])
    test.add_argument("--event", help="GitHub event name (X-GitHub-Event); guessed if omitted")
    test.add_argument("--json", action="store_true", help="machine-readable output")
    test.add_argument("payload", help="the webhook body, as a JSON file")
    test.set_defaults(func=cmd_routes_test)

    demo = commands.add_parser(
        "demo", help="run the bridge locally in dry-run mode on example payloads"
    )
    demo.set_defaults(func=cmd_demo)

    from bridge.commands.blueticks import add_blueticks_commands

    add_blueticks_commands(commands)

    from bridge.commands.outbox import add_outbox_parser

    add_outbox_parser(commands)

    explain = commands.add_parser(
        "explain",
        help="per route and recipient, what would happen to a payload now "
        "(sent, deduped, grouped, muted, silenced); changes nothing",
    )
    explain.add_argument("--config", required=True)
    explain.add_argument("--source", required=True, choices=["alertmanager", "grafana", "github"])
    explain.add_argument("--event", help="GitHub event name (X-GitHub-Event); guessed if omitted")
    explain.add_argument("--json", action="store_true", help="machine-readable output")
    explain.add_argument("payload", help="the webhook body, as a JSON file")
    explain.set_defaults(func=cmd_explain)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))
