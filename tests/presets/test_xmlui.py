"""The XMLUI ``APICall`` deferred-mode preset, against `lrpoll.testing.FakeXmlui`.

Tests run on the looptime loop of ``tests/conftest.py``; the fake advances one step per
status poll, so the instants in its request log are exact.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio
import pytest

from lrpoll import (
    AuthError,
    BearerToken,
    MessageTemplate,
    OperationCancelled,
    OperationFailed,
    OperationGone,
    PollingStopped,
    PollSpec,
    PollTimeout,
    Scheduler,
    SpecError,
    TemplateError,
    UrlTemplate,
)
from lrpoll._retry_after import backoff_delay
from lrpoll.presets.xmlui import (
    XmluiApiCall,
    xmlui_apicall,
    xmlui_from_attributes,
    xmlui_from_xml,
)
from lrpoll.testing import FakeXmlui, XmluiScript

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from lrpoll import Operation

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]

#: The element of XMLUI's "Data Export" page (how-to "Cancel a deferred API operation").
PAGE = """
<APICall
  id="exportJob"
  method="post"
  url="/api/exports"
  deferredMode="true"
  statusUrl="/api/exports/{$result.jobId}/status"
  pollingInterval="1000"
  maxPollingDuration="60000"
  completionCondition="{$statusData.status === 'done'}"
  errorCondition="{$statusData.status === 'failed'}"
  progressExtractor="{$statusData.progress}"
  cancelUrl="/api/exports/{$result.jobId}/cancel"
  cancelMethod="post"
  inProgressNotificationMessage="Export progress: {$progress}%"
  completedNotificationMessage="Export finished!"
