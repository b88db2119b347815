"""The sans-I/O decision core: one row of `_core`'s precedence tables per case."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pytest

from lrpoll import (
    AuthError,
    Backoff,
    ErrorBudget,
    HTTPStatusError,
    LrpollError,
    MalformedStatus,
    Messages,
    OperationCancelled,
    OperationFailed,
    OperationGone,
    PollSpec,
    PollTimeout,
    RequestError,
    ResponseTooLarge,
)
from lrpoll._core import first_delay, timed_out
from lrpoll.core import (
    Decision,
    Ended,
    Observation,
    Retry,
    Running,
    Succeeded,
    decide,
    read_progress,
)
from tests.unit.support import summarize

RUNNING_DOC = {"status": "running", "progress": 40}
DONE_DOC = {"status": "done", "progress": 100, "output": {"url": "https://x/out"}}
FAILED_DOC = {"status": "failed", "error": {"message": "disk full"}}
CANCELLED_DOC = {"status": "cancelled"}


def make_spec(**changes: Any) -> PollSpec:
    """The export spec of DESIGN.md, with ``changes`` applied."""
    fields: dict[str, Any] = {
        "status_url": "/api/exports/{start.jobId}/status",
        "done": "status == 'done'",
        "failed": "status == 'failed'",
        "cancelled": "status == 'cancelled'",
        "progress": "progress",
        "interval": 2.0,
        "min_interval": 0.5,
        "max_retry_after": 120.0,
    }
    fields.update(changes)
    return PollSpec(**fields)


SPEC = make_spec()


def obs(status: int | None = 200, body: Any = None, **fields: Any) -> Observation:
    """An observation with ``status`` and ``body``; other fields as given."""
    return Observation(http_status=status, body=body, **fields)


@dataclass(frozen=True)
class Expect:
    """The expected shape of a decision: its class, end state and error class."""

    kind: type[Decision]
    state: str | None = None
    error: type[LrpollError] | None = None


def check(decision: Decision, expect: Expect) -> None:
    """Assert that ``decision`` has the expected class, state and error class."""
    assert type(decision) is expect.kind, decision
    if isinstance(decision, Ended):
        assert decision.state == expect.state
    if isinstance(decision, Ended | Retry):
        assert type(decision.error) is expect.error, decision.error
    else:
        assert expect.error is None


RUNNING = Expect(Running)
SUCCEEDED = Expect(Succeeded)
RETRY_HTTP = Expect(Retry, error=HTTPStatusError)

FAULT = RequestError("connection reset by peer")
TOO_LARGE = ResponseTooLarge("body over 1 MiB")


def assert_fault_ended(decision: Decision) -> None:
    """The decision ends with FAULT's error: a new exception (built complete, with the
    operation's context), never the transport's instance changed in place."""
    assert isinstance(decision, Ended)
    assert decision.state == "error"
    assert type(decision.error) is RequestError
    assert decision.error.message == FAULT.message
    assert decision.error is not FAULT
    assert FAULT.operation_id is None


BAD_JSON = MalformedStatus("status body is not JSON")


class TestClassification:
    """The first table: how an answer is classified, first matching row wins."""

    @pytest.mark.parametrize(
        ("changes", "observation", "expect"),
        [
            # transport fault
            pytest.param({}, obs(None, fault=FAULT), Expect(Retry, error=RequestError), id="fault"),
            pytest.param(
                {}, obs(None, fault=TOO_LARGE), Expect(Retry, error=ResponseTooLarge), id="cap"
            ),
            pytest.param(
                {"status_rules": {200: "succeeded"}},
                obs(None, fault=FAULT),
                Expect(Retry, error=RequestError),
                id="fault-before-rules",
            ),
            # status_rules, each rule value
            pytest.param(
                {"status_rules": {404: "evaluate"}},
                obs(404, DONE_DOC),
                SUCCEEDED,
                id="rule-evaluate-done",
            ),
            pytest.param(
                {"status_rules": {404: "evaluate"}},
                obs(404, RUNNING_DOC),
                RUNNING,
                id="rule-evaluate-running",
            ),
            pytest.param(
                {"status_rules": {202: "running"}},
                obs(202, DONE_DOC),
                RUNNING,
                id="rule-running-beats-expressions",
            ),
            pytest.param(
                {"status_rules": {204: "succeeded"}},
                obs(204, None),
                SUCCEEDED,
                id="rule-succeeded",
            ),
            pytest.param(
                {"status_rules": {409: "failed"}},
                obs(409, RUNNING_DOC),
                Expect(Ended, "failed", OperationFailed),
                id="rule-failed",
            ),
            pytest.param(
                {"status_rules": {404: "cancelled"}},
                obs(404, None),
                Expect(Ended, "cancelled", OperationCancelled),
                id="rule-cancelled",
            ),
            pytest.param(
                {"status_rules": {200: "gone"}},
                obs(200, DONE_DOC),
                Expect(Ended, "gone", OperationGone),
                id="rule-gone-beats-2xx",
            ),
            pytest.param(
                {"status_rules": {409: "transient"}},
                obs(409, None),
                RETRY_HTTP,
                id="rule-transient",
            ),
            pytest.param(
                {"status_rules": {503: "failed"}},
                obs(503, None),
                Expect(Ended, "failed", OperationFailed),
                id="rule-beats-5xx",
            ),
            pytest.param(
                {"status_rules": {401: "evaluate"}},
                obs(401, DONE_DOC),
                SUCCEEDED,
                id="rule-beats-401",
            ),
            # body not parseable where the rule reads it
            pytest.param(
                {}, obs(200, fault=BAD_JSON), Expect(Retry, error=MalformedStatus), id="parse-2xx"
            ),
            pytest.param(
                {"status_rules": {202: "running"}},
                obs(202, fault=BAD_JSON),
                Expect(Retry, error=MalformedStatus),
                id="parse-rule-running",
            ),
            pytest.param(
                {"status_rules": {200: "succeeded"}},
                obs(200, fault=BAD_JSON),
                Expect(Retry, error=MalformedStatus),
                id="parse-rule-succeeded",
            ),
            pytest.param(
                {"status_rules": {409: "failed"}},
                obs(409, fault=BAD_JSON),
                Expect(Retry, error=MalformedStatus),
                id="parse-rule-failed",
            ),
            pytest.param(
                {"status_rules": {404: "evaluate"}},
                obs(404, fault=BAD_JSON),
                Expect(Retry, error=MalformedStatus),
                id="parse-rule-evaluate",
            ),
            # ... and where it does not: the status decides
            pytest.param(
                {"status_rules": {409: "gone"}},
                obs(409, fault=BAD_JSON),
                Expect(Ended, "gone", OperationGone),
                id="parse-rule-gone",
            ),
            pytest.param(
                {"status_rules": {409: "transient"}},
                obs(409, fault=BAD_JSON),
                RETRY_HTTP,
                id="parse-rule-transient",
            ),
            pytest.param(
                {}, obs(404, fault=BAD_JSON), Expect(Ended, "gone", OperationGone), id="parse-404"
            ),
            pytest.param(
                {}, obs(401, fault=BAD_JSON), Expect(Ended, "error", AuthError), id="parse-401"
            ),
            pytest.param(
                {},
                obs(400, fault=BAD_JSON),
                Expect(Ended, "error", HTTPStatusError),
                id="parse-400",
            ),
            pytest.param({}, obs(503, fault=BAD_JSON), RETRY_HTTP, id="parse-503"),
        ],
    )
    def test_rows(self, changes: dict[str, Any], observation: Observation, expect: Expect) -> None:
        """Each row of the classification table gives its class."""
        check(decide(make_spec(**changes), observation), expect)

    @pytest.mark.parametrize("code", [200, 201, 202, 203, 204, 206, 299])
    def test_2xx_evaluates(self, code: int) -> None:
        """A 2xx answer lets the expressions decide."""
        check(decide(SPEC, obs(code, DONE_DOC)), SUCCEEDED)
        check(decide(SPEC, obs(code, RUNNING_DOC)), RUNNING)

    @pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504, 599])
    def test_transient_codes(self, code: int) -> None:
        """408, 429 and 5xx retry with an HTTPStatusError carrying the code and snippet."""
        decision = decide(SPEC, obs(code, None, snippet="busy"), operation_id="op-1")
        assert isinstance(decision, Retry)
        assert type(decision.error) is HTTPStatusError
        assert decision.error.http_status == code
        assert decision.error.body_snippet == "busy"
        assert decision.error.operation_id == "op-1"
        assert f"{code}: busy" in str(decision.error)

    @pytest.mark.parametrize("code", [401, 403])
    def test_auth_codes(self, code: int) -> None:
        """401 and 403 end with AuthError, carrying the code, snippet and the last status
        document (an error page is not one)."""
        doc = {"error": "token expired"}
        last = {"status": "running", "progress": 10}
        answer = obs(code, doc, snippet='{"error"}', last=last)
        decision = decide(SPEC, answer, operation_id="op-2")
        assert isinstance(decision, Ended)
        assert decision.state == "error"
        assert type(decision.error) is AuthError
        assert decision.error.http_status == code
        assert decision.error.status == last
        assert str(decision.error) == (
            f'authentication failed: {code}: {{"error"}} (operation op-2)'
        )

    @pytest.mark.parametrize("code", [404, 410])
    def test_gone_codes(self, code: int) -> None:
        """404 and 410 end with OperationGone."""
        decision = decide(SPEC, obs(code, {"code": 5}), operation_id="op-3")
        assert isinstance(decision, Ended)
        assert decision.state == "gone"
        assert type(decision.error) is OperationGone
        assert str(code) in str(decision.error)
        assert decision.error.operation_id == "op-3"

    @pytest.mark.parametrize("code", [100, 302, 304, 400, 405, 409, 418, 422, 451])
    def test_other_codes(self, code: int) -> None:
        """Any other code ends with HTTPStatusError and the body snippet."""
        decision = decide(SPEC, obs(code, None, snippet="<html>nope</html>"))
        assert isinstance(decision, Ended)
        assert decision.state == "error"
        assert type(decision.error) is HTTPStatusError
        assert decision.error.http_status == code
        assert decision.error.body_snippet == "<html>nope</html>"
        assert str(decision.error) == f"unexpected HTTP status: {code}: <html>nope</html>"

    def test_other_code_without_snippet(self) -> None:
        """Without a snippet the message names only the code."""
        decision = decide(SPEC, obs(400, None))
        assert isinstance(decision, Ended)
        assert str(decision.error) == "unexpected HTTP status: 400"

    def test_fault_is_the_retry_error(self) -> None:
        """A transport fault's own error object is the one a retry carries."""
        decision = decide(SPEC, obs(None, fault=FAULT))
        assert isinstance(decision, Retry)
        assert decision.error is FAULT


