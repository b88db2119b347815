"""The Google long-running operations preset (AIP-151): against the fake and the Spanner emulator.

Most tests run on the looptime loop of ``tests/conftest.py`` against
`lrpoll.testing.google.FakeGoogleOperations`, which advances one tick per status read, so
instants in its request log are exact. `TestSpannerEmulator` runs the real Cloud Spanner
emulator in another process, on a real-time loop.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import anyio
import anyio.lowlevel
import pytest

from lrpoll import (
    AuthError,
    BearerToken,
    HTTPStatusError,
    OperationCancelled,
    OperationFailed,
    OperationGone,
    PollSpec,
    PollTimeout,
    Scheduler,
    SpecError,
    TemplateError,
)
from lrpoll._core import classify_cancel
from lrpoll.core import (
    Observation,
    Running,
    Succeeded,
    decide,
)
from lrpoll.presets.google import google_operation, google_operation_url
from lrpoll.testing.google import FakeGoogleOperations, GoogleOperationScript

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from lrpoll import Operation

pytestmark = pytest.mark.anyio

EXPORTS = "/v1/projects/p/locations/l/exports"
OPS = "/v1/projects/p/locations/l/operations/*"
METADATA_TYPE = "type.googleapis.com/google.example.v1.ExportMetadata"
RESPONSE_TYPE = "type.googleapis.com/google.example.v1.ExportResponse"


@pytest.fixture(name="google_server")
async def _google_server() -> AsyncIterator[FakeGoogleOperations]:
    """A started fake Google API with wrapped (production-style) error bodies."""
    async with FakeGoogleOperations() as server:
        yield server


@pytest.fixture(name="google_scheduler")
async def _google_scheduler(google_server: FakeGoogleOperations) -> AsyncIterator[Scheduler]:
    """A scheduler whose base URL is the fake Google API."""
    async with Scheduler(base_url=google_server.base_url) as scheduler:
        yield scheduler


async def start_export(scheduler: Scheduler, **params: Any) -> Operation:
    """Start an export on the fake with the google preset (built from ``params``)."""
    return await scheduler.start(
        "POST", EXPORTS, json={"outputUriPrefix": "gs://b"}, spec=google_operation(**params)
    )


async def call(method: str, url: str, **kwargs: Any) -> tuple[int, Any]:
    """Send one request with a fresh aiohttp session; return status and parsed JSON body."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, allow_redirects=False, **kwargs) as resp,
    ):
        text = await resp.text()
        return resp.status, json.loads(text) if text else None


def gets(server: FakeGoogleOperations, glob: str = OPS) -> list[float]:
    """Loop times of the status reads (GET) that reached ``glob``."""
    return [r.time for r in server.requests_to(glob, "GET")]


# -- the spec as data -------------------------------------------------------------------------


