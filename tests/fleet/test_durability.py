"""Redis with ``appendonly yes`` and ``appendfsync always`` crashes and restarts mid-run:
no operation is lost (at most polled again)."""

from __future__ import annotations

import shutil
import signal
from typing import TYPE_CHECKING

import anyio
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

import lrpoll
from lrpoll.fleet import Fleet, Worker
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec

from .support import NO_REDIS, RedisProcess, until

if TYPE_CHECKING:
    from pathlib import Path

N = 60
SHARDS = 4


@pytest.mark.timeout(120)
async def test_restart_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL Redis while a worker polls, start it again from its AOF: every operation
    enrolled before the crash is still there and ends as the fake's job did."""
    if shutil.which("redis-server") is None:
        pytest.skip(NO_REDIS)
    redis = RedisProcess(tmp_path, config={"appendonly": "yes", "appendfsync": "always"})
    redis.start()
    try:
        async with FakeLROServer() as server:
            jobs = [
                server.add_job(JobScript.fail_at(4) if i % 5 == 0 else JobScript.success(polls=6))
                for i in range(N)
            ]
            # Short leases: a claim whose answer the crash cut off lapses soon.
            worker = Worker(
                redis.url,
                namespace="dur",
                shards=SHARDS,
                max_sleep=0.05,
                limits=lrpoll.Limits(timeout=2),
                lease_margin=0.5,
            )
            worker.auth("default", trusted_origins=[server.base_url])
            async with anyio.create_task_group() as tg:
                async with Fleet(redis.url, namespace="dur", shards=SHARDS) as fleet:
                    for job in jobs:
                        await fleet.enroll_url(
                            server.status_url(job.id),
                            export_spec(interval=0.05),
                            operation_id=job.id,
                        )
                tg.start_soon(worker.run)
                await until(lambda: worker.statistics.completed >= N)
                redis.stop(signal.SIGKILL)  # a crash: only what was fsynced survives
                await anyio.sleep(0.3)  # the worker's polls go on; its pipelines fail
                redis.start()

                async def all_done(fleet: Fleet) -> bool:
                    try:
                        ops = [await fleet.get(job.id) for job in jobs]
                    except RedisConnectionError:
                        return False
                    return all(op is not None and op.done for op in ops)

                async with Fleet(redis.url, namespace="dur", shards=SHARDS) as fleet:
                    await until(lambda: all_done(fleet), within=60, every=0.05)
                    ops = {job.id: await fleet.get(job.id) for job in jobs}
                    counts = await fleet.counts()
                worker.close()
    finally:
        redis.stop()
    assert counts["due"] == 0
    assert counts["leased"] == 0
    assert worker.statistics.redis_faults > 0
    ends = {"done": "succeeded", "failed": "failed"}
    for job in jobs:
        op = ops[job.id]
        assert op is not None
        assert op.state == ends[job.state]
