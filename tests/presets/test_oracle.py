"""The ``oracle`` preset against `FakeOracleOTM` (PROTOCOLS.md §3, §5.3), and the fake itself.

Every test runs on the looptime loop of ``tests/conftest.py``: waits of seconds take
milliseconds, and the fake advances one tick per status read, never by the clock.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import anyio.lowlevel
import pytest

import lrpoll
from lrpoll import (
    AuthError,
    BasicAuth,
    OperationCancelled,
    OperationFailed,
    OperationGone,
    Scheduler,
    SpecError,
)
from lrpoll._core import classify_cancel
from lrpoll.presets import oracle_export, oracle_status_url
from lrpoll.presets.oracle import RESPOND_ASYNC
from lrpoll.testing import FakeOracleOTM, OracleScript

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from lrpoll.testing import RequestRecord

ROOT = "/logisticsRestApi/data/v1"
EXPORTS = ROOT + "/exportRequests"
TABLES = ["SHIPMENT", "SHIPMENT_REFNUM"]
#: The fake's default Basic credentials as a header, for plain aiohttp clients.
BASIC = {"Authorization": "Basic " + base64.b64encode(b"otm-user:otm-password").decode()}


def request_body(server: FakeOracleOTM, tables: list[str] = TABLES) -> dict[str, Any]:
    """An export request writing its parts to the fake's object store."""
    return {
        "tables": {"items": [{"tableName": t} for t in tables]},
        "targetSystem": {
            "targetURL": server.object_store_url,
            "appendName": True,
            "httpMethod": "PUT",
        },
        "externalRef": "my-correlation-id",
    }


def table_progress(status: Any) -> list[str]:
    """The ``progress`` of each table in a status document."""
    return [t["progress"] for t in status["result"]["body"]["tables"]["items"]]


def cancels(server: FakeOracleOTM) -> list[RequestRecord]:
    """The cancel requests the fake received."""
    return server.requests_to(ROOT + "/custom-actions/cancel/exportRequests/*")


def credentials(server: FakeOracleOTM, password: str = "otm-password") -> dict[str, BasicAuth]:
    """Basic credentials for the fake's origin."""
    return {server.base_url: BasicAuth("otm-user", password)}


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FakeOracleOTM]:
    """A fake OTM on 127.0.0.1: 1 pending tick, 2 ticks per table, cancel answered 200."""
    async with FakeOracleOTM() as server:
        yield server


@pytest.fixture(name="scheduler")
async def _scheduler(server: FakeOracleOTM) -> AsyncIterator[Scheduler]:
    """A scheduler trusting the fake, with its Basic credentials."""
    async with Scheduler(base_url=server.base_url, credentials=credentials(server)) as scheduler:
        yield scheduler


async def start(scheduler: Scheduler, server: FakeOracleOTM, **params: Any) -> lrpoll.Operation:
    """Start an export of TABLES with the preset (1 s between polls)."""
    spec = oracle_export(interval=1.0, **params)
    return await scheduler.start("POST", EXPORTS, json=request_body(server), spec=spec)


