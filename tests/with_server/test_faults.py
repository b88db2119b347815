"""Transient faults (RELIABILITY D29, F42, F43, F48): retried within budget, then typed errors."""

from __future__ import annotations

from collections import Counter

import anyio
import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import doc, export_spec, now, poll_times, retry_requests


def _budget(**kwargs: float | int | lrpoll.Backoff | None) -> lrpoll.ErrorBudget:
    return lrpoll.ErrorBudget(**kwargs)  # type: ignore[arg-type]


class TestServerErrors:
    """5xx answers are transient: retried while the operation's budget lasts."""

    async def test_a_burst_of_503_within_budget_is_survived(self, server: FakeLROServer) -> None:
        """Three 503s in a row, budget five: the operation completes and counts 3 retries."""
        job = server.add_job(JobScript.success(polls=1))
        server.fail_next("*/status", times=3)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            assert await op == {"url": f"/downloads/{job.id}.csv"}
            assert scheduler.statistics().errors_retried == 3
        assert [r.status for r in server.requests] == [503, 503, 503, 200, 200]
        assert op.errors == 0

    async def test_budget_spent_raises_the_http_error_with_the_last_status(
        self, server: FakeLROServer
    ) -> None:
        """After max_consecutive retries, HTTPStatusError(503) carries the last good document."""
        job = server.add_job(JobScript.slow(progress=[30]))
        spec = export_spec(errors=_budget(max_consecutive=3))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec)
            await op.poll_once()
            server.fail_next("*/status", times=10)
            with pytest.raises(lrpoll.HTTPStatusError) as info:
                await op
        error = info.value
        assert error.http_status == 503
        assert "injected failure" in error.body_snippet
        assert error.status == job.document()  # the last status document, not the error page
        assert op.status == job.document()
        assert op.progress == 30.0
        assert op.state == "error"
        assert [r.status for r in server.requests] == [200, 503, 503, 503, 503]

    async def test_budget_by_failing_time(self, server: FakeLROServer) -> None:
        """max_failing_time ends the operation once it has been failing that long."""
        job = server.add_job(JobScript.slow())
        server.fail_next("*/status", times=1000)
        budget = _budget(
            max_consecutive=None,
            max_failing_time=10.0,
            backoff=lrpoll.Backoff.exponential(1.0, max_delay=2.0, jitter=1.0),
        )
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(errors=budget))
            with pytest.raises(lrpoll.HTTPStatusError):
                await op
        times = poll_times(server)
        assert times[-1] - times[0] >= 10.0
        assert times[-2] - times[0] < 10.0

    async def test_4xx_is_not_retried(self, server: FakeLROServer) -> None:
        """A 400 ends the operation at once with HTTPStatusError and the body snippet."""
        job = server.add_job(JobScript.slow())
        server.fail_next("*/status", status=400, body=b'{"error": "bad request"}')
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.HTTPStatusError, match="400") as info:
                await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert info.value.body_snippet == '{"error": "bad request"}'
        assert len(server.requests) == 1

    async def test_401_is_an_auth_error(self) -> None:
        """A missing bearer token answers 401: AuthError, not retried."""
        async with FakeLROServer(bearer="right") as server:
            job = server.add_job()
            async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
                with pytest.raises(lrpoll.AuthError) as info:
                    await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert info.value.http_status == 401
        assert len(server.requests) == 1


class TestMalformedBodies:
    """A body that is not JSON is transient, then MalformedStatus with an escaped snippet."""

    async def test_one_html_page_is_retried(self, server: FakeLROServer) -> None:
        """D29: one HTML error page with a JSON content type is retried and forgotten."""
        job = server.add_job(JobScript.success(polls=0))
        server.malformed_next("*/status")
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert len(server.requests) == 2

    async def test_budget_spent_raises_malformed_status_with_escaped_snippet(
        self, server: FakeLROServer
    ) -> None:
        """D29: then MalformedStatus quotes at most 200 escaped characters of the body."""
        job = server.add_job(JobScript.slow())
        body = b"<html>\x00\x1b[31m\xff" + b"x" * 5000
        server.malformed_next("*/status", times=10, body=body)
        spec = export_spec(errors=_budget(max_consecutive=2))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.MalformedStatus) as info:
                await (await scheduler.watch(server.status_url(job.id), spec))
        message = info.value.message
        snippet = message.split("): ", 1)[1]
        assert snippet.startswith("<html>\\x00\\x1b[31m\\xff")
        assert len(snippet) <= 200
        assert snippet.rstrip("…").isascii()
        assert message.isprintable()
        assert len(server.requests) == 3


