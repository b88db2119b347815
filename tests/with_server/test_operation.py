"""The Operation handle: poll_once, stop and resume, updates, result, against FakeLROServer."""

from __future__ import annotations

import anyio
import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec, now, poll_times


class TestPollOnce:
    """`poll_once()` polls now and the regular schedule continues from that poll."""

    async def test_poll_once_polls_now_and_reschedules_from_it(self, server: FakeLROServer) -> None:
        """A poll_once at t=3 with a 10 s interval moves the next regular poll to t=13."""
        job = server.add_job(JobScript.slow(progress=[40]))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=10.0))
            await anyio.sleep(3)
            update = await op.poll_once()
            assert update == lrpoll.Update("running", 40.0, None, job.document())
            assert op.attempts == 2
            await anyio.sleep(10.5)
        assert poll_times(server) == [0.0, 3.0, 13.0]

    async def test_poll_once_that_sees_the_end_finishes_the_operation(
        self, server: FakeLROServer
    ) -> None:
        """When the extra poll sees `done`, the update is terminal and `await op` returns."""
        job = server.add_job(JobScript.success(polls=1, result="r"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=100.0))
            await anyio.sleep(1)
            update = await op.poll_once()
            assert update.state == "succeeded"
            assert await op == "r"
            assert now() == 1.0
        assert poll_times(server) == [0.0, 1.0]

    async def test_poll_once_on_a_finished_operation_sends_nothing(
        self, server: FakeLROServer
    ) -> None:
        """poll_once after the end returns the final snapshot without a request."""
        job = server.add_job(JobScript.success(polls=0))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            await op
            update = await op.poll_once()
        assert update.state == "succeeded"
        assert len(server.requests) == 1


class TestStopResume:
    """`stop()` halts polling on the client only; `resume()` picks up where it left off."""

    async def test_stop_then_resume_keeps_attempts_and_url(self, server: FakeLROServer) -> None:
        """No poll while stopped; awaiters get PollingStopped; resume polls at once and goes on."""
        job = server.add_job(JobScript.success(polls=5))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            await anyio.sleep(2.5)
            op.stop()
            assert op.state == "stopped"
            assert not op.done
            with pytest.raises(lrpoll.PollingStopped) as info:
                await op
            assert info.value.status == job.document()
            updates = [u.state async for u in op.updates()]
            assert updates == ["stopped"]
            await anyio.sleep(10)
            op.resume()
            assert op.snapshot().state == "running"  # (mypy narrowed op.state to "stopped")
            assert await op == {"url": f"/downloads/{job.id}.csv"}
            assert op.attempts == 6
        assert poll_times(server) == [0.0, 1.0, 2.0, 12.5, 13.5, 14.5]

    async def test_answer_in_flight_when_stopped_is_ignored(self, server: FakeLROServer) -> None:
        """A poll answered after `stop()` changes nothing on the operation."""
        job = server.add_job(JobScript.success(polls=0))
        server.delay_next("*/status", seconds=5)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            await anyio.sleep(1)
            assert scheduler.statistics().in_flight == 1
            op.stop()
            await anyio.sleep(10)
            assert scheduler.statistics().in_flight == 0
            assert job.state == "done"  # the server answered...
            assert op.state == "stopped"  # ...but the client had stopped listening
            assert op.attempts == 0
            assert op.status is None
        assert len(server.requests) == 1

    async def test_stop_is_a_no_op_on_a_finished_operation(self, server: FakeLROServer) -> None:
        """stop() after the end keeps the result; resume() after the end is refused."""
        job = server.add_job(JobScript.success(polls=0, result=5))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            await op
            op.stop()
            assert op.state == "succeeded"
            assert await op == 5
            with pytest.raises(RuntimeError, match="already ended"):
                op.resume()

    async def test_resume_after_the_scheduler_closed_is_refused(
        self, server: FakeLROServer
    ) -> None:
        """An operation stopped by the scheduler's exit cannot be resumed on it."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
        assert op.state == "stopped"
        with pytest.raises(RuntimeError, match="closed"):
            op.resume()


class TestUpdates:
    """`updates()` streams changes and ends on a terminal or stopped state."""

    async def test_updates_of_a_finished_operation_yield_one_snapshot(
        self, server: FakeLROServer
    ) -> None:
        """Iterating a finished operation yields its final state once."""
        job = server.add_job(JobScript.fail_at(1, "nope"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            with pytest.raises(lrpoll.OperationFailed, match="nope"):
                await op
            updates = [u async for u in op.updates()]
        assert [(u.state, u.status["status"]) for u in updates] == [("failed", "failed")]

    async def test_two_subscribers_see_the_same_updates(self, server: FakeLROServer) -> None:
        """Every subscriber gets every update, in order."""
        job = server.add_job(JobScript.success(polls=2))
        seen: dict[str, list[float | None]] = {"a": [], "b": []}

        async def follow(name: str, op: lrpoll.Operation) -> None:
            async for update in op.updates():
                seen[name].append(update.progress)

        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            async with anyio.create_task_group() as tg:
                tg.start_soon(follow, "a", op)
                tg.start_soon(follow, "b", op)
        assert seen["a"] == seen["b"] == [33.0, 66.0, 100.0]
