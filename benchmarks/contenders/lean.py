"""LEAN: one task per operation doing nothing but ``json.loads(await r.read())`` and a sleep.

The leanest hand-written loop a user could write instead of a poller: a shared
:class:`aiohttp.ClientSession` with the same connector as the others (``limit = slots``),
``json.loads(await response.read())`` (no content-type check, no decode to text, no
status check), the ``status`` field compared, ``asyncio.sleep(interval)``. lrpoll's
scheduler should beat it; NAIVE is the same loop written the usual way.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import ClassVar

import aiohttp

from benchmarks.harness import TaskPerOperation, main


class Lean(TaskPerOperation):
    """Task per operation, nothing but GET, ``json.loads`` and sleep."""

    name: ClassVar[str] = "lean"
    description: ClassVar[str] = "task per operation: json.loads(await r.read()); sleep"
    order: ClassVar[int] = 22

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
        get, loads, sleep = self._session.get, json.loads, asyncio.sleep
        interval, stamp = workload.interval, workload.stamp_due
        target = url
        while True:
            async with get(target) as response:
                status = loads(await response.read())
            del response  # the released response must not sleep in this frame
            if status["status"] == "done":
                return
            if stamp:
                target = f"{url}{'&' if query else '?'}due={time.time() + interval:.6f}"
            await sleep(interval)

    async def close_clients(self) -> None:
        """Close the session."""
        await self._session.close()


CONTENDER = Lean

if __name__ == "__main__":
    main(CONTENDER)