class TestSpec:
    """The spec the preset returns, as data."""

    def test_json_form_and_fields(self) -> None:
        """Only the given parameters are in the JSON form; the spec round-trips."""
        spec = oracle_export(api_root="https://otm.example.com/logisticsRestApi/data/v1/")
        data = spec.to_json()
        assert data == {
            "preset": "oracle",
            "params": {"api_root": "https://otm.example.com/logisticsRestApi/data/v1/"},
        }
        assert lrpoll.PollSpec.from_json(data) == spec
        assert spec.start_headers == RESPOND_ASYNC == {"Prefer": "respond-async"}
        assert spec.status_from == ("location",)
        assert spec.cancel is not None
        assert (spec.cancel.method, spec.cancel.json, spec.cancel.form) == ("POST", None, None)
        assert spec.cancel.url.startswith(
            "https://otm.example.com/logisticsRestApi/data/v1/custom-actions/cancel/exportRequests/"
        )
        assert "oracle" in lrpoll.registry.preset_names()

    @pytest.mark.parametrize(
        ("progress", "completed", "state"),
        [
            ("pending", False, "running"),
            ("processing", False, "running"),
            ("cancelling", False, "running"),
            ("canceling", False, "running"),
            ("unknown", False, "running"),
            ("succeeded", True, "succeeded"),
            ("succeeded", False, "running"),
            ("succeeded", None, "succeeded"),
            ("failed", True, "failed"),
            ("interrupted", True, "failed"),
            ("unknown", True, "failed"),
            ("cancelled", True, "cancelled"),
            ("canceled", True, "cancelled"),
        ],
    )
    def test_every_progress_value(self, progress: str, completed: bool | None, state: str) -> None:
        """Each documented progress value (and both cancel spellings) has its outcome."""
        doc: dict[str, Any] = {"progress": progress}
        if completed is not None:
            doc["completed"] = completed
        decision = lrpoll.core.decide(
            oracle_export(), lrpoll.core.Observation(http_status=200, body=doc)
        )
        got = "running" if isinstance(decision, lrpoll.core.Running) else None
        if isinstance(decision, lrpoll.core.Succeeded):
            got = "succeeded"
        elif isinstance(decision, lrpoll.core.Ended):
            got = decision.state
        assert got == state

    def test_progress_is_the_share_of_succeeded_tables(self) -> None:
        """Overall percent comes from the nested tables; no table listed is unknown."""
        spec = oracle_export()
        expr = spec.expression("progress")
        assert expr is not None

        def doc(*states: str) -> dict[str, Any]:
            items = [{"progress": s} for s in states]
            return {"result": {"body": {"tables": {"items": items}}}}

        assert expr.search(doc("succeeded", "processing", "pending", "pending")) == 25.0
        assert expr.search(doc("succeeded", "succeeded")) == 100.0
        assert expr.search(doc()) is None
        assert expr.search({"progress": "pending"}) is None

    def test_document_without_progress_is_malformed(self) -> None:
        """A 200 without ``progress`` is not a status document: retried, never running."""
        decision = lrpoll.core.decide(
            oracle_export(), lrpoll.core.Observation(http_status=200, body={})
        )
        assert isinstance(decision, lrpoll.core.Retry)

    @pytest.mark.parametrize(
        ("status", "body", "expected"),
        [
            (200, {"progress": "cancelling", "completed": False}, "accepted"),
            (204, None, "accepted"),
            (400, {"title": "Bad Request", "detail": "invalid state"}, "already_finished"),
            (404, {"title": "Not Found", "detail": "Export Request 1 not found"}, "not_found"),
            (501, {"title": "Not Implemented"}, "not_supported"),
        ],
    )
    def test_cancel_answers(self, status: int, body: Any, expected: str) -> None:
        """Each documented cancel answer of both Oracle documents has its meaning."""
        cancel = oracle_export().cancel
        assert cancel is not None
        assert classify_cancel(cancel, status, {}, body)[0] == expected

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"api_root": "/x?y=1"}, "params.api_root"),
            ({"api_root": 5}, "params.api_root"),
            ({"interval": -1}, "interval"),
            ({"target_url": ""}, "params.target_url"),
            ({"target_url": "https://x.example/a\\b/"}, "params.target_url"),
            ({"request_headers": {"Authorization": "Basic eA=="}}, "request_headers"),
            ({"errors": {"retries": 3}}, "params.errors"),
        ],
    )
    def test_bad_parameters(self, params: dict[str, Any], field: str) -> None:
        """A bad parameter is a SpecError naming its field; credentials never go in a spec."""
        with pytest.raises(SpecError) as info:
            oracle_export(**params)
        assert info.value.field == field

    def test_target_url_is_literal_text(self) -> None:
        """A quote in target_url stays data in the result expression."""
        spec = oracle_export(target_url="https://x.example/o/it's/")
        expr = spec.expression("result")
        assert expr is not None
        doc = {
            "result": {"body": {"tables": {"items": [{"parts": {"items": [{"partName": "p"}]}}]}}}
        }
        assert expr.search(doc) == [{"partName": "p", "url": "https://x.example/o/it's/p"}]

    def test_status_url_for_watch(self) -> None:
        """oracle_status_url builds the status URL of a known id, quoted as one segment."""
        assert oracle_status_url(303) == ROOT + "/exportStatuses/303"
        assert oracle_status_url("7", api_root="v1/") == "/v1/exportStatuses/7"
        assert oracle_status_url("../admin") == ROOT + "/exportStatuses/..%2Fadmin"
        with pytest.raises(lrpoll.TemplateError):
            oracle_status_url("..")


