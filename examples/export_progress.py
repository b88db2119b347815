"""Report export progress the way a chat bot would: one message per change.

Three exports run at once through one scheduler against the embedded fake server: one
succeeds, one fails with the server's message, and one is too slow for its deadline.
Each prints its messages as they change; the summary shows how each one ended.

Run it: ``python examples/export_progress.py``.
"""

from __future__ import annotations

import asyncio

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript

EXPORT = lrpoll.PollSpec(
    name="export",
    status_url="/api/exports/{start.jobId}/status",
    interval=0.1,
    min_interval=0,
    max_duration=1.0,
    done="status == 'done'",
    failed="status == 'failed'",
    progress="progress",
    result="result",
    error_message="error.message",
    messages=lrpoll.Messages(
        in_progress="{operation}: {last.message}, {progress}% done",
        completed="{operation}: ready at {result.url}",
        failed="{operation}: failed ({error})",
        timed_out="{operation}: still running after 1 s, giving up on our side",
    ),
)


async def export(scheduler: lrpoll.Scheduler, table: str) -> lrpoll.Operation:
    """Start one export and print each new message until it ends."""
    op = await scheduler.start(
        "POST", "/api/exports", json={"table": table}, spec=EXPORT, operation_id=table
    )
    last = None
    async for update in op.updates():
        if update.message is not None and update.message != last:
            print(update.message)
            last = update.message
    return op


async def main() -> None:
    """Run three exports at once, then say how each one ended."""
    async with FakeLROServer() as server, lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        server.script_next(
            JobScript(queued_polls=1, polls=3),
            JobScript.fail_at(3, "table 'legacy' is locked"),
            JobScript.slow(progress=[5]),
        )
        async with asyncio.TaskGroup() as tg:
            # Created in order, so each start takes the next script.
            tasks = [tg.create_task(export(scheduler, t)) for t in ("orders", "legacy", "archive")]

        print()
        for task in tasks:
            op = task.result()
            print(f"{op.id:<8} {op.state:<10} {op.error.message if op.error else op.result()}")


if __name__ == "__main__":
    asyncio.run(main())
