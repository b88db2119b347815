"""A thousand exports through one scheduler, and what it cost.

Every waiting operation is an entry in one timer heap; a fixed pool of request slots
sends the polls that are due. Real time, against the embedded fake server: a few
seconds.

Run it: ``python examples/many_exports.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript

N = 1000

EXPORT = lrpoll.PollSpec(
    status_url="/api/exports/{start.jobId}/status",
    interval=0.2,
    min_interval=0,
    first_poll_jitter=0.2,  # spread the first polls of the batch
    max_duration=30,
    done="status == 'done'",
    failed="status == 'failed'",
    error_message="error.message",
)


async def main() -> None:
    """Start N exports, wait for all of them, print the counts."""
    began = time.perf_counter()
    async with FakeLROServer() as server, lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        server.script_next(
            *[
                JobScript.fail_at(2, "quota exceeded") if n % 100 == 0 else JobScript(polls=n % 4)
                for n in range(N)
            ]
        )
        ops = [
            await scheduler.start("POST", "/api/exports", json={}, spec=EXPORT) for _ in range(N)
        ]
        states: Counter[str] = Counter()
        async for op in scheduler.as_completed(ops):
            states[op.state] += 1
        stats = scheduler.statistics()
    print(f"{N} operations in {time.perf_counter() - began:.1f} s: {dict(states)}")
    print(f"polls sent: {stats.polls_sent}, request slots: {stats.slots}")


if __name__ == "__main__":
    asyncio.run(main())
