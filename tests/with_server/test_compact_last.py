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