/>
"""
CANCELLED = "$statusData.status === 'cancelled'"
ATTRIBUTES: dict[str, Any] = {
    "statusUrl": "/api/exports/{$result.jobId}/status",
    "pollingInterval": 1000,
    "completionCondition": "{$statusData.status === 'done'}",
    "errorCondition": "{$statusData.status === 'failed'}",
    "progressExtractor": "{$statusData.progress}",
    "cancelUrl": "/api/exports/{$result.jobId}/cancel",
    "cancelledCondition": CANCELLED,
    "inProgressNotificationMessage": "Export progress: {$progress}%",
    "completedNotificationMessage": "Export finished!",
    "errorNotificationMessage": "Export failed: {$statusData.message}",
}


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FakeXmlui]:
    """A started fake XMLUI job API."""
    async with FakeXmlui() as server:
        yield server


@pytest.fixture(name="scheduler")
async def _scheduler(server: FakeXmlui) -> AsyncIterator[Scheduler]:
    """A scheduler whose base URL is the fake."""
    async with Scheduler(base_url=server.base_url) as scheduler:
        yield scheduler


async def start(scheduler: Scheduler, spec: PollSpec | None = None, **params: Any) -> Operation:
    """Start an export with the preset built from ``ATTRIBUTES`` and ``params``."""
    spec = spec or xmlui_apicall(**{**ATTRIBUTES, **params})
    return await scheduler.start("POST", "/api/exports", json={"format": "csv"}, spec=spec)


def polls(server: FakeXmlui) -> list[float]:
    """Loop times of the status polls."""
    return [r.time for r in server.requests_to("/api/exports/*/status", "GET")]


# -- the spec as data -------------------------------------------------------------------------


class TestSpec:
    """What the preset makes of the attributes."""

    def test_page_element(self) -> None:
        """The Data Export page's element gives the documented spec and start request."""
        call = xmlui_from_xml(PAGE)
        assert (call.method, call.url, call.id, call.body, call.ignored) == (
            "POST",
            "/api/exports",
            "exportJob",
            None,
            (),
        )
        spec = call.spec
        assert spec.status_url == "/api/exports/{start.jobId}/status"
        assert (spec.done, spec.failed) == ("status == 'done'", "status == 'failed'")
        assert spec.progress == "js_progress(progress)"
        assert spec.effective_backoff.kind == "fixed"
        assert (spec.effective_backoff.delay, spec.max_duration) == (1.0, 60.0)
        assert spec.cancel is not None
        assert (spec.cancel.url, spec.cancel.method) == (
            "/api/exports/{start.jobId}/cancel",
            "POST",
        )
        assert spec.messages.in_progress == "Export progress: {progress}%"
        assert spec.messages.completed == "Export finished!"

    def test_json_form_names_the_preset(self) -> None:
        """The spec serialises as the preset and its attributes, and reads back equal."""
        spec = xmlui_from_xml(PAGE).spec
        data = spec.to_json()
        assert data["preset"] == "xmlui"
        assert data["params"]["pollingInterval"] == "1000"
        assert PollSpec.from_json(json.loads(json.dumps(data))) == spec

    def test_defaults(self) -> None:
        """No pollingInterval polls every 2 s (XMLUI polls once); 300 s in all."""
        spec = xmlui_apicall(statusUrl="/s/{$result.id}", progressExtractor="$statusData.p")
        assert (spec.effective_backoff.delay, spec.max_duration) == (2.0, 300.0)
        assert spec.done == "js_progress(p) >= `100`"
        assert spec.cancel is None

    @pytest.mark.parametrize(
        ("kind", "delays"),
        [
            ("none", [1.0, 1.0, 1.0, 1.0, 1.0]),
            ("linear", [2.0, 3.0, 4.0, 5.0, 5.0]),
            ("exponential", [2.0, 4.0, 5.0, 5.0, 5.0]),
        ],
    )
    def test_backoff(self, kind: str, delays: list[float]) -> None:
        """XMLUI's backoff: +1 s or x2 after each poll from the first, capped (not for none)."""
        spec = xmlui_apicall(
            statusUrl="/s",
            completionCondition="$statusData.done",
            pollingInterval="1000",
            pollingBackoff=kind,
            maxPollingInterval=5000,
        )
        backoff = spec.effective_backoff
        assert [backoff_delay(backoff, n, 0.0) for n in range(1, 6)] == delays

    def test_placeholders(self) -> None:
        """Placeholders become lrpoll's; other braces stay literal text."""
        spec = xmlui_apicall(
            statusUrl="/jobs/{$result.job.id}/status?t={$result.tId}",
            completionCondition="$statusData.done",
            inProgressNotificationMessage="{$statusData.stage}: {$progress}% of {$result.name} {x}",
        )
        assert spec.status_url == "/jobs/{start.job.id}/status?t={start.tId}"
        assert spec.messages.in_progress == "{last.stage}: {`0`}% of {start.name} {{x}}"

    def test_strict_placeholders_read_one_top_level_key(self) -> None:
        """``xmlui_strict``: ``{$result.job.id}`` is the key ``"job.id"``, as XMLUI reads it,
        in URLs and messages; the default reads the nested member."""
        params: dict[str, Any] = {
            "statusUrl": "/jobs/{$result.job.id}/status",
            "cancelUrl": "/jobs/{$result.job.id}/cancel",
            "completionCondition": "$statusData.done",
            "completedNotificationMessage": "{$statusData.out.file} ready",
        }
        start = {"job.id": "flat-7", "job": {"id": "nested-7"}}
        last = {"out.file": "a.csv", "out": {"file": "b.csv"}}
        strict = xmlui_apicall(**params, xmlui_strict=True)
        assert strict.status_url == '/jobs/{start."job.id"}/status'
        assert UrlTemplate(strict.status_url, field="s").fill({"start": start}) == (
            "/jobs/flat-7/status"
        )
        assert strict.cancel is not None
        assert UrlTemplate(strict.cancel.url, field="c").fill({"start": start}) == (
            "/jobs/flat-7/cancel"
        )
        assert strict.messages.completed is not None
        assert MessageTemplate(strict.messages.completed, field="m").render({"last": last}) == (
            "a.csv ready"
        )
        nested = xmlui_apicall(**params)
        assert nested.status_url is not None
        assert UrlTemplate(nested.status_url, field="s").fill({"start": start}) == (
            "/jobs/nested-7/status"
        )
        with pytest.raises(TemplateError):
            UrlTemplate(strict.status_url, field="s").fill({"start": {"job": {"id": "7"}}})
        assert strict.to_json()["params"]["xmlui_strict"] is True

    @pytest.mark.parametrize(
        ("params", "message"),
        [
            ({}, "completionCondition: nothing would complete"),
            ({"pollingInterval": "1s"}, "pollingInterval: must be a number of milliseconds"),
            ({"pollingInterval": 0}, "pollingInterval: must be a positive number"),
            ({"pollingBackoff": "fast"}, "pollingBackoff: must be one of none, linear"),
            (
                {"completionCondition": "$statusData.d", "cancelUrl": "/c", "cancelMethod": "x"},
                "cancelMethod: must be one of get",
            ),
            (
                {"completionCondition": "$statusData.a.length > 0"},
                "completionCondition at position 14: length is a built-in",
            ),
            (
                {"completionCondition": "$statusData.done", "errorCondition": "{$result.x}"},
                "errorCondition at position 1: $result (the start response) is not visible",
            ),
            (
                {"completionCondition": "$statusData.done", "statusUrl": "/s/{$statusData.x}"},
                "statusUrl at position 3: {$statusData…} is not available here",
            ),
        ],
    )
    def test_refused(self, params: dict[str, Any], message: str) -> None:
        """A value XMLUI would not take, or outside the subset, names its attribute."""
        with pytest.raises(SpecError) as info:
            xmlui_apicall(**{"statusUrl": "/s", **params})
        assert str(info.value).startswith(message)

    def test_unknown_attribute_suggests_the_name(self) -> None:
        """A misspelt attribute is refused with the closest known name."""
        with pytest.raises(
            SpecError, match=r"'pollinginterval' \(did you mean pollingInterval\?\)"
        ):
            xmlui_from_attributes({"deferredMode": "true", "statusUrl": "/s", "pollinginterval": 1})

    def test_deferred_mode_required(self) -> None:
        """Without deferredMode="true" XMLUI never polls, so there is no spec."""
        with pytest.raises(SpecError, match="deferredMode: is None"):
            xmlui_from_attributes({"statusUrl": "/s", "completionCondition": "$statusData.d"})

    def test_attributes_from_a_dict(self) -> None:
        """A dict of attributes gives the same spec; handlers and UI attributes are set aside."""
        attributes = {
            "deferredMode": True,
            "method": "post",
            "url": "/api/exports",
            "onStatusUpdate": "(s, p) => console.log(p)",
            "confirmTitle": "Export?",
            **{k: v for k, v in ATTRIBUTES.items() if k != "cancelledCondition"},
        }
        call = xmlui_from_attributes(attributes, cancelledCondition=CANCELLED)
        assert isinstance(call, XmluiApiCall)
        assert call.ignored == ("confirmTitle", "onStatusUpdate")
        assert call.spec == xmlui_apicall(**ATTRIBUTES)


