"""The example of docs/fleet.md runs against a real Redis and the fake export server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

import lrpoll
from lrpoll.fleet import Worker
from lrpoll.testing import FakeLROServer, JobScript

if TYPE_CHECKING:
    import pytest

DOC = Path(lrpoll.__file__).parents[1] / "docs" / "fleet.md"


async def test_client_example(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The docs' client enrolls a job, follows its events to the end and prints the result."""
    (code,) = re.findall(r"^```python-sketch\n(.*?)^```", DOC.read_text(), re.S | re.M)
    monkeypatch.setenv("LRPOLL_REDIS", redis_url)
    scope: dict[str, Any] = {}
    exec(compile(code, str(DOC), "exec"), scope)
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=0, result={"url": "/x.csv"}))
        worker = Worker(redis_url, max_sleep=0.05)
        worker.auth("default", trusted_origins=[server.base_url])
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(20):
                await scope["client"](server.status_url(job.id), job.id)
            worker.close()
    assert capsys.readouterr().out == "succeeded {'url': '/x.csv'}\n"
