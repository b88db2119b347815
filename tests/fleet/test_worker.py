"""A fleet worker drives enrolled operations to their ends against the fake export server.

Worker and fake run in the test's event loop on real time; Redis is a real server.
"""

from __future__ import annotations

import json
from collections import Counter
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import pytest

import lrpoll
from lrpoll._aiohttp import AiohttpSender
from lrpoll.fleet import Fleet, FleetOperation, Worker
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec

from .support import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

SHARDS = 4
CANCEL = lrpoll.CancelSpec(url="/api/exports/{start.jobId}/cancel", method="POST")


def spec(**overrides: Any) -> lrpoll.PollSpec:
    """The export spec, polling every 20 ms of real time."""
    return export_spec(interval=0.02, **overrides)


@asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """``worker`` running in the background for the block, closed at its end."""
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        yield worker
        worker.close()


async def wait_done(
    fleet: Fleet, ids: Iterable[str], *, within: float = 30
) -> dict[str, FleetOperation]:
    """The operations once every one of ``ids`` has ended (watching the event streams)."""
    pending = set(ids)
    with anyio.fail_after(within):
        async for event in fleet.events(from_start=True, block=0.1):
            if event.kind == "done":
                pending.discard(event.id)
            if not pending:
                break
    out = {}
    for op_id in ids:
        op = await fleet.get(op_id)
        assert op is not None
        out[op_id] = op
    return out


async def stopped(fleet: Fleet, op_id: str) -> FleetOperation | None:
    """The operation once the schedule has it stopped, else None."""
    op = await fleet.get(op_id)
    return op if op is not None and op.sched == "stopped" else None


def status_polls(server: FakeLROServer, job_id: str) -> int:
    """How many status polls ``job_id`` got."""
    return sum(1 for r in server.requests if r.path.endswith(f"/{job_id}/status"))


def worker(redis_url: str, namespace: str, server: FakeLROServer, **kwargs: Any) -> Worker:
    w = Worker(redis_url, namespace=namespace, shards=SHARDS, max_sleep=0.05, **kwargs)
    w.auth("default", trusted_origins=[server.base_url])
    return w


@pytest.mark.parametrize(
    "http", [pytest.param("aiohttp", marks=pytest.mark.aiohttp_sender), "lean"]
)
async def test_same_results_as_the_scheduler(
    redis_url: str, namespace: str, http: lrpoll.HttpClient
) -> None:
    """Operations polled by a fleet worker end as the in-process Scheduler's do: same
    states, results, errors and number of polls (under either HTTP client)."""
    scripts = [
        JobScript.fail_at(2, f"disk {i} full")
        if i % 4 == 0
        else JobScript.success(polls=i % 3, result={"n": i})
        for i in range(24)
    ]
    async with FakeLROServer() as server:
        fleet_jobs = [server.add_job(s) for s in scripts]
        local_jobs = [server.add_job(s) for s in scripts]
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            for job in fleet_jobs:
                await fleet.enroll_url(server.status_url(job.id), spec(), operation_id=job.id)
            w = worker(redis_url, namespace, server, slots=8, http=http)
            async with running(w):
                ops = await wait_done(fleet, [j.id for j in fleet_jobs])
                senders = {type(t.sender) for t in w._transports.values()}
                assert senders == {lrpoll.LeanSender if http == "lean" else AiohttpSender}
            assert await fleet.counts() == {"due": 0, "leased": 0, "stale": 0}
        local: list[tuple[lrpoll.Operation, Any]] = []
        async with lrpoll.Scheduler(base_url=server.base_url, http=http) as scheduler:
            handles = [await scheduler.watch(server.status_url(j.id), spec()) for j in local_jobs]
            for handle in handles:
                try:
                    local.append((handle, await handle))
                except lrpoll.LrpollError:
                    local.append((handle, None))
        for fjob, ljob, (handle, result) in zip(fleet_jobs, local_jobs, local, strict=True):
            op = ops[fjob.id]
            assert op.state == handle.state
            assert op.result == result
            assert op.progress == handle.progress
            if handle.error is None:
                assert op.error is None
            else:
                assert op.error == {
                    "type": type(handle.error).__name__,
                    "message": handle.error.message,
                }
            assert status_polls(server, fjob.id) == status_polls(server, ljob.id)
        assert w.statistics.stale == 0
        assert w.statistics.round_trips <= 2 * w.statistics.claimed


