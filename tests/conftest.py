"""Shared fixtures: every async test runs on asyncio with a looptime clock.

looptime's loop jumps to the next timer whenever the loop would block, so tests of
time-dependent behaviour take milliseconds while loop time reads as minutes. The fake
servers run inside the same loop, so no answer races the fake clock.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING, Any

import looptime
import pytest

from lrpoll import _secrets

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _secrets_learned_stay_in_their_test() -> Iterator[None]:
    """Forget the secret values a test taught the scrubber when it ends.

    A credential's value is scrubbed from every message for the life of the process (by
    design); across tests that would let one test's password (``"wrong"``) redact the
    words of another test's expected message, depending on the order tests run in.
    """
    configured, recent, ordered = (
        set(_secrets._configured),
        dict(_secrets._recent),
        _secrets._ordered,
    )
    yield
    _secrets._configured.clear()
    _secrets._configured.update(configured)
    _secrets._recent.clear()
    _secrets._recent.update(recent)
    _secrets._ordered = ordered


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": looptime.new_event_loop, "debug": False})


def pytest_configure(config: pytest.Config) -> None:
    """Let the subprocesses the tests press Ctrl-C in see it, as at a terminal.

    A suite started in the background (``pytest &``) inherits SIGINT ignored from the
    shell, and its children inherit that across exec: ``lrpoll demo`` (which keeps
    Python's default handling) would then run on through the tests' Ctrl-C. A handler
    of ours is reset to the default in each child, so the children start as a terminal's
    do; the suite itself is interrupted as any foreground run is.
    """
    del config
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get("LRPOLL_TEST_HTTP") == "lean":
        _default_to_lean()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With ``LRPOLL_TEST_HTTP=lean``, skip the tests of aiohttp's sender itself."""
    del config
    if os.environ.get("LRPOLL_TEST_HTTP") != "lean":
        return
    skip = pytest.mark.skip(reason="asserts aiohttp's sender; LRPOLL_TEST_HTTP=lean")
    for item in items:
        if item.get_closest_marker("aiohttp_sender") is not None:
            item.add_marker(skip)


def _default_to_lean() -> None:
    """With ``LRPOLL_TEST_HTTP=lean``, every sender lrpoll builds itself is a `LeanSender`.

    The whole suite then runs over lrpoll's own HTTP/1.1 client (``http="aiohttp"`` too:
    the tests that need aiohttp's own sender are marked ``aiohttp_sender`` and skip); a
    borrowed session still gets aiohttp's sender.
    """
    import lrpoll._transport as transport
    from lrpoll._aiohttp import AiohttpSender
    from lrpoll._lean import LeanSender

    def sender(session: Any, *, limits: Any, slots: int = 100, per_host: int = 0) -> Any:
        if session is not None:
            return AiohttpSender(session, limits=limits, slots=slots, per_host=per_host)
        return LeanSender(limits=limits, slots=slots, per_host=per_host)

    setattr(transport, "AiohttpSender", sender)  # noqa: B010 (the name is not exported)