class TestSpec:
    """What the preset decides, as data, and its JSON form."""

    def test_fields(self) -> None:
        """The preset's URLs and expressions are the documented ones."""
        spec = google_operation()
        assert spec.status_url == "/v1/{+start.name}"
        assert spec.done == "done == `true`"
        assert spec.failed == "error != null && error.code != `1`"
        assert spec.cancelled == "error.code == `1`"
        assert spec.result == "response"
        assert spec.cancel is not None
        assert spec.cancel.url == "/v1/{+last.name || start.name}:cancel"
        assert (spec.cancel.method, spec.cancel.json) == ("POST", {})

    def test_backoff_like_google_api_core(self) -> None:
        """Polling backs off x1.5 from 1 s to 20 s, for 900 s at most."""
        spec = google_operation()
        backoff = spec.effective_backoff
        assert (backoff.kind, backoff.delay, backoff.factor, backoff.max_delay) == (
            "exponential",
            1.0,
            1.5,
            20.0,
        )
        assert spec.max_duration == 900.0

    def test_json_form_names_the_preset(self) -> None:
        """The JSON form is ``{"preset": "google", "params": ...}`` and reads back equal."""
        spec = google_operation(progress="metadata.progress.progressPercent", interval=0.5)
        data = json.loads(json.dumps(spec.to_json()))
        assert data == {
            "preset": "google",
            "params": {"progress": "metadata.progress.progressPercent", "interval": 0.5},
        }
        assert PollSpec.from_json(data) == spec
        default = google_operation()
        assert default.to_json() == {"preset": "google", "params": {}}
        assert PollSpec.from_json(default.to_json()) == default

    def test_json_form_keeps_overrides(self) -> None:
        """A preset spec changed with replace() keeps the change in its JSON form."""
        spec = google_operation(max_duration=None).replace(max_attempts=7)
        data = json.loads(json.dumps(spec.to_json()))
        assert data["preset"] == "google"
        assert data["overrides"] == {"max_attempts": 7}
        assert PollSpec.from_json(data) == spec

    @pytest.mark.parametrize(
        ("api_root", "status_url"),
        [
            ("v1", "/v1/{+start.name}"),
            ("/v1beta/", "/v1beta/{+start.name}"),
            ("/", "/{+start.name}"),
            ("https://speech.googleapis.com/v1", "https://speech.googleapis.com/v1/{+start.name}"),
        ],
    )
    def test_api_root(self, api_root: str, status_url: str) -> None:
        """The API root is read as a path (leading slash added) or an absolute URL."""
        assert google_operation(api_root=api_root).status_url == status_url

    def test_api_root_with_query_is_refused(self) -> None:
        """An API root with a query is a SpecError naming the parameter."""
        with pytest.raises(SpecError, match=r"params\.api_root"):
            google_operation(api_root="/v1?alt=json")

    def test_bad_progress_expression_fails_at_construction(self) -> None:
        """A typo in the progress expression fails when the spec is built, naming the field."""
        with pytest.raises(SpecError, match="progress"):
            google_operation(progress="metadata.progressPercent ||")

    def test_progress_can_be_off(self) -> None:
        """``progress=None`` gives a spec without a progress expression."""
        assert google_operation(progress=None).expression("progress") is None

    @pytest.mark.parametrize(
        ("name", "url"),
        [
            ("operations/123", "/v1/operations/123"),
            (
                "projects/p/locations/l/operations/op 1",
                "/v1/projects/p/locations/l/operations/op%201",
            ),
        ],
    )
    def test_operation_url(self, name: str, url: str) -> None:
        """google_operation_url() builds the status URL of a name, keeping its slashes."""
        assert google_operation_url(name) == url

    @pytest.mark.parametrize("name", ["", "operations/../admin", "//evil.example/x", "a?b=1"])
    def test_operation_url_refuses_bad_names(self, name: str) -> None:
        """Names with dot segments, authorities or queries are refused."""
        with pytest.raises(TemplateError):
            google_operation_url(name)


def decision(doc: Any) -> Any:
    """The core's decision on one Operation document under the default preset."""
    return decide(google_operation(), Observation(http_status=200, body=doc))


class TestDecisions:
    """The preset's expressions under the sans-I/O core, one Operation at a time."""

    def test_running_with_progress(self) -> None:
        """A not-done operation runs, with its metadata's progressPercent."""
        doc = {"name": "operations/1", "metadata": {"progressPercent": 40}, "done": False}
        result = decision(doc)
        assert isinstance(result, Running)
        assert result.progress == 40.0

    @pytest.mark.parametrize(
        "metadata",
        [
            {"@type": METADATA_TYPE},
            {"progressPercentage": 40},
            {"progress": {"progressPercent": 40}},
        ],
    )
    def test_progress_shapes(self, metadata: dict[str, Any]) -> None:
        """The default progress reads the common shapes; absent is unknown (None), not 0."""
        result = decision({"name": "operations/1", "metadata": metadata})
        assert isinstance(result, Running)
        assert result.progress == (None if metadata == {"@type": METADATA_TYPE} else 40.0)

    def test_proto3_omitted_done_is_running(self) -> None:
        """proto3 JSON leaves out ``"done": false``: a missing ``done`` means running."""
        assert isinstance(decision({"name": "operations/1"}), Running)

    def test_response_is_the_result(self) -> None:
        """A done operation's ``response`` (with its ``@type``) is the result."""
        response = {"@type": RESPONSE_TYPE, "outputUriPrefix": "gs://b"}
        result = decision({"name": "operations/1", "done": True, "response": response})
        assert isinstance(result, Succeeded)
        assert result.result == response

    def test_error_is_failure_with_the_servers_message(self) -> None:
        """``error`` with a code other than 1 fails with ``error.message``."""
        doc = {"done": True, "error": {"code": 8, "message": "quota exceeded"}}
        result = decision(doc)
        assert isinstance(result.error, OperationFailed)
        assert result.error.message == "quota exceeded"

    def test_error_without_message_names_its_code(self) -> None:
        """A Status without a message still says which code it carries."""
        result = decision({"done": True, "error": {"code": 13}})
        assert isinstance(result.error, OperationFailed)
        assert result.error.message == "error code 13"

    def test_code_1_is_cancelled(self) -> None:
        """``error.code == 1`` (CANCELLED) ends the operation as cancelled, not failed."""
        result = decision({"done": True, "error": {"code": 1, "message": "cancelled by user"}})
        assert isinstance(result.error, OperationCancelled)
        assert result.error.message == "cancelled by user"