class TestXml:
    """Reading the element text: one element, no DTD, no entity but XML's five."""

    def test_markup_as_xmlui_writes_it(self) -> None:
        """Unescaped && and < inside quotes, comments and child elements are accepted."""
        call = xmlui_from_xml(
            "<!-- export --><APICall deferredMode='true' statusUrl='/s'\n"
            '  completionCondition="{$statusData.a && $statusData.b < 2}"\n'
            '  errorCondition="$statusData.s === &quot;x&quot; &amp;&amp; $statusData.t">\n'
            '  <event name="statusUpdate">...</event>\n'
            "</APICall>\n"
        )
        assert call.ignored == ("<event>",)
        assert call.spec.failed == "s == 'x' && js_truthy(t)"

    def test_cancel_body_is_json(self) -> None:
        """cancelBody is read as JSON; an XMLUI binding expression is refused."""
        call = xmlui_from_xml(
            '<APICall deferredMode="true" statusUrl="/s" completionCondition="$statusData.d"'
            ' cancelUrl="/c" cancelBody=\'{"reason": "user"}\'/>'
        )
        assert call.spec.cancel is not None
        assert call.spec.cancel.json == {"reason": "user"}
        with pytest.raises(SpecError, match="cancelBody: lrpoll reads cancelBody as JSON"):
            xmlui_from_xml(
                '<APICall deferredMode="true" statusUrl="/s" completionCondition="$statusData.d"'
                ' cancelUrl="/c" cancelBody="{{ reason: \'user\' }}"/>'
            )

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                '<!DOCTYPE x [<!ENTITY a "aaaa">]><APICall/>',
                "xml at position 0: expected <APICall, found '<!DOCTYPE x [<!ENTIT'",
            ),
            (
                '<APICall deferredMode="true" statusUrl="/s/&a;"/>',
                "xml at position 29: entity &a; refused",
            ),
            (
                '<APICall deferredMode="true" statusUrl="&#0;"/>',
                "xml: invalid character reference &#0;",
            ),
            (
                '<APICall deferredMode="true" deferredMode="true"/>',
                "xml at position 29: attribute deferredMode given twice",
            ),
            ('<APICall deferredMode="true"/><x/>', "xml at position 30: text after the APICall"),
            ('<APICall deferredMode="true">', "xml at position 29: no </APICall> closes"),
            (
                '<APICall deferredMode="true"><!ENTITY a "b"></APICall>',
                "xml at position 29: declarations are refused inside the element",
            ),
            ("<APICallX/>", "xml at position 0: expected <APICall"),
            ("<APICall deferredMode=true/>", "xml at position 8: expected an attribute"),
        ],
    )
    def test_refused(self, text: str, message: str) -> None:
        """DTDs, unknown entities and anything but one element are refused with a position."""
        with pytest.raises(SpecError) as info:
            xmlui_from_xml(text)
        assert str(info.value).startswith(message)


