"""The timer heap and the request slots: when things are due, and who runs them. No polling here.

An item waiting for its time is an entry ``(due, item)`` in one heap; the entry is live
while ``item.due is due`` (identity: rescheduling or dropping an item leaves its old
entry behind, skipped lazily). A fixed number of worker tasks (the slots, never scaled
with the number of items) take the due entries, earliest first, and run the handler on
each; idle workers sleep on a future and one loop timer wakes them for the next entry.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["Due", "TimerHeap"]


class Due(Protocol):
    """An item the heap can schedule: it carries the due time of its live entry."""

    due: float | None

    def __lt__(self, other: Any, /) -> bool:
        """A stable tie-break for equal due times."""


T = TypeVar("T", bound=Due)

#: Polls a worker runs back to back without suspending before it yields to the loop.
YIELD_EVERY = 64


class TimerHeap(Generic[T]):
    """Due times of many items, one loop timer, and ``slots`` workers running a handler.

    Args:
        loop: the event loop whose clock due times are in.
        handler: run on each item when it is due (it must not raise).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, handler: Callable[[T], Awaitable[None]]
    ) -> None:
        self._loop = loop
        self._handler = handler
        self._heap: list[tuple[float, T]] = []
        self._idle: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._fired_at = 0.0  # the latest instant a heap timer was run for

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, item: T, due: float) -> None:
        """Schedule ``item`` at ``due`` (loop time), replacing any entry it had."""
        due = due + 0.0  # a float object of its own: liveness is checked by identity
        item.due = due
        heapq.heappush(self._heap, (due, item))
        if self._idle:
            if due <= self._loop.time():
                self._wake_one()
            else:
                self._arm_timer()

    @staticmethod
    def drop(item: T) -> None:
        """Forget ``item``'s entry (it stays in the heap, dead, until popped)."""
        item.due = None

    def live(self) -> list[T]:
        """The items with a live entry."""
        return [item for due, item in self._heap if item.due is due]

    def clear(self) -> list[T]:
        """Drop every entry and the timer; the items that were live."""
        live = self.live()
        for item in live:
            item.due = None
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return live

    def _wake_one(self) -> None:
        while self._idle:
            fut = self._idle.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _arm_timer(self) -> None:
        heap = self._heap
        while heap and heap[0][1].due is not heap[0][0]:
            heapq.heappop(heap)
        if not heap:
            return
        due = heap[0][0]
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        # A loop may run a timer a hair before its time (asyncio within its clock
        # resolution, uvloop to the millisecond, looptime with time frozen): what it was
        # set for is due now, or the woken worker re-arms it and spins.
        self._fired_at = max(self._fired_at, self._timer_at)
        self._wake_one()

    def take_due(self) -> T | None:
        """The earliest due item, its entry removed, or None when nothing is due."""
        heap = self._heap
        now = max(self._loop.time(), self._fired_at)
        while heap:
            due, item = heap[0]
            if item.due is not due:
                heapq.heappop(heap)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            item.due = None
            if heap and heap[0][0] <= now and self._idle:
                self._wake_one()
            return item
        return None

    def take_where(self, keep: Callable[[T], bool], until: float) -> list[T]:
        """The live items due by ``until`` for which ``keep`` is true, their entries removed.

        For a caller that serves many items with one request. Only the entries due by
        ``until`` are visited (a heap's children are due no sooner than their parent);
        the taken entries stay, dead, until popped.
        """
        heap = self._heap
        taken = []
        stack = [0] if heap else []
        while stack:
            index = stack.pop()
            due, item = heap[index]
            if due > until:
                continue
            if item.due is due and keep(item):
                item.due = None
                taken.append(item)
            stack.extend(c for c in (2 * index + 1, 2 * index + 2) if c < len(heap))
        return taken

    async def worker(self) -> None:
        """One request slot: run the handler on due items, forever (cancel to end)."""
        loop = self._loop
        handler = self._handler
        streak = 0
        while True:
            item = self.take_due()
            if item is None:
                streak = 0
                fut: asyncio.Future[None] = loop.create_future()
                self._idle.append(fut)
                self._arm_timer()
                await fut
                continue
            await handler(item)
            streak += 1
            if streak >= YIELD_EVERY:
                # A poll whose answer needs no I/O wait (a zero delay, a cached answer)
                # never suspends: yield now and then so nothing else on the loop starves.
                streak = 0
                await asyncio.sleep(0)
