"""The in-run baselines: a bare aiohttp server that does the least the bridge must do.

`--mode parse`: read the body, parse the JSON, answer 202 (the ingest ceiling and CPU baseline).
`--mode forward`: the same, then POST one message per webhook to the Blueticks stand-in and wait
for its answer before replying: the shortest possible accept-to-send path (no store, no queue,
no templates), the floor the bridge's latency is compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

FORWARD_URL = web.AppKey("forward_url", str)
API_KEY = web.AppKey("api_key", str)
HTTP = web.AppKey("http", aiohttp.ClientSession)


async def parse_only(request: web.Request) -> web.Response:
    payload = json.loads(await request.read())
    return web.json_response({"status": "accepted", "events": len(payload["alerts"])}, status=202)


async def forward(request: web.Request) -> web.Response:
    payload = json.loads(await request.read())
    summary = payload["alerts"][0]["annotations"]["summary"]
    app = request.app
    body = {"apiKey": app[API_KEY], "to": "+14155550123", "message": summary}
    async with app[HTTP].post(app[FORWARD_URL], json=body) as response:
        await response.read()
    return web.json_response({"status": "accepted", "events": len(payload["alerts"])}, status=202)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(mode: str, forward_url: str, api_key: str) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[FORWARD_URL] = forward_url.rstrip("/") + "/messages"
    app[API_KEY] = api_key

    async def client(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            app[HTTP] = session
            yield

    app.cleanup_ctx.append(client)
    app.router.add_post("/webhook/alertmanager", forward if mode == "forward" else parse_only)
    app.router.add_get("/healthz", healthz)
    return app


def use_the_bridges_event_loop() -> None:
    """uvloop when installed, as `alertbridge serve` does: both sides of a ratio on one loop."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    use_the_bridges_event_loop()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["parse", "forward"], default="parse")
    parser.add_argument("--forward-url", default="http://127.0.0.1:8099")
    parser.add_argument("--api-key", default="bt_live_standin_0123456789abcdef")
    args = parser.parse_args()
    app = create_app(args.mode, args.forward_url, args.api_key)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