class TestExpressions:
    """The second table: failed, then cancelled, then done, else running."""

    PRECEDENCE = make_spec(
        done="d",
        failed="f",
        cancelled="c",
        error_message="why",
    )

    @pytest.mark.parametrize(
        ("doc", "expect"),
        [
            pytest.param(
                {"f": True, "c": True, "d": True},
                Expect(Ended, "failed", OperationFailed),
                id="failed-first",
            ),
            pytest.param(
                {"c": True, "d": True},
                Expect(Ended, "cancelled", OperationCancelled),
                id="cancelled-before-done",
            ),
            pytest.param({"f": False, "c": False, "d": True}, SUCCEEDED, id="done"),
            pytest.param({"f": False, "c": False, "d": False}, RUNNING, id="none-true"),
            pytest.param({}, RUNNING, id="missing-fields"),
            pytest.param({"f": None, "c": None, "d": None}, RUNNING, id="null-fields"),
            pytest.param({"f": "", "c": [], "d": {}}, RUNNING, id="empty-is-false"),
            pytest.param({"f": 0}, Expect(Ended, "failed", OperationFailed), id="zero-is-true"),
            pytest.param(None, RUNNING, id="null-document"),
            pytest.param([1, 2], RUNNING, id="list-document"),
            pytest.param("done", RUNNING, id="string-document"),
        ],
    )
    def test_precedence(self, doc: Any, expect: Expect) -> None:
        """The first true expression in failed, cancelled, done wins; none true is running."""
        check(decide(self.PRECEDENCE, obs(200, doc)), expect)

    def test_missing_status_is_running(self) -> None:
        """A document without the field the expressions read means not yet."""
        decision = decide(SPEC, obs(200, {"unrelated": 1}))
        assert decision == Running(delay=2.0)

    def test_type_error_inside_expression_reads_as_null(self) -> None:
        """An expression that hits a type error is null, so false, so running."""
        spec = make_spec(done="length(status) > `3`", failed="contains(status, 'x')")
        check(decide(spec, obs(200, {"status": 5})), RUNNING)

    def test_result_expression(self) -> None:
        """``result`` picks the result out of the document."""
        spec = make_spec(result="output.url")
        decision = decide(spec, obs(200, DONE_DOC))
        assert isinstance(decision, Succeeded)
        assert decision.result == "https://x/out"
        assert decision.progress == 100.0

    def test_result_expression_null(self) -> None:
        """A result expression that finds nothing gives None, not the document."""
        spec = make_spec(result="missing")
        decision = decide(spec, obs(200, DONE_DOC))
        assert isinstance(decision, Succeeded)
        assert decision.result is None

    def test_whole_document_without_result(self) -> None:
        """Without ``result`` the whole document is the result."""
        decision = decide(SPEC, obs(200, DONE_DOC))
        assert isinstance(decision, Succeeded)
        assert decision.result is DONE_DOC

    def test_error_message_surfaced(self) -> None:
        """``error_message`` is the failure's text, and the document is kept."""
        spec = make_spec(error_message="error.message")
        decision = decide(spec, obs(200, FAILED_DOC), operation_id="op-9")
        assert isinstance(decision, Ended)
        assert isinstance(decision.error, OperationFailed)
        assert decision.error.message == "disk full"
        assert str(decision.error) == "disk full (operation op-9)"
        assert decision.error.status == FAILED_DOC

    def test_error_message_fallback(self) -> None:
        """Without an error message in the document a fixed text says what happened."""
        spec = make_spec(error_message="error.message")
        failed = decide(spec, obs(200, {"status": "failed"}))
        cancelled = decide(spec, obs(200, CANCELLED_DOC))
        assert isinstance(failed, Ended)
        assert isinstance(cancelled, Ended)
        assert failed.error.message == "the server reported the operation failed"
        assert cancelled.error.message == "the server reported the operation cancelled"

    def test_error_message_not_a_string(self) -> None:
        """A non-string error message is rendered as a JSON snippet."""
        spec = make_spec(error_message="error")
        decision = decide(spec, obs(200, {"status": "failed", "error": {"code": 13}}))
        assert isinstance(decision, Ended)
        assert decision.error.message == '{"code":13}'

    def test_error_message_lone_surrogate(self) -> None:
        """A lone surrogate in the server's message is kept escaped (RELIABILITY D28)."""
        spec = make_spec(error_message="error.message")
        doc = {"status": "failed", "error": {"message": "bad \ud800 byte"}}
        decision = decide(spec, obs(200, doc))
        assert isinstance(decision, Ended)
        assert decision.error.message == "bad \\ud800 byte"
        decision.error.message.encode("utf-8")

    def test_cancelled_error_message(self) -> None:
        """A cancellation carries the server's message too."""
        spec = make_spec(error_message="reason")
        decision = decide(spec, obs(200, {"status": "cancelled", "reason": "by user"}))
        assert isinstance(decision, Ended)
        assert isinstance(decision.error, OperationCancelled)
        assert decision.error.message == "by user"

    @pytest.mark.parametrize(
        ("value", "progress"),
        [(40, 40.0), ("40", 40.0), (None, None), (12.5, 12.5)],
    )
    def test_progress_while_running(self, value: Any, progress: float | None) -> None:
        """A running answer reports the progress the document gives."""
        decision = decide(SPEC, obs(200, {"status": "running", "progress": value}))
        assert isinstance(decision, Running)
        assert decision.progress == progress
        assert decision.warnings == ()

    def test_bad_progress_is_a_warning(self) -> None:
        """Progress that is not a number is unknown, with a warning; polling goes on."""
        decision = decide(SPEC, obs(200, {"status": "running", "progress": math.nan}))
        assert isinstance(decision, Running)
        assert decision.progress is None
        assert decision.warnings == ("progress is nan, not a finite number",)


