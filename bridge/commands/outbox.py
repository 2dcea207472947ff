"""`alertbridge outbox list|retry|drop`: inspect, replay and delete dead letters, and send again
the messages Blueticks accepted and later reported failed ("failed deliveries").

Works on the configured SQLite file directly (`--config`), or through a running bridge's admin
API (`--url` and `--token`), which also wakes its sender at once after a retry.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from typing import Any, Protocol, get_args

from bridge.commands.store_file import CommandError, store_error, store_file
from bridge.errors import StoreUnavailable
from bridge.model import NotificationState
from bridge.store.base import FAILED_DELIVERY, Requeued

TOKEN_ENV = "ALERTBRIDGE_ADMIN_TOKEN"  # noqa: S105 (a variable name, not a secret)
STATES: tuple[str, ...] = get_args(NotificationState)
# What `outbox list` shows without --state: what `outbox retry` takes.
NEEDS_ACTION = ("dead", FAILED_DELIVERY)
HTTP_TIMEOUT = 30.0
ERROR_CHARS = 70
MAX_LIMIT = 1000  # the admin API's bridge.web.admin.MAX_LIMIT: both ways take the same range
# DELIVERY: the status Blueticks last reported ("-": none), which decides whether a retry sends.
TABLE_COLUMNS = (
    "ID",
    "STATE",
    "ROUTE",
    "RECIPIENT",
    "ATTEMPTS",
    "ACCEPTED (UTC)",
    "DELIVERY",
    "LAST ERROR",
)


class Outbox(Protocol):
    """Where the command reads and changes the outbox: the store file, or the admin API."""

    async def entries(self, state: str, limit: int) -> list[dict[str, Any]]: ...

    async def retry(self, ids: list[str] | None) -> Requeued: ...

    async def drop(self, ids: list[str] | None) -> int: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class StoreOutbox:
    """The outbox in the SQLite file the config names, opened next to a running bridge (WAL)."""

    def __init__(self, config_file: str) -> None:
        from bridge.config.loader import load_config
        from bridge.errors import ConfigErrors

        try:
            store_config = load_config(config_file).config.store
        except ConfigErrors as exc:
            raise CommandError("\n".join(f"error: {e}" for e in exc.errors)) from exc
        hint = "use --url URL --token TOKEN to reach the running bridge's admin API"
        self.store = store_file(config_file, store_config, memory_hint=hint)

    async def open(self) -> None:
        await self.store.open()

    async def entries(self, state: str, limit: int) -> list[dict[str, Any]]:
        from bridge.web.admin import notification_document

        found = await self.store.list_notifications(state, limit)  # type: ignore[arg-type]
        return [notification_document(n) for n in found]

    async def retry(self, ids: list[str] | None) -> Requeued:
        return await self.store.requeue(ids, now=time.time())

    async def drop(self, ids: list[str] | None) -> int:
        return await self.store.drop(ids)

    async def close(self) -> None:
        await self.store.close()


class AdminApiOutbox:
    """The outbox of a running bridge, through its admin API."""

    def __init__(self, url: str, token: str) -> None:
        import aiohttp

        self.base = url.rstrip("/") + "/api/v1/outbox"
        self.http = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT),
        )

    async def open(self) -> None:
        """Nothing to open: every call is one request."""

    async def entries(self, state: str, limit: int) -> list[dict[str, Any]]:
        found = await self._call("GET", "", params={"state": state, "limit": str(limit)})
        return list(found["notifications"])

    async def retry(self, ids: list[str] | None) -> Requeued:
        answer = await self._call("POST", "/retry", body=_selection(ids))
        # An older bridge says neither skipped_delivered (it requeued delivered ones too) nor
        # resent (it sent no failed delivery again).
        resent = answer.get("resent") or {}
        return Requeued(
            int(answer["requeued"]),
            int(answer.get("skipped_delivered", 0)),
            tuple((str(old), str(new)) for old, new in resent.items()),
        )

    async def drop(self, ids: list[str] | None) -> int:
        return int((await self._call("POST", "/drop", body=_selection(ids)))["dropped"])

    async def close(self) -> None:
        await self.http.close()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        import aiohttp

        url = self.base + path
        try:
            async with self.http.request(method, url, params=params, json=body) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise CommandError(f"error: cannot reach {url}: {exc or type(exc).__name__}") from exc
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if status != 200 or not isinstance(document, dict):
            reason = document.get("error") if isinstance(document, dict) else text[:200]
            raise CommandError(f"error: {method} {url} answered {status}: {reason}")
        return document


def _selection(ids: list[str] | None) -> dict[str, Any]:
    return {"all": True} if ids is None else {"ids": ids}


def _open_outbox(args: argparse.Namespace) -> Outbox:
    if args.url:
        # A token read from a file or `echo` often ends in a line break: not part of it.
        token = (args.token or os.environ.get(TOKEN_ENV, "")).strip()
        if not token:
            raise CommandError(f"error: --url needs --token (or {TOKEN_ENV} in the environment)")
        if not token.isprintable():
            raise CommandError("error: the admin token holds a line break or control character")
        return AdminApiOutbox(args.url, token)
    return StoreOutbox(args.config)


async def _run(args: argparse.Namespace) -> int:
    outbox = _open_outbox(args)
    try:
        await outbox.open()
        if args.outbox_command == "list":
            found = await _listing(outbox, args.state, args.limit)
            if args.json:
                print(json.dumps(found, indent=2, ensure_ascii=False))
            elif not found:
                state = args.state and f"{args.state!r} notifications"
                print(f"no {state or 'dead letters or failed deliveries'}")
            else:
                print(_table(found))
            return 0
        ids = None if args.all else list(dict.fromkeys(args.ids))
        if args.outbox_command == "retry":
            outcome = await outbox.retry(ids)
            counts: dict[str, Any] = {
                "requeued": outcome.requeued,
                "skipped_delivered": outcome.skipped_delivered,
                "resent": dict(outcome.resent),
            }
        else:
            counts = {"dropped": await outbox.drop(ids)}
    finally:
        await outbox.close()
    return _report(counts, ids, json_output=args.json)


async def _listing(outbox: Outbox, state: str | None, limit: int) -> list[dict[str, Any]]:
    """The notifications in `state`; without one, the dead letters and the failed deliveries
    together, newest first."""
    if state is not None:
        return await outbox.entries(state, limit)
    found = [n for s in NEEDS_ACTION for n in await outbox.entries(s, limit)]
    found.sort(key=lambda n: (float(n["created_at"]), str(n["id"])), reverse=True)
    return found[:limit]


def _report(counts: dict[str, Any], ids: list[str] | None, *, json_output: bool) -> int:
    """Print what a retry or drop did; 1 when some of the ids given were not changed."""
    verb = "requeued" if "requeued" in counts else "dropped"
    changed, skipped = int(counts[verb]), int(counts.get("skipped_delivered", 0))
    resent: dict[str, str] = counts.get("resent", {})
    if json_output:
        print(json.dumps(counts))
    else:
        dead = changed - len(resent)
        if dead or not resent:
            print(f"{verb} {dead} dead letter(s)")
        for failed, resend in resent.items():
            print(f"resent {failed} (Blueticks reported it failed) as {resend}")
    if skipped:
        print(
            f"warning: {skipped} dead letter(s) not requeued: Blueticks reported them delivered, "
            "so sending them again would duplicate them (`outbox list` shows their delivery "
            "status; `outbox drop` removes them)",
            file=sys.stderr,
        )
    if ids is None:
        return 0
    if not_dead := len(ids) - changed - skipped:
        nor = " nor failed deliveries" if verb == "requeued" else ""
        print(
            f"warning: {not_dead} of the {len(ids)} ids given are not dead letters{nor} "
            "(unknown, or no longer in that state)",
            file=sys.stderr,
        )
    return 1 if changed < len(ids) else 0


def _table(found: list[dict[str, Any]]) -> str:
    """One line per notification: id, route, recipient, attempts, accepted at, Blueticks'
    delivery status ("-" when none was reported), last error."""
    rows = [TABLE_COLUMNS]
    for n in found:
        accepted = datetime.fromtimestamp(float(n["created_at"]), UTC).strftime("%Y-%m-%d %H:%M:%S")
        error = " ".join(str(n.get("last_error") or "").split())
        if len(error) > ERROR_CHARS:
            error = error[: ERROR_CHARS - 1] + "…"
        delivery = str(n.get("delivery_status") or "-")
        attempts = str(n["attempts"])
        rows.append(
            (n["id"], n["state"], n["route"], n["recipient"], attempts, accepted, delivery, error)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)), row[-1]])
        for row in rows
    )


def _limit(text: str) -> int:
    """`--limit`: the range the admin API accepts, so both ways refuse the same values."""
    try:
        limit = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_LIMIT}, not {limit}")
    return limit


def cmd_outbox(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except StoreUnavailable as exc:  # not a database, unreadable, busy: only with --config
        print(store_error(args.config, exc), file=sys.stderr)
        return 1
    except CommandError as exc:
        print(exc, file=sys.stderr)
        return 1


def add_outbox_parser(commands: argparse._SubParsersAction) -> None:
    """Register `outbox list|retry|drop` on the top-level command parser."""
    where = argparse.ArgumentParser(add_help=False)
    source = where.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="config file: open its SQLite store directly")
    source.add_argument("--url", help="base URL of a running bridge: use its admin API")
    where.add_argument(
        "--token", help=f"admin token for --url (default: ${TOKEN_ENV}); server.admin_token"
    )
    where.add_argument("--json", action="store_true", help="machine-readable output")

    outbox = commands.add_parser(
        "outbox", help="inspect, retry and drop dead letters; send failed deliveries again"
    )
    outbox_commands = outbox.add_subparsers(dest="outbox_command", required=True)
    listing = outbox_commands.add_parser(
        "list",
        parents=[where],
        help="list notifications: dead letters and failed deliveries unless --state",
    )
    listing.add_argument(
        "--state",
        choices=STATES,
        help=f"only this state; {FAILED_DELIVERY}: sent, then reported failed by Blueticks",
    )
    listing.add_argument(
        "--limit",
        type=_limit,
        default=100,
        help=f"at most this many (1 to {MAX_LIMIT}), newest first",
    )
    for name, what in (
        (
            "retry",
            "send dead letters again (attempts reset), and failed deliveries as new "
            "notifications; exit 1 if an id was neither",
        ),
        ("drop", "delete dead letters for good; exit 1 if an id was not dead"),
    ):
        change = outbox_commands.add_parser(name, parents=[where], help=what)
        chosen = change.add_mutually_exclusive_group(required=True)
        chosen.add_argument(
            "--id", dest="ids", action="extend", nargs="+", metavar="ID", help="notification ids"
        )
        chosen.add_argument(
            "--all",
            action="store_true",
            help="every dead letter" + (" and failed delivery" if name == "retry" else ""),
        )
    outbox.set_defaults(func=cmd_outbox)
