"""The legacy API sends only to `+<country><number>` (blueticks.md §A.1, §D): a person's chat id
is sent as the number, and a group or channel is a config error, not a dead letter per alert."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from blueticks_standin import RunningStandin
from conftest import blueticks_config
from notification_factory import make_notification

from bridge.cli import main
from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
from bridge.errors import ConfigErrors, PermanentDeliveryError
from bridge.runtime import load_runtime

GROUP = "120363427920657250@g.us"


def write_config(tmp_path: Path, api: str, recipients: str, to: str = "[team]") -> str:
    text = (
        f"blueticks: {{api: {api}, api_key: bt_live_x}}\n"
        "store: {backend: memory}\n"
        f"recipients:\n{recipients}"
        f"routes:\n  - name: alerts\n    to: {to}\n"
    )
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("recipients", "to", "path", "named"),
    [
        (f'  team: "{GROUP}"\n', "[team]", "recipients.team", "'team'"),
        (f'  team: {{phone: "{GROUP}"}}\n', "[team]", "recipients.team.phone", "'team'"),
        (
            f'  alice: "+14155550123"\n  team: [alice, "{GROUP}"]\n',
            "[team]",
            "recipients.team[1]",
            GROUP,
        ),
        ('  alice: "+14155550123"\n', f'[alice, "{GROUP}"]', "routes[0].to[1]", GROUP),
        ('  news: "120363000000000001@newsletter"\n', "[news]", "recipients.news", "'news'"),
        ('  odd: "0123@c.us"\n', "[odd]", "recipients.odd", "'odd'"),
    ],
    ids=[
        "group-recipient",
        "group-as-phone",
        "group-member",
        "group-in-route",
        "channel",
        "chat-id-not-a-number",
    ],
)
def test_legacy_api_refuses_recipients_it_cannot_send_to(
    tmp_path: Path, recipients: str, to: str, path: str, named: str
) -> None:
    config = write_config(tmp_path, "legacy", recipients, to)

    with pytest.raises(ConfigErrors) as caught:
        load_runtime(config)

    [error] = caught.value.errors
    assert (error.file, error.path) == (config, path)
    assert named in error.message and "blueticks.api: v1" in error.message


def test_only_the_legacy_api_refuses_groups_and_channels(tmp_path: Path) -> None:
    recipients = f'  team: "{GROUP}"\n  news: "120363000000000001@newsletter"\n'
    person = '  team: "14155550123@c.us"\n'

    runtime = load_runtime(write_config(tmp_path, "v1", recipients, "[team, news]"))
    load_runtime(write_config(tmp_path, "legacy", person))  # a person's chat id is a number
    with pytest.raises(ConfigErrors):
        load_runtime(write_config(tmp_path, "legacy", recipients, "[team, news]"))

    assert [r.phone for r in runtime.routes[0].recipients] == [
        GROUP,
        "120363000000000001@newsletter",
    ]


def test_check_command_reports_the_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "legacy", f'  team: "{GROUP}"\n')

    with pytest.raises(SystemExit) as exited:
        main(["check", "--config", config])

    assert exited.value.code == 1

    err = capsys.readouterr().err
    assert "recipients.team" in err and "groups and channels need blueticks.api: v1" in err


async def test_persons_chat_id_is_sent_to_the_legacy_api_as_a_number(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    client = LegacyBlueticksClient(http, blueticks_config(standin.url, api="legacy"))

    receipt = await client.send(make_notification("n-1", phone="14155550123@c.us"))

    assert receipt.http_status == 200
    assert standin.state.messages[0].request["to"] == "+14155550123"


async def test_group_is_refused_by_the_legacy_client_without_a_call(
    http: aiohttp.ClientSession, standin: RunningStandin
) -> None:
    """A last guard (the runtime refuses such a config): never a 400 from the API."""
    client = LegacyBlueticksClient(http, blueticks_config(standin.url, api="legacy"))

    with pytest.raises(PermanentDeliveryError, match=r"blueticks\.api: v1"):
        await client.send(make_notification("n-1", phone=GROUP))

    assert standin.state.calls == []
