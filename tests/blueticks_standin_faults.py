"""Scripted faults of the Blueticks stand-in: what the next matching calls get instead of service.

Tests push faults on a queue (`state.faults.push(Fault.status(503), times=2)`); each call to the
API takes the first fault whose method and path match, so failures are deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from aiohttp import web
from blueticks_standin_validation import ApiError

FaultKind = Literal["status", "html", "reset", "slow", "drop_response", "error_after_processing"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

ERROR_CODES = {
    400: "invalid_request",
    401: "authentication_required",
    403: "permission_denied",
    404: "not_found",
    409: "conflict",  # invented: the real 409 code is undocumented (blueticks.md §B.5)
    422: "invalid_request",
    429: "rate_limited",
}
HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One scripted misbehaviour; build it with the named constructors below."""

    kind: FaultKind
    status: int = 500
    code: str | None = None
    retry_after: str | None = None
    message: str | None = None  # the error envelope's message (default "scripted <status>")
    delay: float = 0.0
    # "close": drop the connection after processing; "delay": answer after `delay` seconds.
    drop_mode: Literal["close", "delay"] = "close"
    method: str | None = None  # only calls with this method (None: any)
    path_prefix: str = "/"  # only calls whose path starts with this

    @classmethod
    def error(
        cls,
        status: int,
        *,
        code: str | None = None,
        retry_after: str | None = None,
        message: str | None = None,
    ) -> Fault:
        """An error envelope with `status` (and a Retry-After header, a message when given)."""
        return cls("status", status=status, code=code, retry_after=retry_after, message=message)

    @classmethod
    def error_after_processing(cls, status: int = 500, *, code: str | None = None) -> Fault:
        """Process the call for real (a message is created), then answer an error envelope
        with `status`: a server that fails after its work was done, so a retry duplicates."""
        return cls("error_after_processing", status=status, code=code)

    @classmethod
    def html(cls, status: int = 502) -> Fault:
        """A proxy's HTML error page instead of JSON."""
        return cls("html", status=status)

    @classmethod
    def reset(cls) -> Fault:
        """Reset the connection after reading the request, before processing it."""
        return cls("reset")

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """Wait `seconds` before processing: beyond a client's timeout, the client gives up."""
        return cls("slow", delay=seconds)

    @classmethod
    def drop_response(cls, *, delay: float | None = None) -> Fault:
        """Process the call for real (a message is created) but lose or delay the answer."""
        if delay is None:
            return cls("drop_response", drop_mode="close")
        return cls("drop_response", drop_mode="delay", delay=delay)

    def on(self, *, method: str | None = None, path_prefix: str = "/") -> Fault:
        """The same fault restricted to matching calls."""
        return dataclasses.replace(self, method=method, path_prefix=path_prefix)

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path_prefix)


class FaultQueue:
    """Faults waiting for calls, first in first out among those that match a call."""

    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def push(self, fault: Fault, times: int = 1) -> None:
        self._pending.extend([fault] * times)

    def take(self, method: str, path: str) -> Fault | None:
        for index, fault in enumerate(self._pending):
            if fault.matches(method, path):
                return self._pending.pop(index)
        return None

    def clear(self) -> None:
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)


async def perform_fault(
    fault: Fault, request: web.Request, handler: Handler, closing: asyncio.Event
) -> web.StreamResponse:
    """Answer `request` the way `fault` scripts; raise ApiError for error envelopes."""
    if fault.kind in ("status", "error_after_processing"):
        if fault.kind == "error_after_processing":
            await handler(request)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        code = fault.code or ERROR_CODES.get(fault.status, "internal_error")
        message = fault.message or f"scripted {fault.status}"
        raise ApiError(fault.status, code, message, headers=headers)
    if fault.kind == "html":
        return web.Response(status=fault.status, text=HTML_502, content_type="text/html")
    if fault.kind == "reset":
        await request.read()
        return _reset_connection(request)
    if fault.kind == "slow":
        await _wait_unless_closing(closing, fault.delay)
        return _reset_connection(request) if closing.is_set() else await handler(request)
    response = await handler(request)
    if fault.drop_mode == "close":
        return _reset_connection(request)
    await _wait_unless_closing(closing, fault.delay)
    return response


def _reset_connection(request: web.Request) -> web.StreamResponse:
    """Abort the TCP connection with an RST, so the client sees a reset, not a clean close."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=499)  # never reaches the client


async def _wait_unless_closing(closing: asyncio.Event, seconds: float) -> None:
    """Sleep, but wake when the stand-in shuts down so test teardown stays fast."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), timeout=seconds)
