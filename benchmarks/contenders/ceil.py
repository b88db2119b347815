"""CEIL: the aiohttp client's ceiling, ``slots`` requesters in a closed loop.

Each requester sends the next GET of a tiny status document as soon as the previous
response's body is read (no JSON parse, no sleep). Run with ``--slots 10`` and
``--slots 100``; the other contenders' throughput is given as a ratio to ``c=100``.
"""

from __future__ import annotations

from typing import ClassVar

import aiohttp

from benchmarks.harness import TaskPerOperation, main


class Ceiling(TaskPerOperation):
    """Closed-loop aiohttp requesters."""

    name: ClassVar[str] = "ceil"
    description: ClassVar[str] = "aiohttp closed loop, c = slots requesters (the ceiling)"
    scenarios: ClassVar[frozenset[str]] = frozenset({"saturate"})
    closed_loop: ClassVar[bool] = True
    order: ClassVar[int] = 10

    _session: aiohttp.ClientSession

    async def open(self) -> None:
        """Create the session (connector limit = slots)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.workload.slots)
        )
        self._url = f"{self.workload.base_url}/op/{self.workload.tag}ceil"

    async def start(self, ids: range) -> None:
        """Start ``slots`` requesters (the ids are ignored)."""
        await super().start(range(self.workload.slots))

    async def operate(self, index: int) -> None:
        """One requester: GET, read, again."""
        session, url = self._session, self._url
        while True:
            async with session.get(url) as response:
                await response.read()

    async def close_clients(self) -> None:
        """Close the session."""
        await self._session.close()


CONTENDER = Ceiling

if __name__ == "__main__":
    main(CONTENDER)
