"""Runtime behaviours real protocols need: start requests retried when that is safe,
result fetches retried like any poll, documents without what the protocol requires."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

import lrpoll
from lrpoll._aiohttp import AiohttpSender
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, export_spec

if TYPE_CHECKING:
    from tests.with_server.conftest import Serve


def starts(server: FakeLROServer) -> int:
    return len([r for r in server.requests if r.method == "POST" and r.path == EXPORTS])


class TestStartRetries:
    async def test_post_is_not_retried(self, server: FakeLROServer) -> None:
        """A POST answered 503 is not sent again: it may have started a job."""
        server.fail_next(EXPORTS, status=503)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.HTTPStatusError, match="503"):
                await scheduler.start("POST", EXPORTS, json={}, spec=export_spec())
        assert starts(server) == 1

    @pytest.mark.parametrize("how", ["idempotency-key", "retry_start"])
    async def test_post_with_an_idempotency_key_is_retried(
        self, server: FakeLROServer, how: str
    ) -> None:
        """With an Idempotency-Key (or retry_start=True) a 503 and a 429 are sent again,
        and the operation then runs to its end."""
        server.script_next(JobScript.success(polls=1))
        server.fail_next(EXPORTS, status=503)
        server.fail_next(EXPORTS, status=429, headers={"Retry-After": "2"})
        headers = {"Idempotency-Key": "k-1"} if how == "idempotency-key" else None
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start(
                "POST",
                EXPORTS,
                json={},
                spec=export_spec(),
                headers=headers,
                retry_start=how == "retry_start",
            )
            assert await op == {"url": f"/downloads/{list(server.jobs)[-1]}.csv"}
        assert starts(server) == 3

    async def test_the_budget_bounds_start_retries(self, server: FakeLROServer) -> None:
        """Retries spend the spec's error budget: after max_consecutive, the last error."""
        spec = export_spec(errors=lrpoll.ErrorBudget(max_consecutive=2))
        server.fail_next(EXPORTS, status=502, times=10)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.HTTPStatusError, match="502"):
                await scheduler.start("POST", EXPORTS, json={}, spec=spec, retry_start=True)
        assert starts(server) == 3

    async def test_a_refused_connection_is_always_retried(self) -> None:
        """Nothing reached the server, so even a POST is sent again, within the budget."""
        spec = export_spec(
            errors=lrpoll.ErrorBudget(
                max_consecutive=2, backoff=lrpoll.Backoff.exponential(0.01, jitter=1.0)
            )
        )
        sender = CountingSender(AiohttpSender(limits=lrpoll.Limits()))
        async with lrpoll.Scheduler(base_url="http://127.0.0.1:9", sender=sender) as scheduler:
            with pytest.raises(lrpoll.RequestError, match="ClientConnectorError"):
                await scheduler.start("POST", EXPORTS, json={}, spec=spec)
        assert sender.sent == 3


class CountingSender:
    """A sender that counts what it is asked to send (a real aiohttp sender beneath)."""

    def __init__(self, inner: lrpoll.Sender) -> None:
        self.inner = inner
        self.sent = 0

    async def send(self, request: lrpoll.RawRequest) -> lrpoll.RawResponse:
        self.sent += 1
        return await self.inner.send(request)

    def implicit_credentials(self, url: Any) -> str | None:
        return self.inner.implicit_credentials(url)

    async def aclose(self) -> None:
        await self.inner.aclose()


