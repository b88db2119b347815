"""The worker command's start: what it made is frozen out of the collector's view."""

from __future__ import annotations

import gc
import weakref

from lrpoll.fleet._command import freeze_startup


class _Node:
    def __init__(self) -> None:
        self.me = self


def test_startup_is_frozen_and_garbage_is_not() -> None:
    """Live objects end up frozen; a garbage cycle made before is collected, not frozen."""
    kept = _Node()
    dropped = _Node()
    gone = weakref.ref(dropped)
    del dropped
    try:
        freeze_startup()
        assert gc.get_freeze_count() > 0
        assert gone() is None  # collected before the freeze: nothing leaks into it
        assert not any(obj is kept for obj in gc.get_objects())  # frozen: out of view
    finally:
        gc.unfreeze()
    assert any(obj is kept for obj in gc.get_objects())
