"""``python -m lrpoll.fleet worker``'s arguments, as the worker it builds holds them."""

from __future__ import annotations

import pytest

from lrpoll.fleet._command import build_worker


def test_http_choice_reaches_the_worker() -> None:
    """``--http lean`` builds a worker on LeanSender; aiohttp is the default; others fail."""
    assert build_worker(["worker"]).http == "aiohttp"
    assert build_worker(["worker", "--http", "lean", "--slots", "7"]).http == "lean"
    with pytest.raises(SystemExit):
        build_worker(["worker", "--http", "h2"])
