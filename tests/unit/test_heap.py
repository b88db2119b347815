"""`TimerHeap.take_where`: the due items a batched step takes together."""

from __future__ import annotations

import asyncio
import random

import pytest

from lrpoll._heap import TimerHeap

pytestmark = pytest.mark.anyio


class Item:
    """A schedulable item with a name."""

    def __init__(self, name: int) -> None:
        self.name = name
        self.due: float | None = None

    def __lt__(self, other: Item) -> bool:
        return self.name < other.name


async def _nothing(item: Item) -> None:
    """A handler that does nothing (no worker runs in these tests)."""


async def test_takes_live_matching_items_due_by_until() -> None:
    """Exactly the live items due by ``until`` that match are taken; their entries die."""
    loop = asyncio.get_running_loop()
    heap: TimerHeap[Item] = TimerHeap(loop, _nothing)
    rng = random.Random(7)
    now = loop.time()
    items = [Item(i) for i in range(200)]
    for item in items:
        heap.push(item, now + rng.uniform(0, 10))
    for item in items[::7]:
        heap.push(item, now + rng.uniform(0, 10))  # rescheduled: its first entry is dead
    for item in items[::11]:
        heap.drop(item)
    until = now + 5
    expected = {i.name for i in items if i.due is not None and i.due <= until and i.name % 2 == 0}
    taken = heap.take_where(lambda i: i.name % 2 == 0, until)
    assert {i.name for i in taken} == expected
    assert len(taken) == len(expected)
    assert all(i.due is None for i in taken)
    assert not {i.name for i in heap.live()} & expected


async def test_empty_heap() -> None:
    """An empty heap gives nothing."""
    heap: TimerHeap[Item] = TimerHeap(asyncio.get_running_loop(), _nothing)
    assert heap.take_where(lambda i: True, 1e9) == []
