"""Oracle Transportation and Global Trade Management (OTM/GTM) data-export requests.

Reference: Oracle, "REST API for Fusion Cloud Transportation and Global Trade Management
Data Export" (24c/25c/26b): Create Export Request, Get Export Status, Cancel Export
Request, and the use cases "Cancel Request" and "Asynchronous Export".

A client asks for an export with ``POST {root}/exportRequests`` and
``Prefer: respond-async`` (the spec's ``start_headers``); the service answers ``202``
with the request id, writes the exported files ("parts") to the caller's own
``targetSystem`` (an object store), and reports on ``GET {root}/exportStatuses/{id}``::

    {"completed": false, "progress": "processing",
     "startTime": {"value": "2026-01-01T00:00:00Z"},
     "result": {"body": {"requestID": 303, "tables": {"items": [
         {"itemName": "SHIPMENT", "progress": "succeeded",
          "parts": {"count": 1, "items": [{"partName": "DATA_303_SHIPMENT_1_1.csv",
                                           "recordCount": 92, "checksum": "c917..."}]}},
         {"itemName": "SHIPMENT_REFNUM", "progress": "pending",
          "parts": {"count": 0, "items": []}}]}}}}

| ``progress``                               | outcome                                    |
|--------------------------------------------|--------------------------------------------|
| ``succeeded`` (unless ``completed: false``) | succeeded: the list of parts              |
| ``failed``, ``interrupted``                | `OperationFailed` (the failed table's      |
|                                            | ``detail``, else the request's state)      |
| ``unknown`` with ``completed: true``       | `OperationFailed`                          |
| ``cancelled`` (or ``canceled``)            | `OperationCancelled`                       |
| ``pending``, ``processing``, ``cancelling``| running                                    |
| (or ``canceling``), ``unknown``            |                                            |

Overall progress is the share of ``result.body.tables.items`` whose own ``progress`` is
``succeeded`` (``percent(length(...[?progress=='succeeded']), length(...))``): unknown
(None) while the request lists no table yet.

Cancel is ``POST {root}/custom-actions/cancel/exportRequests/{id}`` with no body. Oracle's
documents disagree on the answer; both read the same way here:

| answer                                      | `CancelOutcome` after confirming          |
|---------------------------------------------|-------------------------------------------|
| ``200`` (use case) or ``204`` (operation    | ``cancelled`` once the status reads       |
| reference)                                  | ``cancelled``; ``finished_anyway`` if it  |
|                                             | ends otherwise                            |
| ``400`` (use case: already completed)       | ``already_finished``                      |
| ``404`` (unknown request)                   | ``not_found``                             |
| ``405`` / ``501``                           | ``not_supported``                         |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from .._exceptions import SpecError
from .._expr import UrlTemplate
from .._registry import preset
from .._spec import Batch, CancelSpec, PollSpec
from ._params import api_root as _root
from ._params import error_budget

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["RESPOND_ASYNC", "oracle_export", "oracle_status_url"]

RESPOND_ASYNC: Final = {"Prefer": "respond-async"}
"""The start headers that ask for an asynchronous export (the preset's ``start_headers``)."""

# Reference: "Get Export Status" (the exportStatuses schema): progress is one of
# processing, pending, failed, interrupted, succeeded, cancelling, cancelled, unknown.
# The "Cancel Request" use case is rendered with "canceling" in places: both spellings
# are running, and "canceled" reads as "cancelled".
# A document without the completed flag is read by its progress alone.
_DONE: Final = "progress == 'succeeded' && completed != `false`"
_FAILED: Final = (
    "contains(['failed', 'interrupted'], progress)"
    " || (completed == `true` && progress == 'unknown')"
)
_CANCELLED: Final = "contains(['cancelled', 'canceled'], progress)"
_TABLES: Final = "result.body.tables.items"
_PROGRESS: Final = f"percent(length({_TABLES}[?progress == 'succeeded']), length({_TABLES}))"
# The failed table's own words ("detail", as Oracle's REST errors name them), else the
# request's state: "export request 303 interrupted".
_ERROR_MESSAGE: Final = (
    f"({_TABLES}[?detail != null].detail | [0]) || detail || title"
    " || join(' ', ['export request', to_string(result.body.requestID || 'unknown'),"
    " to_string(progress)])"
)
_PARTS: Final = f"{_TABLES}[].parts.items[]"
# The request id: from the last status document (watch), else the start answer's body.
_ID: Final = "last.result.body.requestID || start.result.body.requestID || start.requestID"
# Oracle REST errors: {"type", "title", "status", "detail", "o:errorCode"}.
_CANCEL_MESSAGE: Final = "body.detail || body.title"


def _raw_string(text: str) -> str:
    """``text`` (without backslashes) as a JMESPath raw string literal (``'...'``)."""
    return "'" + text.replace("'", "\\'") + "'"


def _result(target_url: object) -> str:
    if target_url is None:
        return _PARTS
    if not isinstance(target_url, str) or not target_url:
        raise SpecError(
            f"must be a non-empty string or null, not {target_url!r}", field="params.target_url"
        )
    if any(ord(c) < 0x20 or c in "\x7f\\" for c in target_url):
        raise SpecError("control character or backslash in a URL", field="params.target_url")
    # Oracle appends the part name to targetURL ("appendName": true).
    url = f"join('', [{_raw_string(target_url)}, to_string(partName)])"
    return f"map(&merge(@, {{url: {url}}}), {_PARTS} || `[]`)"


@preset("oracle")
def oracle_export(
    *,
    api_root: str = "/logisticsRestApi/data/v1",
    interval: float = 5.0,
    max_duration: float | None = 3600.0,
    target_url: str | None = None,
    confirm_timeout: float = 120.0,
    request_headers: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
    batch: bool = False,
    batch_window: float = 1.0,
) -> PollSpec:
    """The spec for an Oracle OTM/GTM asynchronous data export.

    Start it with ``scheduler.start("POST", f"{api_root}/exportRequests", json=request,
    spec=spec)``: the spec's ``start_headers`` send ``Prefer: respond-async``. The status
    URL is the ``202``'s ``Location`` when sent, else
    ``{api_root}/exportStatuses/{requestID}`` from its body. Credentials (HTTP Basic in
    Oracle's examples) belong to the Scheduler: ``credentials={origin:
    lrpoll.BasicAuth(user, password)}``.

    | field           | expression / value                                              |
    |-----------------|-----------------------------------------------------------------|
    | status URL      | ``Location``, else ``{api_root}/exportStatuses/{requestID}``    |
    | ``done``        | ``progress == 'succeeded' && completed != `false```             |
    | ``failed``      | ``progress`` ``failed`` or ``interrupted`` (or ``unknown`` and  |
    |                 | ``completed``)                                                  |
    | ``cancelled``   | ``progress`` ``cancelled`` (or ``canceled``)                    |
    | ``progress``    | share of tables ``succeeded``, in percent                       |
    | ``result``      | every part of every table (``partName``, ``recordCount``,       |
    |                 | ``checksum``, and ``url`` with ``target_url``)                  |
    | cancel          | ``POST {api_root}/custom-actions/cancel/exportRequests/{id}``,  |
    |                 | no body; 200 or 204 accepted, 400 already finished, 404 not     |
    |                 | found                                                           |

    Args:
        api_root: the data-export API root: ``"/logisticsRestApi/data/v1"`` (relative to
            the Scheduler's ``base_url``) or an absolute URL
            (``"https://servername.us2.oraclecloud.com/logisticsRestApi/data/v1"``).
        interval: seconds between polls.
        max_duration: seconds before `PollTimeout` (the export goes on on the server);
            None waits forever.
        target_url: the request's ``targetSystem.targetURL`` when it has
            ``appendName: true``: each part of the result then carries ``url``, this
            text followed by its ``partName``. None leaves parts without ``url``.
        confirm_timeout: seconds ``op.cancel()`` keeps polling for ``cancelled``.
        request_headers: non-secret headers for every request of the operation (the
            spec's ``request_headers``); credentials belong to the Scheduler.
        errors: keyword arguments for `ErrorBudget` (``{"max_consecutive": 8,
            "max_failing_time": 120}``); None keeps the default budget.
        batch: read the status of due exports with one collection request for up to
            100 (``GET {api_root}/exportStatuses?q=requestID eq 1 or requestID eq
            2&limit=100&offset=0``, following ``hasMore``) instead of one ``GET`` each
            (see `lrpoll.Batch`); exports the collection does not hold are polled at
            their own URL.
        batch_window: with ``batch``, exports due within this many seconds go with a
            collection request that is sent anyway.

    Returns:
        The spec; its JSON form is ``{"preset": "oracle", "params": {...}}``.

    Raises:
        SpecError: for a bad parameter (an ``api_root`` with a query, a non-positive
            ``interval``, a credential in ``request_headers``, a bad ``errors``),
            naming the field.

    Warning:
        ``target_url`` is kept in the spec, so in its JSON form and in checkpoints. An
        OCI pre-authenticated request URL (``…/p/<token>/…``) is a secret: leave
        ``target_url`` unset and join it to each ``partName`` yourself.
    """
    root = _root(api_root)
    return PollSpec(
        name="oracle",
        request_headers=request_headers,
        start_headers=RESPOND_ASYNC,
        status_from=("location",),
        status_url=f"{root}/exportStatuses/{{start.result.body.requestID || start.requestID}}",
        interval=interval,
        max_duration=max_duration,
        errors=error_budget(errors),
        # A 200 without progress is not a status document: MalformedStatus, retried
        # within the budget, never "still running" forever.
        required="progress",
        done=_DONE,
        failed=_FAILED,
        cancelled=_CANCELLED,
        progress=_PROGRESS,
        result=_result(target_url),
        error_message=_ERROR_MESSAGE,
        cancel=CancelSpec(
            # "The action has no message body but still requires the use of the HTTP
            # POST method." Both answers (200 + cancelling, 204) are 2xx: accepted.
            url=f"{root}/custom-actions/cancel/exportRequests/{{{_ID}}}",
            method="POST",
            confirm_timeout=confirm_timeout,
            message=_CANCEL_MESSAGE,
        ),
        batch=_batch(root, batch_window) if batch else None,
    )


def _batch(root: str, window: float) -> Batch:
    """The ``exportStatuses`` collection as a `Batch`: ``q`` on request ids, limit/offset."""
    return Batch(
        url=f"{root}/exportStatuses",
        items="items",
        id="to_string(result.body.requestID)",
        key=f"({_ID}) && to_string({_ID})",
        limit_param="limit",
        offset_param="offset",
        limit=100,
        more="hasMore",
        filter_param="q",
        filter_item="requestID eq {id}",
        filter_join=" or ",
        max_ids=100,
        window=window,
    )


def oracle_status_url(request_id: int | str, *, api_root: str = "/logisticsRestApi/data/v1") -> str:
    """The status URL of export request ``request_id``, for ``await scheduler.watch(url, spec)``.

    ``request_id`` fills one path segment, percent-encoded where needed.

    Raises:
        SpecError: when ``api_root`` is not a usable root.
        TemplateError: when ``request_id`` is empty, ``.`` or ``..``.
    """
    template = UrlTemplate(f"{_root(api_root)}/exportStatuses/{{operation}}", field="api_root")
    return template.fill({"operation": str(request_id)})
