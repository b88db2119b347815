"""The ``odata`` preset against `FakeOData` (OData-P §11.6), its decoder and `lrpoll.compat.odata`.

Every test runs on the looptime loop of ``tests/conftest.py``: instants read from the fake's
request log are exact loop times, and waits of minutes take milliseconds.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

import lrpoll
import lrpoll.presets
from lrpoll.compat.odata import ODataAsyncPoller, start_odata_async
from lrpoll.presets.odata import (
    APPLICATION_HTTP_DECODER,
    decode_application_http,
    odata_async,
    respond_async_headers,
)
from lrpoll.testing.odata import FakeOData, ODataScript
from tests.helpers import gaps, now

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from lrpoll.testing import RequestRecord

ASYNC = respond_async_headers()
EXPORTS = "/odata/Exports"


def entity(server: FakeOData, entity_id: int) -> dict[str, Any]:
    """The export entity the fake serves for ``entity_id``."""
    return {
        "@odata.context": f"{server.service_root}/$metadata#Exports/$entity",
        "ID": entity_id,
        "Status": "Completed",
        "File": f"export-{entity_id}.csv",
    }


def monitor(server: FakeOData, token: str = "job1", method: str = "GET") -> list[RequestRecord]:
    """The requests to job ``token``'s status monitor."""
    return server.requests_to(f"/odata/$async/{token}", method)


def since_start(server: FakeOData, records: list[RequestRecord]) -> list[float]:
    """Loop times of ``records``, counted from the first request the fake saw."""
    start = server.requests[0].time
    return [round(r.time - start, 6) for r in records]


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FakeOData]:
    """A fake OData service on 127.0.0.1 (3 ticks, Retry-After 1)."""
    async with FakeOData() as server:
        yield server


@pytest.fixture(name="scheduler")
async def _scheduler(server: FakeOData) -> AsyncIterator[lrpoll.Scheduler]:
    """A scheduler trusting the fake."""
    async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        yield scheduler