WRAPPED_UNIMPLEMENTED = {"error": {"code": 501, "message": "no", "status": "UNIMPLEMENTED"}}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, {}, ("accepted", None)),
        (200, None, ("accepted", None)),
        (501, WRAPPED_UNIMPLEMENTED, ("not_supported", "no")),
        (501, {"code": 12}, ("not_supported", "error code 12")),
        (400, {"code": 12, "message": "not here"}, ("not_supported", "not here")),
        (
            404,
            {"error": {"code": 404, "message": "gone", "status": "NOT_FOUND"}},
            ("not_found", "gone"),
        ),
        (
            404,
            {"code": 5, "message": "Operation not found: x"},
            ("not_found", "Operation not found: x"),
        ),
        (
            400,
            {"error": {"code": 400, "message": "done", "status": "FAILED_PRECONDITION"}},
            ("already_finished", "done"),
        ),
        (400, {"code": 9, "message": "done"}, ("already_finished", "done")),
        (
            400,
            {"error": {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"}},
            ("refused", "bad"),
        ),
        (409, {"code": 10, "message": "aborted"}, ("refused", "aborted")),
        (403, {"code": 7, "message": "denied"}, ("refused", "denied")),
    ],
)
def test_cancel_answers(status: int, body: Any, expected: tuple[str, str | None]) -> None:
    """Each answer to ``:cancel``, wrapped or bare, means what AIP-151 and google.rpc say."""
    cancel = google_operation().cancel
    assert cancel is not None
    assert classify_cancel(cancel, status, {}, body) == expected


# -- against the fake -------------------------------------------------------------------------


