"""LRPOLL-TRANSPORT-LEAN: the ``transport`` contender over `lrpoll.LeanSender`.

lrpoll's `Transport` alone in CEIL's closed loop, as ``transport``, with every request
sent by lrpoll's own HTTP/1.1 sender instead of aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from benchmarks.contenders.lrpoll_transport import TransportAlone
from benchmarks.harness import main

if TYPE_CHECKING:
    import lrpoll


class TransportLean(TransportAlone):
    """Closed-loop requesters over `lrpoll.Transport` and `lrpoll.LeanSender`."""

    name: ClassVar[str] = "transport-lean"
    description: ClassVar[str] = "lrpoll.Transport over LeanSender in CEIL's closed loop"
    order: ClassVar[int] = 13
    http: ClassVar[lrpoll.HttpClient] = "lean"


CONTENDER = TransportLean

if __name__ == "__main__":
    main(CONTENDER)
