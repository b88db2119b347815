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


async def test_per_operation_and_scheduler_headers(server: FakeLROServer) -> None:
    """Scheduler(headers=) go with every request, under the operation's request_headers,
    which start() and watch() take and the operation's checkpoint keeps."""
    import lrpoll

    async with lrpoll.Scheduler(base_url=server.base_url, headers={"User-Agent": "bot/1"}) as s:
        op, _ = await start(
            s,
            server,
            JobScript.success(polls=1),
            spec=make_spec(interval=0.1),
            request_headers={"X-Tenant": "t-7"},
        )
        await op
        assert '"X-Tenant":"t-7"' in op.checkpoint()
        first = len(server.requests)
        watched = await s.watch(
            op.status_url, make_spec(interval=0.1), request_headers={"X-Tenant": "t-8"}
        )
        await watched
    assert first >= 2
    assert len(server.requests) > first
    assert all(r.headers["user-agent"] == "bot/1" for r in server.requests)
    assert all(r.headers["x-tenant"] == "t-7" for r in server.requests[:first])
    assert all(r.headers["x-tenant"] == "t-8" for r in server.requests[first:])


async def test_credential_names_are_refused_everywhere(server: FakeLROServer) -> None:
    """A secret name as a scheduler default or an operation header is refused, pointing at
    credentials=; nothing is sent."""
    import pytest

    import lrpoll

    with pytest.raises(lrpoll.SpecError, match="credentials"):
        lrpoll.Scheduler(base_url=server.base_url, headers={"Authorization": "Bearer x"})
    async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        with pytest.raises(lrpoll.SpecError, match="credentials") as info:
            await start(scheduler, server, request_headers={"X-Api-Key": "k"})
        assert info.value.field == "request_headers"
    assert server.requests == []
