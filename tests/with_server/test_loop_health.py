"""Loop health: standard scenarios in asyncio debug mode on a real-time loop (RELIABILITY H55).

looptime's clock does not advance inside a callback, so a slow callback is invisible on
it: this test runs on a plain asyncio loop, in real time, with debug mode on. asyncio then
logs every callback that takes longer than ``slow_callback_duration``; the test collects
them and reports the count. It fails on them only when ``LRPOLL_STRICT_LOOP=1`` (a
shared CI machine may stall any callback); unawaited coroutines, unclosed resources and
non-threadsafe calls, which debug mode also reports, always fail (``filterwarnings =
error``).
"""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec

SLOW_CALLBACK = 0.1  # asyncio's default slow_callback_duration


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.slow: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" in message and "seconds" in message:
            self.slow.append(message)


async def _scenarios() -> dict[str, int]:
    """Successes, failures, faults, a 429, a cancel and a checkpoint, 0.05 s apart."""
    spec = export_spec(interval=0.05, errors=lrpoll.ErrorBudget(max_consecutive=None))
    async with FakeLROServer() as server:
        ok = [server.add_job(JobScript.success(polls=3)) for _ in range(100)]
        bad = [server.add_job(JobScript.fail_at(2, "export failed")) for _ in range(10)]
        slow = server.add_job(JobScript.slow())
        server.fail_next("*/status", times=20)
        server.throttle_next(f"*/{ok[0].id}/status", retry_after="1")
        server.malformed_next(f"*/{ok[1].id}/status")
        cancel = lrpoll.CancelSpec(url="{+status_url}/../cancel", confirm_timeout=1)
        async with lrpoll.Scheduler(base_url=server.base_url, seed=5, slots=20) as scheduler:
            good = [await scheduler.watch(server.status_url(j.id), spec) for j in ok]
            failing = [await scheduler.watch(server.status_url(j.id), spec) for j in bad]
            watched = await scheduler.watch(server.status_url(slow.id), spec.replace(cancel=cancel))
            await asyncio.sleep(0.2)
            watched.checkpoint()
            await watched.cancel()
            results = await asyncio.gather(*(op.wait() for op in good))
            errors = await asyncio.gather(*(op.wait() for op in failing), return_exceptions=True)
    return {
        "succeeded": len(results),
        "failed": sum(isinstance(e, lrpoll.OperationFailed) for e in errors),
    }


@pytest.mark.slow
def test_standard_scenarios_in_debug_mode_on_a_real_loop() -> None:
    """H55: the scenarios finish on a real-time debug loop; slow callbacks are counted."""
    collect = _Collect()
    logger = logging.getLogger("asyncio")
    logger.addHandler(collect)
    loop = asyncio.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = SLOW_CALLBACK
    try:
        counts = loop.run_until_complete(asyncio.wait_for(_scenarios(), 30))
    finally:
        loop.close()
        logger.removeHandler(collect)
    assert counts == {"succeeded": 100, "failed": 10}
    report = "".join(f"\n  {m[:160]}" for m in collect.slow[:5])
    print(f"H55: {len(collect.slow)} callbacks over {SLOW_CALLBACK} s{report}")  # noqa: T201
    if os.environ.get("LRPOLL_STRICT_LOOP") == "1":
        assert collect.slow == []
