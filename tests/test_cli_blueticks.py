"""`alertbridge blueticks webhooks register|list` against the running stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from blueticks_standin import DEFAULT_API_KEY, RunningStandin
from blueticks_standin_webhooks import WebhookSubscription

from bridge.cli import main
from bridge.delivery.callbacks import SUBSCRIBED_EVENTS

TOKEN = "cb-cli-token-8d2f6a0c4e1b3d5f7a9c"


def write_config(
    tmp_path: Path,
    base_url: str,
    public_url: str | None = "https://bridge.example.com",
    token: str | None = TOKEN,
) -> str:
    lines = ["server:", "  listen: 127.0.0.1:0"]
    if public_url:
        lines.append(f"  public_url: {public_url}")
    lines += ["blueticks:", "  api: v1", f"  base_url: {base_url}", f"  api_key: {DEFAULT_API_KEY}"]
    if token:
        lines.append(f"  callback_token: {token}")
    lines += ["store: {backend: memory}", "routes: []", ""]
    path = tmp_path / "config.yaml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return str(path)


async def webhooks(command: str, config: str, *options: str) -> int:
    """`alertbridge blueticks webhooks <command> --config <config> <options>` through the real
    entry point, in a thread: it runs its own event loop, as from a shell."""
    args = ["blueticks", "webhooks", command, "--config", config, *options]
    return await asyncio.to_thread(main, args)


async def test_register_subscribes_the_callback_url_and_prints_the_id(
    standin: RunningStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, standin.url)

    code = await webhooks("register", config)

    out, err = capsys.readouterr()
    [hook] = standin.state.webhooks.values()
    assert code == 0, err
    assert out.strip() == hook.id
    assert hook.url == f"https://bridge.example.com/callbacks/blueticks/{TOKEN}"
    assert sorted(hook.events) == sorted(SUBSCRIBED_EVENTS)
    assert TOKEN not in out + err  # the token is the URL's only protection: never printed


async def test_registering_again_reuses_the_subscription(
    standin: RunningStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, standin.url)
    await webhooks("register", config)
    first = capsys.readouterr().out.strip()

    code = await webhooks("register", config)

    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == first
    assert "already registered" in err
    assert len(standin.state.webhooks) == 1


async def test_url_option_replaces_the_public_url(standin: RunningStandin, tmp_path: Path) -> None:
    config = write_config(tmp_path, standin.url, public_url=None)

    code = await webhooks("register", config, "--url", "https://ab.example/")

    [hook] = standin.state.webhooks.values()
    assert code == 0
    assert hook.url == f"https://ab.example/callbacks/blueticks/{TOKEN}"


@pytest.mark.parametrize(
    ("public_url", "token", "named"),
    [(None, TOKEN, "server.public_url"), ("https://b.example", None, "blueticks.callback_token")],
    ids=["no-public-url", "no-callback-token"],
)
async def test_register_refuses_without_what_the_url_needs(
    standin: RunningStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    public_url: str | None,
    token: str | None,
    named: str,
) -> None:
    config = write_config(tmp_path, standin.url, public_url=public_url, token=token)

    code = await webhooks("register", config)

    assert code == 1
    assert named in capsys.readouterr().err
    assert standin.state.webhooks == {}


async def test_api_error_is_reported(
    standin: RunningStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, standin.url)
    standin.state.api_keys = {}

    code = await webhooks("register", config)

    assert code == 1
    assert "401" in capsys.readouterr().err


async def test_list_shows_subscriptions_without_the_token(
    standin: RunningStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, standin.url)
    await webhooks("register", config)
    hook_id = capsys.readouterr().out.strip()

    code = await webhooks("list", config)

    out = capsys.readouterr().out
    assert code == 0
    [line] = out.splitlines()
    fields = line.split("\t")
    assert fields[:3] == [hook_id, "enabled", "https://bridge.example.com/callbacks/blueticks/***"]
    assert "session.disconnected" in fields[3]


CALLBACK = f"https://bridge.example.com/callbacks/blueticks/{TOKEN}"


def subscribe(
    standin: RunningStandin, url: str, events: list[str], status: str = "enabled"
) -> WebhookSubscription:
    """A subscription as an earlier run (or the dashboard) left it at the stand-in."""
    hook = WebhookSubscription(f"{len(standin.state.webhooks):024x}", url, events, "2026-07-01")
    hook.status = status  # type: ignore[assignment]
    standin.state.webhooks[hook.id] = hook
    return hook


@pytest.mark.parametrize(
    ("status", "events", "says"),
    [
        ("disabled", list(SUBSCRIBED_EVENTS), "updated (re-enabled)"),
        ("enabled", ["message.read"], "updated (events set)"),
        ("disabled", ["message.read"], "updated (re-enabled, events set)"),
    ],
    ids=["auto-disabled", "other-events", "both"],
)
async def test_register_repairs_an_existing_subscription(
    standin: RunningStandin,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: str,
    events: list[str],
    says: str,
) -> None:
    """Blueticks disables a subscription after 8 failed deliveries (blueticks.md §C.2): running
    register again must bring it back, not report it as registered."""
    hook = subscribe(standin, CALLBACK, events, status)
    config = write_config(tmp_path, standin.url)

    code = await webhooks("register", config)

    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == hook.id
    assert says in err
    assert hook.status == "enabled" and sorted(hook.events) == sorted(SUBSCRIBED_EVENTS)
    assert len(standin.state.webhooks) == 1
    assert [c.method for c in standin.state.calls] == ["GET", "PATCH"]


async def test_register_finds_the_subscription_beyond_the_first_page(
    standin: RunningStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = subscribe(standin, CALLBACK, list(SUBSCRIBED_EVENTS))
    for i in range(250):  # newer ones: the API lists newest first, 200 at most per page
        subscribe(standin, f"https://other.example/hook/{i}", ["message.read"])
    config = write_config(tmp_path, standin.url)

    code = await webhooks("register", config)

    out, err = capsys.readouterr()
    assert code == 0 and out.strip() == ours.id
    assert "already registered" in err
    assert len(standin.state.webhooks) == 251
