"""A redirect from Blueticks' address is never followed: the legacy API carries the key in the
body, and a redirected send would hand it (and the message) to whatever host the redirect names."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from blueticks_standin import DEFAULT_API_KEY, RunningStandin
from conftest import blueticks_config
from notification_factory import make_notification

from bridge.delivery.blueticks_legacy import LegacyBlueticksClient
from bridge.delivery.blueticks_v1 import V1BlueticksClient
from bridge.errors import PermanentDeliveryError


@pytest.fixture
async def redirecting_url(standin: RunningStandin) -> AsyncIterator[str]:
    """A server that answers every call with 307 to the same path on the stand-in (which
    would take the send: following the redirect would succeed)."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(standin.url + request.path_qs)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.mark.parametrize(
    "make_client",
    [LegacyBlueticksClient, V1BlueticksClient],
    ids=["legacy", "v1"],
)
async def test_a_redirect_is_a_permanent_error_and_nothing_reaches_its_target(
    http: aiohttp.ClientSession,
    standin: RunningStandin,
    redirecting_url: str,
    make_client: type[LegacyBlueticksClient] | type[V1BlueticksClient],
) -> None:
    api = "legacy" if make_client is LegacyBlueticksClient else "v1"
    client = make_client(http, blueticks_config(redirecting_url, api, DEFAULT_API_KEY))

    with pytest.raises(PermanentDeliveryError) as refused:
        await client.send(make_notification("n-1", text="DiskFull on db-1"))

    assert refused.value.status == 307
    assert f"a redirect to {standin.url}" in str(refused.value)
    assert "blueticks.base_url" in str(refused.value)
    assert standin.state.calls == []
    assert standin.state.messages == []
