"""Requests per operation-poll with batched status, against the fake Google API.

``python -m benchmarks.batch_requests [--n 1000] [--polls 5]`` starts ``n`` Google
operations on `FakeGoogleOperations` (each done after ``polls`` status reads), waits for
all, and counts the status requests in the fake's request log (``GET`` of an operation or
of ``/v1/operations``; the start ``POST`` is not a status request). An operation-poll is
one status answer an operation was decided from (``op.attempts``). Counts, not times:
the figure is the same on any machine. It runs on looptime's virtual clock when looptime
is installed (seconds of backoff pass at once), else in real time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import anyio

from lrpoll import Scheduler
from lrpoll.presets.google import google_operation
from lrpoll.testing.google import FakeGoogleOperations, GoogleOperationScript

EXPORTS = "/v1/projects/p/locations/l/exports"


async def measure(n: int, polls: int, *, batch: bool) -> dict[str, Any]:
    """One run: ``n`` operations, batched or not; the request counts."""
    async with FakeGoogleOperations() as server:
        server.default_script = GoogleOperationScript(polls=polls)
        spec = google_operation(batch=batch)
        async with Scheduler(base_url=server.base_url, slots=100) as scheduler:
            ops = []

            async def start() -> None:
                ops.append(await scheduler.start("POST", EXPORTS, json={}, spec=spec))

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(start)
            async for _ in scheduler.as_completed(ops):
                pass
        states = {op.state for op in ops}
        op_polls = sum(op.attempts for op in ops)
        lists = len(server.requests_to("/v1/operations", "GET"))
        singles = len(server.requests_to("/v1/projects/*/operations/*", "GET"))
    return {
        "batch": batch,
        "operations": n,
        "states": sorted(states),
        "operation_polls": op_polls,
        "list_requests": lists,
        "status_requests": singles,
        "requests_per_operation_poll": round((lists + singles) / op_polls, 4),
    }


async def main(n: int, polls: int) -> list[dict[str, Any]]:
    """Both runs, unbatched first."""
    return [await measure(n, polls, batch=b) for b in (False, True)]


def _run(n: int, polls: int) -> list[dict[str, Any]]:
    try:
        import looptime  # optional: virtual time when installed
    except ImportError:
        return asyncio.run(main(n, polls))
    loop = looptime.new_event_loop()
    try:
        return loop.run_until_complete(main(n, polls))
    finally:
        loop.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    rows = _run(args.n, args.polls)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'mode':<10}{'op-polls':>10}{'list':>8}{'status':>8}{'req/op-poll':>13}")
        for row in rows:
            mode = "batched" if row["batch"] else "unbatched"
            print(
                f"{mode:<10}{row['operation_polls']:>10}{row['list_requests']:>8}"
                f"{row['status_requests']:>8}{row['requests_per_operation_poll']:>13}"
            )