async def test_credentials_only_to_the_profile_origins(redis_url: str, namespace: str) -> None:
    """The worker sends its profile's token to the profile's origin, and refuses a status
    URL off its origins before anything is sent, as the Scheduler does."""
    async with FakeLROServer(bearer="s3cret-token") as server:
        good = server.add_job(JobScript.success(polls=1))
        bad = server.add_job(JobScript.success(polls=1))
        elsewhere = server.status_url(bad.id).replace("127.0.0.1", "localhost")
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(server.status_url(good.id), spec(), operation_id="good")
            await fleet.enroll_url(elsewhere, spec(), operation_id="bad")
            w = Worker(redis_url, namespace=namespace, shards=SHARDS, max_sleep=0.05)
            w.auth("default", {server.base_url: lrpoll.BearerToken("s3cret-token")})
            async with running(w):
                ops = await wait_done(fleet, ["good", "bad"])
    assert ops["good"].state == "succeeded"
    assert ops["bad"].state == "error"
    assert ops["bad"].error is not None
    assert ops["bad"].error["type"] == "UntrustedURL"
    assert status_polls(server, bad.id) == 0


async def test_cancel_through_the_fleet(redis_url: str, namespace: str) -> None:
    """fleet.cancel() has a worker send the cancel request once, then poll until the
    server confirms: the operation ends cancelled, as the fake job did."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.slow(cancel="async", cancel_polls=2))
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(
                server.status_url(job.id),
                spec(cancel=CANCEL),
                operation_id="c",
                start={"jobId": job.id},
            )
            async with running(worker(redis_url, namespace, server)) as w:
                await until(lambda: status_polls(server, job.id) >= 2)
                assert await fleet.cancel("c") == "requested"
                assert await fleet.cancel("c") in ("requested", "sent")
                op = (await wait_done(fleet, ["c"]))["c"]
    assert op.state == "cancelled"
    assert job.state == "cancelled"
    assert op.cancel == "sent"
    assert w.statistics.cancels == 1
    assert (
        Counter(r.path.rsplit("/", 1)[-1] for r in server.requests if r.method == "POST")["cancel"]
        == 1
    )


async def test_cancel_without_a_cancel_request_stops(redis_url: str, namespace: str) -> None:
    """A cancel of an operation whose spec has no cancel request stops it, as a Scheduler's."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.slow())
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(server.status_url(job.id), spec(), operation_id="s")
            async with running(worker(redis_url, namespace, server)):
                await fleet.cancel("s")
                op = await until(lambda: stopped(fleet, "s"))
    assert op.cancel == "unsupported"


async def test_stop_and_resume(redis_url: str, namespace: str) -> None:
    """A stopped operation is not claimed; resumed, it is polled to its end."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=20))
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(server.status_url(job.id), spec(), operation_id="r")
            async with running(worker(redis_url, namespace, server)) as w:
                await until(lambda: status_polls(server, job.id) >= 3)
                await fleet.stop("r")
                await until(lambda: stopped(fleet, "r"))
                polls = status_polls(server, job.id)
                claimed = w.statistics.claimed
                await anyio.sleep(0.2)  # several worker loops: nothing claims it
                assert status_polls(server, job.id) == polls
                assert w.statistics.claimed == claimed
                assert await fleet.resume("r") == "stopped"
                done = (await wait_done(fleet, ["r"]))["r"]
    assert done.state == "succeeded"
    assert done.progress == 100


@pytest.mark.parametrize("profile", ["other"])
async def test_unknown_profile_waits_for_a_worker_that_has_it(
    redis_url: str, namespace: str, profile: str
) -> None:
    """An operation whose auth profile this worker lacks is released, not failed."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=1))
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(
                server.status_url(job.id), spec(), operation_id="p", auth=profile
            )
            async with running(worker(redis_url, namespace, server, release_delay=60)) as w:
                await until(lambda: w.statistics.completed >= 1)
            op = await fleet.get("p")
    assert op is not None
    assert op.sched == "due"
    assert op.state == "running"
    assert status_polls(server, job.id) == 0


async def test_shard_count_is_checked(redis_url: str, namespace: str) -> None:
    """A client with another shard count than the namespace's is refused."""
    async with Fleet(redis_url, namespace=namespace, shards=SHARDS):
        pass
    with pytest.raises(ValueError, match="shards"):
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS + 1):
            pass


async def test_enroll_checkpoint_is_idempotent(redis_url: str, namespace: str) -> None:
    """Enrolling one checkpoint three times gives one operation."""
    token = lrpoll.checkpoint_for("http://127.0.0.1:9/x", spec(), operation_id="same")
    async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
        for _ in range(3):
            assert await fleet.enroll(token) == "same"
        assert await fleet.counts() == {"due": 1, "leased": 0, "stale": 0}


