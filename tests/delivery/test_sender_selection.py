"""The dry-run sender and which sender the configuration builds."""

from __future__ import annotations

import aiohttp
import pytest
from notification_factory import make_notification

from bridge.config.schema import BluetickConfig
from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.delivery.sender import DryRunSender, build_sender
from bridge.errors import ConfigError


async def test_dry_run_records_and_shows_every_notification() -> None:
    shown: list[str] = []
    sender = DryRunSender(on_send=lambda n: shown.append(n.id))

    receipts = [
        await sender.send(make_notification("a")),
        await sender.send(make_notification("b")),
    ]

    assert [n.id for n in sender.sent] == ["a", "b"]
    assert shown == ["a", "b"]
    assert [r.provider_id for r in receipts] == ["dry-run-a", "dry-run-b"]
    assert await sender.ping() is None


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (BluetickConfig(dry_run=True), DryRunSender),
        (BluetickConfig(api="v1", dry_run=True), DryRunSender),
        (BluetickConfig(api="v1"), V1BlueticksClient),
        (BluetickConfig(api="legacy"), LegacyBlueticksClient),
    ],
    ids=["dry-run", "dry-run-wins-over-v1", "v1", "legacy"],
)
async def test_config_selects_the_sender(config: BluetickConfig, expected: type) -> None:
    async with aiohttp.ClientSession() as session:
        assert isinstance(build_sender(session, config), expected)


def test_real_sender_needs_a_session() -> None:
    with pytest.raises(ConfigError, match="HTTP session"):
        build_sender(None, BluetickConfig(api="v1"))


def test_dry_run_needs_no_session() -> None:
    assert isinstance(build_sender(None, BluetickConfig(dry_run=True)), DryRunSender)