class TestStartDecision:
    """The rule itself, row by row (`_core.start_decision`)."""

    @pytest.mark.parametrize(
        ("method", "status", "sent", "rule", "retried"),
        [
            ("POST", None, False, "idempotent", True),  # never reached the server
            ("POST", None, True, "idempotent", False),  # a timeout after sending
            ("GET", None, True, "idempotent", True),
            ("PUT", 503, True, "idempotent", True),
            ("DELETE", 429, True, "idempotent", True),
            ("POST", 503, True, "idempotent", False),
            ("POST", 503, True, "any", True),
            ("POST", 500, True, "azure", True),
            ("PATCH", 504, True, "azure", True),
            ("POST", 502, True, "azure", False),
            ("GET", 501, True, "any", False),  # 501/505: never worth a second try
            ("GET", 400, True, "any", False),
            ("GET", 401, True, "any", False),
        ],
    )
    def test_rows(
        self, method: str, status: int | None, sent: bool, rule: str, retried: bool
    ) -> None:
        """Which start answers are sent again."""
        from lrpoll._core import start_decision

        spec = export_spec(start_retry=rule)
        fault = lrpoll.RequestError("connect failed") if status is None else None
        obs = lrpoll.core.Observation(http_status=status, fault=fault, sent=sent)
        verdict = start_decision(spec, obs, method=method)
        assert isinstance(verdict, lrpoll.core.Retry) is retried
        assert verdict is not None

    def test_azure_preset_follows_azure_core(self) -> None:
        """The Azure preset retries as azure-core's default retry policy does."""
        assert lrpoll.presets.azure_lro().start_retry == "azure"


class TestResultFetch:
    async def test_a_failing_result_fetch_is_retried(self, serve: Serve) -> None:
        """One 500 on the result URL is retried within the error budget, not fatal."""
        calls = {"result": 0}

        async def start(request: web.Request) -> web.Response:
            return web.json_response({"id": "j1"}, status=202)

        async def status(request: web.Request) -> web.Response:
            return web.json_response({"status": "done"})

        async def result(request: web.Request) -> web.Response:
            calls["result"] += 1
            if calls["result"] == 1:
                return web.json_response({"error": "busy"}, status=500)
            return web.json_response({"rows": 42})

        base = await serve(
            web.post("/start", start), web.get("/status/j1", status), web.get("/result/j1", result)
        )
        spec = lrpoll.PollSpec(
            status_url="/status/{start.id}",
            result_url="/result/{start.id}",
            interval=0.1,
            min_interval=0,
            done="status == 'done'",
            errors=lrpoll.ErrorBudget(backoff=lrpoll.Backoff.exponential(0.01, jitter=1.0)),
        )
        async with lrpoll.Scheduler(base_url=base) as scheduler:
            op = await scheduler.start("POST", "/start", spec=spec)
            assert await op == {"rows": 42}
            assert scheduler.statistics().errors_retried == 1
        assert calls["result"] == 2


class TestRequiredFields:
    async def test_monitor_answer_without_status_is_malformed(self, serve: Serve) -> None:
        """An Azure monitor document without ``status`` breaks the protocol: MalformedStatus
        within the error budget, never "still running" (it would poll forever)."""
        monitor_polls = {"n": 0}

        async def start(request: web.Request) -> web.Response:
            monitor = str(request.url.with_path("/operations/1"))
            return web.json_response(None, status=202, headers={"Azure-AsyncOperation": monitor})

        async def monitor(request: web.Request) -> web.Response:
            monitor_polls["n"] += 1
            return web.json_response({"percentComplete": 10})

        base = await serve(web.post("/things/x", start), web.get("/operations/1", monitor))
        spec = lrpoll.presets.azure_lro(
            interval=0.0,
            min_interval=0.0,
            errors={
                "max_consecutive": 2,
                "backoff": {"kind": "exponential", "delay": 0.1, "jitter": 1.0},
            },
        )
        async with lrpoll.Scheduler(base_url=base) as scheduler:
            op = await scheduler.start("POST", "/things/x", spec=spec)
            with pytest.raises(lrpoll.MalformedStatus, match="requires") as info:
                await op
        assert "percentComplete" in str(info.value)
        assert monitor_polls["n"] == 3

    def test_required_is_checked_at_construction(self) -> None:
        """A bad ``required`` expression fails when the spec is built, naming the field."""
        with pytest.raises(lrpoll.SpecError) as info:
            lrpoll.PollSpec(status_url="/s", done="done", required="status ==")
        assert info.value.field == "required"


class TestLimits:
    @pytest.mark.aiohttp_sender
    async def test_limits_per_host_reaches_the_connector(self, server: FakeLROServer) -> None:
        """Limits.per_host caps the owned session's connections per host (it was unread)."""
        limits = lrpoll.Limits(per_host=3)
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            session = scheduler.transport.session
            assert session is not None
            assert session.connector.limit_per_host == 3
