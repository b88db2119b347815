"""`lrpoll.step`: the per-operation step over checkpoints, in a plain loop without a scheduler.

The loop saves each checkpoint to disk and reads it back before the next step, as a job
queue or a fleet worker would; the answers come from the same fake as the scheduler's.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

import anyio
import pytest

import lrpoll
from lrpoll._checkpoint import dump, load, spec_digest, spec_of, to_record
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec

if TYPE_CHECKING:
    from pathlib import Path

T0 = 1_800_000_000.0  # an epoch instant, fixed so the test owns the clock


async def run_loop(
    transport: lrpoll.Transport, path: Path, *, at: float, moves: dict[int, float] | None = None
) -> tuple[lrpoll.StepResult, int]:
    """Step the checkpoint at ``path`` until it ends; the last result and the step count.

    ``moves`` jumps the clock forward by that many seconds before the given step.
    """
    saved = anyio.Path(path)
    steps = 0
    while True:
        steps += 1
        at += (moves or {}).get(steps, 0.0)
        result = await lrpoll.step(await saved.read_text(), transport=transport, now=at)
        if result.ended:
            return result, steps
        assert result.checkpoint is not None
        assert result.due is not None
        await saved.write_text(result.checkpoint)
        at = max(at, result.due)


class TestPlainLoop:
    async def test_same_result_as_the_scheduler(
        self, server: FakeLROServer, tmp_path: Path
    ) -> None:
        """A loop of steps over checkpoints on disk ends as the scheduler does: same result,
        same number of polls, each step one request."""
        spec = export_spec()
        job = server.add_job(JobScript.success(polls=3))
        path = tmp_path / "op.json"
        async with lrpoll.Transport.open(server.base_url) as transport:
            path.write_text(
                lrpoll.checkpoint_for(server.status_url(job.id), spec, operation_id="a", now=T0)
            )
            result, steps = await run_loop(transport, path, at=T0)
        assert isinstance(result.decision, lrpoll.core.Succeeded)
        stepped = result.decision.result
        stepped_polls = len(server.requests_to(f"*/{job.id}/status"))
        assert steps == stepped_polls  # one request per step
        other = server.add_job(JobScript.success(polls=3))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(other.id), spec)
            scheduled = await op
        assert stepped == {"url": f"/downloads/{job.id}.csv"}
        assert scheduled == {"url": f"/downloads/{other.id}.csv"}
        assert op.attempts == stepped_polls == len(server.requests_to(f"*/{other.id}/status"))

    async def test_document_is_the_parsed_checkpoint(self, server: FakeLROServer) -> None:
        """A step that polled hands back its next checkpoint parsed too, equal to the text's
        JSON, signed or not."""
        spec = export_spec()
        job = server.add_job(JobScript.success(polls=3))
        for key in (None, b"k" * 32):
            token = lrpoll.checkpoint_for(
                server.status_url(job.id), spec, operation_id="d", now=T0, key=key
            )
            async with lrpoll.Transport.open(server.base_url, checkpoint_key=key) as transport:
                result = await lrpoll.step(token, transport=transport, now=T0)
            assert result.checkpoint is not None
            doc = result.document
            assert doc is not None
            assert doc == json.loads(result.checkpoint)
            assert doc["state"] == "running"

    async def test_clock_moved_past_the_deadline(
        self, server: FakeLROServer, tmp_path: Path
    ) -> None:
        """The deadline is absolute: the clock moved on between two steps ends the operation
        with PollTimeout at the next step, and nothing is sent for it."""
        spec = export_spec(max_duration=30)
        job = server.add_job(JobScript.slow())
        path = tmp_path / "op.json"
        async with lrpoll.Transport.open(server.base_url) as transport:
            path.write_text(lrpoll.checkpoint_for(server.status_url(job.id), spec, now=T0))
            doc = json.loads(path.read_text())
            assert doc["deadline"] == T0 + 30
            result, steps = await run_loop(transport, path, at=T0, moves={3: 3600.0})
        assert steps == 3
        assert not result.sent
        assert isinstance(result.decision, lrpoll.core.Ended)
        assert isinstance(result.decision.error, lrpoll.PollTimeout)
        assert len(server.requests_to(f"*/{job.id}/status")) == 2

    async def test_signed_checkpoints_need_the_transport_key(self, server: FakeLROServer) -> None:
        """The signing key comes with the transport: a signed checkpoint steps with it and
        is refused by a transport without it."""
        job = server.add_job(JobScript.success(polls=1))
        url = server.status_url(job.id)
        text = lrpoll.checkpoint_for(url, export_spec(), now=T0, key=b"k" * 32)
        async with lrpoll.Transport.open(server.base_url) as plain:
            with pytest.raises(lrpoll.CheckpointError, match="pass the key"):
                await lrpoll.step(text, transport=plain, now=T0)
        async with lrpoll.Transport.open(server.base_url, checkpoint_key=b"k" * 32) as keyed:
            result = await lrpoll.step(text, transport=keyed, now=T0)
            assert result.checkpoint is not None
            assert "sig" in json.loads(result.checkpoint)

    async def test_untrusted_status_url_is_refused(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A checkpoint pointing off the transport's origins sends nothing."""
        text = lrpoll.checkpoint_for(other.status_url("x"), export_spec(), now=T0)
        async with lrpoll.Transport.open(server.base_url) as transport:
            with pytest.raises(lrpoll.UntrustedURL):
                await lrpoll.step(text, transport=transport, now=T0)
        assert other.requests == []

    async def test_retry_reports_the_host(self, server: FakeLROServer) -> None:
        """A 429 with Retry-After comes back as throttled with its delay (pacing is the
        caller's), and the checkpoint counts the error."""
        job = server.add_job(JobScript.success(polls=2))
        server.fail_next(status=429, headers={"Retry-After": "7"})
        text = lrpoll.checkpoint_for(server.status_url(job.id), export_spec(), now=T0)
        async with lrpoll.Transport.open(server.base_url) as transport:
            result = await lrpoll.step(text, transport=transport, now=T0)
        assert isinstance(result.decision, lrpoll.core.Retry)
        assert (result.throttled, result.retry_after, result.due) == (True, 7.0, T0 + 7)
        assert result.checkpoint is not None
        assert json.loads(result.checkpoint)["errors"] == 1

    async def test_detached_checkpoint_steps_with_its_spec(self, server: FakeLROServer) -> None:
        """A checkpoint saved without its spec (as a fleet stores it) steps with the spec
        given, to a next checkpoint saved without it too; without the spec nothing is sent."""
        spec = export_spec()
        job = server.add_job(JobScript.success(polls=2))
        full = lrpoll.checkpoint_for(server.status_url(job.id), spec, operation_id="e", now=T0)
        doc = load(full)
        text = dump(to_record(doc, spec_of(doc), now=T0, wall=T0), now=T0, wall=T0, detached=True)
        async with lrpoll.Transport.open(server.base_url) as transport:
            with pytest.raises(lrpoll.CheckpointError, match="without its spec"):
                await lrpoll.step(text, transport=transport, now=T0)
            assert server.requests_to(f"*/{job.id}/status") == []
            at, steps = T0, 0
            while True:
                steps += 1
                result = await lrpoll.step(text, transport=transport, now=at, spec=spec)
                if result.ended:
                    break
                assert result.checkpoint is not None
                assert result.due is not None
                saved = json.loads(result.checkpoint)
                assert "spec" not in saved
                assert saved["spec_digest"] == spec_digest(spec)[0]
                text, at = result.checkpoint, max(at, result.due)
        assert isinstance(result.decision, lrpoll.core.Succeeded)
        assert result.decision.result == {"url": f"/downloads/{job.id}.csv"}
        assert steps == len(server.requests_to(f"*/{job.id}/status"))

    async def test_scheduler_resumes_a_detached_checkpoint(self, server: FakeLROServer) -> None:
        """A scheduler resumes a detached checkpoint with its spec given, and refuses it
        without one."""
        spec = export_spec()
        job = server.add_job(JobScript.success(polls=2))
        doc = load(lrpoll.checkpoint_for(server.status_url(job.id), spec, operation_id="r"))
        at = time.time()
        text = dump(to_record(doc, spec_of(doc), now=at, wall=at), now=at, wall=at, detached=True)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.CheckpointError, match="without its spec"):
                scheduler.resume(text)
            result = await scheduler.resume(text, spec=spec)
        assert result == {"url": f"/downloads/{job.id}.csv"}
