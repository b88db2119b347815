"""pytest fixtures for lrpoll's fake servers.

Enable with `pytest_plugins = ["lrpoll.testing.pytest_plugin"]` in a `conftest.py`. The fixtures
are async: they run under anyio's pytest plugin (asyncio backend, looptime loops welcome), in the
test's own event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ._server import FakeLROServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["fake_lro_server"]


@pytest.fixture
async def fake_lro_server() -> AsyncIterator[FakeLROServer]:
    """A started `FakeLROServer` with default settings, closed after the test."""
    async with FakeLROServer() as server:
        yield server
