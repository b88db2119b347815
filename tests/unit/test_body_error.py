"""Errors in 2xx bodies (`BodyError`): one row per case, for polls, starts, results and cancels."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lrpoll import (
    AuthError,
    BodyError,
    CancelSpec,
    ErrorBudget,
    HTTPStatusError,
    LrpollError,
    OperationCancelled,
    OperationFailed,
    OperationGone,
    PollSpec,
    SpecError,
)
from lrpoll._core import body_error, classify_cancel, result_decision, start_decision
from lrpoll.core import Decision, Ended, Observation, Retry, Running, Succeeded, decide

RULE = BodyError(
    when="error",
    code="error.code",
    message="error.message",
    codes={498: "auth", 499: "auth", "JOB_FAILED": "failed"},
)
SPEC = PollSpec(
    status_url="/jobs/{start.id}",
    done="status == 'done'",
    failed="status == 'failed'",
    body_error=RULE,
    errors=ErrorBudget(max_consecutive=3),
)
LAST = {"status": "running"}


def err(code: Any, message: str | None = "went wrong") -> dict[str, Any]:
    """An ArcGIS-style error envelope."""
    inner: dict[str, Any] = {"code": code}
    if message is not None:
        inner["message"] = message
    return {"error": inner}


def poll(status: int, body: Any, spec: PollSpec = SPEC, **fields: Any) -> Decision:
    """The core's decision on one status answer."""
    return decide(spec, Observation(http_status=status, body=body, last=LAST, **fields))


# (HTTP status, body, extra observation fields) -> (decision class, end state, error class)
POLL_CASES: list[tuple[str, int, Any, dict[str, Any], type, str | None, type | None]] = [
    ("498 invalid token", 200, err(498, "Invalid token."), {}, Ended, "error", AuthError),
    ("499 token required", 200, err(499, "Token Required"), {}, Ended, "error", AuthError),
    ("decimal string code", 200, err("498"), {}, Ended, "error", AuthError),
    ("401 reads like HTTP", 200, err(401), {}, Ended, "error", AuthError),
    ("404 is gone", 200, err(404), {}, Ended, "gone", OperationGone),
    ("410 is gone", 200, err(410), {}, Ended, "gone", OperationGone),
    ("gone after a cancel", 200, err(404), {"cancelling": True}, Ended, "cancelled", None),
    ("500 is transient", 200, err(500), {}, Retry, None, HTTPStatusError),
    ("429 is transient", 200, err(429), {}, Retry, None, HTTPStatusError),
    ("budget spent", 200, err(503), {"errors": 3}, Ended, "error", HTTPStatusError),
    ("400 is an error", 200, err(400), {}, Ended, "error", HTTPStatusError),
    ("string code", 200, err("GWM_0003"), {}, Ended, "error", HTTPStatusError),
    ("no code", 200, {"error": {"message": "x"}}, {}, Ended, "error", HTTPStatusError),
    ("listed as failed", 200, err("JOB_FAILED"), {}, Ended, "failed", OperationFailed),
    ("real 498 status", 498, err(498), {}, Ended, "error", AuthError),
    ("real 404 status, 499 body", 404, err(499), {}, Ended, "error", AuthError),
    ("4xx, unlisted code: status", 401, err("Unauthorized"), {}, Ended, "error", AuthError),
    ("4xx, unlisted 500: status", 404, err(500), {}, Ended, "gone", OperationGone),
    ("5xx status wins", 503, err(400), {}, Retry, None, HTTPStatusError),
    ("no error: expressions", 200, {"status": "running"}, {}, Running, None, None),
    ("empty error is none", 200, {"error": {}, "status": "done"}, {}, Succeeded, None, None),
]


