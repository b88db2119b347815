"""Headers on every request of an operation: ``request_headers`` and ``start_headers``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lrpoll.testing import JobScript

from .support import cancels, make_spec, polls, start

if TYPE_CHECKING:
    from lrpoll import Scheduler
    from lrpoll.testing import FakeLROServer


async def test_request_headers_go_with_every_request(
    scheduler: Scheduler, server: FakeLROServer
) -> None:
    """request_headers reach the start, every poll and the cancel; start_headers only the
    start; a request's own headers win over request_headers."""
    spec = make_spec(
        request_headers={"X-Client-Request-Id": "r-1", "User-Agent": "lrpoll-tests"},
        start_headers={"Prefer": "respond-async"},
        status_headers={"User-Agent": "lrpoll-poller"},
    )
    op, job = await start(
        scheduler, server, JobScript.cancel_async(k=1), spec=spec, headers={"X-Start": "1"}
    )
    await op.poll_once()
    outcome = await op.cancel()
    assert outcome.confirmed
    first = server.requests[0]
    assert first.headers["x-client-request-id"] == "r-1"
    assert (first.headers["prefer"], first.headers["x-start"]) == ("respond-async", "1")
    assert first.headers["user-agent"] == "lrpoll-tests"
    status = polls(server, job)
    assert status
    for record in status:
        assert record.headers["x-client-request-id"] == "r-1"
        assert record.headers["user-agent"] == "lrpoll-poller"
        assert "prefer" not in record.headers
    (cancel,) = cancels(server, job)
    assert cancel.headers["x-client-request-id"] == "r-1"
    assert "prefer" not in cancel.headers
