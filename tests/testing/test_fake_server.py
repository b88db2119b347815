"""Tests of `lrpoll.testing.FakeLROServer`, driven by a real aiohttp client on a looptime loop."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import pytest
import yarl

from lrpoll.testing import FakeJob, FakeLROServer, JobScript

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from multidict import CIMultiDictProxy

pytestmark = pytest.mark.anyio

EXPORTS = "/api/exports"


@pytest.fixture(name="session")
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session, closed after the test."""
    async with aiohttp.ClientSession() as session:
        yield session


async def call(
    session: aiohttp.ClientSession, method: str, url: str | yarl.URL, **kwargs: Any
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    """Send one request; return status, parsed JSON body (None if empty) and headers."""
    async with session.request(method, url, allow_redirects=False, **kwargs) as resp:
        text = await resp.text()
        return resp.status, json.loads(text) if text else None, resp.headers


async def create(session: aiohttp.ClientSession, server: FakeLROServer) -> str:
    """Create a job through the API and return its id."""
    status, body, _ = await call(session, "POST", server.url(EXPORTS), json={"table": "t"})
    assert status == 202
    job_id: str = body["jobId"]
    return job_id


async def poll(session: aiohttp.ClientSession, server: FakeLROServer, job_id: str) -> Any:
    """Poll a job's status once and return the document, checking for a 200."""
    status, body, _ = await call(session, "GET", server.status_url(job_id))
    assert status == 200
    return body


def now() -> float:
    """Return the running loop's (fake) time."""
    return asyncio.get_running_loop().time()


class TestLifecycle:
    """Starting, addressing and stopping the server."""

    async def test_context_manager_binds_loopback_and_leaves_no_tasks(self) -> None:
        """The server binds a free loopback port and leaves no task behind on exit."""
        before = asyncio.all_tasks()
        async with FakeLROServer() as server, aiohttp.ClientSession() as session:
            assert server.port > 0
            assert server.base_url == f"http://127.0.0.1:{server.port}"
            assert server.url("/x") == server.url("x") == server.base_url + "/x"
            await create(session, server)
        assert asyncio.all_tasks() == before
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as session:
                await call(session, "GET", server.url("/"))

    async def test_start_close_explicit(self) -> None:
        """`start()` refuses a second start and `close()` can be called twice."""
        server = FakeLROServer()
        with pytest.raises(RuntimeError):
            _ = server.port
        await server.start()
        try:
            with pytest.raises(RuntimeError, match="already started"):
                await server.start()
        finally:
            await server.close()
        await server.close()

    @pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "example.com", "::", ""])
    def test_refuses_non_loopback_hosts(self, host: str) -> None:
        """Any host that is not a loopback address is refused at construction."""
        with pytest.raises(ValueError, match="loopback"):
            FakeLROServer(host=host)

    def test_accepts_loopback_names(self) -> None:
        """Loopback names are accepted, and `localhost` is bound as 127.0.0.1 (one port only)."""
        assert FakeLROServer(host="localhost").host == "127.0.0.1"
        assert FakeLROServer(host="::1").host == "::1"

    async def test_second_origin_on_other_loopback_address(
        self, session: aiohttp.ClientSession
    ) -> None:
        """Two servers on 127.0.0.1 and 127.0.0.2 are distinct origins with separate logs."""
        async with FakeLROServer() as one, FakeLROServer(host="127.0.0.2") as two:
            assert two.base_url.startswith("http://127.0.0.2:")
            await create(session, two)
            assert one.requests == []
            assert [r.method for r in two.requests] == ["POST"]

    async def test_fixture_yields_started_server(self, fake_lro_server: FakeLROServer) -> None:
        """The plugin's fixture yields a started server with default settings."""
        assert fake_lro_server.base_url.startswith("http://127.0.0.1:")
        assert fake_lro_server.prefix == EXPORTS