@pytest.mark.parametrize(
    ("status", "body", "fields", "kind", "state", "error"),
    [case[1:] for case in POLL_CASES],
    ids=[case[0] for case in POLL_CASES],
)
def test_poll_answers(
    status: int,
    body: Any,
    fields: dict[str, Any],
    kind: type,
    state: str | None,
    error: type[LrpollError] | None,
) -> None:
    """An error in a poll's body becomes the typed error its code names, not a document."""
    decision = poll(status, body, **fields)
    assert type(decision) is kind, decision
    if isinstance(decision, Ended):
        assert decision.state == state
        if error is not None:
            assert type(decision.error) is error
        if state == "cancelled":
            assert isinstance(decision.error, OperationCancelled)
    if isinstance(decision, Retry):
        assert type(decision.error) is error


def test_error_says_code_and_message_and_keeps_the_last_document() -> None:
    """The error names the code, the server's words and the HTTP status; status is the last doc."""
    decision = poll(200, err(498, "Invalid token."))
    assert isinstance(decision, Ended)
    error = decision.error
    assert isinstance(error, AuthError)
    assert error.message == "the server reported error 498 in a 200 answer: Invalid token."
    assert error.http_status == 200
    assert error.status == LAST
    assert '"code":498' in error.body_snippet


def test_failed_kind_uses_the_servers_words() -> None:
    """A code listed as ``failed`` ends with OperationFailed carrying the message."""
    decision = poll(200, err("JOB_FAILED", "disk full"))
    assert isinstance(decision, Ended)
    assert isinstance(decision.error, OperationFailed)
    assert decision.error.message == "disk full"


def test_codes_override_the_http_reading() -> None:
    """``codes`` wins over the HTTP-like default (a 401 that is only an error)."""
    spec = SPEC.replace(body_error=BodyError(when="error", code="error.code", codes={401: "error"}))
    decision = poll(200, err(401), spec)
    assert isinstance(decision, Ended)
    assert type(decision.error) is HTTPStatusError


def test_status_rules_keep_their_meaning() -> None:
    """A code ``status_rules`` gives a fixed meaning is not read for body errors."""
    spec = SPEC.replace(status_rules={200: "succeeded"})
    assert isinstance(poll(200, err(498), spec), Succeeded)
    spec = SPEC.replace(status_rules={200: "evaluate"})
    assert isinstance(poll(200, err(498), spec), Ended)


def test_without_rule_nothing_changes() -> None:
    """A spec without ``body_error`` reads an error envelope as a status document."""
    spec = SPEC.replace(body_error=None)
    assert isinstance(poll(200, err(498), spec), Running)
    assert body_error(spec, err(498)) is None


def test_body_error_function() -> None:
    """`body_error` returns the kind, the code as read and the server's text."""
    found = body_error(SPEC, err("499", "Token Required"))
    assert found is not None
    assert (found.kind, found.code, found.text) == ("auth", 499, "Token Required")
    found = body_error(SPEC, {"error": {"code": 400, "message": {"a": 1}}})
    assert found is not None
    assert (found.kind, found.text) == ("error", '{"a":1}')
    assert body_error(SPEC, None) is None
    assert body_error(SPEC, [1, 2]) is None


# -- start, result, cancel ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body", "kind", "error"),
    [
        ("POST", err(498), Ended, AuthError),
        ("POST", err(503), Ended, HTTPStatusError),  # not idempotent: never sent again
        ("GET", err(503), Retry, HTTPStatusError),
        ("POST", err(400), Ended, HTTPStatusError),
        ("POST", {"id": "j1"}, type(None), None),
    ],
)
def test_start_answers(method: str, body: Any, kind: type, error: type | None) -> None:
    """An error in a 2xx start answer fails (or retries) the start instead of polling."""
    verdict = start_decision(SPEC, Observation(http_status=200, body=body), method=method)
    assert type(verdict) is kind
    if isinstance(verdict, Ended | Retry):
        assert type(verdict.error) is error


@pytest.mark.parametrize(
    ("body", "kind", "error"),
    [
        (err(498), Ended, AuthError),
        (err(500), Retry, HTTPStatusError),
        (err(400), Ended, HTTPStatusError),
        ({"value": 1}, Succeeded, None),
    ],
)
def test_result_answers(body: Any, kind: type, error: type | None) -> None:
    """An error in the result fetch's 2xx body is the error, said to be the result fetch's."""
    done = Succeeded({"status": "done"})
    decision = result_decision(SPEC, Observation(http_status=200, body=body), done, shown_url="/r")
    assert type(decision) is kind
    if isinstance(decision, Ended):
        assert type(decision.error) is error
        assert decision.error.message.startswith("fetching the result from /r: ")
    if isinstance(decision, Succeeded):
        assert decision.result == body