class TestConnections:
    """Dropped connections, timeouts and refused connections (F48)."""

    async def test_dropped_connection_is_retried(self, server: FakeLROServer) -> None:
        """F48: a dropped connection (twice: aiohttp resends a GET once) is one retried fault."""
        job = server.add_job(JobScript.success(polls=0))
        server.drop_connection_next("*/status", times=2)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
            assert scheduler.statistics().errors_retried == 1
        assert [r.status for r in server.requests] == [0, 0, 200]

    @pytest.mark.aiohttp_sender
    async def test_drops_past_the_budget_raise_request_error(self, server: FakeLROServer) -> None:
        """F48: drops on every poll end in RequestError naming the URL and the fault."""
        job = server.add_job(JobScript.slow())
        server.drop_connection_next("*/status", times=100)
        spec = export_spec(errors=_budget(max_consecutive=1))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec)
            with pytest.raises(lrpoll.RequestError) as info:
                await op
        assert info.value.message == (
            f"request to {server.status_url(job.id)} failed: ServerDisconnectedError"
        )
        assert op.attempts == 2

    async def test_slow_answer_times_out_and_is_retried(self, server: FakeLROServer) -> None:
        """An answer held 20 s against a 5 s timeout fails at t=5; the retry completes."""
        job = server.add_job(JobScript.success(polls=1))
        server.delay_next("*/status", seconds=20)
        limits = lrpoll.Limits(timeout=5.0)
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            await anyio.sleep(5.5)
            assert scheduler.statistics().errors_retried == 1
            await op
            await anyio.sleep(20)  # until the held request is answered (and logged)
        times = poll_times(server)
        assert times[0] == 0.0
        assert times[1] >= 5.0
        assert len(times) == 3

    async def test_timeout_past_the_budget_raises_at_the_timeout(
        self, server: FakeLROServer
    ) -> None:
        """With no retries allowed, the timed-out poll raises RequestError exactly at t=5."""
        job = server.add_job(JobScript.slow())
        server.delay_next("*/status", seconds=20)
        limits = lrpoll.Limits(timeout=5.0)
        spec = export_spec(errors=_budget(max_consecutive=0))
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            with pytest.raises(lrpoll.RequestError, match="timed out"):
                await (await scheduler.watch(server.status_url(job.id), spec))
            assert now() == 5.0

    @pytest.mark.aiohttp_sender
    async def test_refused_connection_is_retried_then_raised(self) -> None:
        """Connecting to a closed port is retried within the budget, then RequestError."""
        async with FakeLROServer() as gone:
            url = gone.status_url("job-1")
        spec = export_spec(errors=_budget(max_consecutive=2))
        async with lrpoll.Scheduler(base_url=gone.base_url) as scheduler:
            op = await scheduler.watch(url, spec)
            with pytest.raises(lrpoll.RequestError, match="failed: ClientConnectorError"):
                await op
            assert scheduler.statistics().errors_retried == 2
        assert op.attempts == 3