# -- against the fake -----------------------------------------------------------------------------


class TestPolling:
    """From the start request to the end, on the fake."""

    async def test_success_with_progress(self, scheduler: Scheduler, server: FakeXmlui) -> None:
        """Progress and messages follow each poll, one second apart; the result is the status."""
        op = await start(scheduler)
        seen = [(u.state, u.progress, u.message) async for u in op.updates()]
        assert seen == [
            ("running", 25.0, "Export progress: 25%"),
            ("running", 50.0, "Export progress: 50%"),
            ("running", 75.0, "Export progress: 75%"),
            ("succeeded", 100.0, "Export finished!"),
        ]
        assert await op == {"status": "done", "progress": 100, "message": "Export completed"}
        assert [b - a for a, b in itertools.pairwise(polls(server))] == [1.0, 1.0, 1.0]
        assert server.jobs["job-1"].request == {"format": "csv"}

    async def test_failure_with_the_servers_message(
        self, scheduler: Scheduler, server: FakeXmlui
    ) -> None:
        """errorCondition fails the operation with the status message, in the error toast."""
        server.script_next(XmluiScript.failing(3, "table 'legacy' is locked"))
        op = await start(scheduler)
        updates = [u async for u in op.updates()]
        with pytest.raises(OperationFailed, match="table 'legacy' is locked"):
            await op
        assert updates[-1].message == "Export failed: table 'legacy' is locked"

    async def test_error_wins_over_completion(self, scheduler: Scheduler) -> None:
        """When both conditions hold on one poll, the operation failed."""
        op = await start(
            scheduler,
            completionCondition="$statusData.progress >= 50",
            errorCondition="$statusData.progress >= 50",
        )
        with pytest.raises(OperationFailed):
            await op
        assert op.status["progress"] == 50

    async def test_progress_reaching_100_completes(self, scheduler: Scheduler) -> None:
        """Without a completionCondition, progress reaching 100 completes."""
        spec = xmlui_apicall(
            statusUrl="/api/exports/{$result.jobId}/status",
            pollingInterval=500,
            progressExtractor="$statusData.progress",
        )
        op = await start(scheduler, spec)
        assert (await op)["status"] == "done"
        assert op.attempts == 4

    @pytest.mark.parametrize(("style", "seen"), [("string", 25.0), ("percent", None)])
    async def test_progress_as_text(
        self, scheduler: Scheduler, server: FakeXmlui, style: Any, seen: float | None
    ) -> None:
        """``"25"`` reads as 25; ``"25%"`` (NaN in XMLUI) is unknown and sends no message."""
        server.script_next(XmluiScript.success(progress_style=style))
        op = await start(scheduler)
        first = await anext(aiter(op.updates()))
        assert (first.progress, first.message is None) == (seen, seen is None)
        await op

    async def test_transient_errors_are_retried(
        self, scheduler: Scheduler, server: FakeXmlui
    ) -> None:
        """A 503, an empty and a non-JSON 200 are retried; the export still finishes."""
        server.fail_next("/api/exports/*/status", 503)
        server.fail_next("/api/exports/*/status", 200, b"")
        server.fail_next("/api/exports/*/status", 200, b"oops")
        op = await start(scheduler)
        assert (await op)["status"] == "done"
        assert [r.status for r in server.requests_to("/api/exports/*/status")][:3] == [
            503,
            200,
            200,
        ]

    async def test_timeout_leaves_the_job_running(
        self, scheduler: Scheduler, server: FakeXmlui
    ) -> None:
        """maxPollingDuration ends polling with PollTimeout; the server job goes on."""
        server.script_next(XmluiScript.slow(40))
        op = await start(scheduler, maxPollingDuration=5000)
        with pytest.raises(PollTimeout):
            await op
        assert server.jobs["job-1"].status == "running"
        assert max(polls(server)) - min(polls(server)) <= 5.0

    async def test_status_query_is_passed_through(self, scheduler: Scheduler) -> None:
        """The docs example's query parameters reach the status URL, quoted as data."""
        op = await start(
            scheduler, statusUrl="/api/exports/{$result.jobId}/status?tenant={$result.tId}"
        )
        first = await anext(aiter(op.updates()))
        assert first.status["tenant"] == "tenant-a"
        await op

    async def test_bearer_rejected(self) -> None:
        """A wrong token is an AuthError; the token never shows in the request log."""
        async with FakeXmlui(bearer="s3cret") as server:
            credentials = {server.base_url: BearerToken("wrong")}
            async with Scheduler(base_url=server.base_url, credentials=credentials) as scheduler:
                with pytest.raises(AuthError) as info:
                    await start(scheduler)
        assert info.value.http_status == 401
        assert {r.headers["authorization"] for r in server.requests} == {"REDACTED"}