class TestMessages:
    """Message templates rendered on each kind of decision."""

    SPEC = make_spec(
        result="output",
        error_message="error.message",
        max_duration=60,
        messages=Messages(
            in_progress="Export progress: {progress}%",
            completed="Export finished: {result.url}",
            failed="Export failed: {error}",
            cancelled="Export cancelled: {error}",
            timed_out="Gave up: {error}",
        ),
    )

    def test_in_progress(self) -> None:
        """A running update carries the in-progress message with its progress."""
        decision = decide(self.SPEC, obs(200, RUNNING_DOC))
        assert isinstance(decision, Running)
        assert decision.message == "Export progress: 40%"

    def test_in_progress_fraction(self) -> None:
        """A fractional progress is shown with one decimal."""
        decision = decide(self.SPEC, obs(200, {"status": "running", "progress": 40.25}))
        assert isinstance(decision, Running)
        assert decision.message == "Export progress: 40.2%"

    def test_unknown_progress_no_message(self) -> None:
        """Null progress means that update carries no message, and no error."""
        decision = decide(self.SPEC, obs(200, {"status": "running"}))
        assert isinstance(decision, Running)
        assert decision.progress is None
        assert decision.message is None

    def test_completed(self) -> None:
        """Success renders the completed message over the result."""
        decision = decide(self.SPEC, obs(200, DONE_DOC))
        assert isinstance(decision, Succeeded)
        assert decision.message == "Export finished: https://x/out"

    def test_failed(self) -> None:
        """Failure renders the failed message with ``{error}``."""
        decision = decide(self.SPEC, obs(200, FAILED_DOC))
        assert isinstance(decision, Ended)
        assert decision.message == "Export failed: disk full"

    def test_failed_fallback(self) -> None:
        """Failure without a server message renders the fallback text."""
        decision = decide(self.SPEC, obs(200, {"status": "failed"}))
        assert isinstance(decision, Ended)
        assert decision.message == "Export failed: the server reported the operation failed"

    def test_cancelled(self) -> None:
        """Cancellation renders the cancelled message."""
        decision = decide(self.SPEC, obs(200, CANCELLED_DOC))
        assert isinstance(decision, Ended)
        assert decision.message == "Export cancelled: the server reported the operation cancelled"

    def test_timed_out(self) -> None:
        """A timeout renders the timed-out message."""
        decision = decide(self.SPEC, obs(200, RUNNING_DOC, elapsed=60.0))
        assert isinstance(decision, Ended)
        assert decision.state == "timed_out"
        assert decision.message == "Gave up: no terminal state within 60 s"

    def test_no_message_on_errors(self) -> None:
        """Transport-error and gone endings carry no message."""
        gone = decide(self.SPEC, obs(404, None))
        auth = decide(self.SPEC, obs(401, None))
        assert isinstance(gone, Ended)
        assert isinstance(auth, Ended)
        assert gone.message is None
        assert auth.message is None

    def test_context_from_base(self) -> None:
        """Messages read the fixed context (start, operation) and the last document."""
        spec = make_spec(
            messages=Messages(in_progress="{operation}: job {start.jobId} is {last.status}")
        )
        base = {"start": {"jobId": "42"}, "operation": "op-1"}
        decision = decide(spec, obs(200, RUNNING_DOC), base)
        assert isinstance(decision, Running)
        assert decision.message == "op-1: job 42 is running"

    def test_no_templates_no_messages(self) -> None:
        """A spec without messages gives None on every decision."""
        for doc in (RUNNING_DOC, DONE_DOC, FAILED_DOC):
            decision = decide(SPEC, obs(200, doc))
            assert not isinstance(decision, Retry)
            assert decision.message is None


