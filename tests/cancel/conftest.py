"""Fixtures for the cancellation tests: a fake server and a scheduler in the test's loop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from lrpoll import Scheduler
from lrpoll.testing import FakeLROServer, JobScript

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FakeLROServer]:
    async with FakeLROServer(default_script=JobScript.slow()) as server:
        yield server


@pytest.fixture(name="scheduler")
async def _scheduler(server: FakeLROServer) -> AsyncIterator[Scheduler]:
    async with Scheduler(base_url=server.base_url, seed=1) as scheduler:
        yield scheduler