class TestDocsExamples:
    """The backends of XMLUI's other docs examples, through the fake's knobs."""

    async def test_state_completed_percent(self) -> None:
        """``APICall.md``'s example: ``state``/``completed``, query parameters, tenant echoed."""
        call = xmlui_from_attributes(
            {
                "method": "post",
                "url": "/api/exports",
                "deferredMode": "true",
                "statusUrl": "/api/exports/{$result.jobId}/status?tenant={$result.tId}"
                "&includeProgress=true",
                "pollingInterval": "1000",
                "completionCondition": "{$statusData.state === 'completed'}",
                "errorCondition": "{$statusData.state === 'failed'}",
                "progressExtractor": "{$statusData.percent}",
                "inProgressNotificationMessage": "Preparing export: {$progress}%",
                "completedNotificationMessage": "Export is ready",
            }
        )
        server = FakeXmlui(status_field="state", done_value="completed", progress_field="percent")
        async with server, Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start(call.method, call.url or "", json={}, spec=call.spec)
            messages = [u.message async for u in op.updates()]
            assert (await op)["state"] == "completed"
        assert messages[0] == "Preparing export: 25%"
        assert messages[-1] == "Export is ready"
        first = server.requests_to("/api/exports/*/status")[0]
        assert first.query == {"tenant": "tenant-a", "includeProgress": "true"}

    async def test_unknown_job(self) -> None:
        """An unknown job is 404 (OperationGone), or the docs' 200 "Job not found" (failed)."""
        spec = xmlui_apicall(
            statusUrl="/api/exports/nope/status",
            completionCondition="$statusData.state === 'completed'",
            errorCondition="$statusData.state === 'failed'",
        )
        cases: list[tuple[Literal["not_found", "docs"], type[Exception]]] = [
            ("not_found", OperationGone),
            ("docs", OperationFailed),
        ]
        for knob, error in cases:
            server = FakeXmlui(unknown_job=knob)
            async with server, Scheduler(base_url=server.base_url) as scheduler:
                op = await start(scheduler, spec)
                with pytest.raises(error):
                    await op

    @pytest.mark.parametrize("status", [200, 201, 202])
    async def test_any_2xx_start(self, status: Any) -> None:
        """XMLUI takes any 2xx start answer; a Location header is not needed."""
        server = FakeXmlui(start_status=status, location_header=status == 202)
        async with server, Scheduler(base_url=server.base_url) as scheduler:
            op = await start(scheduler)
            assert (await op)["status"] == "done"
        assert server.requests_to("/api/exports", "POST")[0].status == status


