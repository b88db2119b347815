"""NAIVE: one asyncio task per operation, ``while True: get; sleep(interval)``.

What most code does by hand: a shared :class:`aiohttp.ClientSession` whose connector allows
``slots`` connections, ``await response.json()`` on each poll (the last parsed document stays
alive in the sleeping coroutine's frame, the response object does not), and
``asyncio.sleep`` between polls.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

import aiohttp

from benchmarks.harness import TaskPerOperation, main


class Naive(TaskPerOperation):
    """Task per operation over a shared aiohttp session."""

    name: ClassVar[str] = "naive"
    description: ClassVar[str] = "asyncio task per operation: get; sleep(interval)"
    order: ClassVar[int] = 20

    _session: aiohttp.ClientSession

    async def open(self) -> None:
        """Create the shared session (connector limit = slots)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.workload.slots)
        )

    async def operate(self, index: int) -> None:
        """Poll until the document says done."""
        workload = self.workload
        query = workload.query
        url = f"{workload.base_url}/op/{workload.op_id(index)}" + (f"?{query}" if query else "")
        session = self._session
        interval = workload.interval
        stamp = workload.stamp_due
        target = url
        while True:
            status = await _get_json(session, target)
            if status["status"] == "done":
                return
            if stamp:
                due = time.time() + interval
                target = f"{url}{'&' if query else '?'}due={due:.6f}"
            await asyncio.sleep(interval)

    async def close_clients(self) -> None:
        """Close the session."""
        await self._session.close()


async def _get_json(session: aiohttp.ClientSession, url: str) -> Any:
    # A function of its own so that the response object does not outlive the request in
    # the sleeping coroutine's frame (``async with ... as response`` leaves it bound).
    async with session.get(url) as response:
        response.raise_for_status()
        return await response.json()


CONTENDER = Naive

if __name__ == "__main__":
    main(CONTENDER)
