"""OData 4.01 asynchronous requests: the ``odata`` preset, its body decoder, the Go conveniences.

Reference: OASIS OData Version 4.01 Part 1: Protocol, §8.2.8.8 (``Prefer: respond-async``),
§9.1.3 (``202 Accepted``), §8.3.1 (``AsyncResult``), §11.6 (asynchronous requests).

A client asks for asynchronous processing with ``Prefer: respond-async``
(`respond_async_headers`). The service may answer at once (201/200/204: the operation
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
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import SpecError
from .._expr import Expression
from .._registry import decoder, preset
from .._spec import CancelResult, CancelSpec, PollSpec

if TYPE_CHECKING:
    from .._operation import Operation
    from .._scheduler import Scheduler

__all__ = [
    "APPLICATION_HTTP_DECODER",
    "ODataAsyncPoller",
    "ProgressCallback",
    "decode_application_http",
    "odata_async",
    "respond_async_headers",
    "start_odata_async",
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
) -> PollSpec:
    """A spec for OData asynchronous requests (``Prefer: respond-async``, OData-P §11.6).

    Start the request with `respond_async_headers` (the spec cannot add request headers
    to the start request). The status monitor comes from the start answer's
    ``Location``; a non-202 start answer completed synchronously and is not polled.
    Expressions read the response view; bodies go through `decode_application_http`.

    Args:
        interval: seconds between polls when the monitor sends no ``Retry-After``.
        max_duration: seconds before `PollTimeout` (None: no limit).
        percent_path: JMESPath over the body of a ``202`` for the percent done (OData
            defines none; ``percentComplete`` by default). Null or absent means unknown
            progress (None); a successful end reads as 100. None: never read progress.
        odata_version: ``"4.01"`` or ``"4.0"``, sent as ``OData-MaxVersion`` with each
            poll and the cancel. With ``"4.0"`` (and no ``accept``) a service answers
            the final poll in the ``application/http`` form.
        accept: an ``Accept`` header for polls (``"application/http"`` asks for the
            wrapped form); None sends none.
        cancelled_statuses: final status codes that mean "cancelled by the service"
            (§11.6 says a 5xx; only 503 by default, so a 500 stays a failure).
        min_interval: lower bound of a ``Retry-After`` delay, in seconds.
        max_retry_after: upper bound of a ``Retry-After`` delay, in seconds.
        confirm_timeout: seconds ``op.cancel()`` waits for the monitor's ``404`` after an
            accepted ``DELETE``.

    Returns:
        The spec, tagged ``{"preset": "odata", "params": {...}}`` in its JSON form.

    Raises:
        SpecError: for an unknown ``odata_version``, a bad status code list or any value
            `PollSpec` refuses.

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
        status_headers=headers,
        decoder=APPLICATION_HTTP_DECODER,
        interval=interval,
        min_interval=min_interval,
        max_retry_after=max_retry_after,
        max_duration=max_duration,
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


# -- the Go AsyncPoller conveniences -------------------------------------------------------

ProgressCallback = Callable[[str, int], object]
"""``on_progress(status, percent)``: called after each poll (percent -1 when unknown)."""


