"""LRPOLL-TRANSPORT: lrpoll's `Transport` alone in CEIL's closed loop (no scheduler, no core).

``slots`` requesters each send ``transport.request("GET", url)`` again as soon as the
previous answer is back, on the same URL as CEIL, through everything the transport does
per request (origin check, credentials, redirect handling, the body cap, the JSON parse,
the `Answer`) over lrpoll's own aiohttp sender. Its ratio to CEIL is what the transport
costs; the ``lrpoll`` contender's ratio to this one is what the scheduler and the
decision cost on top.
"""

from __future__ import annotations

from typing import ClassVar

from yarl import URL

import lrpoll
from benchmarks.harness import TaskPerOperation, main
from lrpoll._transport import make_sender


class TransportAlone(TaskPerOperation):
    """Closed-loop requesters over `lrpoll.Transport`."""

    name: ClassVar[str] = "transport"
    description: ClassVar[str] = "lrpoll.Transport alone in CEIL's closed loop (no scheduler)"
    scenarios: ClassVar[frozenset[str]] = frozenset({"saturate"})
    closed_loop: ClassVar[bool] = True
    closed_loop_slots: ClassVar[tuple[int, ...]] = (100,)
    order: ClassVar[int] = 12
    #: The sender beneath the transport (``Transport.open(http=...)``).
    http: ClassVar[lrpoll.HttpClient] = "aiohttp"

    _transport: lrpoll.Transport

    async def open(self) -> None:
        """Open a transport with the scheduler's defaults (an owned session, ``slots``)."""
        workload = self.workload
        sender = make_sender(self.http, None, limits=lrpoll.Limits(), slots=workload.slots)
        self._transport = lrpoll.Transport.open(workload.base_url, sender=sender)
        self._url = URL(f"{workload.base_url}/op/{workload.tag}ceil", encoded=True)

    async def start(self, ids: range) -> None:
        """Start ``slots`` requesters (the ids are ignored)."""
        await super().start(range(self.workload.slots))

    async def operate(self, index: int) -> None:
        """One requester: request, parse, again; a fault ends it."""
        request, url = self._transport.request, self._url
        while True:
            answer = await request("GET", url)
            if answer.fault is not None:
                raise answer.fault

    async def close_clients(self) -> None:
        """Close the transport (and its session)."""
        await self._transport.aclose()


CONTENDER = TransportAlone

if __name__ == "__main__":
    main(CONTENDER)
