"""`lrpoll.cancel_step`: the cancel request of a checkpoint, then steps that confirm it."""

from __future__ import annotations

import json

import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec

T0 = 1_800_000_000.0
CANCEL = lrpoll.CancelSpec(url="/api/exports/{start.jobId}/cancel", method="POST")


def first(server: FakeLROServer, job_id: str, **spec: object) -> str:
    """The first checkpoint of ``job_id``, with its start body for the cancel URL."""
    return lrpoll.checkpoint_for(
        server.status_url(job_id),
        export_spec(**spec),
        start={"jobId": job_id},
        now=T0,
    )


class TestCancelStep:
    async def test_accepted_then_confirmed_by_steps(self, server: FakeLROServer) -> None:
        """An accepted cancel gives a cancelling checkpoint due at once; steps then poll
        until the server says cancelled: one cancel request in all."""
        job = server.add_job(JobScript.slow(cancel="async", cancel_polls=2))
        async with lrpoll.Transport.open(server.base_url) as transport:
            result = await lrpoll.cancel_step(
                first(server, job.id, cancel=CANCEL), transport=transport, now=T0
            )
            assert result.cancel == "accepted"
            assert result.sent
            assert result.due == T0
            assert result.checkpoint is not None
            doc = json.loads(result.checkpoint)
            assert (doc["state"], doc["cancel_sent"]) == ("cancelling", True)
            at, text = T0, result.checkpoint
            for _ in range(10):
                step = await lrpoll.step(text, transport=transport, now=at)
                if step.ended:
                    break
                assert step.checkpoint is not None
                assert step.due is not None
                text, at = step.checkpoint, step.due
        assert isinstance(step.decision, lrpoll.core.Ended)
        assert step.decision.state == "cancelled"
        assert len(server.requests_to(f"*/{job.id}/cancel")) == 1

    async def test_refused_cancel_keeps_polling(self, server: FakeLROServer) -> None:
        """A cancel the server does not support leaves the operation running, due at once."""
        job = server.add_job(JobScript.slow(cancel="unsupported"))
        async with lrpoll.Transport.open(server.base_url) as transport:
            result = await lrpoll.cancel_step(
                first(server, job.id, cancel=CANCEL), transport=transport, now=T0
            )
        assert result.cancel == "not_supported"
        assert result.checkpoint is not None
        assert json.loads(result.checkpoint)["state"] == "running"

    async def test_no_cancel_spec(self, server: FakeLROServer) -> None:
        """A spec without a cancel request raises SpecError and sends nothing."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Transport.open(server.base_url) as transport:
            with pytest.raises(lrpoll.SpecError, match="no cancel request"):
                await lrpoll.cancel_step(first(server, job.id), transport=transport, now=T0)
        assert server.requests == []