class TestSuccess:
    """An export that runs to ``succeeded``."""

    async def test_progress_result_parts_and_basic_auth(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """Progress follows the tables; the result lists each part, downloadable by its url."""
        op = await start(scheduler, server, target_url=server.object_store_url)
        seen = [(u.state, u.progress) async for u in op.updates()]
        parts = await op
        assert seen == [
            ("running", 0.0),
            ("running", 0.0),
            ("running", 50.0),
            ("running", 50.0),
            ("succeeded", 100.0),
        ]
        names = [p["partName"] for p in parts]
        assert names == [
            "DATA_303_SHIPMENT_1_1.csv",
            "DATA_303_SHIPMENT_1_2.csv",
            "DATA_303_SHIPMENT_REFNUM_2_1.csv",
            "DATA_303_SHIPMENT_REFNUM_2_2.csv",
        ]
        async with aiohttp.ClientSession() as session:
            for part in parts:
                assert part["url"] == server.object_store_url + part["partName"]
                async with session.get(part["url"]) as response:
                    content = await response.read()
                assert hashlib.md5(content, usedforsecurity=False).hexdigest() == part["checksum"]
        post = server.requests[0]
        assert (post.method, post.path, post.headers["prefer"]) == (
            "POST",
            EXPORTS,
            "respond-async",
        )
        assert all(
            r.headers["authorization"] == "REDACTED" for r in server.requests_to(ROOT + "/*")
        )
        assert server.exports[303].polls == 5
        assert op.status_url == server.status_url(303)
        assert op.status["result"]["body"]["externalRef"] == "my-correlation-id"
        assert BASIC["Authorization"].split()[1] not in op.checkpoint()

    async def test_parts_without_target_url(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """Without target_url, parts carry Oracle's own fields only."""
        op = await start(scheduler, server)
        parts = await op
        assert parts[0] == {
            "partName": "DATA_303_SHIPMENT_1_1.csv",
            "recordCount": 3,
            "checksum": parts[0]["checksum"],
        }

    async def test_watch_by_request_id(self, server: FakeOracleOTM, scheduler: Scheduler) -> None:
        """An export known only by its id is watched and cancelled by the id in its status."""
        server.script_next(OracleScript.slow())
        async with (
            aiohttp.ClientSession(headers=BASIC) as session,
            session.post(
                server.url(EXPORTS), json=request_body(server), headers=RESPOND_ASYNC
            ) as response,
        ):
            assert response.status == 202
            request_id = (await response.json())["result"]["body"]["requestID"]
        op = await scheduler.watch(oracle_status_url(request_id), oracle_export(interval=1.0))
        await anyio.sleep(1.5)
        outcome = await op.cancel()
        assert outcome.kind == "cancelled"
        assert [r.path for r in cancels(server)] == [
            f"{ROOT}/custom-actions/cancel/exportRequests/{request_id}"
        ]


class TestFailure:
    """Exports that end ``failed`` or ``interrupted``."""

    async def test_failed_table_message(self, server: FakeOracleOTM, scheduler: Scheduler) -> None:
        """A failed table's detail is the error message; finished tables keep succeeded."""
        server.script_next(OracleScript.fail_table(1, "ORA-00942: table or view does not exist"))
        op = await start(scheduler, server)
        with pytest.raises(OperationFailed, match="ORA-00942: table or view does not exist"):
            await op
        assert op.state == "failed"
        assert table_progress(op.status) == ["succeeded", "failed"]
        assert (op.status["progress"], op.status["completed"]) == ("failed", True)

    async def test_interrupted(self, server: FakeOracleOTM, scheduler: Scheduler) -> None:
        """An interrupted export fails with the table's detail."""
        server.script_next(OracleScript.interrupt(0))
        op = await start(scheduler, server)
        with pytest.raises(OperationFailed, match="export interrupted"):
            await op
        assert op.status["progress"] == "interrupted"

    async def test_unknown_request_is_gone(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """A status URL answering 404 (the request is unknown) ends as OperationGone."""
        server.script_next(OracleScript.slow())
        op = await start(scheduler, server)
        await anyio.sleep(1.5)
        server.forget(303)
        with pytest.raises(OperationGone):
            await op


class TestAuth:
    """HTTP Basic on every route."""

    async def test_bad_credentials_fail_the_start(self, server: FakeOracleOTM) -> None:
        """Wrong Basic credentials: the 401 is an AuthError; the secret is in no message."""
        async with Scheduler(
            base_url=server.base_url, credentials=credentials(server, "wrong-secret")
        ) as scheduler:
            with pytest.raises(AuthError) as info:
                await start(scheduler, server)
        assert "wrong-secret" not in str(info.value)
        assert server.exports == {}
        (request,) = server.requests
        assert (request.status, request.headers["authorization"]) == (401, "REDACTED")

    async def test_no_credentials(self, server: FakeOracleOTM) -> None:
        """Without credentials the fake answers 401 with a Basic challenge."""
        url = server.url(ROOT + "/exportStatuses/303")
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == 'Basic realm="logisticsRestApi"'
            body = await response.json()
        assert (body["title"], body["status"]) == ("Unauthorized", 401)

    async def test_password_changed_while_polling(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """A 401 on a status poll ends the operation with AuthError."""
        server.script_next(OracleScript.slow())
        op = await start(scheduler, server)
        await anyio.sleep(1.5)
        server.password = "rotated"
        with pytest.raises(AuthError):
            await op

    async def test_password_expires_after_the_polls_the_knob_names(self) -> None:
        """``expire_after_polls=2``: two status reads answer, the third is a 401 (AuthError);
        a new password lets the same client's next request in again."""
        async with FakeOracleOTM(expire_after_polls=2) as server:
            server.script_next(OracleScript.slow())
            async with Scheduler(
                base_url=server.base_url, credentials=credentials(server)
            ) as scheduler:
                op = await start(scheduler, server)
                with pytest.raises(AuthError):
                    await op
            polls = [r.status for r in server.requests if "/exportStatuses/" in r.path]
            assert polls == [200, 200, 401]
            assert server.expired == {"otm-password"}
            server.password = "renewed"
            async with Scheduler(
                base_url=server.base_url, credentials=credentials(server, "renewed")
            ) as scheduler:
                await start(scheduler, server)
            assert server.requests[-1].status == 202

    def test_expire_after_polls_is_checked(self) -> None:
        """A negative count is refused when the fake is built."""
        with pytest.raises(ValueError, match="expire_after_polls"):
            FakeOracleOTM(expire_after_polls=-1)


class TestCancelUseCase:
    """The "Cancel Request" use case: 200 + cancelling, 400 when completed, 404 unknown."""

    async def test_cancel_request_as_written(self) -> None:
        """Basic auth, POST …/custom-actions/cancel/exportRequests/12345 with no body, then
        cancelling, then cancelled with the finished table still succeeded."""
        async with (
            FakeOracleOTM(first_request_id=12345) as server,
            Scheduler(base_url=server.base_url, credentials=credentials(server)) as scheduler,
        ):
            op = await start(scheduler, server)
            await anyio.sleep(3.5)  # SHIPMENT succeeded, SHIPMENT_REFNUM processing
            assert table_progress(op.status) == ["succeeded", "processing"]
            seen: list[tuple[str, str]] = []

            async def watch() -> None:
                seen.extend([(u.state, u.status["progress"]) async for u in op.updates()])

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                await anyio.lowlevel.checkpoint()
                outcome = await op.cancel()
            assert (outcome.kind, outcome.http_status, outcome.sent) == ("cancelled", 200, True)
            with pytest.raises(OperationCancelled):
                await op
        (request,) = cancels(server)
        assert (request.method, request.path, request.body) == (
            "POST",
            ROOT + "/custom-actions/cancel/exportRequests/12345",
            b"",
        )
        assert request.headers["authorization"] == "REDACTED"
        assert ("cancelling", "cancelling") in seen
        assert seen[-1] == ("cancelled", "cancelled")
        assert (op.status["progress"], op.status["completed"]) == ("cancelled", True)
        assert table_progress(op.status) == ["succeeded", "cancelled"]
        assert op.status["result"]["body"]["tables"]["items"][0]["parts"]["count"] == 2

    async def test_completed_between_polls_is_already_finished(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """A cancel of an export completed since the last read: 400, already_finished."""
        op = await start(scheduler, server)
        await anyio.sleep(3.5)
        export = server.exports[303]
        for _ in range(2):  # done on the server; lrpoll reads it later
            export.advance()
        assert export.completed
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("already_finished", 400)
        assert outcome.message == (
            "Export Request 303 is in an invalid state for a cancellation request"
        )
        assert len(await op) == 4
        assert op.state == "succeeded"

    async def test_cancel_at_once(self) -> None:
        """With no cancelling ticks the next read confirms the cancel."""
        async with (
            FakeOracleOTM(cancel_ticks=0) as server,
            Scheduler(base_url=server.base_url, credentials=credentials(server)) as scheduler,
        ):
            server.script_next(OracleScript.slow())
            op = await start(scheduler, server)
            await anyio.sleep(1.5)
            outcome = await op.cancel()
            assert outcome.kind == "cancelled"
            assert table_progress(op.status) == ["cancelled", "cancelled"]


class TestCancelOperationReference:
    """The "Cancel Export Request" operation reference: 204, or 404."""

    @pytest.fixture(name="server")
    async def _server(self) -> AsyncIterator[FakeOracleOTM]:
        """A fake answering cancels as the operation reference documents."""
        async with FakeOracleOTM(cancel_status=204) as server:
            yield server

    async def test_completed_between_polls_finishes_anyway(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """A 204 for an export that had completed: the next read shows it succeeded."""
        op = await start(scheduler, server)
        await anyio.sleep(3.5)
        export = server.exports[303]
        for _ in range(2):
            export.advance()
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.state) == (
            "finished_anyway",
            204,
            "succeeded",
        )
        assert len(await op) == 4


class TestCancelBothVariants:
    """What both documented cancel behaviours share (200 + cancelling, and 204)."""

    @pytest.fixture(name="server", params=[200, 204], ids=["use-case-200", "reference-204"])
    async def _server(self, request: pytest.FixtureRequest) -> AsyncIterator[FakeOracleOTM]:
        """A fake answering accepted cancels with 200 + cancelling, or with 204."""
        async with FakeOracleOTM(cancel_status=request.param) as server:
            yield server

    async def test_running_export_is_cancelled(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """Accepted, then polling confirms cancelled; the finished table keeps succeeded."""
        op = await start(scheduler, server)
        await anyio.sleep(3.5)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("cancelled", server.cancel_status)
        assert table_progress(op.status) == ["succeeded", "cancelled"]
        with pytest.raises(OperationCancelled, match="export request 303 cancelled"):
            await op

    async def test_unknown_request_is_not_found(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """A cancel answered 404 is not_found, with Oracle's detail."""
        server.script_next(OracleScript.slow())
        op = await start(scheduler, server)
        await anyio.sleep(1.5)
        server.forget(303)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("not_found", 404)
        assert outcome.message == "Export Request 303 not found"

    async def test_done_operation_sends_nothing(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """Cancelling an export lrpoll already saw completed sends no request."""
        op = await start(scheduler, server)
        await op
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent) == ("already_finished", False)
        assert cancels(server) == []

    async def test_cancel_ignored_finishes_anyway(
        self, server: FakeOracleOTM, scheduler: Scheduler
    ) -> None:
        """An accepted cancel the export ignores ends as finished_anyway, with the parts."""
        server.cancel_ignored = True
        op = await start(scheduler, server)
        await anyio.sleep(1.5)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.state) == ("finished_anyway", "succeeded")
        assert len(op.result()) == 4

    async def test_cancel_unsupported(self, server: FakeOracleOTM, scheduler: Scheduler) -> None:
        """A 501 is not_supported; polling goes on."""
        server.cancel_unsupported = True
        server.script_next(OracleScript.slow())
        op = await start(scheduler, server)
        await anyio.sleep(1.5)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("not_supported", 501)
        assert op.state == "running"
        polls = server.exports[303].polls
        await anyio.sleep(3)
        assert server.exports[303].polls > polls


class TestFake:
    """`FakeOracleOTM` itself, spoken to with a plain aiohttp client."""

    @pytest.fixture(name="session")
    async def _session(self) -> AsyncIterator[aiohttp.ClientSession]:
        """A client sending the fake's Basic credentials."""
        async with aiohttp.ClientSession(headers=BASIC) as session:
            yield session

    async def test_synchronous_export_answers_csv(
        self, server: FakeOracleOTM, session: aiohttp.ClientSession
    ) -> None:
        """Without Prefer: respond-async a one-table export answers 200 with the CSV."""
        body = {"tables": {"items": [{"tableName": "SHIPMENT"}]}}
        async with session.post(server.url(EXPORTS), json=body) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            text = await response.text()
        assert text.splitlines()[0] == "SHIPMENT_GID,SHIPMENT_XID,DOMAIN_NAME"
        assert len(text.splitlines()) == 4
        assert server.exports == {}

    @pytest.mark.parametrize(
        ("body", "headers", "detail"),
        [
            ({"tables": {"items": []}}, {}, "is required"),
            ({"tables": {"items": [{"tableName": "A"}, {"tableName": "B"}]}}, {}, "single table"),
            ({"tables": {"items": [{"tableName": "A"}]}}, RESPOND_ASYNC, "targetURL"),
            ({"objects": {"items": [{}]}}, RESPOND_ASYNC, "objects.items[0].resourceName"),
            ([1, 2], {}, "JSON object"),
        ],
    )
    async def test_invalid_requests(
        self,
        server: FakeOracleOTM,
        session: aiohttp.ClientSession,
        body: Any,
        headers: dict[str, str],
        detail: str,
    ) -> None:
        """An invalid export request answers 400 with Oracle's error shape and a detail."""
        async with session.post(server.url(EXPORTS), json=body, headers=headers) as response:
            assert response.status == 400
            error = await response.json()
        assert (error["title"], error["status"]) == ("Bad Request", 400)
        assert detail in error["detail"]

    async def test_async_on_target(self, session: aiohttp.ClientSession) -> None:
        """With async_on_target, a targetSystem alone makes the export asynchronous."""
        async with FakeOracleOTM(async_on_target=True) as server:
            body = request_body(server, ["SHIPMENT"])
            async with session.post(server.url(EXPORTS), json=body) as response:
                assert response.status == 202
                assert response.headers["Location"] == server.status_url(303)
                assert response.headers["Preference-Applied"] == "respond-async"
                doc = await response.json()
        assert (doc["progress"], doc["completed"]) == ("pending", False)
        assert doc["links"] == [{"rel": "canonical", "href": server.status_url(303)}]

    async def test_cancel_with_a_body_is_refused(
        self, server: FakeOracleOTM, session: aiohttp.ClientSession
    ) -> None:
        """The cancel action takes no body: one gets 400 and cancels nothing."""
        async with session.post(
            server.url(EXPORTS), json=request_body(server), headers=RESPOND_ASYNC
        ):
            pass
        url = server.url(ROOT + "/custom-actions/cancel/exportRequests/303")
        async with session.post(url, json={}) as response:
            assert response.status == 400
        assert server.exports[303].cancel_requests == 0

    async def test_list_pages_and_advances(
        self, server: FakeOracleOTM, session: aiohttp.ClientSession
    ) -> None:
        """The list pages by limit and offset and advances each listed export one tick."""
        for _ in range(3):
            async with session.post(
                server.url(EXPORTS), json=request_body(server), headers=RESPOND_ASYNC
            ):
                pass
        url = server.url(ROOT + "/exportStatuses")
        async with session.get(url, params={"limit": "2", "offset": "0"}) as response:
            assert response.status == 200
            assert response.content_type == "application/vnd.oracle.resource+json"
            page = await response.json()
        assert [d["result"]["body"]["requestID"] for d in page["items"]] == [303, 304]
        assert (page["count"], page["hasMore"], page["limit"], page["offset"]) == (2, True, 2, 0)
        assert [e.tick for e in server.exports.values()] == [1, 1, 0]
        async with session.get(url, params={"limit": "2", "offset": "2"}) as response:
            page = await response.json()
        assert [d["result"]["body"]["requestID"] for d in page["items"]] == [305]
        assert page["hasMore"] is False
        async with session.get(url, params={"limit": "x"}) as response:
            assert response.status == 400
        # A list read and a single read advance the same clock.
        async with session.get(server.status_url(303)) as response:
            doc = await response.json()
        assert doc["progress"] == "processing"
        assert server.exports[303].polls == 2

    async def test_object_store(self, server: FakeOracleOTM) -> None:
        """The object store takes PUTs and serves GETs without credentials."""
        async with aiohttp.ClientSession() as session:
            async with session.put(server.object_store_url + "a/b.csv", data=b"x,y\n") as put:
                assert put.status == 200
            async with session.get(server.object_store_url + "a/b.csv") as got:
                assert await got.read() == b"x,y\n"
            async with session.get(server.object_store_url + "missing") as missing:
                assert missing.status == 404


async def test_cancel_use_case_from_a_spec_file(tmp_path: Path) -> None:
    """The preset loaded from a TOML file runs the cancel use case like the Python spec."""
    path = tmp_path / "otm.toml"
    path.write_text('preset = "oracle"\nnull = ["params.max_duration"]\n[params]\ninterval = 1\n')
    spec = lrpoll.load_spec(path)
    assert spec == oracle_export(interval=1, max_duration=None)
    async with (
        FakeOracleOTM(first_request_id=12345, cancel_status=204) as server,
        Scheduler(base_url=server.base_url, credentials=credentials(server)) as scheduler,
    ):
        op = await scheduler.start("POST", EXPORTS, json=request_body(server), spec=spec)
        await anyio.sleep(3.5)
        outcome = await op.cancel()
    assert (outcome.kind, outcome.http_status) == ("cancelled", 204)
    assert [r.path for r in cancels(server)] == [
        ROOT + "/custom-actions/cancel/exportRequests/12345"
    ]
    assert table_progress(op.status) == ["succeeded", "cancelled"]


async def test_a_synchronous_answer_is_not_polled(
    server: FakeOracleOTM, scheduler: Scheduler
) -> None:
    """Without respond-async the 200 CSV names no status: start raises, nothing is polled."""
    spec = oracle_export().replace(start_headers=None)
    body = {"tables": {"items": [{"tableName": "SHIPMENT"}]}}
    with pytest.raises(lrpoll.MalformedStatus, match=r"not JSON \(text/plain"):
        await scheduler.start("POST", EXPORTS, json=body, spec=spec)
    assert [r.method for r in server.requests] == ["POST"]
