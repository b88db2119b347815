"""First-poll jitter spreads a batch started together (RELIABILITY F45, F47)."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec, now, poll_times


async def _first_polls(server: FakeLROServer, seed: int) -> list[float]:
    """200 jobs watched at t=0 with a 1 s interval and 1 s of first-poll jitter."""
    jobs = [server.add_job(JobScript.slow()) for _ in range(200)]
    spec = export_spec(first_poll_jitter=1.0)
    async with lrpoll.Scheduler(base_url=server.base_url, seed=seed) as scheduler:
        server.requests.clear()
        for job in jobs:
            await scheduler.watch(server.status_url(job.id), spec)
        started = now()
        await anyio.sleep(1.0)
    return [min(poll_times(server, f"*/{job.id}/status")) - started for job in jobs]


async def test_first_polls_spread_over_one_interval(server: FakeLROServer) -> None:
    """F45: 200 ops started at t=0 poll first over [0, 1) s; no 0.1 s bucket holds > 20 %."""
    firsts = await _first_polls(server, seed=11)
    assert all(0.0 <= t < 1.0 for t in firsts)
    buckets = Counter(int(t * 10) for t in firsts)  # ten buckets of 0.1 s
    assert sorted(buckets) == list(range(10))
    assert max(buckets.values()) <= 40  # 20 expected in each; 20 % of 200 at most


async def test_same_seed_same_first_polls(server: FakeLROServer) -> None:
    """F47: the same seed gives the same first-poll instants; another seed does not."""
    first = await _first_polls(server, seed=11)
    again = await _first_polls(server, seed=11)
    other = await _first_polls(server, seed=12)
    assert again == pytest.approx(first, abs=1e-6)
    assert other != pytest.approx(first, abs=1e-6)
