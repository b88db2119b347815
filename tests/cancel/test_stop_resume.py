"""op.stop() / op.resume(): client-side only, resumable, and stopped time is not counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from lrpoll import OperationCancelled, PollingStopped, PollTimeout
from lrpoll.testing import JobScript

from .support import cancels, make_spec, now, polls, start

if TYPE_CHECKING:
    from lrpoll import Scheduler
    from lrpoll.testing import FakeLROServer


async def test_stop_sends_nothing(scheduler: Scheduler, server: FakeLROServer) -> None:
    """After stop() the server sees no request at all, however long the wait."""
    op, job = await start(scheduler, server, JobScript.slow())
    await anyio.sleep(2.5)
    op.stop()
    assert op.state == "stopped"
    n = len(server.requests)
    await anyio.sleep(3600)
    assert len(server.requests) == n
    assert job.cancel_requests == []
    assert not op.done


async def test_stop_in_flight_answer_is_ignored(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """A poll in flight when stop() is called is answered, but its answer changes nothing."""
    op, job = await start(scheduler, server, JobScript.success(polls=1))
    server.delay_next("*/status", seconds=2)
    await anyio.sleep(0.5)  # the first poll is held until 2
    op.stop()
    await anyio.sleep(5)
    assert op.state == "stopped"
    assert job.polls == 1  # the server answered the held poll
    assert op.attempts == 0
    assert op.progress is None


async def test_awaiting_task_gets_polling_stopped(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """A task awaiting the operation gets PollingStopped when another task stops it."""
    op, _ = await start(scheduler, server, JobScript.slow())
    caught: list[BaseException] = []

    async def waiter() -> None:
        try:
            await op
        except PollingStopped as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(2.5)
        op.stop()
    assert len(caught) == 1
    assert isinstance(caught[0], PollingStopped)
    assert caught[0].operation_id == op.id


async def test_wait_through_stops(scheduler: Scheduler, server: FakeLROServer) -> None:
    """wait(through_stops=True) keeps waiting through a stop and returns after resume()."""
    op, job = await start(scheduler, server, JobScript.success(polls=4))
    results: list[object] = []

    async def waiter() -> None:
        results.append(await op.wait(through_stops=True))

    async with anyio.create_task_group() as tg:
        tg.start_soon(waiter)
        await anyio.sleep(1.5)
        op.stop()
        await anyio.sleep(100)
        assert results == []
        resumed_at = now()
        op.resume()
    assert results == [{"url": f"/downloads/{job.id}.csv"}]
    # The first poll after resume() goes out at once.
    assert next(r.time for r in polls(server, job) if r.time >= resumed_at) == pytest.approx(
        resumed_at
    )


async def test_resume_continues_attempts(scheduler: Scheduler, server: FakeLROServer) -> None:
    """resume() keeps the attempt count and the status URL."""
    op, job = await start(scheduler, server, JobScript.success(polls=5))
    await anyio.sleep(2.5)
    op.stop()
    attempts, url = op.attempts, op.status_url
    assert attempts == 3
    op.resume()
    assert op.status_url == url
    await op
    assert op.attempts == 6 == len(polls(server, job))


async def test_resume_finished_raises(scheduler: Scheduler, server: FakeLROServer) -> None:
    """resume() on a finished operation raises RuntimeError; stop() on it does nothing."""
    op, _ = await start(scheduler, server, JobScript.success(polls=1))
    await op
    op.stop()
    assert op.state == "succeeded"
    with pytest.raises(RuntimeError, match="already ended"):
        op.resume()


async def test_resume_running_is_a_no_op(scheduler: Scheduler, server: FakeLROServer) -> None:
    """resume() on a running operation changes nothing (no extra poll)."""
    op, job = await start(scheduler, server, JobScript.slow())
    await anyio.sleep(1.5)
    op.resume()
    await anyio.sleep(0.2)
    assert len(polls(server, job)) == 2


async def test_stopped_time_does_not_count_towards_max_duration(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """E41: max_duration=10, stopped 100 s at 3.5 s: PollTimeout comes 10 s of running later."""
    spec = make_spec(max_duration=10)
    started_at = now()
    op, _ = await start(scheduler, server, JobScript.slow(), spec=spec)
    await anyio.sleep(3.5)
    op.stop()
    await anyio.sleep(100)
    assert op.elapsed == pytest.approx(3.5)  # frozen while stopped
    op.resume()
    with pytest.raises(PollTimeout):
        await op
    assert now() == pytest.approx(started_at + 110)
    assert op.elapsed == pytest.approx(10)


async def test_two_stops_both_left_out(scheduler: Scheduler, server: FakeLROServer) -> None:
    """Each stop moves the deadline by its own length."""
    spec = make_spec(max_duration=10)
    started_at = now()
    op, _ = await start(scheduler, server, JobScript.slow(), spec=spec)
    for pause in (20, 30):
        await anyio.sleep(2.5)
        op.stop()
        await anyio.sleep(pause)
        op.resume()
    with pytest.raises(PollTimeout):
        await op
    assert now() == pytest.approx(started_at + 60)


async def test_stop_then_cancel_polls_again(scheduler: Scheduler, server: FakeLROServer) -> None:
    """cancel() on a stopped operation sends the cancel, then polls again to confirm."""
    op, job = await start(scheduler, server, JobScript.cancel_async(2))
    await anyio.sleep(1.5)
    op.stop()
    await anyio.sleep(50)
    before = len(polls(server, job))
    sent_at = now()
    outcome = await op.cancel()
    assert (outcome.kind, outcome.state) == ("cancelled", "cancelled")
    assert len(cancels(server, job)) == 1
    after = [r.time for r in polls(server, job)[before:]]
    assert after == pytest.approx([sent_at, sent_at + 1, sent_at + 2])
    with pytest.raises(OperationCancelled):
        await op


async def test_stop_then_cancel_not_supported_stays_stopped(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """A refused cancel of a stopped operation leaves it stopped and unpolled."""
    op, _ = await start(scheduler, server, JobScript.cancel_unsupported())
    await anyio.sleep(1.5)
    op.stop()
    outcome = await op.cancel()
    assert (outcome.kind, outcome.state) == ("not_supported", "stopped")
    n = len(server.requests)
    await anyio.sleep(60)
    assert len(server.requests) == n
