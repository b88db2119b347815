"""The Scheduler against FakeLROServer: happy path, endings, limits, many operations, shutdown."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aiohttp
import anyio
import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import (
    EXPORTS,
    LogCapture,
    assert_no_leftover_tasks,
    doc,
    export_spec,
    gaps,
    lrpoll_tasks,
    now,
    poll_times,
)

if TYPE_CHECKING:
    from collections.abc import Callable

MESSAGES = lrpoll.Messages(
    in_progress="Export progress: {progress}%",
    completed="Export finished!",
    failed="Export failed: {error}",
    timed_out="Gave up after {operation}",
)


class TestHappyPath:
    """An export started, polled on schedule, and finished with its result."""

    async def test_start_polls_on_schedule_and_returns_the_result(
        self, server: FakeLROServer
    ) -> None:
        """`start` POSTs, the Location is polled at once and then every second until done."""
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, json={"table": "t"}, spec=export_spec())
            assert op.state == "running"
            result = await op
        assert result == {"url": "/downloads/job-1.csv"}
        assert [(r.method, r.raw_path) for r in server.requests] == [
            ("POST", EXPORTS),
            *[("GET", "/api/exports/job-1/status")] * 4,
        ]
        assert server.requests[0].json() == {"table": "t"}
        assert poll_times(server) == [0.0, 1.0, 2.0, 3.0]

    async def test_updates_carry_progress_status_and_messages(self, server: FakeLROServer) -> None:
        """`op.updates()` yields each running answer, then the terminal update, then ends."""
        spec = export_spec(messages=MESSAGES)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=spec)
            seen = [(u.state, u.progress, u.message, now()) async for u in op.updates()]
            last = op.snapshot()
        assert seen == [
            ("running", 25.0, "Export progress: 25%", 0.0),
            ("running", 50.0, "Export progress: 50%", 1.0),
            ("running", 75.0, "Export progress: 75%", 2.0),
            ("succeeded", 100.0, "Export finished!", 3.0),
        ]
        assert last.status["status"] == "done"
        assert op.message == "Export finished!"

    async def test_callbacks_fire_for_status_progress_and_done(self, server: FakeLROServer) -> None:
        """on_status fires per answer, on_progress on each change (100 % too), on_done once."""
        calls: list[tuple[str, float | None, float]] = []

        def hook(name: str) -> Callable[[lrpoll.Operation], None]:
            return lambda op: calls.append((name, op.progress, now()))

        server.script_next(JobScript.success(polls=3, progress=[10, 10, 60]))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start(
                "POST",
                EXPORTS,
                spec=export_spec(),
                on_status=hook("status"),
                on_progress=hook("progress"),
                on_done=hook("done"),
                on_timeout=hook("timeout"),
            )
            await op
        assert calls == [
            ("status", 10.0, 0.0),
            ("progress", 10.0, 0.0),
            ("status", 10.0, 1.0),
            ("status", 60.0, 2.0),
            ("progress", 60.0, 2.0),
            ("status", 100.0, 3.0),
            ("progress", 100.0, 3.0),
            ("done", 100.0, 3.0),
        ]

    async def test_sub_second_interval_keeps_time_moving(self, server: FakeLROServer) -> None:
        """Due times like 0.2 + 0.1 (just above the clock's tick) are polled, not spun on."""
        # Regression: a timer may run a hair before its due time; the woken worker saw
        # nothing due, re-armed the same timer and spun forever with loop time frozen.
        job = server.add_job(JobScript.success(polls=5))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec(interval=0.1)))
        assert poll_times(server) == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.5], abs=1e-6)

    async def test_operation_attributes_after_success(self, server: FakeLROServer) -> None:
        """state, status, progress, attempts, elapsed and result() describe the finished op."""
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id="op-1")
            with pytest.raises(RuntimeError, match="still running"):
                op.result()
            await op
            assert op.state == "succeeded"
            assert op.done
            assert op.status == server.jobs["job-1"].document()
            assert op.progress == 100.0
            assert op.attempts == 4
            assert op.elapsed == 3.0
            assert op.error is None
            assert op.result() == {"url": "/downloads/job-1.csv"}
            assert op.status_url == server.status_url("job-1")
            assert repr(op) == "<Operation op-1 succeeded 100%>"

    async def test_watch_attaches_to_an_existing_job(self, server: FakeLROServer) -> None:
        """`watch` polls a job that was created elsewhere, at once, without a start request."""
        job = server.add_job(JobScript.success(polls=2, result={"rows": 7}))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(
                f"{EXPORTS}/{job.id}/status", export_spec(), operation_id="mine"
            )
            assert op.id == "mine"
            assert await op == {"rows": 7}
        assert [r.method for r in server.requests] == ["GET"] * 3
        assert poll_times(server) == [0.0, 1.0, 2.0]

    async def test_start_answer_already_terminal_needs_no_poll(self, server: FakeLROServer) -> None:
        """A start answer that is already done ends the operation without a status poll."""
        server.fail_next(
            EXPORTS,
            status=200,
            body=doc("done", result={"n": 1}),
            headers={"Location": f"{EXPORTS}/x/status"},
        )
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec())
            assert op.state == "succeeded"
            assert await op == {"n": 1}
        assert [r.method for r in server.requests] == ["POST"]

    async def test_as_completed_yields_in_finishing_order(self, server: FakeLROServer) -> None:
        """`as_completed` yields the operation that finishes first, first."""
        jobs = [server.add_job(JobScript.success(polls=n)) for n in (3, 1, 2)]
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            ops = [
                await scheduler.watch(
                    server.status_url(j.id), export_spec(), operation_id=f"op-{n}"
                )
                for n, j in enumerate(jobs, 1)
            ]
            order = [(op.id, now()) async for op in scheduler.as_completed(ops)]
        assert order == [("op-2", 1.0), ("op-3", 2.0), ("op-1", 3.0)]

    async def test_statistics_count_states_heap_and_polls(self, server: FakeLROServer) -> None:
        """`statistics()` reports operations by state, heap size, slots, polls and retries."""
        jobs = [server.add_job(JobScript.success(polls=1)) for _ in range(3)]
        async with lrpoll.Scheduler(base_url=server.base_url, slots=4) as scheduler:
            ops = [await scheduler.watch(server.status_url(j.id), export_spec()) for j in jobs]
            before = scheduler.statistics()
            assert before == lrpoll.SchedulerStatistics(
                operations={"running": 3},
                heap_size=3,
                in_flight=0,
                slots=4,
                polls_sent=0,
                errors_retried=0,
            )
            server.fail_next("*/job-1/status")
            for op in ops:
                await op
            after = scheduler.statistics()
        assert after.operations == {"succeeded": 3}
        assert after.heap_size == 0
        assert after.in_flight == 0
        assert after.polls_sent == len(server.requests) == 7
        assert after.errors_retried == 1


