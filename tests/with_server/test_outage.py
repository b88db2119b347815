"""Recovery after an outage: the retry bucket bounds the herd, successes refill it (F42).

One test-local server answers 503 to everything during a window of loop time and
``done`` after it. Figures come from its request log, in looptime's loop time, so they are
exact and repeatable (seeded jitter).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

import lrpoll
from tests.helpers import export_spec

if TYPE_CHECKING:
    from tests.with_server.conftest import Serve


@dataclass
class Outage:
    """A server that fails every request in ``[start, end)`` and says done after it."""

    start: float
    end: float
    log: list[tuple[float, int]] = field(default_factory=list)

    async def status(self, request: web.Request) -> web.Response:
        """One status answer, logged with its loop time."""
        now = asyncio.get_running_loop().time()
        if self.start <= now < self.end:
            self.log.append((now, 503))
            return web.json_response({"error": "down"}, status=503)
        self.log.append((now, 200))
        return web.json_response({"status": "done" if now >= self.end else "running"})


async def run_outage(
    serve: Serve, *, ops: int, start: float, end: float, **scheduler: float
) -> tuple[int, float]:
    """``ops`` operations through the outage: (requests during it, drain time after it).

    The drain time runs from the end of the outage to the last good answer.
    """
    outage = Outage(start, end)
    base = await serve(web.get("/s/{id}", outage.status))
    spec = export_spec(errors=lrpoll.ErrorBudget(max_consecutive=None))
    async with lrpoll.Scheduler(base_url=base, seed=3, **scheduler) as sched:  # type: ignore[arg-type]
        handles = [await sched.watch(f"{base}/s/{i}", spec) for i in range(ops)]
        finished = await asyncio.gather(*(op.wait() for op in handles))
    assert len(finished) == ops
    during = sum(1 for t, _ in outage.log if start <= t < end)
    drained = max(t for t, code in outage.log if code == 200) - end
    return during, drained


@pytest.mark.slow
async def test_two_second_outage_of_1000_operations(serve: Serve) -> None:
    """F42: a 2 s outage of 1 000 ops: few retries during it, all done soon after it."""
    during, drained = await run_outage(serve, ops=1000, start=0.5, end=2.5)
    # The first failing poll of each op (1 000), then retries at the bucket's rate (a burst
    # of 20, then 5 per second): 1 027 with seed 3. Time-only refill drained in 199.9 s.
    assert during <= 1000 + 20 + 5 * 2 + 1
    # Good answers refill the bucket: the deferred retries go within their own backoff.
    assert drained < 5.0


async def test_time_only_refill_drains_at_the_bucket_rate(serve: Serve) -> None:
    """F42: with retry_refill=0 the 200 deferred retries drain at 5 per second."""
    during, drained = await run_outage(serve, ops=200, start=0.5, end=2.5, retry_refill=0.0)
    assert during <= 200 + 20 + 5 * 2 + 1
    assert drained > 25.0  # about (200 - 30) / 5 seconds


async def test_outage_of_200_operations_on_another_schedule(serve: Serve) -> None:
    """F42: 200 ops through a 5 s outage: the herd stays bounded and drains promptly."""
    during, drained = await run_outage(serve, ops=200, start=1.5, end=6.5)
    assert during <= 200 + 20 + 5 * 5 + 1
    assert drained < 5.0
