"""LRPOLL: one `lrpoll.Scheduler` (timer heap + fixed pool of request slots) for all operations.

Each operation is attached with ``await scheduler.watch(url, spec)`` under a spec with a fixed
interval, so it is polled exactly like the other contenders' operations: done when the
document says ``"done"``, progress read on every poll. For the lateness scenario a wrapping
sender adds ``due=<wall-clock time the poll was due>`` to each poll, taken from the
scheduler's own heap entry, so the server measures lrpoll's real send lateness.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import time
from typing import TYPE_CHECKING, Any, ClassVar

import lrpoll
from benchmarks.harness import Contender, main
from lrpoll._transport import make_sender

if TYPE_CHECKING:
    from lrpoll._record import OpRecord

_DUE: contextvars.ContextVar[float | None] = contextvars.ContextVar("due", default=None)


class _StampingSender:
    """Wraps the scheduler's sender: adds ``due=<wall-clock due time>`` to each poll's URL."""

    def __init__(self, inner: lrpoll.Sender) -> None:
        self._inner = inner
        self._loop = asyncio.get_running_loop()

    async def send(self, request: lrpoll.RawRequest) -> lrpoll.RawResponse:
        due = _DUE.get()
        if due is not None:
            wall = time.time() - (self._loop.time() - due)
            request = dataclasses.replace(request, url=request.url.update_query(due=f"{wall:.6f}"))
        return await self._inner.send(request)

    def implicit_credentials(self, url: Any) -> str | None:
        return self._inner.implicit_credentials(url)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _stamp_dues(scheduler: lrpoll.Scheduler) -> None:
    """Remember each record's due time as the heap takes it, for the stamping sender.

    Benchmark-only instrumentation of the runtime's heap: it must run before the request
    slots first run (right after ``__aenter__``, before any await), as they read the
    heap's handler when they start.
    """
    heap = scheduler._runtime.heap  # type: ignore[union-attr]
    dues: dict[OpRecord, float] = {}
    push, handler = heap.push, heap._handler

    def remember(item: OpRecord, due: float) -> None:
        dues[item] = due
        push(item, due)

    async def stamped(item: OpRecord) -> None:
        token = _DUE.set(dues.get(item))
        try:
            await handler(item)
        finally:
            _DUE.reset(token)

    heap.push = remember  # type: ignore[method-assign]
    heap._handler = stamped


class Lrpoll(Contender):
    """lrpoll's scheduler: operations are heap entries, ``slots`` workers send the polls."""

    name: ClassVar[str] = "lrpoll"
    description: ClassVar[str] = "lrpoll.Scheduler: timer heap + fixed pool of request slots"
    order: ClassVar[int] = 25
    #: The sender the scheduler builds (``Scheduler(http=...)``).
    http: ClassVar[lrpoll.HttpClient] = "aiohttp"

    _scheduler: lrpoll.Scheduler
    _spec: lrpoll.PollSpec

    async def open(self) -> None:
        """Enter a scheduler with ``slots`` request slots and build the spec once."""
        workload = self.workload
        if workload.stamp_due:
            inner = make_sender(self.http, None, limits=lrpoll.Limits(), slots=workload.slots)
            scheduler = lrpoll.Scheduler(
                base_url=workload.base_url, slots=workload.slots, sender=_StampingSender(inner)
            )
            await scheduler.__aenter__()
            _stamp_dues(scheduler)
        else:
            scheduler = lrpoll.Scheduler(
                base_url=workload.base_url, slots=workload.slots, http=self.http
            )
            await scheduler.__aenter__()
        self._scheduler = scheduler
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
        self._ops.extend([await watch(f"/op/{op_id(i)}{suffix}", spec) for i in ids])

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