class TestResponseView:
    """``view="response"``: expressions see status, lower-case headers and body."""

    ODATA = make_spec(
        status_url="{+request_url}",
        view="response",
        done="status != `202`",
        failed="body.error != null",
        cancelled=None,
        progress="body.percentComplete",
        error_message="body.error.message",
        status_url_updates=("Location",),
    )

    def test_202_is_running(self) -> None:
        """A 202 with an empty body is running."""
        decision = decide(self.ODATA, obs(202, None))
        assert decision == Running(delay=2.0)

    def test_202_progress(self) -> None:
        """Progress comes from the body inside the view."""
        decision = decide(self.ODATA, obs(202, {"percentComplete": 70}))
        assert isinstance(decision, Running)
        assert decision.progress == 70.0

    def test_200_is_done_with_whole_body(self) -> None:
        """A 200 ends polling; without ``result`` the result is the body, not the view."""
        body = {"value": [1, 2]}
        decision = decide(self.ODATA, obs(200, body))
        assert isinstance(decision, Succeeded)
        assert decision.result is body

    def test_result_over_the_view(self) -> None:
        """A result expression reads the view, so it can pick a header."""
        spec = self.ODATA.replace(result='headers."content-location"')
        decision = decide(spec, obs(200, None, headers={"content-location": "/r/1"}))
        assert isinstance(decision, Succeeded)
        assert decision.result == "/r/1"

    def test_failure_from_body(self) -> None:
        """A body error is a failure with the server's message."""
        decision = decide(self.ODATA, obs(200, {"error": {"message": "quota"}}))
        assert isinstance(decision, Ended)
        assert isinstance(decision.error, OperationFailed)
        assert decision.error.message == "quota"

    def test_headers_decide(self) -> None:
        """Lower-case header names are readable from expressions."""
        spec = make_spec(view="response", done="headers.\"x-job-state\" == 'Completed'")
        running = decide(spec, obs(200, None, headers={"x-job-state": "Running"}))
        done = decide(spec, obs(200, None, headers={"x-job-state": "Completed"}))
        check(running, RUNNING)
        check(done, SUCCEEDED)

    def test_document_view_does_not_see_status(self) -> None:
        """In the default view ``status`` is the document's field, not the HTTP status."""
        spec = make_spec(done="status == `200`")
        check(decide(spec, obs(200, {})), RUNNING)
        check(decide(spec, obs(200, {"status": 200})), SUCCEEDED)


