"""lrpoll.run and lrpoll.loop_factory: uvloop when installed and asked for, asyncio otherwise."""

from __future__ import annotations

import asyncio
import sys

import pytest

import lrpoll


async def loop_module() -> str:
    """The module of the running loop's class."""
    return type(asyncio.get_running_loop()).__module__


class TestRun:
    """Which loop `lrpoll.run` runs on."""

    def test_default_is_the_standard_loop(self) -> None:
        """Without ``speed`` the coroutine runs on asyncio's own loop."""
        assert lrpoll.run(loop_module()).startswith("asyncio")

    def test_speed_runs_on_uvloop_when_installed(self) -> None:
        """``speed=True`` runs on uvloop (installed with the speed and test extras)."""
        pytest.importorskip("uvloop")
        assert lrpoll.run(loop_module(), speed=True).startswith("uvloop")

    def test_speed_without_uvloop_falls_back(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With uvloop missing, asking for speed runs on the standard loop, no error."""
        monkeypatch.setitem(sys.modules, "uvloop", None)
        assert lrpoll.run(loop_module(), speed=True).startswith("asyncio")
        assert lrpoll.loop_factory() is asyncio.new_event_loop

    def test_returns_what_the_coroutine_returns(self) -> None:
        """The coroutine's value comes back."""

        async def answer() -> int:
            return 42

        assert lrpoll.run(answer(), speed=True) == 42