async def test_worker_clock_skew_changes_nothing(
    redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose wall clock is an hour ahead steps on Redis's clock: operations with a
    60 s deadline are not timed out, and due times come from Redis TIME."""
    import time

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    async with FakeLROServer() as server:
        jobs = [server.add_job(JobScript.success(polls=2)) for _ in range(5)]
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            for job in jobs:
                await fleet.enroll_url(
                    server.status_url(job.id), spec(max_duration=60), operation_id=job.id
                )
            async with running(worker(redis_url, namespace, server)):
                ops = await wait_done(fleet, [j.id for j in jobs])
    assert {op.state for op in ops.values()} == {"succeeded"}


async def test_stopped_checkpoint_resumes_in_the_fleet(redis_url: str, namespace: str) -> None:
    """A checkpoint of an operation stopped in a Scheduler is enrolled stopped; resumed
    through the fleet, a worker polls it to its end."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=6))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec(), operation_id="moved")
            await until(lambda: status_polls(server, job.id) >= 2)
            op.stop()
            token = op.checkpoint()
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            assert await fleet.enroll(token) == "moved"
            stored = await fleet.get("moved")
            assert stored is not None
            assert (stored.sched, stored.state) == ("stopped", "running")
            async with running(worker(redis_url, namespace, server)):
                assert await fleet.resume("moved") == "stopped"
                done = (await wait_done(fleet, ["moved"]))["moved"]
    assert done.state == "succeeded"
    assert job.state == "done"


async def test_spec_stored_once_and_checkpoints_without_it(redis_url: str, namespace: str) -> None:
    """The fleet keeps each spec once per shard and every operation's checkpoint without it,
    before polling and after; `get` gives the spec back, and with it the stored checkpoint
    steps as any other."""
    async with FakeLROServer() as server:
        jobs = [server.add_job(JobScript.success(polls=2)) for _ in range(6)]
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            tokens = [
                lrpoll.checkpoint_for(server.status_url(j.id), spec(), operation_id=j.id)
                for j in jobs
            ]
            ids = [j.id for j in jobs]
            assert await fleet.enroll_many(tokens + tokens[:2]) == ids + ids[:2]
            assert (await fleet.counts())["due"] == len(jobs)
            first = await fleet.get(jobs[0].id)
            assert first is not None
            assert first.spec is not None
            assert first.spec.to_json() == spec().to_json()
            stored = json.loads(first.checkpoint)
            assert "spec" not in stored
            assert len(first.checkpoint) < len(tokens[0]) / 2
            async with lrpoll.Transport.open(server.base_url) as transport:
                stepped = await lrpoll.step(first.checkpoint, transport=transport, spec=first.spec)
            assert stepped.checkpoint is not None
            specs: set[bytes | str] = set()
            for p in range(SHARDS):
                specs.update((await fleet.redis.hgetall(fleet.keys.specs(p))).values())
            assert len(specs) == 1
            async with running(worker(redis_url, namespace, server)) as w:
                ops = await wait_done(fleet, [j.id for j in jobs])
    assert {op.state for op in ops.values()} == {"succeeded"}
    assert w.statistics.stale == 0


async def test_first_layout_is_still_polled(redis_url: str, namespace: str) -> None:
    """An operation enrolled with its spec inside its checkpoint (the first layout, as older
    data holds it) is claimed and polled to its end beside detached ones, and stays whole."""
    async with FakeLROServer() as server:
        old, new = server.add_job(JobScript.success(polls=3)), server.add_job(JobScript.success())
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            whole = lrpoll.checkpoint_for(server.status_url(old.id), spec(), operation_id="old")
            call = fleet.scripts.enroll("old", whole, "default", state="running", sched="due")
            assert await fleet.scripts.run(fleet.redis, [call]) == [1]
            await fleet.enroll_url(server.status_url(new.id), spec(), operation_id="new")
            async with running(worker(redis_url, namespace, server)):
                await until(lambda: status_polls(server, old.id) >= 2)
                middle = await fleet.get("old")
                ops = await wait_done(fleet, ["old", "new"])
    assert middle is not None
    assert middle.spec is None
    assert json.loads(middle.checkpoint)["spec"] == spec().to_json()
    assert {op.state for op in ops.values()} == {"succeeded"}
    assert status_polls(server, old.id) == 4


async def test_missing_spec_ends_the_operation(redis_url: str, namespace: str) -> None:
    """An operation whose spec the fleet lost (deleted from Redis) ends with a
    CheckpointError naming the spec's digest, without a poll: never polled forever."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=2))
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(server.status_url(job.id), spec(), operation_id="lost")
            digest = await fleet.redis.hget(fleet.keys.op("lost"), "spec")
            await fleet.redis.delete(*(fleet.keys.specs(p) for p in range(SHARDS)))
            async with running(worker(redis_url, namespace, server)):
                op = (await wait_done(fleet, ["lost"]))["lost"]
    assert op.state == "error"
    assert op.error is not None
    assert op.error["type"] == "CheckpointError"
    assert digest in op.error["message"]
    assert status_polls(server, job.id) == 0


async def test_claimed_ahead_and_waited_too_long_is_given_back(
    redis_url: str, namespace: str
) -> None:
    """An operation claimed ahead of a free slot that waits for one longer than half the
    lease margin is given back unpolled (its poll could outlast the lease), then polled by
    a later claim: nothing is polled twice, no completion is stale."""
    async with FakeLROServer() as server:
        jobs = [server.add_job(JobScript.success(polls=1)) for _ in range(3)]
        server.delay_next("*/status", seconds=0.3, times=100)
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            for job in jobs:
                await fleet.enroll_url(server.status_url(job.id), spec(), operation_id=job.id)
            w = worker(
                redis_url,
                namespace,
                server,
                slots=1,
                lease_margin=0.2,
                limits=lrpoll.Limits(timeout=2.0),
            )
            async with running(w):
                ops = await wait_done(fleet, [j.id for j in jobs])
    assert {op.state for op in ops.values()} == {"succeeded"}
    assert w.statistics.requeued >= 1
    assert w.statistics.stale == 0
    assert [status_polls(server, j.id) for j in jobs] == [2, 2, 2]


async def test_claim_read_late_is_given_back_unpolled(
    redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A claim whose answer the worker reads only after its lease lapsed (its loop paused
    between Redis's claim and the read: a stall, SIGSTOP) is given back unpolled: no poll
    after another worker recorded the operation done."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=0))
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(server.status_url(job.id), spec(), operation_id=job.id)
            limits = lrpoll.Limits(timeout=0.5)
            late = worker(redis_url, namespace, server, limits=limits, lease_margin=0.2)
            run = late.scripts.run
            paused = anyio.Event()

            async def ended() -> bool:
                op = await fleet.get(job.id)
                return op is not None and op.done

            async def read_late(redis: Any, calls: Any) -> list[Any]:
                answers = await run(redis, calls)
                if not paused.is_set() and any(job.id in a for a in answers if isinstance(a, list)):
                    paused.set()
                    await until(ended)  # the lease lapses; another worker ends the operation
                return answers

            monkeypatch.setattr(late.scripts, "run", read_late)
            async with running(late):
                await paused.wait()
                other = worker(redis_url, namespace, server, limits=limits, lease_margin=0.2)
                async with running(other):
                    await wait_done(fleet, [job.id])
                await until(lambda: late.statistics.stale)  # its claim, written back
    assert status_polls(server, job.id) == 1
    assert late.statistics.sent == 0
    assert late.statistics.requeued == 1  # refused (STALE): the lease had moved on
    assert other.statistics.completed == 1


async def test_timed_out_poll_is_retried_and_recorded(redis_url: str, namespace: str) -> None:
    """A poll that times out is polled again within its lease, and the fleet records the
    fault as a retry event (the server may have counted the poll: polling is at least
    once)."""
    async with FakeLROServer() as server:
        job = server.add_job(JobScript.success(polls=0))
        server.delay_next("*/status", seconds=0.6)
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            await fleet.enroll_url(server.status_url(job.id), spec(), operation_id=job.id)
            w = worker(redis_url, namespace, server, limits=lrpoll.Limits(timeout=0.3))
            async with running(w):
                ops = await wait_done(fleet, [job.id])
            events = []
            async for event in fleet.events(from_start=True, block=0.1):
                events.append(event)
                if event.kind == "done":
                    break
    assert ops[job.id].state == "succeeded"
    assert [e.kind for e in events] == ["enrolled", "retry", "done"]
    error = json.loads(events[1].error or "")
    assert error["type"] == "RequestError"
    assert "timed out" in error["message"]
    assert status_polls(server, job.id) == 2  # the first, timed out, was counted
    assert w.statistics.stale == 0
