"""Requests per operation-poll with batched status, against the fake Google and Oracle APIs.

``python -m benchmarks.batch_requests [--n 1000] [--polls 5]`` starts ``n`` Google
operations on `FakeGoogleOperations` (each done after ``polls`` status reads) and ``n``
Oracle exports on `FakeOracleOTM` (two tables of two ticks each, after one pending tick),
waits for all, and counts the status requests in each fake's request log (``GET`` of one
operation or of the list; the start ``POST`` is not a status request). An operation-poll is
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

from lrpoll import BasicAuth, Scheduler
from lrpoll.presets.google import google_operation
from lrpoll.presets.oracle import oracle_export
from lrpoll.testing import FakeOracleOTM
from lrpoll.testing.google import FakeGoogleOperations, GoogleOperationScript

EXPORTS = "/v1/projects/p/locations/l/exports"
ORACLE = "/logisticsRestApi/data/v1"


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
        "api": "google",
        "batch": batch,
        "operations": n,
        "states": sorted(states),
        "operation_polls": op_polls,
        "list_requests": lists,
        "status_requests": singles,
        "requests_per_operation_poll": round((lists + singles) / op_polls, 4),
    }


async def measure_oracle(n: int, *, batch: bool) -> dict[str, Any]:
    """One run of ``n`` Oracle exports, batched or not; the request counts."""
    async with FakeOracleOTM() as server:
        spec = oracle_export(interval=5.0, batch=batch)
        credentials = {server.base_url: BasicAuth("otm-user", "otm-password")}
        body = {
            "tables": {"items": [{"tableName": t} for t in ("A", "B")]},
            "targetSystem": {"targetURL": server.object_store_url, "appendName": True},
        }
        async with Scheduler(
            base_url=server.base_url, credentials=credentials, slots=100
        ) as scheduler:
            ops = []

            async def start() -> None:
                ops.append(
                    await scheduler.start("POST", ORACLE + "/exportRequests", json=body, spec=spec)
                )

            async with anyio.create_task_group() as tg:
                for _ in range(n):
                    tg.start_soon(start)
            async for _ in scheduler.as_completed(ops):
                pass
        op_polls = sum(op.attempts for op in ops)
        lists = len(server.requests_to(ORACLE + "/exportStatuses", "GET"))
        singles = len(server.requests_to(ORACLE + "/exportStatuses/*", "GET"))
    return {
        "api": "oracle",
        "batch": batch,
        "operations": n,
        "states": sorted({op.state for op in ops}),
        "operation_polls": op_polls,
        "list_requests": lists,
        "status_requests": singles,
        "requests_per_operation_poll": round((lists + singles) / op_polls, 4),
    }


async def main(n: int, polls: int) -> list[dict[str, Any]]:
    """Both runs of each API, unbatched first."""
    rows = [await measure(n, polls, batch=b) for b in (False, True)]
    return rows + [await measure_oracle(n, batch=b) for b in (False, True)]


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
        print(f"{'api':<8}{'mode':<10}{'op-polls':>10}{'list':>8}{'status':>8}{'req/op-poll':>13}")
        for row in rows:
            mode = "batched" if row["batch"] else "unbatched"
            print(
                f"{row['api']:<8}{mode:<10}{row['operation_polls']:>10}{row['list_requests']:>8}"
                f"{row['status_requests']:>8}{row['requests_per_operation_poll']:>13}"
            )