class TestStatusUrlUpdates:
    """Headers named in ``status_url_updates`` replace the status URL."""

    SPEC = make_spec(status_url_updates=("Operation-Location", "Location"))

    def test_new_location(self) -> None:
        """A running answer with a new Location reports it."""
        decision = decide(self.SPEC, obs(200, RUNNING_DOC, headers={"location": "/next/2"}))
        assert isinstance(decision, Running)
        assert decision.status_url == "/next/2"

    def test_preference_order(self) -> None:
        """The first header named wins when both are present."""
        headers = {"location": "/b", "operation-location": "/a"}
        decision = decide(self.SPEC, obs(200, RUNNING_DOC, headers=headers))
        assert isinstance(decision, Running)
        assert decision.status_url == "/a"

    def test_empty_header_skipped(self) -> None:
        """An empty header value is no new URL."""
        headers = {"operation-location": "", "location": "/b"}
        decision = decide(self.SPEC, obs(200, RUNNING_DOC, headers=headers))
        assert isinstance(decision, Running)
        assert decision.status_url == "/b"

    def test_no_header(self) -> None:
        """Without the header the status URL stays (None)."""
        decision = decide(self.SPEC, obs(200, RUNNING_DOC))
        assert isinstance(decision, Running)
        assert decision.status_url is None

    def test_not_named_not_followed(self) -> None:
        """A Location header on a spec that names no updates is ignored."""
        decision = decide(SPEC, obs(200, RUNNING_DOC, headers={"location": "/x"}))
        assert isinstance(decision, Running)
        assert decision.status_url is None


FULL_JITTER = Backoff.exponential(1.0, max_delay=30.0, jitter=1.0)


