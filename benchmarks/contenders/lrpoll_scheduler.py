"""LRPOLL: one `lrpoll.Scheduler` (timer heap + fixed pool of request slots) for all operations.

Each operation is attached with ``scheduler.watch(url, spec)`` under a spec with a fixed
interval, so it is polled exactly like the other contenders' operations: done when the
document says ``"done"``, progress read on every poll. For the lateness scenario a thin
subclass adds ``due=<wall-clock time the poll was due>`` to each poll, taken from the
scheduler's own heap entry, so the server measures lrpoll's real send lateness.
"""

from __future__ import annotations

import contextvars
import time
from typing import TYPE_CHECKING, ClassVar

import lrpoll
from benchmarks.harness import Contender, main

if TYPE_CHECKING:
    from yarl import URL

    from lrpoll._operation import Operation
    from lrpoll._transport import Answer

_DUE: contextvars.ContextVar[float | None] = contextvars.ContextVar("due", default=None)


class _StampingScheduler(lrpoll.Scheduler):
    """A Scheduler that tells the benchmark server when each poll was due (lateness runs only)."""

    _dues: dict[Operation, float]

    def _push(self, op: Operation, due: float) -> None:
        self._dues[op] = due
        super()._push(op, due)

    async def _poll(self, op: Operation) -> None:
        token = _DUE.set(self._dues.get(op))
        try:
            await super()._poll(op)
        finally:
            _DUE.reset(token)

    async def _request_status(self, spec: lrpoll.PollSpec, url: URL) -> Answer:
        due = _DUE.get()
        if due is not None:
            wall = time.time() - (self.time() - due)
            url = url.update_query(due=f"{wall:.6f}")
        return await super()._request_status(spec, url)


class Lrpoll(Contender):
    """lrpoll's scheduler: operations are heap entries, ``slots`` workers send the polls."""

    name: ClassVar[str] = "lrpoll"
    description: ClassVar[str] = "lrpoll.Scheduler: timer heap + fixed pool of request slots"
    order: ClassVar[int] = 25

    _scheduler: lrpoll.Scheduler
    _spec: lrpoll.PollSpec

    async def open(self) -> None:
        """Enter a scheduler with ``slots`` request slots and build the spec once."""
        workload = self.workload
        if workload.stamp_due:
            scheduler: lrpoll.Scheduler = _StampingScheduler(
                base_url=workload.base_url, slots=workload.slots
            )
            scheduler._dues = {}  # type: ignore[attr-defined]
        else:
            scheduler = lrpoll.Scheduler(base_url=workload.base_url, slots=workload.slots)
        self._scheduler = scheduler
        await scheduler.__aenter__()
        self._spec = lrpoll.PollSpec(
            status_url="{+request_url}",
            interval=workload.interval,
            min_interval=0.0,
            done="status == 'done'",
            progress="progress",
        )
        self._ops: list[lrpoll.Operation] = []
        query = workload.query
        self._suffix = f"?{query}" if query else ""

    async def start(self, ids: range) -> None:
        """Attach one operation per id (a heap entry each; no task)."""
        watch, spec, suffix, op_id = (
            self._scheduler.watch,
            self._spec,
            self._suffix,
            self.workload.op_id,
        )
        self._ops.extend(watch(f"/op/{op_id(i)}{suffix}", spec) for i in ids)

    async def wait(self) -> None:
        """Await every operation; count those that did not succeed."""
        async for op in self._scheduler.as_completed(self._ops):
            if op.state != "succeeded":
                self.errors += 1
        if self.errors:
            first = next(op for op in self._ops if op.state != "succeeded")
            raise RuntimeError(f"{self.errors} operations failed, first: {first.error!r}")

    async def aclose(self) -> None:
        """Leave the scheduler: every operation stops, the session closes."""
        await self._scheduler.__aexit__(None, None, None)
        self._ops.clear()


CONTENDER = Lrpoll

if __name__ == "__main__":
    main(CONTENDER)
