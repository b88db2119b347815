"""CancelToken: one handle to stop or cancel many operations, with children and a timeout."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

from lrpoll import CancelSpec, CancelToken, OperationCancelled, PollingStopped
from lrpoll.testing import JobScript

from .support import PREFIX, cancels, make_spec, now, polls, start

if TYPE_CHECKING:
    from lrpoll import Operation, Scheduler
    from lrpoll.testing import FakeJob, FakeLROServer

# watch() has no start response: the cancel URL comes from the last status document.
WATCH_SPEC = make_spec(cancel=CancelSpec(url=PREFIX + "/{last.jobId}/cancel", confirm_timeout=30))


async def three_ops(
    scheduler: Scheduler, server: FakeLROServer, token: CancelToken, script: JobScript
) -> list[tuple[Operation, FakeJob]]:
    """Two started operations and one watched operation, all on ``token``."""
    pairs = [await start(scheduler, server, script, token=token) for _ in range(2)]
    job = server.add_job(script)
    op = await scheduler.watch(server.status_url(job.id), WATCH_SPEC, token=token)
    return [*pairs, (op, job)]


async def test_stop_stops_all(scheduler: Scheduler, server: FakeLROServer) -> None:
    """token.stop() stops every operation on it (started or watched); nothing is sent."""
    token = CancelToken(reason="user left")
    pairs = await three_ops(scheduler, server, token, JobScript.slow())
    await anyio.sleep(2.5)
    assert token.operations == {op for op, _ in pairs}
    token.stop()
    assert token.stopped
    assert not token.cancelled
    assert {op.state for op, _ in pairs} == {"stopped"}
    n = len(server.requests)
    await anyio.sleep(100)
    assert len(server.requests) == n
    for op, _ in pairs:
        with pytest.raises(PollingStopped):
            await op


async def test_cancel_cancels_all_concurrently(scheduler: Scheduler, server: FakeLROServer) -> None:
    """await token.cancel() sends one request per operation, all at once, and returns outcomes."""
    token = CancelToken()
    pairs = await three_ops(scheduler, server, token, JobScript.cancel_async(2))
    await anyio.sleep(1.5)
    server.delay_next(f"{PREFIX}/*/cancel", seconds=5, times=3)
    sent_at = now()
    outcomes = await token.cancel()
    assert token.cancelled
    assert sorted(o.operation_id for o in outcomes) == sorted(op.id for op, _ in pairs)
    assert {o.kind for o in outcomes} == {"cancelled"}
    requests = cancels(server)
    assert len(requests) == 3
    assert {r.path for r in requests} == {f"{PREFIX}/{job.id}/cancel" for _, job in pairs}
    # concurrent: all three arrived at the same instant, not one after another
    assert [r.time for r in requests] == pytest.approx([sent_at] * 3)
    assert token.operations == frozenset()
    for op, _ in pairs:
        with pytest.raises(OperationCancelled):
            await op


async def test_cancel_stops_ops_without_cancel_spec(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """token.cancel() stops ops whose spec has no cancel request: not_supported, as op.cancel()."""
    token = CancelToken()
    op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=None))
    await anyio.sleep(0.5)
    op2, _ = await start(scheduler, server, JobScript.slow(), token=token, spec=op.spec)
    outcomes = await token.cancel()
    assert [(o.kind, o.operation_id, o.sent) for o in outcomes] == [
        ("not_supported", op2.id, False)
    ]
    assert op2.state == "stopped"
    assert op.state == "running"  # not on the token
    assert cancels(server) == []


async def test_child_tokens(scheduler: Scheduler, server: FakeLROServer) -> None:
    """A parent's stop reaches its children's ops; a child's cancel leaves the parent's alone."""
    parent = CancelToken(reason="shutdown")
    child = parent.child(reason="one user")
    assert child.parent is parent
    parent_op, _ = await start(scheduler, server, JobScript.slow(), token=parent)
    child_op, child_job = await start(scheduler, server, JobScript.slow(), token=child)
    await anyio.sleep(1.5)
    assert parent.operations == {parent_op, child_op}
    assert child.operations == {child_op}

    outcomes = await child.cancel()
    assert [o.kind for o in outcomes] == ["cancelled"]
    assert child.cancelled
    assert not parent.cancelled
    assert parent_op.state == "running"
    assert [r.path for r in cancels(server)] == [f"{PREFIX}/{child_job.id}/cancel"]

    other_child = parent.child()
    other_op, _ = await start(scheduler, server, JobScript.slow(), token=other_child)
    await anyio.sleep(1.5)
    parent.stop()
    assert (parent_op.state, other_op.state) == ("stopped", "stopped")
    assert other_child.stopped
    assert child.cancelled  # a cancel is not downgraded to a stop
    assert len(cancels(server)) == 1


async def test_registered_after_stop(scheduler: Scheduler, server: FakeLROServer) -> None:
    """An operation put on a stopped token is stopped at once (and so is a new child's)."""
    token = CancelToken()
    token.stop()
    op, job = await start(scheduler, server, JobScript.slow(), token=token)
    assert op.state == "stopped"
    child_op, _ = await start(scheduler, server, JobScript.slow(), token=token.child())
    assert child_op.state == "stopped"
    await anyio.sleep(10)
    assert polls(server, job) == []


async def test_registered_after_cancel(scheduler: Scheduler, server: FakeLROServer) -> None:
    """An operation put on a cancelled token is cancelled at once, in the background."""
    token = CancelToken()
    await token.cancel()
    op, job = await start(scheduler, server, JobScript.cancel_async(1), token=token)
    with pytest.raises(OperationCancelled):
        await op
    [request] = cancels(server, job)
    assert request.time == pytest.approx(job.created_at)
    assert (await op.cancel()).kind == "cancelled"
    assert len(cancels(server, job)) == 1


@pytest.mark.parametrize("on_timeout", ["stop", "cancel"])
async def test_timeout(scheduler: Scheduler, server: FakeLROServer, on_timeout: str) -> None:
    """A token's timeout applies ``on_timeout`` by itself, at that instant in loop time."""
    created_at = now()
    token = CancelToken(reason="too slow", timeout=10, on_timeout=on_timeout)  # type: ignore[arg-type]
    pairs = [await start(scheduler, server, JobScript.slow(), token=token) for _ in range(3)]
    await anyio.sleep(9.5)
    assert {op.state for op, _ in pairs} == {"running"}
    await anyio.sleep(1)
    if on_timeout == "stop":
        assert token.stopped
        assert {op.state for op, _ in pairs} == {"stopped"}
        assert cancels(server) == []
    else:
        assert token.cancelled
        assert {op.state for op, _ in pairs} == {"cancelled"}
        assert [r.time for r in cancels(server)] == pytest.approx([created_at + 10] * 3)
    n = len(server.requests)
    await anyio.sleep(60)
    assert len(server.requests) == n
    assert token.reason == "too slow"


async def test_stop_before_timeout_disarms_it(scheduler: Scheduler, server: FakeLROServer) -> None:
    """A token stopped by hand never fires its ``cancel`` timeout later."""
    token = CancelToken(timeout=10, on_timeout="cancel")
    op, _ = await start(scheduler, server, JobScript.slow(), token=token)
    await anyio.sleep(1.5)
    token.stop()
    op.resume()
    await anyio.sleep(20)
    assert op.state == "running"
    assert cancels(server) == []


def test_reason_and_repr() -> None:
    """The reason is kept on the token and shown in its repr; children have their own."""
    token = CancelToken(reason="deploy")
    child = token.child(reason="user 7")
    assert token.reason == "deploy"
    assert child.reason == "user 7"
    assert repr(token) == "<CancelToken active 'deploy' ops=0>"
    token.stop()
    assert repr(child) == "<CancelToken stopped 'user 7' ops=0>"