class TestEndings:
    """Failure, timeouts and attempt limits end the operation with a typed error."""

    async def test_failure_carries_the_server_message_and_last_status(
        self, server: FakeLROServer
    ) -> None:
        """OperationFailed has the server's error message and the failed status document."""
        server.script_next(JobScript.fail_at(2, "disk full", fail_code="DiskFull"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start(
                "POST", EXPORTS, spec=export_spec(messages=MESSAGES), operation_id="op-1"
            )
            with pytest.raises(lrpoll.OperationFailed) as info:
                await op
        error = info.value
        assert error.message == "disk full"
        assert str(error) == "disk full (operation op-1)"
        assert error.operation_id == op.id
        assert error.status == server.jobs["job-1"].document()
        assert error.status["error"]["code"] == "DiskFull"
        assert op.state == "failed"
        assert op.error is error
        assert op.message == "Export failed: disk full"
        assert poll_times(server) == [0.0, 1.0]

    async def test_max_duration_raises_at_the_deadline(self, server: FakeLROServer) -> None:
        """A job that never ends raises PollTimeout exactly at max_duration, on_timeout fires."""
        fired: list[tuple[str, float]] = []
        job = server.add_job(JobScript.slow())
        spec = export_spec(max_duration=3.5, messages=MESSAGES)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(
                server.status_url(job.id),
                spec,
                operation_id="op-1",
                on_timeout=lambda o: fired.append(("timeout", now())),
                on_done=lambda o: fired.append(("done", now())),
            )
            with pytest.raises(lrpoll.PollTimeout, match=r"within 3\.5 s") as info:
                await op
            assert now() == 3.5
        assert poll_times(server) == [0.0, 1.0, 2.0, 3.0]
        assert fired == [("timeout", 3.5), ("done", 3.5)]
        assert op.state == "timed_out"
        assert op.message == "Gave up after op-1"
        assert info.value.status == server.jobs[job.id].document()

    async def test_deadline_inside_a_long_retry_after(self, server: FakeLROServer) -> None:
        """E40: a Retry-After longer than the time left ends at the deadline, not after it."""
        job = server.add_job(JobScript.slow(retry_after="100"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(max_duration=10))
            with pytest.raises(lrpoll.PollTimeout):
                await op
            assert now() == 10.0
        assert poll_times(server) == [0.0]

    async def test_deadline_while_a_poll_is_in_flight(self, server: FakeLROServer) -> None:
        """max_duration is kept even when the server holds the poll past the deadline."""
        job = server.add_job(JobScript.slow())
        server.delay_next("*/status", seconds=20)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(max_duration=5))
            with pytest.raises(lrpoll.PollTimeout):
                await op
            assert now() == 5.0

    async def test_max_attempts_ends_after_that_many_polls(self, server: FakeLROServer) -> None:
        """max_attempts=3 sends three polls, then PollTimeout names the count."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(max_attempts=3))
            with pytest.raises(lrpoll.PollTimeout, match="after 3 polls"):
                await op
            assert now() == 2.0
        assert poll_times(server) == [0.0, 1.0, 2.0]
        assert op.attempts == 3


class TestLifecycle:
    """Many operations through one scheduler, and what leaving `async with` leaves behind."""

    async def test_500_concurrent_operations_complete(self, server: FakeLROServer) -> None:
        """500 operations through one scheduler (100 slots) all finish with their results."""
        jobs = [server.add_job(JobScript.success(polls=1, result=i)) for i in range(500)]
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            ops = [await scheduler.watch(server.status_url(j.id), export_spec()) for j in jobs]
            results = [await op for op in ops]
            stats = scheduler.statistics()
        assert results == list(range(500))
        assert stats.operations == {"succeeded": 500}
        assert stats.polls_sent == len(server.requests) == 1000
        assert all(j.polls == 2 for j in jobs)

    @pytest.mark.aiohttp_sender
    async def test_exit_with_500_running_operations_leaves_nothing(self) -> None:
        """G50: leaving with 500 running ops stops each, wakes awaiters, closes the session."""
        before = asyncio.all_tasks()
        outcomes: list[str] = []

        async def wait_for(op: lrpoll.Operation) -> None:
            with pytest.raises(lrpoll.PollingStopped) as info:
                await op
            outcomes.append(type(info.value).__name__)

        async with FakeLROServer() as server:
            jobs = [server.add_job(JobScript.slow()) for _ in range(500)]
            # 50 polls are held by the server, so some requests are in flight at exit.
            server.delay_next("*/status", seconds=30, times=50)
            async with anyio.create_task_group() as waiters:
                async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
                    ops = [
                        await scheduler.watch(server.status_url(j.id), export_spec()) for j in jobs
                    ]
                    for op in ops[:3]:
                        waiters.start_soon(wait_for, op)
                    await anyio.sleep(1.5)
                    assert scheduler.statistics().in_flight > 0
                    assert len(lrpoll_tasks()) == 100  # the worker pool, one per slot
                session = scheduler.transport.session
                assert session.closed
                assert {op.state for op in ops} == {"stopped"}
                assert scheduler.statistics().operations == {"stopped": 500}
                assert lrpoll_tasks() == []
            exit_time = now()
            assert outcomes == ["PollingStopped"] * 3
            with pytest.raises(lrpoll.PollingStopped):
                await ops[-1]
        # Nothing is polled after the exit. The fake keeps a held request's handler task
        # until its delay ends (aiohttp.web forgets a connection its client closed), so
        # let that pass before checking that no task outlives the scheduler and server.
        assert max(r.time for r in server.requests) <= exit_time
        await anyio.sleep(30)
        await assert_no_leftover_tasks(before)

    @pytest.mark.aiohttp_sender
    async def test_owned_session_is_closed_and_borrowed_one_is_not(
        self, server: FakeLROServer
    ) -> None:
        """G52: the scheduler closes the session it made and leaves a borrowed one open."""
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            owned = scheduler.transport.session
            await (await scheduler.watch(server.status_url(server.add_job().id), export_spec()))
        assert owned.closed
        async with aiohttp.ClientSession() as borrowed:
            async with lrpoll.Scheduler(base_url=server.base_url, session=borrowed) as scheduler:
                assert scheduler.transport.session is borrowed
                await (await scheduler.watch(server.status_url(server.add_job().id), export_spec()))
            assert not borrowed.closed
            async with borrowed.get(server.status_url("job-1")) as resp:
                assert resp.status == 200

    async def test_watch_outside_async_with_is_refused(self, server: FakeLROServer) -> None:
        """Using a scheduler that is not running raises RuntimeError and sends nothing."""
        scheduler = lrpoll.Scheduler(base_url=server.base_url)
        with pytest.raises(RuntimeError, match="async with"):
            await scheduler.watch(server.status_url("job-1"), export_spec())
        with pytest.raises(RuntimeError, match="async with"):
            await scheduler.start("POST", EXPORTS, spec=export_spec())
        assert server.requests == []

    async def test_callback_errors_are_logged_not_fatal(
        self, server: FakeLROServer, logs: LogCapture
    ) -> None:
        """A raising hook is logged as an error with its reason and traceback; polling goes on."""

        def bad_hook(op: lrpoll.Operation) -> None:
            raise ValueError("boom")

        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec(), on_status=bad_hook)
            assert await op == {"url": "/downloads/job-1.csv"}
        errors = [r.getMessage() for r in logs.records if r.levelname == "ERROR"]
        # on_status on each of the 4 answers
        assert len(errors) == 4
        assert all(e.startswith("hook on_status failed: ValueError('boom')") for e in errors)
        assert all("Traceback (most recent call last)" in e and "bad_hook" in e for e in errors)
        assert gaps(poll_times(server)) == [1.0, 1.0, 1.0]
