"""Shared fixtures: every async test runs on asyncio with a looptime clock.

looptime's loop jumps to the next timer whenever the loop would block, so tests of
time-dependent behaviour take milliseconds while loop time reads as minutes. The fake
servers run inside the same loop, so no answer races the fake clock.
"""

from __future__ import annotations

from typing import Any

import looptime
import pytest


@pytest.fixture(name="anyio_backend")
def _anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": looptime.new_event_loop, "debug": False})