class TestErrorBudget:
    """Transient faults retry while the budget lasts, then end with the fault's error."""

    @pytest.mark.parametrize(("errors", "spent"), [(0, False), (2, False), (3, True), (9, True)])
    def test_max_consecutive(self, errors: int, spent: bool) -> None:
        """With ``max_consecutive=3`` the fourth fault in a row ends the operation."""
        spec = make_spec(errors=ErrorBudget(max_consecutive=3))
        decision = decide(spec, obs(None, fault=FAULT, errors=errors))
        if spent:
            assert_fault_ended(decision)
        else:
            assert isinstance(decision, Retry)
            assert decision.error is FAULT

    def test_zero_budget(self) -> None:
        """``max_consecutive=0`` ends on the first fault."""
        spec = make_spec(errors=ErrorBudget(max_consecutive=0))
        assert_fault_ended(decide(spec, obs(None, fault=FAULT)))

    @pytest.mark.parametrize(
        ("failing_for", "spent"), [(0.0, False), (9.99, False), (10.0, True), (1e9, True)]
    )
    def test_max_failing_time(self, failing_for: float, spent: bool) -> None:
        """With ``max_failing_time=10`` a fault after 10 s of failing ends the operation."""
        spec = make_spec(errors=ErrorBudget(max_consecutive=None, max_failing_time=10.0))
        decision = decide(spec, obs(503, None, errors=50, failing_for=failing_for))
        if spent:
            assert isinstance(decision, Ended)
            assert decision.state == "error"
            assert isinstance(decision.error, HTTPStatusError)
            assert decision.error.http_status == 503
        else:
            check(decision, RETRY_HTTP)

    def test_either_limit_spends(self) -> None:
        """With both limits set, whichever is reached first spends the budget."""
        spec = make_spec(errors=ErrorBudget(max_consecutive=3, max_failing_time=10.0))
        check(decide(spec, obs(500, errors=3)), Expect(Ended, "error", HTTPStatusError))
        check(
            decide(spec, obs(500, errors=0, failing_for=10.0)),
            Expect(Ended, "error", HTTPStatusError),
        )
        check(decide(spec, obs(500, errors=2, failing_for=9.0)), RETRY_HTTP)

    def test_unlimited(self) -> None:
        """Without limits the millionth fault still retries, after at most ``max_delay``."""
        spec = make_spec(errors=ErrorBudget(max_consecutive=None, backoff=FULL_JITTER))
        decision = decide(spec, obs(None, fault=FAULT, errors=10**6, rand=0.999))
        assert isinstance(decision, Retry)
        assert 0.5 <= decision.delay <= 30.0

    @pytest.mark.parametrize(
        ("errors", "rand", "delay"),
        [
            (0, 0.5, 0.5),  # 1·2⁰·0.5
            (2, 0.5, 2.0),  # 1·2²·0.5
            (3, 0.0, 8.0),  # 1·2³, no jitter drawn
            (10, 0.5, 15.0),  # capped at max_delay 30, then jitter
            (2, 1.0, 0.5),  # full jitter floored at min_interval
        ],
    )
    def test_retry_delay(self, errors: int, rand: float, delay: float) -> None:
        """The retry delay is the budget's Backoff (delay·2ⁿ, capped, full jitter), floored."""
        spec = make_spec(errors=ErrorBudget(max_consecutive=None, backoff=FULL_JITTER))
        decision = decide(spec, obs(None, fault=FAULT, errors=errors, rand=rand))
        assert isinstance(decision, Retry)
        assert decision.delay == delay

    def test_floor_below_max_delay(self) -> None:
        """The min_interval floor never lifts a retry above the budget's max_delay."""
        spec = make_spec(
            min_interval=5.0,
            errors=ErrorBudget(backoff=Backoff.exponential(1.0, max_delay=2.0, jitter=1.0)),
        )
        decision = decide(spec, obs(None, fault=FAULT, rand=0.0))
        assert isinstance(decision, Retry)
        assert decision.delay == 2.0


class TestRetryAfterInCore:
    """The server's Retry-After replaces the computed delay, clamped."""

    @pytest.mark.parametrize("code", [429, 503])
    def test_honoured_on_transient(self, code: int) -> None:
        """Retry-After on 429/503 is the retry delay."""
        decision = decide(SPEC, obs(code, headers={"retry-after": "7"}))
        assert isinstance(decision, Retry)
        assert decision.delay == 7.0
        assert decision.warnings == ()

    @pytest.mark.parametrize(
        ("value", "delay"), [("0", 0.5), ("9999999999", 120.0), ("120", 120.0), ("1", 1.0)]
    )
    def test_clamped(self, value: str, delay: float) -> None:
        """Retry-After is clamped to ``[min_interval, max_retry_after]``."""
        decision = decide(SPEC, obs(429, headers={"retry-after": value}))
        assert isinstance(decision, Retry)
        assert decision.delay == delay

    def test_invalid_falls_back(self) -> None:
        """An invalid Retry-After is ignored with a warning; the computed delay applies."""
        decision = decide(SPEC, obs(503, headers={"retry-after": "1e400"}, rand=0.5))
        assert isinstance(decision, Retry)
        assert decision.delay == 0.5
        assert decision.warnings == ("ignored invalid Retry-After '1e400'",)

    def test_on_running(self) -> None:
        """Retry-After on a running answer replaces the interval."""
        decision = decide(SPEC, obs(202, RUNNING_DOC, headers={"retry-after": "9"}))
        assert isinstance(decision, Running)
        assert decision.delay == 9.0

    def test_invalid_on_running(self) -> None:
        """An invalid Retry-After on a running answer keeps the interval and warns."""
        decision = decide(SPEC, obs(202, RUNNING_DOC, headers={"retry-after": "-5"}))
        assert isinstance(decision, Running)
        assert decision.delay == 2.0
        assert decision.warnings == ("ignored invalid Retry-After '-5'",)

    def test_not_read_when_not_named(self) -> None:
        """A spec with no Retry-After headers ignores them."""
        spec = make_spec(retry_after_headers=())
        decision = decide(spec, obs(202, RUNNING_DOC, headers={"retry-after": "9"}))
        assert isinstance(decision, Running)
        assert decision.delay == 2.0


