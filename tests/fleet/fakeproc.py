"""The fake export server in a process of its own, for the fleet's fault tests.

``python -m tests.fleet.fakeproc --jobs N --out FILE [--stall GLOB:SECONDS:TIMES ...]``
serves N jobs (``job-1`` ..), prints ``{"base_url": ...}`` once listening, and on SIGTERM
writes each job's state, status polls (with the epoch time each arrived) and cancel
requests to FILE, then exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import time
from collections import Counter, defaultdict

import anyio

from lrpoll.testing import FakeLROServer, JobScript


def script_for(i: int, rng: random.Random) -> JobScript:
    """Job i's script: every 10th waits for a cancel, some fail, the rest succeed."""
    if i % 10 == 0:
        return JobScript.slow(cancel="async", cancel_polls=1)
    if i % 10 in (3, 7):
        return JobScript.fail_at(rng.randint(1, 3), f"job {i} failed")
    return JobScript.success(polls=rng.randint(0, 3), result={"i": i})


def wants_cancel(i: int) -> bool:
    """Whether job i ends only by a cancel."""
    return i % 10 == 0


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    async with FakeLROServer() as server:
        for i in range(1, args.jobs + 1):
            server.add_job(script_for(i, rng), job_id=f"job-{i}")
        for stall in args.stall:
            glob, seconds, times = stall.rsplit(":", 2)
            server.delay_next(glob, float(seconds), int(times))
        sys.stdout.write(json.dumps({"base_url": server.base_url}) + "\n")
        sys.stdout.flush()
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            async for _ in signals:
                break
        # Requests are stamped with loop time; the test compares them with Redis's clock.
        epoch = time.time() - asyncio.get_running_loop().time()
        polled_at: defaultdict[str, list[float]] = defaultdict(list)
        cancels: Counter[str] = Counter()
        for r in server.requests:
            _, job_id, last = r.path.rsplit("/", 2)
            if last == "status":
                polled_at[job_id].append(epoch + r.time)
            elif last == "cancel":
                cancels[job_id] += 1
        jobs = {
            job.id: {
                "state": job.state,
                "polls": len(polled_at[job.id]),
                "polled_at": polled_at[job.id],
                "cancels": cancels[job.id],
                "needed": job.script.queued_polls + job.script.polls + 1,
            }
            for job in server.jobs.values()
        }
        await anyio.Path(args.out).write_text(json.dumps(jobs))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--stall", action="append", default=[])
    anyio.run(main, parser.parse_args())
