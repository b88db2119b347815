"""The event loop lrpoll runs fastest on: uvloop when it is installed and asked for.

lrpoll runs on whatever loop its caller runs; these two helpers pick the loop for
programs that let it (the ``speed`` extra installs uvloop).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory(*, speed: bool = True) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new-loop factory: uvloop's when ``speed`` and uvloop is installed, else asyncio's.

    Pass it to `asyncio.Runner` (``loop_factory=``) or to `anyio.run`
    (``backend_options={"loop_factory": ...}``). Without uvloop (``pip install
    'lrpoll[speed]'``) the standard loop runs: asking for speed never fails.
    """
    if speed:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(main: Coroutine[Any, Any, T], *, speed: bool = False, debug: bool | None = None) -> T:
    """Run ``main`` as `asyncio.run` does, on uvloop when ``speed`` and it is installed.

    Args:
        main: the coroutine to run to completion.
        speed: run on uvloop when it is installed (the ``speed`` extra).
        debug: the loop's debug mode (None: the default).

    Returns:
        What ``main`` returns.
    """
    with asyncio.Runner(debug=debug, loop_factory=loop_factory(speed=speed)) as runner:
        return runner.run(main)
