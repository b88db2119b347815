"""Fixtures for the runtime tests: fake servers on two loopback origins, test-local apps, logs.

Every async test runs on the looptime loop of ``tests/conftest.py`` (debug mode off: it
makes the 500-operation tests eight times slower): loop time jumps whenever the loop
would block, and the fake servers answer from the same loop, so instants read from the
request logs are exact.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from lrpoll.testing import FakeLROServer
from tests.helpers import LogCapture, capture_logs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    Serve = Callable[..., Awaitable[str]]


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FakeLROServer]:
    """The trusted fake server, on 127.0.0.1."""
    async with FakeLROServer() as server:
        yield server


@pytest.fixture(name="other")
async def _other() -> AsyncIterator[FakeLROServer]:
    """A second fake server on 127.0.0.2: another origin, with its own request log."""
    async with FakeLROServer(host="127.0.0.2") as other:
        yield other


@pytest.fixture(name="serve")
async def _serve() -> AsyncIterator[Serve]:
    """Start a test-local aiohttp app from route definitions; returns its base URL."""
    async with AsyncExitStack() as stack:

        async def serve(*routes: web.RouteDef, host: str = "127.0.0.1") -> str:
            app = web.Application()
            app.add_routes(routes)
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, host, 0)
            await site.start()
            port = runner.addresses[0][1]
            return f"http://{host}:{port}"

        yield serve


@pytest.fixture(name="logs")
def _logs() -> Iterator[LogCapture]:
    """Everything lrpoll logs during the test, at DEBUG; the logger is restored after."""
    with capture_logs() as capture:
        yield capture