class TestHostHealth:
    """A 429 closes the host's gate; a per-host token bucket paces retries (F42, F43)."""

    async def test_429_closes_the_gate_for_the_host_only(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """F43: after a 429 with `Retry-After: 10`, nothing goes to that host for 10 s."""
        a1, a2 = server.add_job(JobScript.slow()), server.add_job(JobScript.slow())
        b1 = other.add_job(JobScript.slow())
        async with lrpoll.Scheduler(
            base_url=server.base_url, trusted_origins=[other.base_url]
        ) as scheduler:
            for url in (
                server.status_url(a1.id),
                server.status_url(a2.id),
                other.status_url(b1.id),
            ):
                await scheduler.watch(url, export_spec())
            await anyio.sleep(1.5)
            server.throttle_next(f"*/{a1.id}/status", retry_after="10")
            await anyio.sleep(14)
        throttled = [r.time for r in server.requests if r.status == 429]
        assert throttled == [2.0]
        assert [t for t in poll_times(server) if 2.0 < t < 12.0] == []
        expected = [0.0, 1.0, 2.0, 12.0, 13.0, 14.0, 15.0]
        assert poll_times(server, f"*/{a1.id}/status") == expected
        assert poll_times(server, f"*/{a2.id}/status") == expected
        assert poll_times(other) == [float(t) for t in range(16)]

    async def test_gate_release_follows_the_host_rate(self, server: FakeLROServer) -> None:
        """F44: polls held at a 429 gate leave at `gate_release_rate` when it reopens."""
        jobs = [server.add_job(JobScript.slow()) for _ in range(100)]
        rate = 20.0
        async with lrpoll.Scheduler(base_url=server.base_url, gate_release_rate=rate) as scheduler:
            for job in jobs:
                await scheduler.watch(server.status_url(job.id), export_spec())
            await anyio.sleep(0.5)
            server.throttle_next(f"*/{jobs[0].id}/status", retry_after="10")
            await anyio.sleep(20)
        throttled = [r.time for r in server.requests if r.status == 429]
        assert throttled == [1.0]
        assert [t for t in poll_times(server) if 1.0 < t < 11.0] == []
        # each op's first poll after the gate; per 100 ms window at most rate/10 (+1 for
        # the throttled op's own Retry-After poll at 11.0)
        released = [
            min(t for t in poll_times(server, f"*/{job.id}/status") if t >= 11.0) for job in jobs
        ]
        windows = Counter(round((t - 11.0) * 1000) // 100 for t in released)
        assert max(windows.values()) <= rate / 10 + 1
        # 99 ops were held: released at 11.0, 11.05, ... 11.0 + 98 / rate
        assert max(released) - 11.0 >= 98 / rate - 1e-6

    async def test_herd_of_100_ops_recovers_with_paced_retries(self, server: FakeLROServer) -> None:
        """F42: 100 ops through 300 503s all complete; failing retries keep to the bucket."""
        rate, burst = 5.0, 20.0
        jobs = [server.add_job(JobScript.success(polls=2)) for _ in range(100)]
        server.fail_next("*/status", times=300)
        # Budgets wide enough that no op fails because of the bucket's pacing.
        budget = _budget(
            max_consecutive=None, backoff=lrpoll.Backoff.exponential(0.5, max_delay=2.0, jitter=1.0)
        )
        spec = export_spec(errors=budget)
        async with lrpoll.Scheduler(
            base_url=server.base_url, retry_rate=rate, retry_burst=burst, seed=7
        ) as scheduler:
            ops = [await scheduler.watch(server.status_url(j.id), spec) for j in jobs]
            results = [await op for op in ops]
            stats = scheduler.statistics()
        assert len(results) == 100
        assert stats.operations == {"succeeded": 100}
        assert stats.errors_retried == 300
        retries = retry_requests(server.requests)
        assert len(retries) == 300
        # Token-bucket conformance while the host fails (no good answer refills the
        # bucket yet): by time t, at most burst + rate * (t - t0) retries.
        t0 = min(r.time for r in server.requests if r.status == 503)
        last_failure = max(r.time for r in server.requests if r.status == 503)
        failing = [t for t in retries if t <= last_failure]
        assert len(failing) == 200
        for count, t in enumerate(failing, start=1):
            assert count <= burst + rate * (t - t0) + 1e-6, (count, t)
        # The pacing is what bounds it: 180 retries past the burst need 36 s at 5/s.
        assert last_failure - t0 >= (200 - burst) / rate - 1e-6
        # Once the host answers, good answers refill the bucket: the 100 retries still
        # deferred go within their own backoff (at most 2 s), not at 5 per second.
        assert retries[-1] - last_failure <= 2.0 + 1e-6


class TestEmptyAndOddBodies:
    """Bodies that parse but say little."""

    async def test_empty_200_body_means_still_running(self, server: FakeLROServer) -> None:
        """D31: an empty 200 body is a running answer (no field says otherwise)."""
        job = server.add_job(JobScript.success(polls=0))
        server.fail_next("*/status", status=200, body=b"")
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            await op
            assert scheduler.statistics().errors_retried == 0
        assert poll_times(server) == [0.0, 1.0]

    async def test_json_null_and_scalars_mean_still_running(self, server: FakeLROServer) -> None:
        """A document that is null, a number or a list is read as running, not an error."""
        job = server.add_job(JobScript.success(polls=0))
        for body in (b"null", b"42", b"[1, 2]", doc("queued")):
            server.fail_next("*/status", status=200, body=body)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert poll_times(server) == [0.0, 1.0, 2.0, 3.0, 4.0]