class TestTimeouts:
    """``max_attempts`` and ``max_duration`` end polling with PollTimeout."""

    @pytest.mark.parametrize(("attempt", "ends"), [(1, False), (2, False), (3, True), (4, True)])
    def test_max_attempts(self, attempt: int, ends: bool) -> None:
        """A running answer at ``max_attempts`` ends with PollTimeout."""
        spec = make_spec(max_attempts=3)
        decision = decide(spec, obs(200, RUNNING_DOC, attempt=attempt), operation_id="op-4")
        if ends:
            assert isinstance(decision, Ended)
            assert decision.state == "timed_out"
            assert type(decision.error) is PollTimeout
            assert str(decision.error) == (
                "no terminal state after 3 polls; last status:"
                ' {"status":"running","progress":40} (operation op-4)'
            )
            assert decision.error.status == RUNNING_DOC
        else:
            check(decision, RUNNING)

    def test_terminal_beats_max_attempts(self) -> None:
        """A terminal answer at the last attempt is that outcome, not a timeout."""
        spec = make_spec(max_attempts=3)
        check(decide(spec, obs(200, DONE_DOC, attempt=3)), SUCCEEDED)
        check(
            decide(spec, obs(200, FAILED_DOC, attempt=3)), Expect(Ended, "failed", OperationFailed)
        )

    @pytest.mark.parametrize(("elapsed", "ends"), [(0.0, False), (59.9, False), (60.0, True)])
    def test_max_duration(self, elapsed: float, ends: bool) -> None:
        """A running answer at the deadline ends with PollTimeout."""
        spec = make_spec(max_duration=60.0)
        decision = decide(spec, obs(200, RUNNING_DOC, elapsed=elapsed))
        if ends:
            assert isinstance(decision, Ended)
            assert type(decision.error) is PollTimeout
            assert str(decision.error) == (
                'no terminal state within 60 s; last status: {"status":"running","progress":40}'
            )
        else:
            check(decision, RUNNING)

    def test_transient_at_deadline(self) -> None:
        """A transient fault at the deadline times out instead of retrying."""
        spec = make_spec(max_duration=60.0)
        decision = decide(spec, obs(503, elapsed=61.0))
        check(decision, Expect(Ended, "timed_out", PollTimeout))

    def test_spent_budget_beats_deadline(self) -> None:
        """A fault that spends the budget at the deadline ends with the fault's error."""
        spec = make_spec(max_duration=60.0, errors=ErrorBudget(max_consecutive=1))
        decision = decide(spec, obs(None, fault=FAULT, errors=1, elapsed=61.0))
        assert_fault_ended(decision)

    @pytest.mark.parametrize(
        ("elapsed", "delay"), [(0.0, 2.0), (57.0, 2.0), (59.0, 1.0), (59.75, 0.25)]
    )
    def test_interval_clipped_to_deadline(self, elapsed: float, delay: float) -> None:
        """The next delay never runs past the deadline (RELIABILITY E40)."""
        spec = make_spec(max_duration=60.0)
        decision = decide(spec, obs(200, RUNNING_DOC, elapsed=elapsed))
        assert isinstance(decision, Running)
        assert decision.delay == delay

    def test_retry_after_clipped_to_deadline(self) -> None:
        """A long Retry-After waits only until the deadline, where PollTimeout follows."""
        spec = make_spec(max_duration=60.0, max_retry_after=300.0)
        running = decide(spec, obs(202, RUNNING_DOC, elapsed=50.0, headers={"retry-after": "300"}))
        retry = decide(spec, obs(429, elapsed=55.0, headers={"retry-after": "9999999999"}))
        assert isinstance(running, Running)
        assert running.delay == 10.0
        assert isinstance(retry, Retry)
        assert retry.delay == 5.0
        after = decide(spec, obs(202, RUNNING_DOC, elapsed=60.0))
        check(after, Expect(Ended, "timed_out", PollTimeout))

    def test_timed_out_helper(self) -> None:
        """``timed_out`` builds the PollTimeout ending with a default or given reason."""
        with_deadline = timed_out(make_spec(max_duration=30), obs(200, RUNNING_DOC))
        without = timed_out(SPEC, obs(200, RUNNING_DOC), operation_id="op-5")
        given = timed_out(SPEC, obs(200, None), reason="stopped waiting")
        assert str(with_deadline.error).startswith("no terminal state within 30 s; last status: {")
        assert str(without.error).endswith('"progress":40} (operation op-5)')
        assert str(given.error) == "stopped waiting"
        assert with_deadline.error.status == RUNNING_DOC
        assert all(d.state == "timed_out" for d in (with_deadline, without, given))


