"""``Scheduler(http=...)`` and ``Transport.open(http=...)``: which sender lrpoll builds."""

from __future__ import annotations

import os

import aiohttp
import pytest

import lrpoll
from lrpoll._aiohttp import AiohttpSender
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec


async def test_http_lean_polls_through_a_lean_sender(server: FakeLROServer) -> None:
    """``http="lean"``: the scheduler's sender is a `LeanSender`, and a job ends succeeded."""
    job = server.add_job(JobScript.success(polls=2))
    async with lrpoll.Scheduler(base_url=server.base_url, http="lean") as scheduler:
        assert isinstance(scheduler.transport.sender, lrpoll.LeanSender)
        op = await scheduler.watch(server.status_url(job.id), export_spec())
        await op
        assert op.state == "succeeded"
        assert scheduler.transport.sender.opened == 1  # one kept-alive connection


async def test_default_sender_is_aiohttp_unless_the_suite_says_lean(
    server: FakeLROServer,
) -> None:
    """The default builds aiohttp's sender; ``LRPOLL_TEST_HTTP=lean`` swaps it suite-wide."""
    expected = lrpoll.LeanSender if os.environ.get("LRPOLL_TEST_HTTP") == "lean" else AiohttpSender
    async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        assert type(scheduler.transport.sender) is expected
    async with lrpoll.Transport.open(server.base_url, http="lean") as transport:
        assert isinstance(transport.sender, lrpoll.LeanSender)


async def test_http_names_are_checked() -> None:
    """An unknown name, or a session or sender beside ``http="lean"``, is refused."""
    with pytest.raises(ValueError, match='"aiohttp" or "lean"'):
        lrpoll.Scheduler(http="h2")  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="builds its own sender"):
            lrpoll.Scheduler(session=session, http="lean")
    with pytest.raises(ValueError, match="builds its own sender"):
        lrpoll.Scheduler(sender=lrpoll.LeanSender(), http="lean")
    with pytest.raises(ValueError, match='"aiohttp" or "lean"'):
        lrpoll.Transport.open(http="h2")  # type: ignore[arg-type]