class TestStopResumeCancel:
    """The page's buttons: Stop Polling, resumePolling(), Cancel on Server."""

    async def test_stop_then_resume(self, scheduler: Scheduler, server: FakeXmlui) -> None:
        """Stop sends no more polls and leaves the job running; resume polls to the end."""
        op = await start(scheduler)
        first = await anext(aiter(op.updates()))
        assert first.progress == 25.0
        op.stop()
        await anyio.sleep(10)
        assert (len(polls(server)), op.state, server.jobs["job-1"].status) == (
            1,
            "stopped",
            "running",
        )
        with pytest.raises(PollingStopped):
            await op
        op.resume()
        assert (await op)["status"] == "done"
        assert op.message == "Export finished!"

    async def test_cancel_confirmed(self, scheduler: Scheduler, server: FakeXmlui) -> None:
        """Cancel sends one POST to cancelUrl, then polls until the job reads cancelled."""
        op = await start(scheduler, cancelBody={"reason": "user"})
        await anext(aiter(op.updates()))
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.sent) == ("cancelled", 200, True)
        with pytest.raises(OperationCancelled):
            await op
        (request,) = server.requests_to("/api/exports/*/cancel")
        assert (request.method, request.path) == ("POST", "/api/exports/job-1/cancel")
        assert request.json() == {"reason": "user"}

    async def test_cancel_unconfirmed_without_a_cancelled_condition(
        self, scheduler: Scheduler
    ) -> None:
        """Without cancelledCondition a cancelled job never reads as an end: unconfirmed."""
        params = {k: v for k, v in ATTRIBUTES.items() if k != "cancelledCondition"}
        op = await start(scheduler, xmlui_apicall(**params, confirm_timeout=5.0))
        await anext(aiter(op.updates()))
        outcome = await op.cancel()
        assert outcome.kind == "unconfirmed"

    async def test_cancel_in_the_how_tos_backend(self) -> None:
        """The how-to's backend reports a cancelled job as failed: lrpoll says so."""
        server = FakeXmlui(xmlui_doc_compat=True)
        async with server, Scheduler(base_url=server.base_url) as scheduler:
            op = await start(scheduler)
            await anext(aiter(op.updates()))
            outcome = await op.cancel()
        assert (outcome.kind, outcome.state) == ("finished_anyway", "failed")

    async def test_cancel_ignored(self, scheduler: Scheduler, server: FakeXmlui) -> None:
        """A cancel the server accepts but ignores ends as finished_anyway."""
        server.script_next(XmluiScript.success(cancel_ignored=True))
        op = await start(scheduler)
        await anext(aiter(op.updates()))
        outcome = await op.cancel()
        assert (outcome.kind, outcome.state) == ("finished_anyway", "succeeded")

    async def test_cancel_already_finished(self, scheduler: Scheduler, server: FakeXmlui) -> None:
        """A job done while polling was stopped answers 409: already_finished."""
        op = await start(scheduler)
        await anext(aiter(op.updates()))
        op.stop()
        server.jobs["job-1"].status = "done"
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("already_finished", 409)

    async def test_cancel_not_found(self, scheduler: Scheduler, server: FakeXmlui) -> None:
        """A job the server no longer knows answers 404: not_found."""
        op = await start(scheduler)
        await anext(aiter(op.updates()))
        op.stop()
        del server.jobs["job-1"]
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("not_found", 404)


class TestDataExportPage:
    """examples/xmlui_data_export.py, the page as a program, run on the fake clock."""

    async def test_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        """The page's three runs print its toasts and the buttons' effects."""
        path = ROOT / "examples" / "xmlui_data_export.py"
        module_spec = importlib.util.spec_from_file_location("xmlui_data_export", path)
        assert module_spec is not None
        assert module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        await module.main()
        out = capsys.readouterr().out
        assert out.splitlines() == [
            "Start Export",
            "  toast: Export progress: 25%",
            "  toast: Export progress: 50%",
            "  toast: Export progress: 75%",
            "  toast: Export finished!",
            "  result: {'status': 'done', 'progress': 100, 'message': 'Export completed'}",
            "Start Export, then Stop Polling after the first update",
            "  toast: Export progress: 25%",
            "  state: stopped; server job: running at 25%",
            "Resume Polling",
            "  toast: Export progress: 50%",
            "  toast: Export progress: 75%",
            "  toast: Export finished!",
            "  state: succeeded",
            "Start Export, then Cancel on Server after the first update",
            "  toast: Export progress: 25%",
            "  cancel: cancelled (HTTP 200); state: cancelled",
            "  Export failed or was cancelled: the server reported the operation cancelled",
        ]