class TestSuccess:
    """202 while running, then 200 + AsyncResult with the result."""

    async def test_polls_monitor_with_progress_and_returns_the_entity(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """Polls follow Retry-After, percentComplete is progress, the entity is the result."""
        op = await scheduler.start(
            "POST", EXPORTS, json={"Table": "T"}, spec=odata_async(), headers=ASYNC
        )
        seen = [(u.state, u.progress) async for u in op.updates()]
        assert await op == entity(server, 42)
        assert seen == [
            ("running", 25.0),
            ("running", 50.0),
            ("running", 75.0),
            ("succeeded", 100.0),
        ]
        post = server.requests[0]
        assert post.headers["prefer"] == "respond-async"
        assert post.headers["odata-maxversion"] == "4.01"
        assert since_start(server, monitor(server)) == [1.0, 2.0, 3.0, 4.0]
        assert all(r.headers["odata-maxversion"] == "4.01" for r in monitor(server))
        assert op.status == entity(server, 42)
        assert op.status_url == server.monitor_url("job1")

    async def test_action_query_and_no_content_results(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """An action's value, a query's collection and an AsyncResult 204 (None) come back."""
        spec = odata_async()
        report = await scheduler.start("POST", "/odata/GenerateReport", spec=spec, headers=ASYNC)
        products = await scheduler.start("GET", "/odata/Products", spec=spec, headers=ASYNC)
        cleared = await scheduler.start("POST", "/odata/ClearCache", spec=spec, headers=ASYNC)
        assert (await report)["value"] == "report-job1.pdf"
        assert [p["Name"] for p in (await products)["value"]] == ["Bread", "Milk"]
        assert await cleared is None
        assert cleared.state == "succeeded"
        assert cleared.progress == 100.0

    async def test_progress_is_none_without_a_status_body(
        self, scheduler: lrpoll.Scheduler
    ) -> None:
        """202 answers without a body leave progress unknown (None), not 0."""
        async with (
            FakeOData(status_body=False) as bare,
            lrpoll.Scheduler(base_url=bare.base_url) as s,
        ):
            op = await s.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
            progress = [u.progress async for u in op.updates() if u.state == "running"]
            await op
        assert progress == [None, None, None]

    @pytest.mark.parametrize("percent_path", ["Progress", None])
    async def test_percent_path_reads_another_field_or_none(
        self, scheduler: lrpoll.Scheduler, percent_path: str | None
    ) -> None:
        """percent_path picks the field (absent: None); None never reads it while running."""
        spec = odata_async(percent_path=percent_path)
        op = await scheduler.start("POST", EXPORTS, spec=spec, headers=ASYNC)
        assert [u.progress async for u in op.updates()] == [None, None, None, 100.0]


class TestMonitorVariants:
    """Answers FakeOData does not give: a moving monitor, a 4.0 bare 200, a failing monitor."""

    async def test_new_location_bare_200_and_transient_503(self) -> None:
        """A 202's new (relative) Location is followed; a 503 is retried; a bare 200 succeeds."""
        from aiohttp import web

        seen: list[str] = []

        async def start(request: web.Request) -> web.Response:
            return web.Response(status=202, headers={"Location": "/odata/$async/a"})

        async def first(request: web.Request) -> web.Response:
            seen.append("a")
            return web.Response(status=202, headers={"Location": "../$async/b"})

        async def second(request: web.Request) -> web.Response:
            seen.append("b")
            if seen.count("b") == 1:
                return web.json_response({"error": {"message": "busy"}}, status=503)
            return web.json_response({"ID": 7})  # a 4.0 service: no AsyncResult

        app = web.Application()
        app.add_routes(
            [
                web.post("/odata/Exports", start),
                web.get("/odata/$async/a", first),
                web.get("/odata/$async/b", second),
            ]
        )
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            base = f"http://127.0.0.1:{runner.addresses[0][1]}"
            async with lrpoll.Scheduler(base_url=base) as scheduler:
                spec = odata_async(interval=1.0)
                op = await scheduler.start("POST", EXPORTS, spec=spec, headers=ASYNC)
                assert await op == {"ID": 7}
                assert op.status_url == base + "/odata/$async/b"
        finally:
            await runner.cleanup()
        assert seen == ["a", "b", "b"]


class TestSynchronous:
    """A non-202 start answer is the result: no poll."""

    async def test_without_prefer_the_answer_completes_at_once(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """201 Created to a request without respond-async (the spec's start_headers dropped):
        succeeded, nothing polled."""
        spec = odata_async().replace(start_headers=None)
        op = await scheduler.start("POST", EXPORTS, spec=spec)
        assert op.state == "succeeded"
        assert op.result() == entity(server, 42)
        assert server.requests_to("/odata/$async/*") == []
        assert server.jobs == {}

    async def test_sync_anyway_ignores_the_preference(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """A service may answer respond-async synchronously: the 201 is the result."""
        server.sync_anyway = True
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        assert await op == entity(server, 42)
        assert [r.method for r in server.requests] == ["POST"]

    async def test_no_content_and_query_answers(self, scheduler: lrpoll.Scheduler) -> None:
        """204 gives None, 200 gives the body, both without polling."""
        eager = odata_async().replace(start_headers=None)  # no respond-async preference
        cleared = await scheduler.start("POST", "/odata/ClearCache", spec=eager)
        products = await scheduler.start("GET", "/odata/Products", spec=eager)
        assert cleared.result() is None
        assert len(products.result()["value"]) == 2


class TestFailure:
    """AsyncResult >= 400: OperationFailed with the OData error."""

    async def test_async_result_500_fails_with_the_message_and_code(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """AsyncResult: 500 + {"error": {...}}: the message and code reach the exception."""
        server.script_next(ODataScript.failure("disk full", ticks=1))
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        with pytest.raises(lrpoll.OperationFailed, match=r"disk full \(ExportFailed\)"):
            await op
        assert op.state == "failed"
        assert op.status["error"]["message"] == "disk full"
        assert since_start(server, monitor(server)) == [1.0, 2.0]

    async def test_async_result_400(self, server: FakeOData, scheduler: lrpoll.Scheduler) -> None:
        """A 4xx final status fails too."""
        server.script_next(ODataScript.failure("bad filter", status=400, code="BadRequest"))
        op = await scheduler.start("GET", "/odata/Products", spec=odata_async(), headers=ASYNC)
        with pytest.raises(lrpoll.OperationFailed, match=r"bad filter \(BadRequest\)"):
            await op

    async def test_wrapped_failure_for_a_4_0_client(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """An application/http body embedding a 500 fails with the embedded error."""
        server.script_next(ODataScript.failure("quota exceeded"))
        spec = odata_async(odata_version="4.0")
        op = await scheduler.start("POST", EXPORTS, spec=spec, headers=ASYNC)
        with pytest.raises(lrpoll.OperationFailed, match=r"quota exceeded \(ExportFailed\)"):
            await op
        assert op.status["status"] == 500


class TestApplicationHttp:
    """4.0 clients (and Accept: application/http) get the final response wrapped."""

    async def test_4_0_client_gets_the_embedded_response_as_result(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """OData-MaxVersion 4.0: the embedded 201's body is the result, op.status the envelope."""
        op = await scheduler.start(
            "POST", EXPORTS, spec=odata_async(odata_version="4.0"), headers=ASYNC
        )
        assert await op == entity(server, 42)
        last = monitor(server)[-1]
        assert last.headers["odata-maxversion"] == "4.0"
        location = server.url("/odata/Exports(42)")
        assert op.status == {
            "status": 201,
            "reason": "Created",
            "headers": {
                "content-type": "application/json",
                "location": location,
                "odata-entityid": location,
            },
            "body": entity(server, 42),
        }

    async def test_accept_application_http_with_4_01(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """accept="application/http" asks a 4.01 service for the wrapped form too."""
        spec = odata_async(accept="application/http")
        op = await scheduler.start("POST", EXPORTS, spec=spec, headers=ASYNC)
        assert await op == entity(server, 42)
        assert monitor(server)[-1].headers["accept"] == "application/http"
        assert op.status["status"] == 201

    async def test_wrapped_no_content_gives_none(self, scheduler: lrpoll.Scheduler) -> None:
        """An embedded 204 (no body) gives None, not the envelope."""
        spec = odata_async(odata_version="4.0")
        op = await scheduler.start("POST", "/odata/ClearCache", spec=spec, headers=ASYNC)
        assert await op is None
        assert op.status["status"] == 204


class TestServerCancel:
    """§11.6: a service-side cancel is a 200 whose application/http body holds a 5xx."""

    async def test_embedded_503_is_cancelled(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """The embedded 503 ends the operation cancelled, with the service's message."""
        server.script_next(ODataScript.server_cancel("maintenance window"))
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        with pytest.raises(lrpoll.OperationCancelled, match=r"maintenance window \(Cancelled\)"):
            await op
        assert op.state == "cancelled"
        assert op.status["status"] == 503

    async def test_cancelled_statuses_is_configurable(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """With cancelled_statuses=[], the embedded 503 reads as a failure."""
        server.script_next(ODataScript.server_cancel("maintenance window"))
        spec = odata_async(cancelled_statuses=[])
        op = await scheduler.start("POST", EXPORTS, spec=spec, headers=ASYNC)
        with pytest.raises(lrpoll.OperationFailed, match="maintenance window"):
            await op


class TestCancel:
    """DELETE on the monitor: each answer and how the operation ends."""

    async def _slow(self, server: FakeOData, scheduler: lrpoll.Scheduler) -> lrpoll.Operation:
        server.script_next(ODataScript.slow())
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        await op.poll_once()
        return op

    @pytest.mark.parametrize("status", [204, 200])
    async def test_accepted_delete_is_confirmed_by_the_404(
        self, server: FakeOData, scheduler: lrpoll.Scheduler, status: int
    ) -> None:
        """204 (or 200): accepted; the next GET's 404 confirms; await op raises cancelled."""
        server.cancel_status = status  # type: ignore[assignment]
        op = await self._slow(server, scheduler)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.sent) == ("cancelled", status, True)
        assert op.state == "cancelled"
        with pytest.raises(lrpoll.OperationCancelled):
            await op
        delete = monitor(server, method="DELETE")
        assert len(delete) == 1
        assert delete[0].raw_path == "/odata/$async/job1"
        assert delete[0].headers["odata-maxversion"] == "4.01"
        after = server.requests[server.requests.index(delete[0]) :]
        assert [(r.method, r.status) for r in after] == [("DELETE", status), ("GET", 404)]

    async def test_async_cancel_202_is_confirmed_on_the_job_monitor(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """202 + cancel monitor: the job's monitor answers 202 twice, then 404 confirms."""
        server.async_cancel = True
        op = await self._slow(server, scheduler)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("cancelled", 202)
        delete = monitor(server, method="DELETE")[0]
        after = server.requests[server.requests.index(delete) + 1 :]
        assert [r.status for r in after] == [202, 202, 404]
        # The cancel monitor named by the 202's Location is not polled (documented).
        assert server.requests_to("/odata/$async/job1-cancel") == []

    async def test_405_is_not_supported_and_polling_goes_on(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """405 + Allow: GET: not_supported; the operation keeps running."""
        server.cancel_unsupported = True
        op = await self._slow(server, scheduler)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("not_supported", 405)
        assert outcome.message == "cancel is not supported"
        assert op.state == "running"
        op.stop()

    async def test_404_and_410_are_not_found(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """A forgotten monitor answers 404, an expired one 410: not_found, then gone."""
        gone = await self._slow(server, scheduler)
        expired = await self._slow(server, scheduler)
        server.forget("job1")
        server.expire("job2")
        outcomes = [await gone.cancel(), await expired.cancel()]
        assert [(o.kind, o.http_status) for o in outcomes] == [
            ("not_found", 404),
            ("not_found", 410),
        ]
        for op in (gone, expired):
            with pytest.raises(lrpoll.OperationGone):
                await op

    async def test_ignored_cancel_finishes_anyway(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """An accepted DELETE the service then ignores: finished_anyway, the result stands."""
        server.cancel_ignored = True
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.state) == (
            "finished_anyway",
            204,
            "succeeded",
        )
        assert await op == entity(server, 42)

    async def test_cancel_of_a_finished_operation_sends_nothing(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """An operation that already ended keeps its result; no DELETE goes out."""
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        await op
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent) == ("already_finished", False)
        assert monitor(server, method="DELETE") == []


class TestRetryAfter:
    """The first poll waits for the 202's Retry-After; each 202's Retry-After sets the next."""

    async def test_seconds(self, server: FakeOData, scheduler: lrpoll.Scheduler) -> None:
        """Retry-After: 3 spaces every poll 3 s apart, the first 3 s after the 202."""
        server.retry_after = 3
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        await op
        assert since_start(server, monitor(server)) == [3.0, 6.0, 9.0, 12.0]

    async def test_http_date(self, server: FakeOData, scheduler: lrpoll.Scheduler) -> None:
        """An HTTP-date Retry-After (read against Date) gives the same delays as seconds."""
        server.retry_after, server.http_date = 4, True
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        await op
        assert since_start(server, monitor(server)) == [4.0, 8.0, 12.0, 16.0]

    async def test_absent_uses_the_interval(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """Without Retry-After: the first poll at once, then every `interval` (2 s default)."""
        server.retry_after = 0
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        await op
        assert since_start(server, monitor(server)) == [0.0, 2.0, 4.0, 6.0]
        assert "retry-after" not in {k.lower() for k in server.requests[0].headers}

    async def test_retry_after_is_clamped_to_min_interval(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """Retry-After: 1 under min_interval=5 waits 5 s."""
        op = await scheduler.start(
            "POST", EXPORTS, spec=odata_async(min_interval=5.0), headers=ASYNC
        )
        await op
        assert gaps(r.time for r in monitor(server)) == [5.0, 5.0, 5.0]


class TestRedirect:
    """A monitor may answer 303 See Other to the result resource."""

    async def test_303_is_followed_to_the_entity(
        self, server: FakeOData, scheduler: lrpoll.Scheduler
    ) -> None:
        """The runtime follows the 303 with GET; the entity is the result."""
        server.redirect_when_done = True
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        assert await op == entity(server, 42)
        tail = [(r.method, r.path, r.status) for r in server.requests[-2:]]
        assert tail == [("GET", "/odata/$async/job1", 303), ("GET", "/odata/Exports(42)", 200)]
        assert server.requests[-1].time == server.requests[-2].time


class TestExpiry:
    """404/410 on the monitor without a cancel: OperationGone (expired)."""

    @pytest.mark.parametrize("status", [410, 404])
    async def test_expired_monitor_is_gone(
        self, server: FakeOData, scheduler: lrpoll.Scheduler, status: int
    ) -> None:
        """After ttl_polls answers the monitor says 410 (or 404): OperationGone, state gone."""
        server.ttl_polls, server.expired_status = 2, status  # type: ignore[assignment]
        server.script_next(ODataScript.slow())
        op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        with pytest.raises(lrpoll.OperationGone):
            await op
        assert op.state == "gone"
        assert [r.status for r in monitor(server)] == [202, 202, status]

    async def test_unknown_monitor(self, server: FakeOData, scheduler: lrpoll.Scheduler) -> None:
        """Watching a monitor the service never issued: 404, gone."""
        op = await scheduler.watch(server.monitor_url("nope"), odata_async())
        with pytest.raises(lrpoll.OperationGone):
            await op


class TestAuth:
    """Bearer tokens come from the scheduler's credentials, never from the spec."""

    async def test_missing_token_fails_the_start(self) -> None:
        """401 to the start request: AuthError at once."""
        async with (
            FakeOData(bearer="s3cret") as server,
            lrpoll.Scheduler(base_url=server.base_url) as s,
        ):
            with pytest.raises(lrpoll.AuthError) as info:
                await s.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
        assert info.value.http_status == 401

    async def test_token_is_sent_to_every_request(self) -> None:
        """With the credential, the start, the polls and the DELETE all authenticate."""
        async with FakeOData(bearer="s3cret") as server:
            creds = {server.base_url: lrpoll.BearerToken("s3cret")}
            async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as s:
                op = await s.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
                await op.poll_once()
                assert (await op.cancel()).kind == "cancelled"
        assert {r.status for r in server.requests} <= {202, 204, 404}
        assert all(r.headers["authorization"] == "REDACTED" for r in server.requests)

    async def test_revoked_token_ends_polling_with_auth_error(self) -> None:
        """A 401 on the monitor ends the operation with AuthError."""
        async with FakeOData(bearer="s3cret") as server:
            creds = {server.base_url: lrpoll.BearerToken("s3cret")}
            async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as s:
                op = await s.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
                server.bearer = "rotated"
                with pytest.raises(lrpoll.AuthError):
                    await op
        assert op.state == "error"


class TestGoConveniences:
    """ODataAsyncPoller: poll / wait / result / status / percent_complete / on_progress."""

    async def test_poll_steps_until_done(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """poll() is one step: True while running, False when done; the callback sees each."""
        calls: list[tuple[str, int]] = []
        poller = await start_odata_async(
            scheduler, "POST", EXPORTS, on_progress=lambda s, p: calls.append((s, p))
        )
        assert poller.status() == "running"
        assert poller.percent_complete() == -1
        with pytest.raises(RuntimeError, match="still running"):
            poller.result()
        steps = [await poller.poll() for _ in range(4)]
        assert steps == [True, True, True, False]
        assert calls == [("Running", 25), ("Running", 50), ("Running", 75), ("succeeded", 100)]
        assert poller.done
        assert poller.status() == "succeeded"
        assert poller.percent_complete() == 100
        assert poller.result() == entity(server, 42)
        assert repr(poller) == f"<ODataAsyncPoller {poller.operation.id} succeeded 100%>"
        # Manual steps replace the schedule: four polls in all, all at the start instant.
        assert len(monitor(server)) == 4
        assert len({r.time for r in server.requests}) == 1

    async def test_wait_calls_on_progress_after_each_poll(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """wait() returns the result and reports (status, percent) per poll."""
        calls: list[tuple[str, int, float]] = []
        poller = await start_odata_async(
            scheduler, "POST", EXPORTS, on_progress=lambda s, p: calls.append((s, p, now()))
        )
        start = now()
        assert await poller.wait() == entity(server, 42)
        assert [(s, p, t - start) for s, p, t in calls] == [
            ("Running", 25, 1.0),
            ("Running", 50, 2.0),
            ("Running", 75, 3.0),
            ("succeeded", 100, 4.0),
        ]

    async def test_percent_complete_is_minus_one_without_progress(self) -> None:
        """No percent in the 202s: percent_complete() is -1 and status() says running."""
        async with (
            FakeOData(status_body=False) as server,
            lrpoll.Scheduler(base_url=server.base_url) as s,
        ):
            poller = await start_odata_async(s, "POST", EXPORTS)
            assert await poller.poll() is True
            assert (poller.status(), poller.percent_complete()) == ("running", -1)

    async def test_poll_raises_the_failure(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """poll() raises OperationFailed when the service reports failure (Go: false, err)."""
        server.script_next(ODataScript.failure("disk full", ticks=0))
        poller = await start_odata_async(scheduler, "POST", EXPORTS)
        with pytest.raises(lrpoll.OperationFailed, match="disk full"):
            await poller.poll()
        assert poller.status() == "failed"

    async def test_defaults_and_max_wait(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """Interval 2 s and max wait 10 min by default; max_wait ends waiting with PollTimeout."""
        poller = await start_odata_async(scheduler, "POST", EXPORTS)
        spec = poller.operation.spec
        assert (spec.effective_backoff.delay, spec.max_duration) == (2.0, 600.0)
        await poller.wait()
        server.script_next(ODataScript.slow())
        slow = await start_odata_async(scheduler, "POST", EXPORTS, max_wait=30.0, wait=5)
        assert server.requests[-1].headers["prefer"] == "respond-async, wait=5"
        start = now()
        with pytest.raises(lrpoll.PollTimeout):
            await slow.wait()
        assert now() - start == 30.0
        assert slow.status() == "timed_out"

    async def test_wraps_a_synchronous_answer(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """A synchronous answer gives a poller that is already done."""
        server.sync_anyway = True
        poller = await start_odata_async(scheduler, "POST", EXPORTS)
        assert poller.done
        assert await poller.poll() is False
        assert poller.result() == entity(server, 42)

    async def test_cancel_deletes_the_monitor_and_confirms(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """cancel() is the operation's: DELETE on the monitor, confirmed by its 404."""
        server.script_next(ODataScript.slow())
        poller = await start_odata_async(scheduler, "POST", EXPORTS)
        assert await poller.poll() is True
        outcome = await poller.cancel()
        assert (outcome.kind, outcome.http_status) == ("cancelled", 204)
        assert poller.status() == "cancelled"
        assert len(monitor(server, method="DELETE")) == 1
        with pytest.raises(lrpoll.OperationCancelled):
            poller.result()

    async def test_caller_headers_join_the_start_headers(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """The spec's start_headers go out with the caller's headers, which win."""
        poller = await start_odata_async(
            scheduler, "POST", EXPORTS, headers={"X-Trace": "t1", "OData-MaxVersion": "4.0"}
        )
        assert poller.operation.spec.start_headers == respond_async_headers()
        post = server.requests[0].headers
        assert (post["prefer"], post["x-trace"], post["odata-maxversion"]) == (
            "respond-async",
            "t1",
            "4.0",
        )
        await poller.wait()

    async def test_status_path_for_sap_style_bodies(self, server: FakeOData) -> None:
        """status_path=None reports lrpoll's state instead of the service's text."""
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
            await op.poll_once()
            assert ODataAsyncPoller(op).status() == "Running"
            assert ODataAsyncPoller(op, status_path=None).status() == "running"
            assert ODataAsyncPoller(op).percent_complete() == 25
            op.stop()


class TestDeprecatedPath:
    """The Go conveniences moved to lrpoll.compat.odata; the old names warn for one release."""

    @pytest.mark.parametrize("name", ["ODataAsyncPoller", "ProgressCallback", "start_odata_async"])
    def test_old_name_warns_and_is_the_new_one(self, name: str) -> None:
        """lrpoll.presets.<name> warns with the new path and gives the moved object."""
        import lrpoll.compat.odata

        with pytest.warns(DeprecationWarning, match=r"moved to lrpoll\.compat\.odata"):
            old = getattr(lrpoll.presets, name)
        assert old is getattr(lrpoll.compat.odata, name)

    async def test_old_import_still_works(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """``from lrpoll.presets import start_odata_async`` warns, then polls as before."""
        with pytest.warns(DeprecationWarning, match="moved to lrpoll.compat.odata"):
            from lrpoll.presets import start_odata_async as old_start
        poller = await old_start(scheduler, "POST", EXPORTS)
        assert isinstance(poller, ODataAsyncPoller)
        assert await poller.wait() == entity(server, 42)

    def test_other_names_are_missing(self) -> None:
        """Any other unknown name is an AttributeError, without a warning."""
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            lrpoll.presets.nope  # noqa: B018


class TestSpecIsData:
    """The preset's spec round-trips through JSON and checkpoints."""

    def test_json_round_trip(self) -> None:
        """to_json() names the preset and its params; from_json() rebuilds an equal spec."""
        spec = odata_async(interval=0.5, percent_path="Progress", cancelled_statuses=(503, 500))
        data = json.loads(json.dumps(spec.to_json()))
        assert data == {
            "preset": "odata",
            "params": {
                "interval": 0.5,
                "percent_path": "Progress",
                "cancelled_statuses": [503, 500],
            },
        }
        again = lrpoll.PollSpec.from_json(data)
        assert again == spec
        assert again.decoder == APPLICATION_HTTP_DECODER
        assert lrpoll.registry.resolve_preset("odata", {}) == odata_async()
        assert "odata" in lrpoll.registry.preset_names()

    def test_overrides_survive_the_round_trip(self) -> None:
        """A replaced field travels as an override next to the preset reference."""
        spec = odata_async().replace(messages=lrpoll.Messages(in_progress="{progress}%"))
        data = json.loads(json.dumps(spec.to_json()))
        assert data["overrides"] == {
            "messages": {
                "in_progress": "{progress}%",
                "completed": None,
                "failed": None,
                "cancelled": None,
                "timed_out": None,
            }
        }
        assert lrpoll.PollSpec.from_json(data) == spec

    async def test_checkpoint_resumes_in_another_scheduler(self, server: FakeOData) -> None:
        """A checkpoint taken mid-way resumes elsewhere and reaches the result."""
        async with lrpoll.Scheduler(base_url=server.base_url) as first:
            op = await first.start("POST", EXPORTS, spec=odata_async(), headers=ASYNC)
            await op.poll_once()
            checkpoint = op.checkpoint()
            op.stop()
        assert '"preset":"odata"' in checkpoint.replace(" ", "")
        async with lrpoll.Scheduler(base_url=server.base_url) as second:
            resumed = second.resume(checkpoint)
            assert await resumed == entity(server, 42)
        assert len(monitor(server)) == 4

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"odata_version": "5.0"}, "odata_version"),
            ({"percent_path": "a["}, "percent_path"),
            ({"cancelled_statuses": [200]}, "cancelled_statuses"),
            ({"cancelled_statuses": "503"}, "cancelled_statuses"),
            ({"interval": -1}, "interval"),
            ({"wait": -1}, "params.wait"),
            ({"wait": "10"}, "params.wait"),
        ],
    )
    def test_bad_params_fail_at_construction(self, params: dict[str, Any], field: str) -> None:
        """Bad parameters raise SpecError naming the field."""
        with pytest.raises(lrpoll.SpecError) as info:
            odata_async(**params)
        assert info.value.field == field

    @pytest.mark.parametrize(
        ("params", "headers"),
        [
            ({}, {"Prefer": "respond-async", "OData-MaxVersion": "4.01"}),
            (
                {"wait": 10, "odata_version": "4.0"},
                {"Prefer": "respond-async, wait=10", "OData-MaxVersion": "4.0"},
            ),
        ],
    )
    def test_start_headers_ask_for_async_processing(
        self, params: dict[str, Any], headers: dict[str, str]
    ) -> None:
        """The spec's start_headers are respond_async_headers(wait=, odata_version=)."""
        spec = odata_async(**params)
        assert spec.start_headers == headers
        assert spec.status_headers == {"OData-MaxVersion": headers["OData-MaxVersion"]}
        assert lrpoll.PollSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec

    async def test_start_headers_in_use_without_start_odata_async(
        self, scheduler: lrpoll.Scheduler, server: FakeOData
    ) -> None:
        """Passing the spec's start_headers to scheduler.start gets the 202 and a poll."""
        spec = odata_async(wait=3)
        op = await scheduler.start("POST", EXPORTS, spec=spec, headers=spec.start_headers)
        assert await op == entity(server, 42)
        assert server.requests[0].headers["prefer"] == "respond-async, wait=3"

    def test_respond_async_headers(self) -> None:
        """The Prefer header, with wait=N when given, and OData-MaxVersion."""
        assert respond_async_headers(wait=10, odata_version="4.0") == {
            "Prefer": "respond-async, wait=10",
            "OData-MaxVersion": "4.0",
        }
        with pytest.raises(ValueError, match="wait"):
            respond_async_headers(wait=-1)
        with pytest.raises(ValueError, match="odata_version"):
            respond_async_headers(odata_version="3.0")


class TestDecoder:
    """decode_application_http: the document the expressions read."""

    def test_embedded_response(self) -> None:
        """Status line, lower-case headers (repeats joined) and a JSON body."""
        text = (
            "HTTP/1.1 201 Created\r\nContent-Type: application/json;odata.metadata=minimal\r\n"
            'Location: http://h/odata/E(1)\r\nWarning: a\r\nwarning: b\r\n\r\n{"ID": 1}'
        )
        assert decode_application_http(text, {"content-type": "application/http"}) == {
            "status": 201,
            "reason": "Created",
            "headers": {
                "content-type": "application/json;odata.metadata=minimal",
                "location": "http://h/odata/E(1)",
                "warning": "a, b",
            },
            "body": {"ID": 1},
        }

    def test_bare_line_feeds_blank_lead_and_no_body(self) -> None:
        """LF line ends, blank lines before the status line and an empty body are read."""
        text = "\n\nHTTP/1.1 204 No Content\nOData-Version: 4.0\n\n"
        assert decode_application_http(
            text, {"content-type": "application/http; msgtype=response"}
        ) == {
            "status": 204,
            "reason": "No Content",
            "headers": {"odata-version": "4.0"},
            "body": None,
        }

    def test_non_json_bodies_stay_text(self) -> None:
        """A CSV result (embedded or not) is returned as text."""
        embedded = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2\r\n"
        decoded = decode_application_http(embedded, {"content-type": "application/http"})
        assert decoded["body"] == "a,b\r\n1,2\r\n"
        assert decode_application_http("a,b\n", {"content-type": "text/csv"}) == "a,b\n"

    def test_other_bodies_are_json(self) -> None:
        """Without application/http the body is the document: JSON when JSON or untyped."""
        assert decode_application_http('{"a": 1}', {"content-type": "application/json"}) == {"a": 1}
        assert decode_application_http("[1]", {}) == [1]
        assert decode_application_http("  ", {}) is None
        with pytest.raises(ValueError, match="Expecting value"):
            decode_application_http("<html>", {"content-type": "application/json"})

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "no HTTP message"),
            ("HTTP/1.1 OK\r\n\r\n", "status line"),
            ("<html>\r\n\r\n", "status line"),
            ("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header"),
            ('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":', "Expecting value"),
        ],
    )
    def test_malformed_messages_raise_value_error(self, text: str, message: str) -> None:
        """Unreadable application/http bodies raise ValueError (retried as malformed)."""
        with pytest.raises(ValueError, match=message):
            decode_application_http(text, {"content-type": "application/http"})

    async def test_a_malformed_final_answer_is_retried(self, server: FakeOData) -> None:
        """A garbled application/http answer is transient: the next poll reads the result."""
        from aiohttp import web

        original = server._http_message
        calls = {"n": 0}

        def garble(status: int, headers: Mapping[str, str], body: Any) -> web.Response:
            calls["n"] += 1
            if calls["n"] == 1:
                return web.Response(body=b"garbage", headers={"Content-Type": "application/http"})
            return original(status, headers, body)

        server._http_message = garble  # type: ignore[method-assign]
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            spec = odata_async(odata_version="4.0")
            op = await scheduler.start("POST", EXPORTS, spec=spec, headers=ASYNC)
            assert await op == entity(server, 42)
        assert [r.status for r in monitor(server)] == [202, 202, 202, 200, 200]