class TestPolling:
    """Polling an operation on the fake, from start to end."""

    async def test_success_with_progress(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """Progress follows metadata.progressPercent; the result is the typed response."""
        op = await start_export(google_scheduler)
        seen = [(u.state, u.progress) async for u in op.updates()]
        assert seen == [
            ("running", 25.0),
            ("running", 50.0),
            ("running", 75.0),
            ("succeeded", 100.0),
        ]
        result = await op
        assert result == {"@type": RESPONSE_TYPE, "outputUriPrefix": "gs://fake-bucket/op-1"}
        assert op.status["metadata"]["@type"] == METADATA_TYPE
        times = gets(google_server)
        assert [b - a for a, b in itertools.pairwise(times)] == [1.0, 1.5, 2.25]
        record = google_server.operations["projects/p/locations/l/operations/op-1"]
        assert record.request == {"outputUriPrefix": "gs://b"}

    async def test_unknown_progress(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """Metadata without a percentage gives progress None (unknown), not 0."""
        google_server.script_next(GoogleOperationScript.success(2, report_progress=False))
        op = await start_export(google_scheduler)
        seen = [u.progress async for u in op.updates()]
        assert seen == [None, None, None]
        assert op.progress is None
        assert "progressPercent" not in op.status["metadata"]

    async def test_proto3_omitted_defaults(self, google_scheduler: Scheduler) -> None:
        """Without ``done: false`` and a zero progressPercent the operation still runs."""
        async with FakeGoogleOperations(omit_defaults=True) as server:
            server.script_next(GoogleOperationScript.success(3, progress=(0, 0, 60)))
            async with Scheduler(base_url=server.base_url) as scheduler:
                op = await scheduler.start("POST", EXPORTS, spec=google_operation())
                assert "done" not in json.loads(op.checkpoint())["start"]
                seen = [u.progress async for u in op.updates()]
                assert seen == [None, None, 60.0, 100.0]
                assert (await op)["@type"] == RESPONSE_TYPE

    async def test_custom_progress_expression(self, google_scheduler: Scheduler) -> None:
        """The progress parameter takes any JMESPath over the Operation."""
        op = await start_export(
            google_scheduler, progress="percent(metadata.progressPercent, `50`)"
        )
        seen = [u.progress async for u in op.updates()]
        assert seen == [50.0, 100.0, 100.0, 100.0]  # 25/50, 50/50, 75/50 clamped, 100/50

    async def test_failure_carries_the_servers_message(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """An ``error`` ends the operation with the server's message and the whole Status."""
        details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA"}]
        google_server.script_next(
            GoogleOperationScript.fail_at(2, "quota exceeded", code=8, error_details=details)
        )
        op = await start_export(google_scheduler)
        with pytest.raises(OperationFailed, match="quota exceeded") as info:
            await op
        assert info.value.status["error"] == {
            "code": 8,
            "message": "quota exceeded",
            "details": details,
        }
        assert op.state == "failed"

    async def test_done_in_the_start_response_needs_no_poll(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """An Operation already done in the start response ends at once, with no GET."""
        google_server.script_next(GoogleOperationScript.instant())
        op = await start_export(google_scheduler)
        assert op.state == "succeeded"
        assert (await op)["@type"] == RESPONSE_TYPE
        assert gets(google_server) == []
        assert op.attempts == 0

    async def test_watch_by_name(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """``watch("v1/operations/123")`` polls a name given without a start response."""
        google_server.add_operation(GoogleOperationScript.success(1), name="operations/123")
        op = await google_scheduler.watch("v1/operations/123", google_operation())
        assert (await op)["@type"] == RESPONSE_TYPE
        assert gets(google_server, "/v1/operations/123") == [0.0, 1.0]
        op2 = await google_scheduler.watch(
            google_operation_url("operations/123"), google_operation()
        )
        assert (await op2)["@type"] == RESPONSE_TYPE

    async def test_transient_unavailable_is_retried(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """503 UNAVAILABLE on a status read is retried within the error budget."""
        google_server.fail_next(OPS, status=503, times=2)
        op = await start_export(google_scheduler)
        assert (await op)["@type"] == RESPONSE_TYPE
        assert google_scheduler.statistics().errors_retried == 2

    async def test_timeout_leaves_the_job_running(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """max_duration ends polling on the client side only; nothing is cancelled."""
        google_server.script_next(GoogleOperationScript.slow())
        op = await start_export(google_scheduler, max_duration=30.0)
        with pytest.raises(PollTimeout):
            await op
        assert google_server.requests_to("*:cancel") == []
        (record,) = google_server.operations.values()
        assert record.state == "running"


class TestCancel:
    """``op.cancel()`` on the fake: POST ``{name}:cancel``, then confirmation by polling."""

    async def test_confirmed_at_once(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """An accepted cancel is confirmed by the next read (error.code 1)."""
        google_server.script_next(GoogleOperationScript.slow())
        op = await start_export(google_scheduler)
        await anyio.sleep(1.2)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.sent) == ("cancelled", 200, True)
        with pytest.raises(OperationCancelled, match="Operation was cancelled"):
            await op
        (request,) = google_server.requests_to("*:cancel")
        assert (request.method, request.path, request.body) == (
            "POST",
            "/v1/projects/p/locations/l/operations/op-1:cancel",
            b"{}",
        )
        assert google_server.requests_to(method="DELETE") == []

    async def test_confirmed_asynchronously(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """A cancel that takes k reads to show passes through ``cancelling``."""
        google_server.script_next(GoogleOperationScript.cancel_async(3))
        op = await start_export(google_scheduler)
        await anyio.sleep(1.2)
        states: list[str] = []

        async def watch_states() -> None:
            states.extend([u.state async for u in op.updates()])

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_states)
            await anyio.lowlevel.checkpoint()
            outcome = await op.cancel()
        assert outcome.kind == "cancelled"
        assert states == ["cancelling", "cancelling", "cancelling", "cancelled"]
        cancel_at = google_server.requests_to("*:cancel")[0].time
        assert len([t for t in gets(google_server) if t > cancel_at]) == 4
        assert op.status["metadata"]["cancelRequested"] is True

    async def test_finished_anyway(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """A cancel the server accepts but ignores ends as finished_anyway, with the result."""
        google_server.script_next(GoogleOperationScript.cancel_ignored(polls=4))
        op = await start_export(google_scheduler)
        await anyio.sleep(1.2)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.state) == ("finished_anyway", "succeeded")
        assert op.result()["@type"] == RESPONSE_TYPE

    @pytest.mark.parametrize(
        ("error_format", "fault"),
        [
            ("wrapped", None),
            ("bare", None),
            ("bare", (400, {"code": 12, "message": "Method not implemented"})),
            ("bare", (501, {"code": 12})),
        ],
        ids=["501-wrapped", "501-bare", "400-code-12", "emulator"],
    )
    async def test_not_supported(
        self, error_format: Any, fault: tuple[int, dict[str, Any]] | None
    ) -> None:
        """501 or a body with code 12 (UNIMPLEMENTED) is not_supported; polling goes on."""
        async with FakeGoogleOperations(error_format=error_format) as server:
            server.script_next(GoogleOperationScript.cancel_unsupported())
            if fault is not None:
                server.fail_next("*:cancel", status=fault[0], body=fault[1])
            async with Scheduler(base_url=server.base_url) as scheduler:
                op = await start_export(scheduler)
                await anyio.sleep(1.2)
                outcome = await op.cancel()
                assert outcome.kind == "not_supported"
                assert outcome.http_status == (501 if fault is None else fault[0])
                assert op.state == "running"
                if fault is None:
                    assert outcome.message == "Operation cancellation is not supported."
                polls = len(gets(server))
                await anyio.sleep(5)
                assert len(gets(server)) > polls

    @pytest.mark.parametrize("error_format", ["wrapped", "bare"])
    async def test_not_found(self, error_format: Any) -> None:
        """A cancel answered 404 NOT_FOUND (wrapped or bare) is not_found, with its message."""
        async with FakeGoogleOperations(error_format=error_format) as server:
            server.script_next(GoogleOperationScript.slow())
            async with Scheduler(base_url=server.base_url) as scheduler:
                op = await start_export(scheduler)
                await anyio.sleep(1.2)
                name = "projects/p/locations/l/operations/op-1"
                server.expire(name)
                outcome = await op.cancel()
                assert (outcome.kind, outcome.http_status) == ("not_found", 404)
                assert outcome.message == f"Operation not found: {name}"
                with pytest.raises(OperationGone):
                    await op

    @pytest.mark.parametrize(
        ("cancel_done", "kind"),
        [("ok", "finished_anyway"), ("failed_precondition", "already_finished")],
    )
    async def test_done_on_the_server_between_polls(self, cancel_done: Any, kind: str) -> None:
        """A cancel of an operation that finished since the last read ends with its result."""
        async with FakeGoogleOperations(cancel_done=cancel_done) as server:
            server.script_next(GoogleOperationScript.success(1))
            async with Scheduler(base_url=server.base_url) as scheduler:
                op = await start_export(scheduler)
                await anyio.sleep(0.5)
                (record,) = server.operations.values()
                record.advance()  # done on the server; lrpoll reads it only at t=1
                outcome = await op.cancel()
                assert outcome.kind == kind
                assert (await op)["@type"] == RESPONSE_TYPE
                assert op.state == "succeeded"

    async def test_done_operation_sends_nothing(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """Cancelling an operation lrpoll already saw done sends no request."""
        google_server.script_next(GoogleOperationScript.instant())
        op = await start_export(google_scheduler)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent) == ("already_finished", False)
        assert google_server.requests_to("*:cancel") == []

    async def test_watched_operation_cancels_by_its_name(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """A watched operation's cancel URL comes from the name in the last status read."""
        google_server.add_operation(GoogleOperationScript.slow(), name="operations/123")
        op = await google_scheduler.watch("/v1/operations/123", google_operation())
        await anyio.sleep(0.5)
        outcome = await op.cancel()
        assert outcome.kind == "cancelled"
        assert [r.path for r in google_server.requests_to("*:cancel")] == [
            "/v1/operations/123:cancel"
        ]

    async def test_watched_operation_before_its_first_read_is_not_cancelled(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """Before the first read of a watched operation its name is unknown: nothing is sent."""
        google_server.add_operation(GoogleOperationScript.slow(), name="operations/123")
        op = await google_scheduler.watch("/v1/operations/123", google_operation())
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent) == ("refused", False)
        assert "cancel not sent" in (outcome.message or "")
        assert google_server.requests_to("*:cancel") == []


class TestDeleteIsNotCancel:
    """``DELETE {name}`` discards the record; it is not a cancel and lrpoll never sends it."""

    async def test_delete_discards_without_cancelling(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """After DELETE the job is untouched and the record gone: the watcher sees it gone."""
        google_server.script_next(GoogleOperationScript.slow())
        op = await start_export(google_scheduler)
        await anyio.sleep(1.2)
        name = op.status["name"]
        status, body = await call("DELETE", google_server.operation_url(name))
        assert (status, body) == (200, {})
        record = google_server.deleted[name]
        assert (record.state, record.cancel_requested, record.cancel_requests) == (
            "running",
            False,
            [],
        )
        with pytest.raises(OperationGone):
            await op
        assert google_server.requests_to("*:cancel") == []
        assert [r.method for r in google_server.requests_to(OPS)].count("DELETE") == 1

    async def test_delete_unsupported(self) -> None:
        """With delete_supported=False the fake answers DELETE like the emulator: 501 code 12."""
        async with FakeGoogleOperations(error_format="bare", delete_supported=False) as server:
            record = server.add_operation()
            status, body = await call("DELETE", server.operation_url(record.name))
        assert status == 501
        assert body["code"] == 12


class TestErrors:
    """Error bodies, wrapped or bare, become clear errors."""

    @pytest.mark.parametrize("error_format", ["wrapped", "bare"])
    async def test_unknown_operation_is_gone(self, error_format: Any) -> None:
        """A status read answered 404 NOT_FOUND ends with OperationGone."""
        async with FakeGoogleOperations(error_format=error_format) as server:
            async with Scheduler(base_url=server.base_url) as scheduler:
                op = await scheduler.watch("/v1/operations/nope", google_operation())
                with pytest.raises(OperationGone, match="expired or never existed"):
                    await op
            status, body = await call("GET", server.operation_url("operations/nope"))
        assert status == 404
        expected = (
            {
                "error": {
                    "code": 404,
                    "message": "Operation not found: operations/nope",
                    "status": "NOT_FOUND",
                }
            }
            if error_format == "wrapped"
            else {"code": 5, "message": "Operation not found: operations/nope"}
        )
        assert body == expected

    @pytest.mark.parametrize(
        ("error_format", "words"),
        [("wrapped", '"status": "UNAUTHENTICATED"'), ("bare", '"code": 16')],
    )
    async def test_start_without_credentials(self, error_format: Any, words: str) -> None:
        """A 401 on the start request is an AuthError quoting the server's error body."""
        async with (
            FakeGoogleOperations(error_format=error_format, bearer="s3cret") as server,
            Scheduler(base_url=server.base_url) as scheduler,
        ):
            with pytest.raises(AuthError) as info:
                await start_export(scheduler)
        assert info.value.http_status == 401
        assert words in str(info.value)
        assert "invalid authentication credentials" in str(info.value)

    async def test_token_rejected_while_polling(self) -> None:
        """A token the server stops accepting ends polling with AuthError; logs redact it."""
        async with FakeGoogleOperations(bearer="t0ken") as server:
            server.script_next(GoogleOperationScript.slow())
            credentials = {server.base_url: BearerToken("t0ken")}
            async with Scheduler(base_url=server.base_url, credentials=credentials) as scheduler:
                op = await start_export(scheduler)
                await anyio.sleep(1.2)
                assert op.state == "running"
                server.bearer = "rotated"
                with pytest.raises(AuthError, match="UNAUTHENTICATED") as info:
                    await op
        assert info.value.http_status == 401
        assert {r.headers["authorization"] for r in server.requests} == {"REDACTED"}
        assert all("t0ken" not in r.raw_path for r in server.requests)

    async def test_cancel_body_must_be_empty(self, google_server: FakeGoogleOperations) -> None:
        """The fake accepts no body or ``{}`` for :cancel and refuses any field."""
        url = google_server.operation_url(google_server.add_operation().name) + ":cancel"
        assert await call("POST", url) == (200, {})
        assert await call("POST", url, json={}) == (200, {})
        status, body = await call("POST", url, json={"name": "x"})
        assert status == 400
        assert body["error"]["status"] == "INVALID_ARGUMENT"
        assert 'Unknown name "name"' in body["error"]["message"]
        status, body = await call("POST", url, data=b"not json")
        assert (status, body["error"]["status"]) == (400, "INVALID_ARGUMENT")


class TestExpiry:
    """Operations expire after they are done: NOT_FOUND, never a silent success."""

    async def test_expire_after_reads(
        self, google_scheduler: Scheduler, google_server: FakeGoogleOperations
    ) -> None:
        """With expire_after=1 a done operation is readable once, then 404."""
        google_server.script_next(GoogleOperationScript.success(1, expire_after=1))
        op = await start_export(google_scheduler)
        assert (await op)["@type"] == RESPONSE_TYPE
        again = await google_scheduler.watch(
            google_operation_url(op.status["name"]), google_operation()
        )
        with pytest.raises(OperationGone):
            await again
        assert list(google_server.expired) == [op.status["name"]]

    async def test_resume_of_an_expired_operation(
        self, google_server: FakeGoogleOperations
    ) -> None:
        """Resuming a checkpoint whose operation has since expired raises OperationGone."""
        google_server.script_next(GoogleOperationScript.success(10))
        async with Scheduler(base_url=google_server.base_url) as scheduler:
            op = await start_export(scheduler)
            await anyio.sleep(2.6)
            checkpoint = op.checkpoint()
            op.stop()
        assert json.loads(checkpoint)["spec"] == {"preset": "google", "params": {}}
        google_server.expire(op.status["name"])
        async with Scheduler(base_url=google_server.base_url) as scheduler:
            resumed = scheduler.resume(checkpoint)
            with pytest.raises(OperationGone, match="expired or never existed"):
                await resumed
        assert resumed.state == "gone"


# -- against the Cloud Spanner emulator -------------------------------------------------------

EMULATOR_DIR = Path("/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator")
PROJECT = "/v1/projects/test-project"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the emulator: SIGTERM to its process group, wait, then SIGKILL.

    The gateway leads its own session (so the group id is its PID) and does not pass
    SIGTERM on to the emulator_main it spawned: signalling the group reaches both.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(name="spanner_emulator", scope="module")
def _spanner_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Cloud Spanner emulator's REST base URL, started once for this module."""
    gateway, emulator = EMULATOR_DIR / "gateway_main", EMULATOR_DIR / "emulator_main"
    if not (gateway.is_file() and emulator.is_file()):
        pytest.skip(
            f"the Cloud Spanner emulator is not installed in {EMULATOR_DIR} "
            "(Debian package google-cloud-cli-spanner-emulator)"
        )
    http_port, grpc_port = _free_port(), _free_port()
    log = tmp_path_factory.mktemp("spanner") / "emulator.log"
    command = [
        str(gateway),
        "--hostname=127.0.0.1",
        f"--grpc_port={grpc_port}",
        f"--http_port={http_port}",
        f"--grpc_binary={emulator}",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30.0
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the emulator exited with {proc.returncode}: {log.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}{PROJECT}/instances", timeout=1.0) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the emulator did not answer within 30 s: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield base
    finally:
        _stop(proc)


class TestSpannerEmulator:
    """The preset against a real peer: every emulator operation is done at once.

    Real answers (emulator from google-cloud-cli-spanner-emulator): create instance /
    database answer 200 with a done Operation and typed metadata; ``:cancel`` and
    ``DELETE`` answer 501 ``{"code":12}`` (no message), even for unknown names; an
    unknown operation answers 404 ``{"code":5,"message":"Operation not found: <name>"}``.
    """

    @pytest.fixture(name="anyio_backend")
    def _anyio_backend(self) -> tuple[str, dict[str, Any]]:
        """Real time: the emulator is another process, looptime's clock cannot drive it."""
        return "asyncio", {}

    @pytest.fixture(name="emulator_scheduler")
    async def _emulator_scheduler(self, spanner_emulator: str) -> AsyncIterator[Scheduler]:
        """A scheduler whose base URL is the emulator."""
        async with Scheduler(base_url=spanner_emulator) as scheduler:
            yield scheduler

    async def create_instance(self, scheduler: Scheduler, instance: str) -> Operation:
        """Create an instance with the google preset; returns its operation."""
        body = {
            "instanceId": instance,
            "instance": {"config": "emulator-config", "displayName": "x", "nodeCount": 1},
        }
        with anyio.fail_after(10):
            return await scheduler.start(
                "POST", f"{PROJECT}/instances", json=body, spec=google_operation()
            )

    async def test_create_instance_is_done_in_the_start_response(
        self, emulator_scheduler: Scheduler
    ) -> None:
        """The create answer is a done Operation: no poll, typed metadata and result."""
        op = await self.create_instance(emulator_scheduler, "lrpoll-inst")
        assert (op.state, op.attempts) == ("succeeded", 0)
        result = op.result()
        assert result["@type"] == "type.googleapis.com/google.spanner.admin.instance.v1.Instance"
        assert result["name"] == "projects/test-project/instances/lrpoll-inst"
        metadata = op.status["metadata"]
        assert metadata["@type"] == (
            "type.googleapis.com/google.spanner.admin.instance.v1.CreateInstanceMetadata"
        )
        assert op.progress is None

    async def test_create_database_then_watch_it_by_name(
        self, emulator_scheduler: Scheduler
    ) -> None:
        """A database's operation, watched by name afterwards, is read once and done."""
        await self.create_instance(emulator_scheduler, "lrpoll-db")
        with anyio.fail_after(10):
            op = await emulator_scheduler.start(
                "POST",
                f"{PROJECT}/instances/lrpoll-db/databases",
                json={"createStatement": "CREATE DATABASE `db1`"},
                spec=google_operation(),
            )
            assert op.state == "succeeded"
            name = op.status["name"]
            assert name.startswith("projects/test-project/instances/lrpoll-db/databases/db1/")
            watched = await emulator_scheduler.watch(google_operation_url(name), google_operation())
            result = await watched
        assert result["@type"] == "type.googleapis.com/google.spanner.admin.database.v1.Database"
        assert watched.attempts == 1
        assert watched.status["metadata"]["@type"] == (
            "type.googleapis.com/google.spanner.admin.database.v1.CreateDatabaseMetadata"
        )

    async def test_cancel_is_unimplemented(
        self, emulator_scheduler: Scheduler, spanner_emulator: str
    ) -> None:
        """:cancel answers 501 ``{"code":12}``: not_supported, and the operation is untouched."""
        op = await self.create_instance(emulator_scheduler, "lrpoll-cancel")
        name = op.status["name"]
        url = f"{spanner_emulator}/v1/{name}"
        with anyio.fail_after(10):
            # lrpoll saw it done: nothing to send.
            outcome = await op.cancel()
            assert (outcome.kind, outcome.sent) == ("already_finished", False)
            # The emulator's own answers, to an empty CancelOperationRequest and to DELETE.
            assert await call("POST", f"{url}:cancel", json={}) == (501, {"code": 12})
            assert await call("DELETE", url) == (501, {"code": 12})
            # An operation lrpoll still takes for running (``done`` switched off: the
            # emulator has no operation in progress) gets not_supported through op.cancel().
            running_spec = google_operation().replace(done=None)
            read = anyio.Event()
            watched = await emulator_scheduler.watch(
                google_operation_url(name), running_spec, on_status=lambda _: read.set()
            )
            await read.wait()
            assert watched.state == "running"
            outcome = await watched.cancel()
            watched.stop()
        assert (outcome.kind, outcome.http_status, outcome.sent) == ("not_supported", 501, True)
        assert outcome.message == "error code 12"
        cancel = google_operation().cancel
        assert cancel is not None
        assert classify_cancel(cancel, 501, {}, {"code": 12}) == ("not_supported", "error code 12")

    async def test_unknown_operation_is_gone(
        self, emulator_scheduler: Scheduler, spanner_emulator: str
    ) -> None:
        """An unknown operation answers 404 ``{"code":5}``: OperationGone."""
        name = "projects/test-project/instances/lrpoll-none/operations/nope"
        with anyio.fail_after(10):
            op = await emulator_scheduler.watch(google_operation_url(name), google_operation())
            with pytest.raises(OperationGone):
                await op
            status, body = await call("GET", f"{spanner_emulator}/v1/{name}")
        assert (status, body) == (404, {"code": 5, "message": f"Operation not found: {name}"})

    async def test_start_error_quotes_the_server(self, emulator_scheduler: Scheduler) -> None:
        """Creating an instance twice is an HTTPStatusError 409 quoting ALREADY_EXISTS."""
        await self.create_instance(emulator_scheduler, "lrpoll-twice")
        with pytest.raises(HTTPStatusError) as info:
            await self.create_instance(emulator_scheduler, "lrpoll-twice")
        assert info.value.http_status == 409
        assert '"code":6' in str(info.value)
        assert "Instance already exists" in str(info.value)