class TestJobs:
    """Job scripts as seen through the HTTP API."""

    async def test_success_sequence(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """A default job answers queued on creation, runs 25/50/75 and is done at the 4th poll."""
        server = fake_lro_server
        status, body, headers = await call(session, "POST", server.url(EXPORTS), json={})
        assert (status, body) == (202, {"jobId": "job-1", "status": "queued"})
        assert headers["Location"] == "/api/exports/job-1/status"
        assert "Retry-After" not in headers
        docs = [await poll(session, server, "job-1") for _ in range(4)]
        assert [(d["status"], d["progress"]) for d in docs] == [
            ("running", 25),
            ("running", 50),
            ("running", 75),
            ("done", 100),
        ]
        assert docs[-1] == {
            "jobId": "job-1",
            "status": "done",
            "progress": 100,
            "message": "Export completed",
            "result": {"url": "/downloads/job-1.csv"},
        }
        assert server.jobs["job-1"].polls == 4

    async def test_queued_explicit_progress_and_headers(
        self, session: aiohttp.ClientSession
    ) -> None:
        """Queued polls, explicit progress, start status and Retry-After values follow the knobs."""
        script = JobScript(
            polls=2,
            queued_polls=1,
            progress=[10, 90],
            result={"rows": 3},
            retry_after="١٢",
            start_retry_after="0",
        )
        async with FakeLROServer(default_script=script, start_status=201) as server:
            status, _, headers = await call(session, "POST", server.url(EXPORTS))
            assert (status, headers["Retry-After"]) == (201, "0")
            seen = []
            for _ in range(4):
                _, doc, headers = await call(session, "GET", server.status_url("job-1"))
                seen.append((doc["status"], doc["progress"], headers.get("Retry-After")))
            assert seen == [
                ("queued", 0, "١٢"),
                ("running", 10, "١٢"),
                ("running", 90, "١٢"),
                ("done", 100, None),
            ]
            assert doc["result"] == {"rows": 3}

    async def test_failure_document(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`fail_at(2, ...)` runs once, then answers failed with an error code and message."""
        fake_lro_server.script_next(JobScript.fail_at(2, "disk full", fail_code="DiskFull"))
        job_id = await create(session, fake_lro_server)
        assert (await poll(session, fake_lro_server, job_id))["status"] == "running"
        assert await poll(session, fake_lro_server, job_id) == {
            "jobId": job_id,
            "status": "failed",
            "progress": 50,
            "message": "disk full",
            "error": {"code": "DiskFull", "message": "disk full"},
        }

    async def test_slow_never_finishes(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """A slow job stays running at progress 0 however often it is polled."""
        job = fake_lro_server.add_job(JobScript.slow())
        docs = [await poll(session, fake_lro_server, job.id) for _ in range(20)]
        assert {(d["status"], d["progress"]) for d in docs} == {("running", 0)}

    async def test_time_based_job_follows_loop_clock(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """A `seconds` job moves with loop time, not with the number of polls."""
        t0 = now()
        job = fake_lro_server.add_job(JobScript.timed(10.0, polls=4))
        seen = []
        for wait in (0.0, 0.0, 2.5, 2.5, 4.99, 0.01, 100.0):
            await asyncio.sleep(wait)
            doc = await poll(session, fake_lro_server, job.id)
            seen.append((round(now() - t0, 6), doc["status"], doc["progress"]))
        assert seen == [
            (0.0, "running", 20),
            (0.0, "running", 20),
            (2.5, "running", 40),
            (5.0, "running", 60),
            (9.99, "running", 80),
            (10.0, "done", 100),
            (110.0, "done", 100),
        ]
        times = [round(r.time - t0, 6) for r in fake_lro_server.requests]
        assert times == [0.0, 0.0, 2.5, 5.0, 9.99, 10.0, 110.0]

    async def test_time_based_job_finishes_without_polls(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """A `seconds` job is terminal once its time has passed, even if nobody polled it."""
        job = fake_lro_server.add_job(JobScript.timed(10.0))
        await asyncio.sleep(10.0)
        status, body, _ = await call(session, "DELETE", fake_lro_server.url(f"{EXPORTS}/{job.id}"))
        assert (status, body["error"]["message"]) == (400, "job is already done")
        assert job.polls == 0

    async def test_peek_does_not_advance(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`GET {prefix}/{id}` answers the status document without advancing the job."""
        job_id = await create(session, fake_lro_server)
        for _ in range(3):
            status, doc, _ = await call(session, "GET", fake_lro_server.url(f"{EXPORTS}/{job_id}"))
            assert (status, doc["status"], doc["progress"]) == (200, "queued", 0)
        assert fake_lro_server.jobs[job_id].polls == 0

    async def test_add_job_and_ids(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`add_job` creates pollable jobs, with a chosen id or the next free `job-<n>`."""
        attached = fake_lro_server.add_job(JobScript.success(polls=0), job_id="job-2")
        assert isinstance(attached, FakeJob)
        assert attached.created_at == now()
        assert (await poll(session, fake_lro_server, "job-2"))["status"] == "done"
        assert [await create(session, fake_lro_server) for _ in range(2)] == ["job-1", "job-3"]
        with pytest.raises(ValueError, match="taken"):
            fake_lro_server.add_job(job_id="job-1")

    async def test_script_next_queue(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """Queued scripts go to the next created jobs in order, then the default applies."""
        fake_lro_server.script_next(JobScript.slow(), JobScript.fail_at(1))
        ids = [await create(session, fake_lro_server) for _ in range(3)]
        states = [(await poll(session, fake_lro_server, i))["status"] for i in ids]
        assert states == ["running", "failed", "running"]
        assert fake_lro_server.jobs[ids[2]].script == fake_lro_server.default_script

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"polls": -1}, "polls"),
            ({"progress": [101]}, "progress"),
            ({"progress": []}, "progress"),
            ({"seconds": 0.0}, "seconds"),
            ({"seconds": 5.0, "polls": 0}, "seconds"),
        ],
    )
    def test_script_validation(self, kwargs: dict[str, Any], match: str) -> None:
        """Invalid scripts fail at construction with the field named."""
        with pytest.raises(ValueError, match=match):
            JobScript(**kwargs)


class TestCancel:
    """Each cancel knob of a job script."""

    async def test_immediate(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """An immediate cancel answers 200 cancelled, records the body and is final."""
        job_id = await create(session, fake_lro_server)
        url = fake_lro_server.url(f"{EXPORTS}/{job_id}/cancel")
        status, body, _ = await call(session, "POST", url, data=b'{"why": "test"}')
        assert (status, body) == (200, {"jobId": job_id, "status": "cancelled"})
        assert (await poll(session, fake_lro_server, job_id))["status"] == "cancelled"
        status, body, _ = await call(session, "POST", url)
        assert (status, body["error"]["message"]) == (400, "job is already cancelled")
        assert fake_lro_server.jobs[job_id].cancel_requests == [b'{"why": "test"}', b""]

    async def test_cancel_async_via_delete(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """An async cancel answers 202 cancelling, stays cancelling for k polls, then cancelled."""
        job = fake_lro_server.add_job(JobScript.cancel_async(2))
        await poll(session, fake_lro_server, job.id)
        status, body, _ = await call(session, "DELETE", fake_lro_server.url(f"{EXPORTS}/{job.id}"))
        assert (status, body) == (202, {"jobId": job.id, "status": "cancelling"})
        states = [(await poll(session, fake_lro_server, job.id))["status"] for _ in range(4)]
        assert states == ["cancelling", "cancelling", "cancelled", "cancelled"]
        assert job.cancel_requests == [b""]

    async def test_ignored(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """An ignored cancel answers 202 cancelling, but the job goes on and succeeds."""
        job = fake_lro_server.add_job(JobScript.cancel_ignored(polls=2))
        url = fake_lro_server.url(f"{EXPORTS}/{job.id}/cancel")
        status, body, _ = await call(session, "POST", url)
        assert (status, body["status"]) == (202, "cancelling")
        states = [(await poll(session, fake_lro_server, job.id))["status"] for _ in range(3)]
        assert states == ["running", "running", "done"]

    @pytest.mark.parametrize("code", [501, 405])
    async def test_unsupported(
        self, code: Literal[501, 405], session: aiohttp.ClientSession
    ) -> None:
        """An unsupported cancel answers 501 (or 405 with `Allow: GET`) and the job runs on."""
        async with FakeLROServer(default_script=JobScript.cancel_unsupported(code)) as server:
            job_id = await create(session, server)
            status, body, headers = await call(session, "DELETE", server.url(f"{EXPORTS}/{job_id}"))
            assert (status, body["error"]["code"]) == (code, "UNIMPLEMENTED")
            assert headers.get("Allow") == ("GET" if code == 405 else None)
            assert (await poll(session, server, job_id))["status"] == "running"

    @pytest.mark.parametrize("code", [400, 409])
    async def test_already_finished(
        self, code: Literal[400, 409], session: aiohttp.ClientSession
    ) -> None:
        """Cancelling a finished job answers 400 (or 409) AlreadyFinished naming its state."""
        async with FakeLROServer(default_script=JobScript(polls=0, finished_status=code)) as srv:
            job_id = await create(session, srv)
            assert (await poll(session, srv, job_id))["status"] == "done"
            status, body, _ = await call(session, "POST", srv.url(f"{EXPORTS}/{job_id}/cancel"))
            assert (status, body) == (
                code,
                {"error": {"code": "AlreadyFinished", "message": "job is already done"}},
            )

    @pytest.mark.parametrize(
        ("method", "suffix"),
        [("POST", "/cancel"), ("DELETE", ""), ("GET", "/status"), ("GET", "")],
    )
    async def test_unknown_job(
        self,
        fake_lro_server: FakeLROServer,
        session: aiohttp.ClientSession,
        method: str,
        suffix: str,
    ) -> None:
        """Every job route answers 404 NotFound for an unknown id."""
        url = fake_lro_server.url(f"{EXPORTS}/job-99{suffix}")
        status, body, _ = await call(session, method, url)
        assert (status, body) == (404, {"error": {"code": "NotFound", "message": "job not found"}})


class TestAuth:
    """The bearer-token knob."""

    async def test_bearer_required_on_every_route(self, session: aiohttp.ClientSession) -> None:
        """Without the right bearer token every route answers 401 with a Bearer challenge."""
        async with FakeLROServer(bearer="s3cret") as server:
            job = server.add_job()
            for method, path in [("POST", EXPORTS), ("GET", f"{EXPORTS}/{job.id}/status")]:
                for headers in ({}, {"Authorization": "Bearer wrong"}):
                    status, body, got = await call(
                        session, method, server.url(path), headers=headers
                    )
                    assert (status, body["error"]["code"]) == (401, "Unauthorized")
                    assert got["WWW-Authenticate"] == "Bearer"
            assert job.polls == 0
            good = {"Authorization": "Bearer s3cret"}
            status, _, _ = await call(session, "POST", server.url(EXPORTS), headers=good)
            assert status == 202

    async def test_token_expires_after_polls(self, session: aiohttp.ClientSession) -> None:
        """With `expire_after_polls` the token stops working until `bearer` is set again."""
        async with FakeLROServer(bearer="a", expire_after_polls=2) as server:
            job = server.add_job()
            url, auth = server.status_url(job.id), {"Authorization": "Bearer a"}
            assert [(await call(session, "GET", url, headers=auth))[0] for _ in range(3)] == [
                200,
                200,
                401,
            ]
            _, body, headers = await call(session, "GET", url, headers=auth)
            assert body["error"]["message"] == "token expired"
            assert headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
            server.bearer = "b"
            status, doc, _ = await call(session, "GET", url, headers={"Authorization": "Bearer b"})
            assert (status, doc["progress"], job.polls) == (200, 75, 3)


class TestFaults:
    """Fault injection: each fault hits the next matching requests and does not advance jobs."""

    async def test_fail_next(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`fail_next` answers the given status, body and headers `times` times, then recovers."""
        server = fake_lro_server
        job = server.add_job()
        server.fail_next("*/status", status=500, body=b"boom", headers={"X-Fault": "1"}, times=2)
        for _ in range(2):
            async with session.get(server.status_url(job.id)) as resp:
                assert (resp.status, await resp.read(), resp.headers["X-Fault"]) == (
                    500,
                    b"boom",
                    "1",
                )
        assert job.polls == 0
        assert await create(session, server) == "job-2"  # POST does not match the glob
        assert (await poll(session, server, job.id))["progress"] == 25
        assert [r.status for r in server.requests_to("*/status")] == [500, 500, 200]

    async def test_default_fail_is_503_json(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """By default `fail_next` answers 503 with a JSON error body."""
        fake_lro_server.fail_next()
        status, body, _ = await call(session, "POST", fake_lro_server.url(EXPORTS))
        assert (status, body["error"]["code"]) == (503, "Unavailable")
        assert fake_lro_server.jobs == {}

    async def test_delay_next(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`delay_next` holds the answer for the given loop time, then answers normally."""
        job = fake_lro_server.add_job()
        fake_lro_server.delay_next("*/status", seconds=3.0)
        t0 = now()
        assert (await poll(session, fake_lro_server, job.id))["progress"] == 25
        assert now() - t0 == pytest.approx(3.0, abs=1e-6)
        await poll(session, fake_lro_server, job.id)
        assert now() - t0 == pytest.approx(3.0, abs=1e-6)

    async def test_delay_longer_than_client_timeout(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """A delayed answer lets a client timeout fire at its exact loop-time instant."""
        job = fake_lro_server.add_job()
        fake_lro_server.delay_next(seconds=60.0)
        t0 = now()
        with pytest.raises(asyncio.TimeoutError):
            await call(
                session, "GET", fake_lro_server.status_url(job.id), timeout=aiohttp.ClientTimeout(5)
            )
        assert now() - t0 == pytest.approx(5.0, abs=1e-6)

    async def test_drop_connection_next(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """A dropped request gets no answer (the client sees a disconnect) and is logged as 0."""
        fake_lro_server.drop_connection_next(EXPORTS)
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await call(session, "POST", fake_lro_server.url(EXPORTS))
        assert fake_lro_server.jobs == {}
        assert [r.status for r in fake_lro_server.requests] == [0]

    async def test_single_drop_of_a_get_is_resent_by_aiohttp(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """aiohttp resends an idempotent request once after a drop, so a GET needs two drops."""
        job = fake_lro_server.add_job()
        fake_lro_server.drop_connection_next("*/status")
        assert (await poll(session, fake_lro_server, job.id))["progress"] == 25
        fake_lro_server.drop_connection_next("*/status", times=2)
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await call(session, "GET", fake_lro_server.status_url(job.id))
        assert [r.status for r in fake_lro_server.requests] == [0, 200, 0, 0]
        assert job.polls == 1

    async def test_malformed_next(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`malformed_next` answers 200 with a non-JSON body under a JSON content type."""
        job = fake_lro_server.add_job()
        fake_lro_server.malformed_next("*/status")
        async with session.get(fake_lro_server.status_url(job.id)) as resp:
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert await resp.read() == b"<html>oops</html>"
            with pytest.raises(json.JSONDecodeError):
                await resp.json()
        assert job.polls == 0

    async def test_throttle_next(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`throttle_next` answers 429 with the raw Retry-After value."""
        job = fake_lro_server.add_job()
        fake_lro_server.throttle_next("*/status", retry_after="1e400")
        status, body, headers = await call(session, "GET", fake_lro_server.status_url(job.id))
        assert (status, headers["Retry-After"], body["error"]["code"]) == (
            429,
            "1e400",
            "TooManyRequests",
        )
        assert job.polls == 0

    @pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
    async def test_redirect_next(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession, code: int
    ) -> None:
        """`redirect_next` answers the redirect status with the Location as given."""
        job = fake_lro_server.add_job()
        fake_lro_server.redirect_next("*/status", "//evil.example/x", status=code)
        status, _, headers = await call(session, "GET", fake_lro_server.status_url(job.id))
        assert (status, headers["Location"]) == (code, "//evil.example/x")
        assert job.polls == 0

    def test_invalid_fault_arguments(self) -> None:
        """Fault injectors reject counts below one, negative delays and non-redirect codes."""
        server = FakeLROServer()
        with pytest.raises(ValueError, match="times"):
            server.fail_next(times=0)
        with pytest.raises(ValueError, match="seconds"):
            server.delay_next(seconds=-1)
        with pytest.raises(ValueError, match="redirect"):
            server.redirect_next("*", "/x", status=200)


class TestRequestLog:
    """The request log."""

    async def test_records_and_redacts(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """The log keeps method, path, query, body, status and loop time, and hides credentials."""
        headers = {
            "Authorization": "Bearer top",
            "Cookie": "sid=top",
            "X-Api-Key": "top",
            "X-Auth-Token": "top",
            "X-Esri-Authorization": "Bearer top",
            "X-Trace": "visible",
        }
        url = fake_lro_server.url(EXPORTS + "?tenant=a&tenant=b&includeProgress=true")
        await call(session, "POST", url, data=b'{"k": 1}', headers=headers)
        (record,) = fake_lro_server.requests
        assert (record.method, record.path, record.status) == ("POST", EXPORTS, 202)
        assert record.query == {"tenant": "b", "includeProgress": "true"}
        assert record.json() == {"k": 1}
        assert record.time == now()
        assert record.headers["x-trace"] == "visible"
        for name in (
            "authorization",
            "cookie",
            "x-api-key",
            "x-auth-token",
            "x-esri-authorization",
        ):
            assert record.headers[name] == "REDACTED"
        assert "top" not in repr(fake_lro_server.requests)

    async def test_raw_path_keeps_percent_encoding(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """`raw_path` is the request target exactly as sent, so `%2F` stays visible."""
        raw = "/api/exports/..%2F..%2Fadmin%3Fx%3D1%23/status"
        url = yarl.URL(fake_lro_server.base_url + raw, encoded=True)
        status, body, _ = await call(session, "GET", url)
        assert (status, body["error"]["code"]) == (404, "NotFound")
        (record,) = fake_lro_server.requests_to("/api/exports/*", method="get")
        assert record.raw_path == raw
        assert record.path == "/api/exports/../../admin?x=1#/status"

    async def test_unrouted_requests_are_logged(
        self, fake_lro_server: FakeLROServer, session: aiohttp.ClientSession
    ) -> None:
        """Requests that match no route are answered by aiohttp and still logged."""
        assert (await session.get(fake_lro_server.url("/nowhere"))).status == 404
        assert (await session.put(fake_lro_server.url(EXPORTS))).status == 405
        assert [(r.method, r.status) for r in fake_lro_server.requests] == [
            ("GET", 404),
            ("PUT", 405),
        ]


def test_public_names() -> None:
    """`lrpoll.testing.__all__` is sorted and every name in it exists."""
    import lrpoll.testing

    assert lrpoll.testing.__all__ == sorted(lrpoll.testing.__all__)
    assert all(hasattr(lrpoll.testing, name) for name in lrpoll.testing.__all__)


def test_pytest_plugin_under_anyio_and_looptime(tmp_path: Path) -> None:
    """`pytest_plugins = ["lrpoll.testing.pytest_plugin"]` gives a working fixture on looptime."""
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent(
            """
            import looptime, pytest
            pytest_plugins = ["lrpoll.testing.pytest_plugin"]

            @pytest.fixture
            def anyio_backend():
                return "asyncio", {"loop_factory": looptime.new_event_loop}
            """
        )
    )
    (tmp_path / "test_it.py").write_text(
        textwrap.dedent(
            """
            import asyncio, aiohttp, pytest

            @pytest.mark.anyio
            async def test_it(fake_lro_server):
                t0 = asyncio.get_running_loop().time()
                await asyncio.sleep(3600)
                async with aiohttp.ClientSession() as s:
                    async with s.post(fake_lro_server.url("/api/exports")) as r:
                        assert r.status == 202
                assert asyncio.get_running_loop().time() - t0 >= 3600
            """
        )
    )
    args = ["-p", "no:looptime_plugin", "-p", "no:cacheprovider", "-W", "error", "-q"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *args, str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
