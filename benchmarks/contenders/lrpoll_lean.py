"""LRPOLL-LEAN: the ``lrpoll`` contender with ``Scheduler(http="lean")``: lrpoll's own HTTP/1.1.

The same scheduler, spec and operations as ``lrpoll``; each poll goes through
`lrpoll.LeanSender` (keep-alive connections over asyncio's transports, the response read
by ``lrpoll._h1``) instead of aiohttp's ``ClientSession.request``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from benchmarks.contenders.lrpoll_scheduler import Lrpoll
from benchmarks.harness import main

if TYPE_CHECKING:
    import lrpoll


class LrpollLean(Lrpoll):
    """lrpoll's scheduler over its own HTTP/1.1 sender."""

    name: ClassVar[str] = "lrpoll-lean"
    description: ClassVar[str] = 'lrpoll.Scheduler(http="lean"): lrpoll\'s own HTTP/1.1 sender'
    order: ClassVar[int] = 26
    http: ClassVar[lrpoll.HttpClient] = "lean"


CONTENDER = LrpollLean

if __name__ == "__main__":
    main(CONTENDER)