class ODataAsyncPoller:
    """traverse's (Go) ``AsyncPoller`` in lrpoll's terms: a thin view over an `Operation`.

    ``poll`` is one step, ``wait`` runs to the end, ``result``, ``status`` and
    ``percent_complete`` read the last answer, and ``on_progress(status, percent)`` is
    called after each poll seen through ``poll`` or ``wait``. Interval and maximum wait
    (2 s and 10 min by default) are the spec's ``interval`` and ``max_duration``: see
    `start_odata_async`.

    Args:
        operation: an operation polled with the ``odata`` preset (or any spec).
        on_progress: called with ``(status(), percent_complete())`` after each poll.
        status_path: JMESPath over a running answer's body for the service's status text
            (``"status"``; ``"Status"`` for SAP-style monitors); None: lrpoll's state.
    """

    __slots__ = ("_status_expr", "on_progress", "operation")

    def __init__(
        self,
        operation: Operation,
        *,
        on_progress: ProgressCallback | None = None,
        status_path: str | None = "status",
    ) -> None:
        """Wrap ``operation``.

        Raises:
            SpecError: when ``status_path`` is not valid JMESPath.
        """
        self.operation = operation
        self.on_progress = on_progress
        self._status_expr = (
            None if status_path is None else Expression(status_path, field="status_path")
        )

    @property
    def done(self) -> bool:
        """True once the operation ended (succeeded, failed, cancelled, timed out, ...)."""
        return self.operation.done

    async def poll(self) -> bool:
        """Poll once now (Go ``Poll``); True while the operation is still running.

        Returns:
            True while running, False once it succeeded.

        Raises:
            OperationFailed: when the service reports failure (``AsyncResult`` >= 400).
            OperationCancelled: when the operation was cancelled (here or by the service).
            PollTimeout: at ``max_duration``.
            OperationGone: when the monitor answers 404/410 (expired).
            TransportError: when the error budget is spent (`AuthError` on 401/403).
            PollingStopped: when polling was stopped on the client side.
        """
        await self.operation.poll_once()
        self._notify()
        if self.operation.done or self.operation.state == "stopped":
            self.operation.result()  # raises the operation's error, if any
            return False
        return True

    async def wait(self) -> Any:
        """Wait for the end (Go ``Wait``) and return the result, calling ``on_progress``.

        Returns:
            The result (the final answer's body, unwrapped from ``application/http``).

        Raises:
            OperationFailed: when the service reports failure.
            OperationCancelled: when the operation was cancelled.
            PollTimeout: at ``max_duration`` (10 min by default).
            OperationGone: when the monitor answers 404/410 (expired).
            TransportError: when the error budget is spent (`AuthError` on 401/403).
            PollingStopped: when polling was stopped on the client side.
        """
        if self.on_progress is not None:
            async for _update in self.operation.updates():
                self._notify()
        return await self.operation.wait()

    def result(self) -> Any:
        """The result, once done (Go ``Result``).

        Raises:
            RuntimeError: when the operation is still running.
            LrpollError: the operation's error, when it ended without a result.
        """
        return self.operation.result()

    def status(self) -> str:
        """The last status seen (Go ``Status``).

        While running: the service's status text from the last ``202`` body (at
        ``status_path``), else ``"running"``; once ended: lrpoll's state
        (``"succeeded"``, ``"failed"``, ``"cancelled"``, ``"timed_out"``, ``"gone"``,
        ``"error"``), or ``"stopped"`` / ``"cancelling"``.
        """
        op = self.operation
        if op.state in ("running", "pending") and self._status_expr is not None:
            value = self._status_expr.search(op.status)
            if isinstance(value, str) and value:
                return value
        return op.state

    def percent_complete(self) -> int:
        """Percent done, 0-100, or -1 when the service did not report progress (Go)."""
        progress = self.operation.progress
        return -1 if progress is None else round(progress)

    def _notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.status(), self.percent_complete())

    def __repr__(self) -> str:
        """``<ODataAsyncPoller op-1 Running 50%>``."""
        return f"<ODataAsyncPoller {self.operation.id} {self.status()} {self.percent_complete()}%>"


async def start_odata_async(
    scheduler: Scheduler,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    interval: float = 2.0,
    max_wait: float | None = 600.0,
    wait: int | None = None,
    on_progress: ProgressCallback | None = None,
    status_path: str | None = "status",
    **preset_params: Any,
) -> ODataAsyncPoller:
    """Start ``method url`` with ``Prefer: respond-async``; wrap the operation (Go ``CreateAsync``).

    Args:
        scheduler: a running scheduler (its base URL and credentials apply).
        method: the HTTP method (``"POST"`` for a create or an action, ``"GET"``).
        url: the request URL (relative to the scheduler's ``base_url``, or absolute).
        json: the request body.
        headers: more request headers (they win over the ``Prefer`` defaults).
        params: query parameters.
        interval: seconds between polls without ``Retry-After`` (Go ``PollInterval``).
        max_wait: seconds before `PollTimeout` (Go ``MaxWait``; None: no limit).
        wait: ``Prefer: wait=N`` seconds.
        on_progress: ``on_progress(status, percent)`` for `ODataAsyncPoller`.
        status_path: see `ODataAsyncPoller`.
        **preset_params: more `odata_async` parameters (``percent_path``, ...).

    Returns:
        The poller; a synchronous answer gives one that is already done.

    Raises:
        SpecError: for bad preset parameters.
        TransportError: when the start request fails (`AuthError` on 401/403).
    """
    spec = odata_async(interval=interval, max_duration=max_wait, **preset_params)
    version = preset_params.get("odata_version", "4.01")
    sent = {**respond_async_headers(wait=wait, odata_version=version), **(headers or {})}
    op = await scheduler.start(method, url, spec=spec, json=json, headers=sent, params=params)
    return ODataAsyncPoller(op, on_progress=on_progress, status_path=status_path)
