"""An idle operation keeps its last status document as its JSON text, parsed when read."""

from __future__ import annotations

import lrpoll
from lrpoll._json import RawJSON
from lrpoll._operation import record_of
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import export_spec


class TestCompactLastDocument:
    """The record keeps bytes; every reader sees the parsed document."""

    async def test_running_operation_keeps_bytes_and_shows_the_document(
        self, server: FakeLROServer
    ) -> None:
        """After a running answer the record holds bytes, and `op.status` is the document."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=3600))
            await op.poll_once()
            kept = record_of(op).kept_last
            assert isinstance(kept, RawJSON)
            assert isinstance(op.status, dict)
            assert op.status["status"] == "running"
            assert op.status is not op.status  # a new parse per read: nobody shares it

    async def test_error_page_carries_the_parsed_last_document(self, server: FakeLROServer) -> None:
        """A 404 after a running answer raises with the last status document, parsed."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=3600))
            await op.poll_once()
            last = op.status
            server.fail_next("*/status", status=404)
            await op.poll_once()
            assert isinstance(op.error, lrpoll.OperationGone)
            assert op.error.status == last

    async def test_nan_progress_still_parses_from_the_kept_text(
        self, server: FakeLROServer
    ) -> None:
        """D26: a kept document with NaN progress reads back with NaN, as json.loads gives."""
        job = server.add_job(JobScript.slow())
        server.fail_next("*/status", status=200, body=b'{"status": "running", "progress": NaN}')
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=3600))
            await op.poll_once()
            assert op.progress is None
            assert op.status["progress"] != op.status["progress"]  # NaN


class TestIdleRecord:
    """An idle operation's record holds no extras: what few operations need lives there."""

    async def test_polled_operation_has_no_extras(self, server: FakeLROServer) -> None:
        """Running answers with whole-percent progress leave no extras and no float of its own."""
        job = server.add_job(JobScript.slow(progress=[40]))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=3600))
            await op.poll_once()
            await op.poll_once()
            rec = record_of(op)
            assert rec.extras is None
            assert (rec.result, rec.error, rec.pending, rec.waiter) == (None, None, None, None)
            assert op.progress == 40.0
            # A whole percent is one of the shared floats: 100 000 idle operations at 40 %
            # keep one float between them.
            assert op.progress is lrpoll_core_percent(40)

    async def test_fault_run_is_kept_and_cleared(self, server: FakeLROServer) -> None:
        """A transient fault starts a run kept in the extras; the next good answer ends it."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=3600))
            server.fail_next("*/status", status=503)
            await op.poll_once()
            rec = record_of(op)
            during = (rec.errors, rec.failing_since)
            await op.poll_once()
            after = (rec.errors, rec.failing_since)
            assert during[0] == 1
            assert during[1] is not None
            assert after == (0, None)
            assert op.state == "running"

    async def test_ended_operation_keeps_its_result(self, server: FakeLROServer) -> None:
        """The result set at the end is read back through the record."""
        job = server.add_job(JobScript.success(polls=1))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(interval=0.01))
            result = await op.wait()
            assert record_of(op).result == result
            assert record_of(op).error is None


def lrpoll_core_percent(n: int) -> float:
    """The shared float the core reads a whole percentage ``n`` as."""
    from lrpoll._core import read_progress

    value, warning = read_progress(n)
    assert warning is None
    assert value is not None
    return value