CANCEL = CancelSpec(url="/jobs/{start.id}/cancel")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (err(498, "Invalid token."), ("refused", "Invalid token.")),
        (err(404, "no job"), ("not_found", "no job")),
        (err(410), ("not_found", "went wrong")),
        (err(400, "Invalid or missing input parameters."), ("already_finished", None)),
        (err(409), ("already_finished", "went wrong")),
        (err(501), ("not_supported", "went wrong")),
        (err(500), ("refused", "went wrong")),
        (err("JOB_FAILED"), ("refused", "went wrong")),
        (err("other"), ("refused", "went wrong")),
        ({"jobStatus": "esriJobCancelling"}, ("accepted", None)),
    ],
)
def test_cancel_answers(body: Any, expected: tuple[str, str | None]) -> None:
    """An error in a cancel answer's 2xx body is read by its code, never as accepted."""
    result, message = classify_cancel(CANCEL, 200, {}, body, poll_spec=SPEC)
    if expected[1] is None and "error" in body:
        expected = (expected[0], body["error"]["message"])
    assert (result, message) == expected


def test_cancel_expressions_see_the_last_document() -> None:
    """Cancel expressions win over the body error and may read ``last``."""
    cancel = CancelSpec(url="/x", refused="body.error.code == `400` && last.status == 'queued'")
    body = err(400)
    assert classify_cancel(cancel, 200, {}, body, poll_spec=SPEC, last={"status": "queued"})[0] == (
        "refused"
    )
    assert classify_cancel(cancel, 200, {}, body, poll_spec=SPEC, last=LAST)[0] == (
        "already_finished"
    )


# -- the rule as data ---------------------------------------------------------------------


class TestBodyErrorSpec:
    """`BodyError` is validated at construction and travels in the JSON form."""

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"when": "error.["}, "body_error.when"),
            ({"when": ""}, "body_error.when"),
            ({"when": "error", "code": "nope("}, "body_error.code"),
            ({"when": "error", "message": "lower(a, b)"}, "body_error.message"),
            ({"when": "error", "codes": {498: "denied"}}, "body_error.codes"),
            ({"when": "error", "codes": {True: "auth"}}, "body_error.codes"),
            ({"when": "error", "codes": {"": "auth"}}, "body_error.codes"),
            ({"when": "error", "codes": [498]}, "body_error.codes"),
        ],
    )
    def test_invalid(self, kwargs: dict[str, Any], field: str) -> None:
        """A bad expression, kind or code fails at construction, naming the field."""
        with pytest.raises(SpecError) as info:
            BodyError(**kwargs)
        assert info.value.field == field

    def test_not_a_body_error(self) -> None:
        """PollSpec refuses anything but a BodyError in ``body_error``."""
        with pytest.raises(SpecError, match="body_error"):
            SPEC.replace(body_error={"when": "error"})

    def test_json_round_trip(self) -> None:
        """The JSON form holds the rule (codes as strings) and reads back equal."""
        data = json.loads(json.dumps(SPEC.to_json()))
        assert data["body_error"] == {
            "when": "error",
            "code": "error.code",
            "message": "error.message",
            "codes": {"498": "auth", "499": "auth", "JOB_FAILED": "failed"},
        }
        again = PollSpec.from_json(data)
        assert again == SPEC
        assert again.body_error is not None
        assert again.body_error.codes == {498: "auth", 499: "auth", "JOB_FAILED": "failed"}

    def test_json_unknown_key(self) -> None:
        """An unknown key in the JSON form of the rule is a SpecError."""
        data = SPEC.to_json()
        data["body_error"] = {"when": "error", "kinds": {}}
        with pytest.raises(SpecError, match="body_error"):
            PollSpec.from_json(data)
