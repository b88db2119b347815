"""The Google long-running operations preset (AIP-151, ``google.longrunning.Operation``).

A Google API answers a slow call with an ``Operation``::

    {"name": "projects/p/locations/l/operations/op-1",
     "metadata": {"@type": "type.googleapis.com/...Metadata", ...},
     "done": true,
     "response": {"@type": "type.googleapis.com/...", ...}}     # or "error": google.rpc.Status

`google_operation` returns the `PollSpec` that polls ``GET {api_root}/{name}`` until
``done``, reads the outcome from ``error`` / ``response``, and cancels with
``POST {api_root}/{name}:cancel``. `google_operation_url` builds the status URL of an
operation known only by its name, for ``scheduler.watch``.

Reference: https://google.aip.dev/151 and google/longrunning/operations.proto.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import SpecError, TemplateError
from .._expr import UrlTemplate
from .._registry import preset
from .._spec import Backoff, Batch, CancelSpec, PollSpec
from ._params import api_root as _root
from ._params import error_budget

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .._spec import CancelResult

__all__ = ["google_operation", "google_operation_url"]

# Where the common Google APIs keep a percentage: Speech, Document AI and others use
#: ``metadata.progressPercent``; some ``metadata.progressPercentage``; Spanner's backup,
#: restore and index jobs ``metadata.progress.progressPercent``. proto3 JSON omits an
#: int32 that is 0, so "no progress yet" reads as unknown (None), never as 0.
_DEFAULT_PROGRESS: Final = (
    "metadata.progressPercent || metadata.progressPercentage || metadata.progress.progressPercent"
)

# Reference: AIP-151 and google/rpc/code.proto. An Operation that is done carries either
# ``response`` or ``error`` (a google.rpc.Status); ``error.code == 1`` is CANCELLED, the
# state a successful CancelOperation leaves behind ("the operation is not deleted").
_DONE: Final = "done == `true`"
_FAILED: Final = "error != null && error.code != `1`"
_CANCELLED: Final = "error.code == `1`"
_RESULT: Final = "response"
# The server's words; a Status without a message (the Spanner emulator sends
# ``{"code": 12}``) still names its code.
_ERROR_MESSAGE: Final = (
    "error.message || (error.code && join('', ['error code ', to_string(error.code)]))"
)

# What the answer to ``:cancel`` means. Error bodies come wrapped in production
# (``{"error": {"code": <HTTP status>, "message", "status": "UNIMPLEMENTED"}}``) and bare
# from the emulators (``{"code": 12, "message"}``, the google.rpc code): read both.
_NOT_SUPPORTED: Final = (
    "status == `501` || body.code == `12` || body.error.status == 'UNIMPLEMENTED'"
)
_ALREADY_FINISHED: Final = "body.code == `9` || body.error.status == 'FAILED_PRECONDITION'"
_CANCEL_MESSAGE: Final = (
    "body.error.message || body.message"
    " || (body.code && join('', ['error code ', to_string(body.code)]))"
)
# 400 is INVALID_ARGUMENT (or FAILED_PRECONDITION, caught above) and 409 is ABORTED or
# ALREADY_EXISTS in Google's HTTP mapping: refusals, not "already finished".
_CANCEL_STATUSES: Final[Mapping[int, CancelResult]] = {400: "refused", 409: "refused"}


@preset("google")
def google_operation(
    *,
    api_root: str = "/v1",
    progress: str | None = _DEFAULT_PROGRESS,
    interval: float = 1.0,
    factor: float = 1.5,
    max_delay: float = 20.0,
    jitter: float = 0.0,
    max_duration: float | None = 900.0,
    confirm_timeout: float = 60.0,
    request_headers: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
    multiplier: float | None = None,
    max_interval: float | None = None,
    batch: bool = False,
    batch_url: str = "operations",
    batch_window: float = 0.5,
) -> PollSpec:
    """The spec for a Google long-running operation (AIP-151).

    Start with the API call that returns an ``Operation``
    (``scheduler.start("POST", "/v1/projects/p/instances", json=..., spec=spec)``): the
    status URL is ``{api_root}/{+start.name}``, the operation's name under the API root.
    To attach to an operation known by name, pass its URL to ``scheduler.watch``
    (`google_operation_url` builds it); the start response is then unknown and the name
    for ``:cancel`` comes from the last status document.

    | field           | expression / value                                           |
    |-----------------|--------------------------------------------------------------|
    | status URL      | ``{api_root}/{+start.name}`` (GET)                           |
    | ``done``        | ``done == `true```                                           |
    | ``failed``      | ``error != null && error.code != `1```                       |
    | ``cancelled``   | ``error.code == `1``` (CANCELLED)                            |
    | ``result``      | ``response`` (with its ``@type``)                            |
    | ``error_message`` | ``error.message`` (else "error code N")                    |
    | ``progress``    | the ``progress`` parameter (see below)                       |
    | cancel          | ``POST {api_root}/{+last.name || start.name}:cancel``, ``{}`` |

    Args:
        api_root: the API's root path (``"/v1"``, ``"/v1beta"``, ``"/v1/operations"`` for
            APIs that nest operations there) or an absolute URL
            (``"https://speech.googleapis.com/v1"``). ``"v1"`` reads as ``"/v1"``.
        progress: a JMESPath expression over the whole ``Operation`` for a percentage
            (``"metadata.progressPercent"``, ``"progress"`` for Compute-style documents),
            or None for no progress. Absent values are unknown (None), not 0. The
            default reads ``metadata.progressPercent``, else
            ``metadata.progressPercentage``, else ``metadata.progress.progressPercent``.
        interval: the first delay between polls, in seconds.
        factor: the factor applied to the delay after each poll (`Backoff.factor`).
        max_delay: the largest delay between polls (`Backoff.max_delay`).
        jitter: a fraction in [0, 1]: each delay is scaled into ``[d·(1-jitter), d]``.
        max_duration: seconds before `PollTimeout` (the server job goes on); None waits
            forever.
        confirm_timeout: seconds ``op.cancel()`` keeps polling for the server to confirm
            an accepted cancel.
        request_headers: non-secret headers for every request of the operation (the
            spec's ``request_headers``, such as ``x-goog-user-project``); credentials
            belong to the Scheduler.
        errors: keyword arguments for `ErrorBudget` (``{"max_consecutive": 8,
            "max_failing_time": 120}``); None keeps the default budget.
        multiplier: deprecated name of ``factor`` (one release, with a warning).
        max_interval: deprecated name of ``max_delay`` (one release, with a warning).
        batch: read the status of due operations with ``ListOperations``, one request
            for up to 100 (``GET {api_root}/{batch_url}?filter=name="a" OR
            name="b"&pageSize=100``, following ``nextPageToken``) instead of one ``GET``
            each (see `lrpoll.Batch`); operations the list does not hold are polled
            at their own URL.
        batch_url: the ListOperations path under ``api_root`` (a URL template:
            ``"projects/p/locations/l/operations"`` where the API lists per parent).
        batch_window: with ``batch``, operations due within this many seconds go with
            a list request that is sent anyway.

    The defaults follow google-api-core's operation polling: 1 s, times 1.5 after each
    poll, at most 20 s, 900 s in all.

    Returns:
        The spec; its JSON form is ``{"preset": "google", "params": {...}}``.

    Raises:
        SpecError: when a parameter is invalid (a bad JMESPath ``progress``, a
            non-positive ``interval``, a credential in ``request_headers``, a bad
            ``errors`` naming ``params.errors``, ...), naming the field.

    Warning:
        Cancel is best effort (AIP-151): a 200 ``{}`` only means the request was
        received. ``op.cancel()`` then polls until the operation is ``done`` with
        ``error.code == 1`` (outcome ``cancelled``) or ends otherwise
        (``finished_anyway``). ``DELETE {name}`` is not a cancel (it only discards the
        record) and is never sent.
    """
    root = _root(api_root)
    if multiplier is not None:
        warnings.warn(
            "google_operation(multiplier=) is deprecated: pass factor=",
            DeprecationWarning,
            stacklevel=3,
        )
        factor = multiplier
    if max_interval is not None:
        warnings.warn(
            "google_operation(max_interval=) is deprecated: pass max_delay=",
            DeprecationWarning,
            stacklevel=3,
        )
        max_delay = max_interval
    if progress is not None and not isinstance(progress, str):
        raise SpecError(f"must be a JMESPath string or null, not {progress!r}", field="progress")
    return PollSpec(
        name="google",
        request_headers=request_headers,
        status_url=f"{root}/{{+start.name}}",
        backoff=Backoff(
            kind="exponential",
            delay=interval,
            factor=factor,
            max_delay=max_delay,
            jitter=jitter,
        ),
        max_duration=max_duration,
        errors=error_budget(errors),
        done=_DONE,
        failed=_FAILED,
        cancelled=_CANCELLED,
        result=_RESULT,
        error_message=_ERROR_MESSAGE,
        progress=progress,
        cancel=CancelSpec(
            # ``last`` after the first poll (watch), ``start`` before it (start).
            url=f"{root}/{{+last.name || start.name}}:cancel",
            method="POST",
            # CancelOperationRequest has no field but the name, which is in the URL: ``{}``.
            json={},
            confirm_timeout=confirm_timeout,
            statuses=_CANCEL_STATUSES,
            not_supported=_NOT_SUPPORTED,
            already_finished=_ALREADY_FINISHED,
            message=_CANCEL_MESSAGE,
        ),
        batch=_batch(root, batch_url, batch_window) if batch else None,
    )


def _batch(root: str, url: str, window: float) -> Batch:
    """ListOperations as a `Batch`: ``filter`` on names (AIP-160), token paging (AIP-158)."""
    return Batch(
        url=f"{root}/{url.lstrip('/')}",
        items="operations",
        id="name",
        key="last.name || start.name",
        query={"pageSize": "100"},
        next_token="nextPageToken",
        token_param="pageToken",
        filter_param="filter",
        filter_item='name="{id}"',
        max_ids=100,
        window=window,
    )


def google_operation_url(name: str, *, api_root: str = "/v1") -> str:
    """The status URL of the operation ``name``, for ``await scheduler.watch(url, spec)``.

    ``google_operation_url("projects/p/operations/x")`` is
    ``"/v1/projects/p/operations/x"``: each segment is percent-encoded where needed and
    ``/`` is kept, as in the preset's own ``{+name}`` templates.

    Raises:
        TemplateError: when ``name`` has empty, ``.`` or ``..`` segments, ``?``,
            ``#``, a backslash, a scheme or an authority.
        SpecError: when ``api_root`` is not a usable root.
    """
    if "" in name.split("/"):
        raise TemplateError(f"not an operation name (empty segment): {name!r}")
    template = UrlTemplate(f"{_root(api_root)}/{{+operation}}", field="api_root")
    return template.fill({"operation": name})
