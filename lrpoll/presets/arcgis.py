"""The ArcGIS geoprocessing jobs preset (asynchronous GP services, ``submitJob``).

An asynchronous geoprocessing task answers ``POST <task>/submitJob`` with
``{"jobId": "j…", "jobStatus": "esriJobSubmitted"}``; ``<task>/jobs/<jobId>?f=json``
then reports::

    {"jobId": "j…", "jobStatus": "esriJobExecuting",
     "progress": {"type": "step", "message": "Step 2 of 4", "percent": 50},
     "messages": [{"type": "esriJobMessageTypeInformative", "description": "Executing..."}]}

until ``esriJobSucceeded`` (with ``results: {"<param>": {"paramUrl": "results/<param>"}}``),
``esriJobFailed``, ``esriJobTimedOut`` or ``esriJobCancelled``. Errors come as HTTP 200
with ``{"error": {"code": 498, "message": "Invalid token.", "details": []}}``: the spec's
`BodyError` makes them errors (498/499 `AuthError`), never status documents.

Reference: ArcGIS REST API "Job" (gp-job), "Cancel GP job" (cancel-gp-job), admin
"Cancel Job" (cancel-job); Esri/arcgis-rest-js ``job.ts`` and ``request.ts``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

from .._exceptions import SpecError
from .._registry import preset
from .._spec import BodyError, CancelSpec, Messages, PollSpec
from ._params import error_budget

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["arcgis_job", "arcgis_job_url"]

# Reference: gp-job page and the ArcObjects esriJobStatus enum (values 0-10), plus
# ``expectedFailure`` (Notebook Server; arcgis-rest-js maps it to Failure).
_DONE: Final = "jobStatus == 'esriJobSucceeded'"
# A failed status check may also answer ``{"status": "failed", "statusMessage": ...}``
# (arcgis-rest-js request.ts reads that shape too).
_FAILED: Final = (
    "contains(['esriJobFailed', 'esriJobTimedOut', 'expectedFailure'], jobStatus)"
    " || status == 'failed'"
)
_CANCELLED: Final = "jobStatus == 'esriJobCancelled'"
_REQUIRED: Final = "jobStatus || status"
# ``progress`` exists only while executing, on 10.8.1+ servers; ``percent`` only for a
# step progressor (arcgis-rest-js types it ``percentage``). A finished job is 100 %.
_PROGRESS: Final = (
    "progress.percent || progress.percentage || (jobStatus == 'esriJobSucceeded' && `100`)"
    " || `null`"
)
# The failure message is the last error message (messages grow as the job runs).
_ERROR_MESSAGE: Final = (
    "(messages[?type == 'esriJobMessageTypeError'].description | [-1])"
    " || (status == 'failed' && statusMessage)"
    " || join('', ['the job ended with ', jobStatus || status])"
)
# Errors come in 200 bodies (gp-job, arcgis-rest-js request.ts): 498 invalid or expired
# token, 499 token required, and the GWM_0003 messageCode Esri's client also reads as
# auth. A deleted (or deleting) job's record and outputs are going away: no result can
# come any more, as with a 410.
_BODY_ERROR: Final = BodyError(
    when="error || contains(['esriJobDeleting', 'esriJobDeleted'], jobStatus)",
    code="(error.messageCode == 'GWM_0003' && 'GWM_0003') || error.code || jobStatus",
    message=(
        "(error.details[0] && join(': ', [error.message, join('; ', error.details)]))"
        " || error.message || (jobStatus == 'esriJobDeleted' && 'the job was deleted')"
        " || (jobStatus == 'esriJobDeleting' && 'the job is being deleted')"
    ),
    codes={
        498: "auth",
        499: "auth",
        "GWM_0003": "auth",
        "esriJobDeleting": "gone",
        "esriJobDeleted": "gone",
    },
)
_JOB_ID: Final = "{last.jobId || start.jobId}"
# Services directory cancel (cancel-gp-job): only waiting or executing jobs; a job
# still submitted gets the same "Invalid or missing input parameters" error as a
# finished one, and goes on running: tell them apart by the last status seen (none
# yet: the job was just submitted).
_SERVICES_REFUSED: Final = (
    "body.error.code == `400`"
    " && contains(['esriJobNew', 'esriJobSubmitted', `null`], last.jobStatus)"
)
# Admin cancel (admin cancel-job): only SUBMITTED or EXECUTING jobs; any other status
# answers {"status": "error", "code": 500}. Where the job was last seen executing (or
# already ended) the refusal means it has ended; from new, submitted or waiting it may
# still be waiting, which the admin API cannot cancel.
_ADMIN_ACCEPTED: Final = "body.status == 'success'"
_ADMIN_FINISHED: Final = (
    "body.status == 'error' && body.code == `500` && contains(['esriJobExecuting',"
    " 'esriJobSucceeded', 'esriJobFailed', 'esriJobTimedOut', 'esriJobCancelled',"
    " 'expectedFailure'], last.jobStatus)"
)
_ADMIN_REFUSED: Final = "body.status == 'error'"
_ADMIN_MESSAGE: Final = "(body.messages[0] && join('; ', body.messages)) || body.error.message"

_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_TASK: Final = re.compile(r"^(?P<root>.*?)/rest/services/(?P<service>.+)/GPServer/[^/]+$")
# Characters kept as they are in a task URL: RFC 3986 reserved ones and "%" (the URL may
# be percent-encoded already); a space becomes %20.
_SAFE: Final = ":/@!$&'()*+,;=%~"

CancelStyle = Literal["services", "admin"]


def _url(value: object, name: str) -> str:
    """``value`` as a URL prefix: quoted, no query, no trailing slash, a leading one."""
    if not isinstance(value, str) or not value.strip("/"):
        raise SpecError(f"must be a non-empty URL or path, not {value!r}", field=name)
    if any(c in value for c in "?#{}"):
        raise SpecError("a task or service URL has no query, fragment or braces", field=name)
    url = quote(value.rstrip("/"), safe=_SAFE)
    if not _SCHEME.match(url) and not url.startswith("/"):
        url = "/" + url
    return url


def _task_url(task_url: object) -> str:
    url = _url(task_url, "params.task_url")
    return url.removesuffix("/submitJob")


def _admin_url(task: str, admin_url: object) -> str:
    if admin_url is not None:
        return _url(admin_url, "params.admin_url")
    match = _TASK.match(task)
    if match is None:
        raise SpecError(
            "cannot find <context>/rest/services/<service>/GPServer/<task> in task_url: "
            "give the service's admin URL (…/admin/services/<service>.GPServer)",
            field="params.admin_url",
        )
    return f"{match['root']}/admin/services/{match['service']}.GPServer"


def _cancel(
    style: object, task: str, admin_url: object, confirm_timeout: float
) -> CancelSpec | None:
    # The form carries f=json, so a FormField("token", ...) credential travels in the
    # body: the admin API requires it there.
    if style is None:
        return None
    if style == "services":
        return CancelSpec(
            url=f"{task}/jobs/{_JOB_ID}/cancel",
            method="POST",
            form={"f": "json"},
            confirm_timeout=confirm_timeout,
            refused=_SERVICES_REFUSED,
        )
    if style == "admin":
        return CancelSpec(
            url=f"{_admin_url(task, admin_url)}/jobs/{_JOB_ID}/cancel",
            method="POST",
            form={"f": "json"},
            confirm_timeout=confirm_timeout,
            accepted=_ADMIN_ACCEPTED,
            already_finished=_ADMIN_FINISHED,
            refused=_ADMIN_REFUSED,
            message=_ADMIN_MESSAGE,
        )
    raise SpecError(f"must be 'services', 'admin' or None, not {style!r}", field="params.cancel")


@preset("arcgis")
def arcgis_job(
    *,
    task_url: str,
    cancel: CancelStyle | None = "services",
    admin_url: str | None = None,
    result_param: str | None = None,
    poll_method: Literal["GET", "POST"] = "POST",
    interval: float = 2.0,
    max_duration: float | None = 3600.0,
    confirm_timeout: float = 60.0,
    request_headers: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> PollSpec:
    """The spec for an ArcGIS asynchronous geoprocessing job.

    Start with ``scheduler.start("POST", f"{task_url}/submitJob", form={"f": "json",
    ...task parameters...}, spec=spec)``; attach to a job known by id with
    ``await scheduler.watch(arcgis_job_url(task_url, job_id), spec)``.

    | ``jobStatus``                                     | outcome                            |
    |---------------------------------------------------|------------------------------------|
    | ``esriJobNew``, ``Submitted``, ``Waiting``        | running, progress unknown          |
    | ``esriJobExecuting``                              | running, ``progress.percent``      |
    | ``esriJobCancelling``                             | running (cancelling)               |
    | ``esriJobSucceeded``                              | succeeded: ``results`` (or the     |
    |                                                   | ``result_param`` resource), 100 %  |
    | ``esriJobFailed``, ``esriJobTimedOut``,           | `OperationFailed`: the last error  |
    | ``expectedFailure``                               | message                            |
    | ``esriJobCancelled``                              | `OperationCancelled`               |
    | ``esriJobDeleting``, ``esriJobDeleted``           | `OperationGone` (cancelled right   |
    |                                                   | after an accepted cancel)          |
    | ``{"error": {"code": 498 / 499}}`` (HTTP 200)     | `AuthError`                        |
    | ``{"error": {"code": 5xx / 429}}``                | retried within the error budget    |
    | ``{"error": {"code": 404}}``                      | `OperationGone`                    |
    | ``{"error": {...}}``, any other code              | `HTTPStatusError`                  |

    The token is a credential, never part of the spec: give the Scheduler
    ``credentials={origin: lrpoll.FormField("token", token)}``. It then travels in the
    form body of POST requests (polls by default, both cancels, your ``submitJob``) and
    as a ``token`` query parameter of GET requests (the result fetch), only to trusted
    origins, and is hidden in logs and errors.

    Args:
        task_url: the GP task's URL, absolute or a path on the Scheduler's base URL
            (``/arcgis/rest/services/Hotspots/GPServer/Hot Spots``; spaces are
            encoded, a trailing ``/submitJob`` is dropped).
        cancel: which cancel API ``op.cancel()`` uses: ``"services"`` (the services
            directory, ``<task>/jobs/<id>/cancel``: waiting or executing jobs),
            ``"admin"`` (``<admin_url>/jobs/<id>/cancel``, an administrator's token:
            submitted or executing jobs), or None (no cancel).
        admin_url: the service's admin URL (``…/arcgis/admin/services/<service>.GPServer``,
            possibly on the admin port); None derives it from ``task_url``.
        result_param: the name of a result parameter to fetch once the job succeeded
            (``GET <task>/jobs/<id>/results/<name>?f=json``): the result is then that
            resource, ``{"paramName", "dataType", "value"}``. None: the result is the
            job's ``results`` (``{"<name>": {"paramUrl": "results/<name>"}}``, URLs
            relative to the job URL) and nothing more is fetched.
        poll_method: ``"POST"`` (the default, as arcgis-rest-js polls: the token stays
            out of URLs) or ``"GET"``.
        interval: seconds between polls (the server updates ``progress`` every 5 s).
        max_duration: seconds before `PollTimeout` (the job goes on); None waits forever.
        confirm_timeout: seconds ``op.cancel()`` polls for ``esriJobCancelled``.
        request_headers: non-secret headers for every request of the operation (a
            ``Referer`` for referer-bound tokens); credentials belong to the Scheduler.
        errors: keyword arguments for `ErrorBudget`; None keeps the default budget.

    Returns:
        The spec; its JSON form is ``{"preset": "arcgis", "params": {...}}``.

    Raises:
        SpecError: for a bad ``task_url`` or ``admin_url``, an unknown ``cancel`` or
            ``poll_method``, a bad ``result_param``, a credential in
            ``request_headers``, or a bad ``errors`` (naming ``params.errors``).

    Warning:
        Cancel is best effort: a job whose service is Python without ArcPy accepts the
        cancel and finishes anyway (outcome ``finished_anyway``).
    """
    task = _task_url(task_url)
    if poll_method not in ("GET", "POST"):
        raise SpecError(f"must be 'GET' or 'POST', not {poll_method!r}", field="params.poll_method")
    form = {"f": "json", "returnMessages": "true"}
    result_url = None
    if result_param is not None:
        raw: object = result_param  # JSON params may hold anything
        if not isinstance(raw, str) or not result_param or "{" in result_param:
            raise SpecError(f"not a parameter name: {result_param!r}", field="params.result_param")
        name = quote(result_param, safe="").replace("}", "}}")
        result_url = f"{task}/jobs/{{last.jobId}}/results/{name}?f=json"
    return PollSpec(
        name="arcgis",
        status_url=f"{task}/jobs/{{start.jobId}}",
        status_method=poll_method,
        status_form=form if poll_method == "POST" else None,
        status_query=form if poll_method == "GET" else None,
        request_headers=request_headers,
        result_url=result_url,
        interval=interval,
        max_duration=max_duration,
        errors=error_budget(errors),
        done=_DONE,
        failed=_FAILED,
        cancelled=_CANCELLED,
        required=_REQUIRED,
        progress=_PROGRESS,
        result=None if result_url is not None else "results",
        error_message=_ERROR_MESSAGE,
        body_error=_BODY_ERROR,
        messages=Messages(in_progress="{last.progress.message}"),
        cancel=_cancel(cancel, task, admin_url, confirm_timeout),
    )


def arcgis_job_url(task_url: str, job_id: str) -> str:
    """The status URL of job ``job_id`` of the task, for ``await scheduler.watch(url, spec)``.

    ``arcgis_job_url("/arcgis/rest/services/S/GPServer/T", "j1")`` is
    ``"/arcgis/rest/services/S/GPServer/T/jobs/j1"``.

    Raises:
        SpecError: for a bad ``task_url`` or an empty ``job_id``.
    """
    raw: object = job_id
    if not isinstance(raw, str) or not job_id:
        raise SpecError(f"not a job id: {job_id!r}", field="job_id")
    return f"{_task_url(task_url)}/jobs/{quote(job_id, safe='')}"
