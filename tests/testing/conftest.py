"""Fixtures for the tests of `lrpoll.testing`: a looptime event loop under anyio."""

from __future__ import annotations

from typing import Any

import looptime
import pytest

# pytest honours `pytest_plugins` only in the root conftest, which this package does not own:
# importing the fixture makes it visible here just the same.
from lrpoll.testing.pytest_plugin import fake_lro_server

__all__ = ["fake_lro_server"]


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    """Run async tests on asyncio with looptime's fake clock (debug mode on)."""
    return "asyncio", {"debug": True, "loop_factory": looptime.new_event_loop}
