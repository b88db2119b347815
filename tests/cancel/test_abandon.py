"""Abandon policies (the awaiting task is cancelled) and the scheduler's shutdown policy."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import pytest

from lrpoll import OperationCancelled, PollingStopped, Scheduler
from lrpoll.testing import JobScript

from .support import PREFIX, cancels, make_spec, now, polls, start

if TYPE_CHECKING:
    from lrpoll import Operation
    from lrpoll.testing import FakeLROServer

MECHANISMS = ["cancel_scope", "move_on_after", "task_cancel", "asyncio_timeout"]


async def abandon(op: Operation, mechanism: str, after: float) -> None:
    """Await ``op`` and cancel that wait after ``after`` s; check the cancellation propagated."""
    reached: list[bool] = []

    async def body() -> None:
        await op
        reached.append(True)  # never: the awaiting code does not go on

    if mechanism == "cancel_scope":
        with anyio.CancelScope() as scope:
            asyncio.get_running_loop().call_later(after, scope.cancel)
            await body()
        assert scope.cancelled_caught
    elif mechanism == "move_on_after":
        with anyio.move_on_after(after) as scope:
            await body()
        assert scope.cancelled_caught
    elif mechanism == "asyncio_timeout":
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(after):
                await body()
        current = asyncio.current_task()
        assert current is not None
        assert current.cancelling() == 0  # the timeout's own cancellation was consumed
    else:
        task = asyncio.create_task(body())
        await anyio.sleep(after)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
    assert reached == []


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_stop(scheduler: Scheduler, server: FakeLROServer, mechanism: str) -> None:
    """``abandon="stop"`` (the default) stops polling; nothing is sent to the server."""
    op, _ = await start(scheduler, server, JobScript.slow())
    await abandon(op, mechanism, 2.5)
    assert op.state == "stopped"
    n = len(server.requests)
    await anyio.sleep(60)
    assert len(server.requests) == n
    assert cancels(server) == []
    with pytest.raises(PollingStopped):
        await op


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_cancel(scheduler: Scheduler, server: FakeLROServer, mechanism: str) -> None:
    """G49/G53: ``abandon="cancel"``: one cancel, confirmed, the cancel propagates (all ways)."""
    op, job = await start(scheduler, server, JobScript.cancel_async(1), abandon="cancel")
    abandoned_at = now() + 2.5
    await abandon(op, mechanism, 2.5)
    [request] = cancels(server, job)
    assert request.time == pytest.approx(abandoned_at)
    assert op.state == "cancelled"
    # held while the cancel was confirmed: two polls, one interval apart
    assert now() == pytest.approx(abandoned_at + 1.5)
    with pytest.raises(OperationCancelled):
        await op
    await anyio.sleep(60)
    assert len(cancels(server)) == 1


@pytest.mark.parametrize("mechanism", MECHANISMS)
async def test_detach(scheduler: Scheduler, server: FakeLROServer, mechanism: str) -> None:
    """``abandon="detach"`` keeps polling; another ``await op`` gets the result."""
    op, job = await start(scheduler, server, JobScript.success(polls=6), abandon="detach")
    await abandon(op, mechanism, 2.5)
    assert op.state == "running"
    assert await op == {"url": f"/downloads/{job.id}.csv"}
    assert len(polls(server, job)) == 7
    assert cancels(server) == []


async def test_scheduler_default_policy(server: FakeLROServer) -> None:
    """``Scheduler(abandon="cancel")`` applies to every operation unless one says otherwise."""
    async with Scheduler(base_url=server.base_url, abandon="cancel") as scheduler:
        op, job = await start(scheduler, server, JobScript.slow())
        kept, _ = await start(scheduler, server, JobScript.slow(), abandon="stop")
        await abandon(op, "move_on_after", 1.5)
        await abandon(kept, "move_on_after", 1.5)
        assert (op.state, kept.state) == ("cancelled", "stopped")
        assert [r.path for r in cancels(server)] == [f"{PREFIX}/{job.id}/cancel"]


async def test_cancel_without_cancel_spec_stops(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """``abandon="cancel"`` on a spec with no CancelSpec falls back to stop."""
    spec = make_spec(cancel=None)
    op, _ = await start(scheduler, server, JobScript.slow(), spec=spec, abandon="cancel")
    await abandon(op, "task_cancel", 1.5)
    assert op.state == "stopped"
    assert cancels(server) == []


async def test_cancel_is_bounded_by_abandon_timeout(server: FakeLROServer) -> None:
    """A cancel the server holds for 100 s releases the caller at ``abandon_timeout``."""
    async with Scheduler(base_url=server.base_url, abandon_timeout=5) as scheduler:
        op, job = await start(scheduler, server, JobScript.slow(), abandon="cancel")
        server.delay_next(f"{PREFIX}/*/cancel", seconds=100)
        abandoned_at = now() + 1.5
        await abandon(op, "task_cancel", 1.5)
        assert now() == pytest.approx(abandoned_at + 5)
        assert len(cancels(server, job)) == 0  # still held by the server: logged on answer
        assert job.cancel_requests == []


async def test_no_task_left_behind(server: FakeLROServer) -> None:
    """After every policy and a shutdown, only the tasks from before the scheduler remain."""
    await anyio.lowlevel.checkpoint()
    before = asyncio.all_tasks()
    async with Scheduler(base_url=server.base_url, slots=8, shutdown="cancel") as scheduler:
        for policy in ("stop", "cancel", "detach"):
            for mechanism in MECHANISMS:
                script = JobScript.cancel_async(1)
                op, _ = await start(scheduler, server, script, abandon=policy)
                await abandon(op, mechanism, 1.5)
        await start(scheduler, server, JobScript.cancel_async(50))
        await anyio.sleep(1)
    await anyio.sleep(1)  # let the fake's connection handlers see the closed connections
    assert asyncio.all_tasks() == before


class TestShutdown:
    """What leaving ``async with Scheduler(...)`` does to the operations still running."""

    async def running_mix(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> dict[str, tuple[Operation, Any]]:
        """Operations in every situation: running, slow to confirm, stopped, no CancelSpec."""
        ops = {
            "quick": await start(scheduler, server, JobScript.slow()),
            "slow": await start(scheduler, server, JobScript.cancel_async(100)),
            "stopped": await start(scheduler, server, JobScript.slow()),
            "no_cancel": await start(
                scheduler, server, JobScript.slow(), spec=make_spec(cancel=None)
            ),
            "done": await start(scheduler, server, JobScript.success(polls=1)),
        }
        await anyio.sleep(2.5)
        ops["stopped"][0].stop()
        return ops

    async def test_cancel_sends_one_cancel_per_running_op(self, server: FakeLROServer) -> None:
        """``shutdown="cancel"``: one cancel per running op, bounded by ``shutdown_timeout``."""
        async with Scheduler(
            base_url=server.base_url, shutdown="cancel", shutdown_timeout=4
        ) as scheduler:
            ops = await self.running_mix(scheduler, server)
            left_at = now()
        assert now() == pytest.approx(left_at + 4)  # the slow confirmation was cut short
        sent = sorted(r.path for r in cancels(server))
        expected = sorted(f"{PREFIX}/{ops[k][1].id}/cancel" for k in ("quick", "slow"))
        assert sent == expected
        assert [r.time for r in cancels(server)] == pytest.approx([left_at, left_at])
        states = {name: op.state for name, (op, _) in ops.items()}
        assert states == {
            "quick": "cancelled",
            "slow": "stopped",
            "stopped": "stopped",
            "no_cancel": "stopped",
            "done": "succeeded",
        }

    async def test_cancel_bounded_when_server_holds(self, server: FakeLROServer) -> None:
        """A cancel held by the server does not hold the exit past ``shutdown_timeout``."""
        async with Scheduler(
            base_url=server.base_url, shutdown="cancel", shutdown_timeout=2
        ) as scheduler:
            op, _ = await start(scheduler, server, JobScript.slow())
            await anyio.sleep(0.5)
            server.delay_next(f"{PREFIX}/*/cancel", seconds=100)
            left_at = now()
        assert now() == pytest.approx(left_at + 2)
        assert op.state == "stopped"

    async def test_stop_sends_nothing(self, server: FakeLROServer) -> None:
        """``shutdown="stop"`` (the default) stops every op at once and sends no cancel."""
        async with Scheduler(base_url=server.base_url) as scheduler:
            ops = await self.running_mix(scheduler, server)
            left_at = now()
        assert now() == pytest.approx(left_at)
        n = len(server.requests)
        await anyio.sleep(60)
        assert len(server.requests) == n
        assert cancels(server) == []
        assert {op.state for op, _ in ops.values()} == {"stopped", "succeeded"}