class TestFirstDelay:
    """The delay before the first poll."""

    def test_at_once(self) -> None:
        """Without Retry-After or jitter the first poll goes out at once."""
        assert first_delay(SPEC, obs(202, None)) == (0.0, ())

    @pytest.mark.parametrize(("value", "delay"), [("5", 5.0), ("0", 0.5), ("600", 120.0)])
    def test_retry_after(self, value: str, delay: float) -> None:
        """The start response's Retry-After delays the first poll, clamped."""
        assert first_delay(SPEC, obs(202, None, headers={"retry-after": value})) == (delay, ())

    def test_jitter(self) -> None:
        """First-poll jitter adds ``rand`` times the jitter span."""
        spec = make_spec(first_poll_jitter=2.0)
        assert first_delay(spec, obs(202, None, rand=0.25)) == (0.5, ())
        assert first_delay(spec, obs(202, None, rand=0.0)) == (0.0, ())

    def test_jitter_after_retry_after(self) -> None:
        """Jitter is added to the Retry-After delay."""
        spec = make_spec(first_poll_jitter=2.0)
        headers = {"retry-after": "5"}
        assert first_delay(spec, obs(202, None, headers=headers, rand=0.5)) == (6.0, ())

    def test_invalid_retry_after(self) -> None:
        """An invalid Retry-After on the start response warns and polls at once."""
        delay, warnings = first_delay(SPEC, obs(202, None, headers={"retry-after": "inf"}))
        assert delay == 0.0
        assert warnings == ("ignored invalid Retry-After 'inf'",)

    def test_clipped_to_deadline(self) -> None:
        """The first delay never runs past the deadline."""
        spec = make_spec(max_duration=3.0, first_poll_jitter=10.0)
        headers = {"retry-after": "10"}
        assert first_delay(spec, obs(202, None, headers=headers, rand=0.9)) == (3.0, ())


class TestDeterminism:
    """The same observation always gives an equal decision."""

    @pytest.mark.parametrize(
        "observation",
        [
            obs(200, RUNNING_DOC, headers={"retry-after": "5"}),
            obs(200, DONE_DOC),
            obs(200, FAILED_DOC),
            obs(503, rand=0.37, errors=2),
            obs(None, fault=FAULT, rand=0.91),
            obs(401, None, snippet="x"),
            obs(200, RUNNING_DOC, elapsed=100.0),
        ],
    )
    def test_same_observation_same_decision(self, observation: Observation) -> None:
        """Deciding twice on one observation gives equal decisions."""
        spec = make_spec(max_duration=100.0, messages=Messages(in_progress="{progress}"))
        first = decide(spec, observation, {"operation": "o"}, operation_id="o")
        second = decide(spec, observation, {"operation": "o"}, operation_id="o")
        assert summarize(first) == summarize(second)

    def test_rand_drives_jitter_only(self) -> None:
        """Only ``rand`` changes a jittered delay; equal inputs give equal delays."""
        spec = make_spec(interval=None, backoff=Backoff.exponential(4.0, jitter=0.5))
        a = decide(spec, obs(200, RUNNING_DOC, rand=0.2))
        b = decide(spec, obs(200, RUNNING_DOC, rand=0.2))
        c = decide(spec, obs(200, RUNNING_DOC, rand=0.8))
        assert isinstance(a, Running)
        assert isinstance(c, Running)
        assert a == b
        assert a.delay == pytest.approx(3.6)
        assert c.delay == pytest.approx(2.4)


class TestRobustness:
    """Hostile documents end in a typed decision, never an exception."""

    def test_too_deep(self) -> None:
        """A document nested past the recursion limit ends with MalformedStatus."""
        deep: Any = "x"
        for _ in range(100_000):
            deep = [deep]
        spec = make_spec(error_message="detail")
        decision = decide(spec, obs(200, {"status": "failed", "detail": deep}), operation_id="o")
        assert isinstance(decision, Ended)
        assert decision.state == "error"
        assert type(decision.error) is MalformedStatus
        assert decision.error.operation_id == "o"

    @pytest.mark.parametrize(
        "expression", ["percent(a, `1`)", "ceil(p)", "avg(xs)", "floor(n)", "to_number(s)"]
    )
    def test_overflow_in_expression(self, expression: str) -> None:
        """Overflow inside an expression (huge ints, infinities) reads as null."""
        spec = make_spec(done=expression, progress=expression)
        doc = {"a": 10**400, "p": math.inf, "xs": [10**400, 10**400], "n": math.nan, "s": "1e9999"}
        decision = decide(spec, obs(200, doc))
        assert isinstance(decision, Running | Succeeded)


class TestReadProgress:
    """``read_progress``: a percentage in [0, 100], or None with a reason."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, (None, None)),
            (0, (0.0, None)),
            (40, (40.0, None)),
            (99.5, (99.5, None)),
            (100, (100.0, None)),
            ("40", (40.0, None)),
            ("40.5", (40.5, None)),
            (-5, (0.0, "progress -5 is outside [0, 100]")),
            (150, (100.0, "progress 150 is outside [0, 100]")),
            ("-1", (0.0, "progress -1 is outside [0, 100]")),
            (math.nan, (None, "progress is nan, not a finite number")),
            (math.inf, (None, "progress is inf, not a finite number")),
            (10**400, (None, "progress is too large a number")),
            (True, (None, "progress is a boolean (True), not a number")),
            ("1e5", (None, 'progress "1e5" is not a number')),
            ("\u0664\u0660", (None, 'progress "\\u0664\\u0660" is not a number')),
            ([40], (None, "progress is list, not a number")),
            ({"p": 1}, (None, "progress is dict, not a number")),
        ],
    )
    def test_values(self, value: Any, expected: tuple[float | None, str | None]) -> None:
        """Each kind of value reads as the expected progress and warning."""
        assert read_progress(value) == expected
