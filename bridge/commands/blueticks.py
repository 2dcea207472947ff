"""`alertbridge blueticks webhooks register|list`: the Blueticks webhook subscription that
delivers delivery statuses and session events to `POST /callbacks/blueticks/{token}`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp

from bridge.config.schema import BridgeConfig
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.callbacks import SUBSCRIBED_EVENTS, callback_path
from bridge.errors import ConfigError, DeliveryError

DESCRIPTION = "alertbridge delivery status"


def callback_url(config: BridgeConfig, base_url: str | None = None) -> str:
    """`{public_url}/callbacks/blueticks/{callback_token}`; ConfigError naming what is missing."""
    base = base_url or config.server.public_url
    if not base:
        raise ConfigError(
            "set server.public_url (or pass --url) to the address Blueticks can reach",
            path="server.public_url",
        )
    token = config.blueticks.callback_token
    if token is None or not token.get_secret_value():
        raise ConfigError(
            "set blueticks.callback_token to a long random string: it is the callback URL's "
            "only protection (Blueticks does not sign webhooks)",
            path="blueticks.callback_token",
        )
    return base.rstrip("/") + callback_path(token.get_secret_value())


def redact_url(url: str, config: BridgeConfig) -> str:
    """The URL with the callback token hidden, for terminals and CI logs."""
    token = config.blueticks.callback_token
    return url.replace(token.get_secret_value(), "***") if token else url


def needed_changes(hook: dict[str, Any]) -> dict[str, Any]:
    """The PATCH that makes an existing subscription deliver what the bridge needs: enabled
    (Blueticks disables one after 8 failed deliveries, blueticks.md §C.2), with its events."""
    changes: dict[str, Any] = {}
    if hook.get("status") != "enabled":
        changes["status"] = "enabled"
    events = hook.get("events")
    if not isinstance(events, list) or set(events) != set(SUBSCRIBED_EVENTS):
        changes["events"] = list(SUBSCRIBED_EVENTS)
    return changes


async def register_webhook(client: V1BlueticksClient, url: str) -> tuple[dict[str, Any], str]:
    """The subscription for `url`: an existing one with the same URL (re-enabled and given the
    bridge's events when it lacks them, `PATCH /v1/webhooks/{id}`, §C.1), else a new one.

    Returns (subscription, what was done). Reusing one keeps a second run from doubling
    deliveries.
    """
    same_url = [hook for hook in await client.list_webhooks() if hook.get("url") == url]
    if not same_url:
        return await client.create_webhook(url, SUBSCRIBED_EVENTS, DESCRIPTION), "registered"
    # Several for one URL (made by hand): the one that needs no change, else the first.
    hook = next((h for h in same_url if not needed_changes(h)), same_url[0])
    changes = needed_changes(hook)
    if not changes:
        return hook, "already registered"
    updated = await client.update_webhook(str(hook.get("id", "")), changes)
    done = [
        word for key, word in (("status", "re-enabled"), ("events", "events set")) if key in changes
    ]
    return updated or hook | changes, f"updated ({', '.join(done)})"


async def _register(config: BridgeConfig, base_url: str | None) -> int:
    url = callback_url(config, base_url)
    async with aiohttp.ClientSession() as session:
        client = V1BlueticksClient(session, config.blueticks)
        hook, outcome = await register_webhook(client, url)
    print(
        f"{outcome}: {redact_url(url, config)} ({hook.get('status', '?')}; "
        f"events: {', '.join(hook.get('events', []))})",
        file=sys.stderr,
    )
    print(hook.get("id", ""))
    return 0


async def _list(config: BridgeConfig) -> int:
    async with aiohttp.ClientSession() as session:
        hooks = await V1BlueticksClient(session, config.blueticks).list_webhooks()
    for hook in hooks:
        url = redact_url(str(hook.get("url", "")), config)
        events = ",".join(hook.get("events", []))
        print(f"{hook.get('id', '')}\t{hook.get('status', '')}\t{url}\t{events}")
    if not hooks:
        print("no webhooks registered", file=sys.stderr)
    return 0


def cmd_webhooks(args: argparse.Namespace) -> int:
    from bridge.cli import _load

    config = _load(args.config).config
    try:
        if args.webhooks_command == "register":
            return asyncio.run(_register(config, args.url))
        return asyncio.run(_list(config))
    except (ConfigError, DeliveryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_blueticks_commands(commands: Any) -> None:
    """Register `blueticks webhooks register|list` on the top-level subparsers."""
    blueticks = commands.add_parser("blueticks", help="Blueticks account tools")
    groups = blueticks.add_subparsers(dest="blueticks_command", required=True)
    webhooks = groups.add_parser("webhooks", help="the webhook subscription for callbacks")
    actions = webhooks.add_subparsers(dest="webhooks_command", required=True)
    register = actions.add_parser(
        "register",
        help="subscribe {public_url}/callbacks/blueticks/{callback_token} to delivery and "
        "session events (reuses an existing subscription to the same URL, re-enabling it and "
        "setting its events when needed); prints its id",
    )
    register.add_argument("--config", required=True, help="config file (YAML)")
    register.add_argument(
        "--url", help="public base URL of this bridge, instead of server.public_url"
    )
    register.set_defaults(func=cmd_webhooks)
    listing = actions.add_parser("list", help="list the workspace's webhook subscriptions")
    listing.add_argument("--config", required=True, help="config file (YAML)")
    listing.set_defaults(func=cmd_webhooks)
