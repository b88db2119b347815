"""OData 4.01 asynchronous requests: the ``odata`` preset and its body decoder.

Reference: OASIS OData Version 4.01 Part 1: Protocol, §8.2.8.8 (``Prefer: respond-async``),
§9.1.3 (``202 Accepted``), §8.3.1 (``AsyncResult``), §11.6 (asynchronous requests).

A client asks for asynchronous processing with ``Prefer: respond-async``
(`respond_async_headers`, which the preset's spec sends as its ``start_headers``). The
service may answer at once (201/200/204: the operation
completed synchronously, nothing is polled) or with ``202 Accepted`` and a ``Location``
naming a *status monitor*. The monitor answers ``202`` while the work runs and ``200`` once
it is done: with ``AsyncResult: <final status>`` and the result itself (4.01), or with an
``application/http`` body holding the whole final HTTP response (4.0 clients, or ``Accept``
naming ``application/http``). ``DELETE`` on the monitor cancels.

How the preset reads each monitor answer (first matching row wins):

| answer                                                     | outcome                         |
|------------------------------------------------------------|---------------------------------|
| ``202``                                                    | running (``Retry-After``,       |
|                                                            | a new ``Location``, progress)   |
| ``3xx`` + ``Location``                                     | followed by the runtime (GET)   |
| ``200`` + ``AsyncResult: c``, or ``application/http``      | final status ``c``: the header, |
| embedding ``HTTP/1.1 c ...``                               | or the embedded status line     |
| - ``c`` in ``cancelled_statuses`` (default 503)            | cancelled (`OperationCancelled`)|
| - ``c`` >= 400                                             | failed (`OperationFailed`, the  |
|                                                            | OData ``error.message (code)``) |
| - ``c`` 2xx                                                | succeeded: the (embedded) body  |
| ``200``/``201``/``204`` with neither (a 4.0 service,       | succeeded: the body             |
| a followed ``303``, a synchronous start answer)            |                                 |
| ``404`` / ``410``                                          | `OperationGone` (expired), or   |
|                                                            | cancelled after an accepted     |
|                                                            | cancel                          |
| ``401`` / ``403``                                          | `AuthError`                     |
| ``408``, ``429``, ``5xx`` (the monitor's own status)       | transient: retried              |
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .._exceptions import SpecError
from .._expr import Expression
from .._registry import decoder, preset
from .._spec import CancelResult, CancelSpec, PollSpec
from ._params import error_budget

__all__ = [
    "APPLICATION_HTTP_DECODER",
    "decode_application_http",
    "odata_async",
    "respond_async_headers",
]

APPLICATION_HTTP_DECODER: Final = "odata.application_http"
"""The registered name of `decode_application_http` (``PollSpec.decoder``)."""

_VERSIONS: Final = ("4.0", "4.01")
_STATUS_LINE: Final = re.compile(r"HTTP/(\d)(?:\.(\d))? +(\d{3})(?: +(.*))?", re.ASCII)
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)

# -- the body decoder ----------------------------------------------------------------------


def _media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type in ("", "application/json") or media_type.endswith("+json")


def _read_body(text: str, media_type: str) -> Any:
    if not text.strip():
        return None
    if _is_json(media_type):
        # ValueError (JSONDecodeError, too many digits) tells the runtime the body is
        # malformed: a transient answer, retried within the error budget.
        return json.loads(text)
    return text


def _parse_message(text: str) -> dict[str, Any]:
    # RFC 9112 §2.2: a recipient SHOULD ignore blank lines before the status line (and
    # MAY accept a bare LF as a line terminator).
    text = text.lstrip("\r\n")
    if not text.strip():
        raise ValueError("application/http body holds no HTTP message")
    ends = [(i, n) for i, n in ((text.find("\r\n\r\n"), 4), (text.find("\n\n"), 2)) if i >= 0]
    if ends:
        at, width = min(ends)
        head, rest = text[:at], text[at + width :]
    else:
        head, rest = text, ""
    lines = head.replace("\r\n", "\n").split("\n")
    match = _STATUS_LINE.fullmatch(lines[0].strip())
    if match is None:
        shown = lines[0][:60].encode("ascii", "backslashreplace").decode("ascii")
        raise ValueError(f"application/http body does not start with a status line: {shown!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not _HEADER_NAME.fullmatch(name):
            shown = line[:60].encode("ascii", "backslashreplace").decode("ascii")
            raise ValueError(f"malformed header line in application/http body: {shown!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return {
        "status": int(match.group(3)),
        "reason": match.group(4) or "",
        "headers": headers,
        "body": _read_body(rest, _media_type(headers)),
    }


@decoder(APPLICATION_HTTP_DECODER)
def decode_application_http(text: str, headers: Mapping[str, str]) -> Any:
    """Decode an OData status-monitor body into the document the preset's expressions read.

    With ``Content-Type: application/http`` (OData-P §11.6: 4.0 clients, or ``Accept``
    naming ``application/http``), the body is one HTTP response; it becomes::

        {"status": 201, "reason": "Created",
         "headers": {"content-type": "application/json", "location": "..."},
         "body": {...}}

    ``status`` is the embedded status code (an int), ``headers`` has lower-case names
    (repeated names joined with ``", "``), and ``body`` is parsed JSON when the embedded
    ``Content-Type`` is JSON (or absent), the text as is otherwise (``multipart/mixed``,
    CSV), or None when empty.

    Any other body is the operation's own document: parsed JSON when its ``Content-Type``
    is JSON (or absent), else the text as is (a CSV result with ``AsyncResult: 200``).

    Args:
        text: the body, decoded as UTF-8.
        headers: the monitor answer's headers, lower-case names.

    Returns:
        The status document.

    Raises:
        ValueError: when a JSON body is not JSON, or an ``application/http`` body has no
            status line or a malformed header line (the runtime retries such answers as
            malformed, within the error budget).
    """
    media_type = _media_type(headers)
    if media_type == "application/http":
        return _parse_message(text)
    return _read_body(text, media_type)


# -- the preset ----------------------------------------------------------------------------

# Expressions over the response view {"status", "headers", "body"}; "body" is what
# decode_application_http returns. JMESPath has no conditional: each piece stays null
# (or false) where it does not apply, and `||` picks the first that does.
_WRAPPED: Final = "starts_with(headers.\"content-type\" || '', 'application/http')"
# The final status of the operation: AsyncResult (§8.3.1), else the embedded status
# line (§11.6, 4.0 form), else the answer's own status (a 4.0 service's bare 200, a
# followed 303, a synchronous start answer).
_CODE: Final = f"(to_number(headers.asyncresult) || ({_WRAPPED} && body.status) || status)"
_FINAL: Final = "status != `202`"
_DONE: Final = f"{_FINAL} && {_CODE} >= `200` && {_CODE} < `300`"
# The embedded body when wrapped, else the body; a list wrapper keeps a null or empty
# embedded body (a 204) from falling through to the wrapper itself.
_RESULT: Final = f"([@][?{_WRAPPED}].[body.body] || [[body]])[0][0]"
_ERROR: Final = "(body.error || body.body.error)"
# "message (code)", or the message alone; "code && message && join(...)" never calls
# join() on a null, which would make the whole expression null.
_MESSAGE: Final = (
    f"({_ERROR}.code && {_ERROR}.message && join('', [to_string({_ERROR}.message), ' (',"
    f" to_string({_ERROR}.code), ')'])) || {_ERROR}.message"
)
_RUNNING_BODY: Final = "[@][?status == `202`].body | [0]"
_CANCEL_STATUSES: Final[Mapping[int, CancelResult]] = {
    # OData-P §11.6: 200/204 cancelled, 202 cancelling (its Location is a cancel
    # monitor), 405 not supported; 404/410: the monitor is already gone.
    200: "accepted",
    202: "accepted",
    204: "accepted",
    404: "not_found",
    410: "not_found",
    405: "not_supported",
    501: "not_supported",
}


def _codes(values: Sequence[int], name: str) -> list[int]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise SpecError("must be a list of HTTP status codes", field=name)
    out: list[int] = []
    candidates: Sequence[object] = values  # JSON params may hold anything
    for raw in candidates:
        if isinstance(raw, bool) or not isinstance(raw, int) or not 400 <= raw <= 599:
            raise SpecError(f"{raw!r} is not a 4xx or 5xx status code", field=name)
        out.append(raw)
    return out


@preset("odata")
def odata_async(
    *,
    interval: float = 2.0,
    max_duration: float | None = 600.0,
    percent_path: str | None = "percentComplete",
    odata_version: str = "4.01",
    accept: str | None = None,
    cancelled_statuses: Sequence[int] = (503,),
    min_interval: float = 1.0,
    max_retry_after: float = 300.0,
    confirm_timeout: float = 60.0,
    wait: int | None = None,
    request_headers: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> PollSpec:
    """A spec for OData asynchronous requests (``Prefer: respond-async``, OData-P §11.6).

    The spec's ``start_headers`` ask for asynchronous processing
    (`respond_async_headers`: ``Prefer: respond-async`` and ``OData-MaxVersion``). The
    status monitor comes from the start answer's ``Location``; a non-202 start answer
    completed synchronously and is not polled. Expressions read the response view;
    bodies go through `decode_application_http`.

    Args:
        interval: seconds between polls when the monitor sends no ``Retry-After``.
        max_duration: seconds before `PollTimeout` (None: no limit).
        percent_path: JMESPath over the body of a ``202`` for the percent done (OData
            defines none; ``percentComplete`` by default). Null or absent means unknown
            progress (None); a successful end reads as 100. None: never read progress.
        odata_version: ``"4.01"`` or ``"4.0"``, sent as ``OData-MaxVersion`` with the
            start request, each poll and the cancel. With ``"4.0"`` (and no ``accept``)
            a service answers the final poll in the ``application/http`` form.
        accept: an ``Accept`` header for polls (``"application/http"`` asks for the
            wrapped form); None sends none.
        cancelled_statuses: final status codes that mean "cancelled by the service"
            (§11.6 says a 5xx; only 503 by default, so a 500 stays a failure).
        min_interval: lower bound of a ``Retry-After`` delay, in seconds.
        max_retry_after: upper bound of a ``Retry-After`` delay, in seconds.
        confirm_timeout: seconds ``op.cancel()`` waits for the monitor's ``404`` after an
            accepted ``DELETE``.
        wait: seconds the service may work before answering ``202``, sent as
            ``Prefer: respond-async, wait=N`` (None: no ``wait``).
        request_headers: non-secret headers for every request of the operation (the
            spec's ``request_headers``); credentials belong to the Scheduler.
        errors: keyword arguments for `ErrorBudget` (``{"max_consecutive": 8,
            "max_failing_time": 120}``); None keeps the default budget.

    Returns:
        The spec, tagged ``{"preset": "odata", "params": {...}}`` in its JSON form.

    Raises:
        SpecError: for an unknown ``odata_version``, a bad ``wait``, a bad status code
            list, a bad ``errors`` (naming ``params.errors``), or any value `PollSpec`
            refuses (a credential in ``request_headers``).

    Note:
        A ``202`` answer to the ``DELETE`` (an asynchronous cancel) names a cancel monitor
        in its ``Location``; lrpoll does not poll it, but keeps polling the operation's
        own monitor until that answers ``404`` (or a final result), within
        ``confirm_timeout``.
    """
    if odata_version not in _VERSIONS:
        raise SpecError(
            f"must be one of {', '.join(_VERSIONS)}, not {odata_version!r}", field="odata_version"
        )
    try:
        start_headers = respond_async_headers(wait=wait, odata_version=odata_version)
    except ValueError as exc:
        raise SpecError(str(exc), field="params.wait") from None
    codes = _codes(cancelled_statuses, "cancelled_statuses")
    cancelled = f"{_FINAL} && contains(`{json.dumps(codes)}`, {_CODE})"
    failed = f"{_FINAL} && {_CODE} >= `400` && !contains(`{json.dumps(codes)}`, {_CODE})"
    progress = f"({_DONE} && `100`)"
    if percent_path is not None:
        # Compiled alone first, so an error names percent_path and its position.
        Expression(percent_path, field="percent_path")
        progress = f"{progress} || ({_RUNNING_BODY} | {percent_path})"
    else:
        progress = f"{progress} || `null`"
    headers = {"OData-MaxVersion": odata_version}
    if accept is not None:
        headers["Accept"] = accept
    return PollSpec(
        name="odata",
        status_from=("location",),
        # §11.6: each 202 MUST carry Location, which "may or may not" be the same URL.
        status_url_updates=("location",),
        request_headers=request_headers,
        start_headers=start_headers,
        status_headers=headers,
        decoder=APPLICATION_HTTP_DECODER,
        interval=interval,
        min_interval=min_interval,
        max_retry_after=max_retry_after,
        max_duration=max_duration,
        errors=error_budget(errors),
        view="response",
        status_rules={202: "running"},
        failed=failed,
        cancelled=cancelled,
        done=_DONE,
        result=_RESULT,
        error_message=_MESSAGE,
        progress=progress,
        cancel=CancelSpec(
            # §11.6: "the client can request to cancel ... by sending DELETE to the
            # status monitor"; a lone {+status_url} passes the absolute monitor URL.
            url="{+status_url}",
            method="DELETE",
            headers={"OData-MaxVersion": odata_version},
            statuses=_CANCEL_STATUSES,
            confirm_timeout=confirm_timeout,
        ),
    )


def respond_async_headers(
    *, wait: int | None = None, odata_version: str = "4.01"
) -> dict[str, str]:
    """The headers that ask an OData service for asynchronous processing (§8.2.8.8).

    Args:
        wait: seconds the service may work before answering ``202`` (``wait=N``).
        odata_version: sent as ``OData-MaxVersion``.

    Returns:
        ``{"Prefer": "respond-async[, wait=N]", "OData-MaxVersion": ...}``.

    Raises:
        ValueError: for a negative ``wait`` or an unknown ``odata_version``.
    """
    if odata_version not in _VERSIONS:
        raise ValueError(f"odata_version must be one of {', '.join(_VERSIONS)}")
    prefer = "respond-async"
    if wait is not None:
        raw: object = wait
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
            raise ValueError("wait must be a whole number of seconds >= 0")
        prefer += f", wait={wait}"
    return {"Prefer": prefer, "OData-MaxVersion": odata_version}
