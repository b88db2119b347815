"""`FakeArcGIS`: a fake ArcGIS Server with asynchronous geoprocessing services, on loopback.

Built to PROTOCOLS.md §5.2. It runs inside the caller's event loop (aiohttp.web): jobs
advance one tick per status read, never by the clock, so tests on a fake clock (looptime)
see the same answers at the same instants every run. Routes (``{service}`` may hold a
folder, ``Folder/Service``):

Base ``/arcgis/rest/services/{service}/GPServer/{task}`` (GET or POST):

| Route                           | Answer                                                    |
|---------------------------------|-----------------------------------------------------------|
| ``…/submitJob``                 | ``{"jobId": "j…", "jobStatus": "esriJobSubmitted"}``      |
| ``…/jobs/{id}``                 | advance one tick, then the job resource                   |
| ``…/jobs/{id}/results/{param}`` | ``{"paramName", "dataType", "value"}`` once succeeded     |
| ``…/jobs/{id}/results``         | the list of them (11.1+)                                  |
| ``…/jobs/{id}/inputs/{param}``  | a recorded input                                          |
| ``…/jobs/{id}/cancel``          | services directory cancel                                 |

and ``POST /arcgis/admin/services/{service}.GPServer/jobs/{id}/cancel``, the admin
cancel (GET: 405).

Every endpoint reads its parameters from the query string and an
``application/x-www-form-urlencoded`` body, merged. ``f`` must be ``json`` or ``pjson``
(indented); anything else answers 400 text/html. Errors come as HTTP 200 with
``{"error": {"code", "message", "details"}}`` (``real_http_status=True`` sends 498/499 as
the HTTP status too).

The token is read from the ``token`` query parameter, the ``token`` form field, or
``X-Esri-Authorization: Bearer <t>``: missing gives 499 "Token Required", unknown or
expired 498 "Invalid token.". The admin API also wants an administrator's token; another
valid token gets ``{"status": "error", "messages": ["User does not have permission…"],
"code": 403}``.

Every request first meets the injected faults (`fail_next`, `delay_next`,
`drop_connection_next`), then the ``f``
check, then the token check, then its route, and is logged in `requests` (headers with
credentials redacted; query and body as sent).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias
from urllib.parse import parse_qsl

from aiohttp import web

from ._loopback import LoopbackServer, _Fault, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Mapping

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["ArcGISJob", "ArcGISScript", "FakeArcGIS"]

ScriptKind: TypeAlias = Literal["success", "fail", "timeout", "warn", "expected_failure", "slow"]
"""How a fake job ends (``slow``: it executes forever)."""

ProgressStyle: TypeAlias = Literal["step", "default", "none"]
"""What ``progress`` an executing job reports: a step progressor (``percent``), the default
progressor (a message only), or none (servers before 10.8.1)."""

CancelApi: TypeAlias = Literal["services", "admin"]

SUBMITTED: Final = "esriJobSubmitted"
WAITING: Final = "esriJobWaiting"
EXECUTING: Final = "esriJobExecuting"
SUCCEEDED: Final = "esriJobSucceeded"
FAILED: Final = "esriJobFailed"
TIMED_OUT: Final = "esriJobTimedOut"
CANCELLING: Final = "esriJobCancelling"
CANCELLED: Final = "esriJobCancelled"
DELETED: Final = "esriJobDeleted"
EXPECTED_FAILURE: Final = "expectedFailure"
TERMINAL: Final = frozenset({SUCCEEDED, FAILED, TIMED_OUT, CANCELLED, DELETED, EXPECTED_FAILURE})

_INFO: Final = "esriJobMessageTypeInformative"
_WARNING: Final = "esriJobMessageTypeWarning"
_ERROR: Final = "esriJobMessageTypeError"
_UNABLE: Final = "Unable to complete operation."
_NO_PERMISSION: Final = "User does not have permission to perform this operation."
_F: Final = web.RequestKey("arcgis_f", str)
_PARAMS: Final = web.RequestKey("arcgis_params", dict[str, str])
_TOKEN: Final = web.RequestKey("arcgis_token", str)


@dataclass(frozen=True, kw_only=True)
class ArcGISScript:
    """What one fake job does, tick by tick (tick k is the k-th status read).

    The job reads ``esriJobSubmitted`` at submission and for ``submitted`` reads, then
    ``esriJobWaiting`` for ``waiting`` reads, ``esriJobExecuting`` for ``executing``
    reads (the i-th with ``percent = round(100·i/(executing+1))``, ``Step i of n``), then
    its end: ``success`` (``results``), ``fail`` (an error message, then ``Failed.``),
    ``timeout`` (``esriJobTimedOut``), ``warn`` (success with a warning message),
    ``expected_failure`` (``jobStatus: "expectedFailure"``); ``slow`` never ends.

    Attributes:
        kind: how the job ends.
        submitted: reads answered ``esriJobSubmitted`` after the submission.
        waiting: reads answered ``esriJobWaiting``.
        executing: reads answered ``esriJobExecuting``.
        error_message: the error message of a ``fail`` job.
        results: result parameters by name: ``(dataType, value)``.
    """

    kind: ScriptKind = "success"
    submitted: int = 1
    waiting: int = 1
    executing: int = 3
    error_message: str = "ERROR 000735: Input Features: Value is required."
    results: Mapping[str, tuple[str, Any]] = field(
        default_factory=lambda: {"out": ("GPString", "done")}
    )

    def __post_init__(self) -> None:
        """Validate the script.

        Raises:
            ValueError: Raised for a negative tick count, or no executing read in ``slow``.
        """
        if min(self.submitted, self.waiting, self.executing) < 0:
            raise ValueError("tick counts must be >= 0")
        if self.kind == "slow" and self.executing < 1:
            raise ValueError("a slow job needs executing >= 1")

    @classmethod
    def success(cls, executing: int = 3, **changes: Any) -> ArcGISScript:
        """A job that executes for ``executing`` reads, then succeeds."""
        return cls(kind="success", executing=executing, **changes)

    @classmethod
    def fail(
        cls, message: str = "ERROR 000735: Input Features: Value is required.", **changes: Any
    ) -> ArcGISScript:
        """A job that fails with ``message`` as its last error message."""
        return cls(kind="fail", error_message=message, **changes)

    @classmethod
    def slow(cls, **changes: Any) -> ArcGISScript:
        """A job that executes forever (for cancel tests)."""
        return cls(kind="slow", **changes)

    def state_at(self, tick: int) -> str:
        """The ``jobStatus`` at read ``tick`` (0 is the submission)."""
        if tick <= self.submitted:
            return SUBMITTED
        tick -= self.submitted
        if tick <= self.waiting:
            return WAITING
        tick -= self.waiting
        if tick <= self.executing or self.kind == "slow":
            return EXECUTING
        return {
            "fail": FAILED,
            "timeout": TIMED_OUT,
            "expected_failure": EXPECTED_FAILURE,
        }.get(self.kind, SUCCEEDED)


@dataclass(eq=False, kw_only=True)
class ArcGISJob:
    """One job on a `FakeArcGIS`, inspectable (and changeable) by tests.

    Attributes:
        job_id: ``j`` + 32 lowercase hex digits.
        service: the service (with its folder).
        task: the task name.
        script: what the job does.
        inputs: the task parameters it was submitted with (``f`` and ``token`` left out).
        status: its ``jobStatus``.
        tick: status reads so far.
        step: executing reads so far.
        messages: its messages (they only grow).
        cancel_left: reads until a cancelling job is cancelled.
        cancels: the cancel requests it received: ``(api, answer)``, answer
            ``"accepted"``, ``"ignored"`` or ``"error"``.
    """

    job_id: str
    service: str
    task: str
    script: ArcGISScript
    inputs: dict[str, str]
    status: str = SUBMITTED
    tick: int = 0
    step: int = 0
    messages: list[dict[str, str]] = field(default_factory=list)
    cancel_left: int = 0
    cancels: list[tuple[CancelApi, str]] = field(default_factory=list)

    def _say(self, kind: str, text: str) -> None:
        self.messages.append({"type": kind, "description": text})

    def _enter(self, status: str) -> None:
        self.status = status
        if status == EXECUTING:
            self._say(_INFO, "Executing...")
            if self.script.kind == "warn":
                self._say(_WARNING, "WARNING 000117: Warning empty output generated.")
        elif status == SUCCEEDED:
            self._say(_INFO, f"Succeeded at {self.job_id} (Elapsed Time: 0,00 seconds)")
        elif status in (FAILED, EXPECTED_FAILURE):
            self._say(_ERROR, self.script.error_message)
            self._say(_INFO, "Failed.")
        elif status == CANCELLED:
            self._say(_INFO, "Cancelled.")

    def advance(self) -> None:
        """Take one tick: cancelling counts down to cancelled; otherwise the script moves."""
        if self.status in TERMINAL:
            return
        if self.status == CANCELLING:
            self.cancel_left -= 1
            if self.cancel_left <= 0:
                self._enter(CANCELLED)
            return
        self.tick += 1
        status = self.script.state_at(self.tick)
        if status == EXECUTING:
            self.step += 1
        if status != self.status:
            self._enter(status)

    def cancel(self, ticks: int) -> None:
        """Start cancelling: ``esriJobCancelled`` after ``ticks`` reads (0: at once)."""
        if ticks <= 0:
            self._enter(CANCELLED)
        else:
            self.status, self.cancel_left = CANCELLING, ticks

    def resource(self, style: ProgressStyle, *, messages: bool = True) -> dict[str, Any]:
        """The job resource ``jobs/{id}?f=json`` answers."""
        doc: dict[str, Any] = {"jobId": self.job_id, "jobStatus": self.status}
        if self.status == EXECUTING and style != "none":
            n = self.script.executing
            i = min(self.step, n) if n else 0
            if style == "step":
                percent = round(100 * i / (n + 1))
                doc["progress"] = {
                    "type": "step",
                    "message": f"Step {i} of {n}",
                    "percent": percent,
                }
            else:
                doc["progress"] = {"type": "default", "message": "Running"}
        if self.status == SUCCEEDED:
            doc["results"] = {p: {"paramUrl": f"results/{p}"} for p in self.script.results}
            doc["inputs"] = {p: {"paramUrl": f"inputs/{p}"} for p in self.inputs}
        if messages:
            doc["messages"] = [dict(m) for m in self.messages]
        return doc


def _envelope(code: int, message: str, details: list[str] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


class FakeArcGIS(LoopbackServer):
    """A fake ArcGIS Server with asynchronous GP services, on 127.0.0.1.

    ```python
    async with FakeArcGIS(tokens={"t0ken"}) as server:
        server.script_next(ArcGISScript.fail("ERROR 000735: ..."))
        ...  # POST server.task_url() + "/submitJob" with f=json&token=t0ken
    ```

    Args:
        host: Loopback address to bind.
        port: Port to bind; 0 picks a free one.
        tokens: Valid tokens.
        admin_tokens: Valid tokens of administrators (also valid elsewhere).
        token_required: False serves everything without a token.
        real_http_status: Send 498/499 as the HTTP status of token errors, not 200.
        expire_after_polls: Every token expires after this many authenticated status
            reads (server-wide); None: never.
        tasks: Task names that exist; None: any name.
        progress_style: What executing jobs report (`ProgressStyle`).
        cancel_ticks: Reads a cancelling job takes to become cancelled (0: at once, and
            the services directory cancel answers ``esriJobCancelled``).
        cancel_ignored: Cancels are accepted, but the job goes on (a Python service
            without ArcPy).
        default_script: Script of jobs submitted without a queued one.
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.

    Raises:
        ValueError: Raised for a host that is not loopback or a knob out of range.

    Attributes:
        jobs: Jobs by id, in submission order.
        tokens: Valid tokens (assignable).
        admin_tokens: Valid administrator tokens.
        expired: Tokens that have expired.
        requests: Every request, in the order its answer was decided.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tokens: Collection[str] = (),
        admin_tokens: Collection[str] = (),
        token_required: bool = True,
        real_http_status: bool = False,
        expire_after_polls: int | None = None,
        tasks: Collection[str] | None = None,
        progress_style: ProgressStyle = "step",
        cancel_ticks: int = 2,
        cancel_ignored: bool = False,
        default_script: ArcGISScript | None = None,
        shutdown_timeout: float = 0.25,
    ) -> None:
        """Set the knobs; nothing is bound before `start`."""
        if cancel_ticks < 0 or (expire_after_polls is not None and expire_after_polls < 0):
            raise ValueError("cancel_ticks and expire_after_polls must be >= 0")
        if progress_style not in ("step", "default", "none"):
            raise ValueError("progress_style must be 'step', 'default' or 'none'")
        self.host = _loopback(host)
        self.tokens: set[str] = set(tokens)
        self.admin_tokens: set[str] = set(admin_tokens)
        self.expired: set[str] = set()
        self.token_required = token_required
        self.real_http_status = real_http_status
        self.expire_after_polls = expire_after_polls
        self.tasks = None if tasks is None else set(tasks)
        self.progress_style: ProgressStyle = progress_style
        self.cancel_ticks = cancel_ticks
        self.cancel_ignored = cancel_ignored
        self.default_script = default_script or ArcGISScript()
        self.jobs: dict[str, ArcGISJob] = {}
        self.requests = []
        self._faults = []
        self._scripts: deque[ArcGISScript] = deque()
        self._authenticated_polls = 0
        self._next_job = 1
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- URLs and jobs -------------------------------------------------------------------------

    def task_url(self, service: str = "Hotspots", task: str = "Hot Spots") -> str:
        """The absolute URL of a task (``…/arcgis/rest/services/{service}/GPServer/{task}``)."""
        return self.url(f"/arcgis/rest/services/{service}/GPServer/{task}").replace(" ", "%20")

    def admin_url(self, service: str = "Hotspots") -> str:
        """The absolute admin URL of a service (``…/arcgis/admin/services/{service}.GPServer``)."""
        return self.url(f"/arcgis/admin/services/{service}.GPServer").replace(" ", "%20")

    def script_next(self, *scripts: ArcGISScript) -> None:
        """Queue scripts for the next submitted jobs, one per job, in order."""
        self._scripts.extend(scripts)

    def expire(self, token: str) -> None:
        """Let ``token`` expire now: it answers 498 from then on."""
        self.tokens.discard(token)
        self.admin_tokens.discard(token)
        self.expired.add(token)

    def _fault_body(self, status: int) -> Mapping[str, Any]:
        """ArcGIS's error envelope, the body `fail_next` sends when given none.

        ``fail_next("*/jobs/*", 200, {"error": {"code": 500, ...}})`` is a server error
        reported in a 200 body.
        """
        return _envelope(status, "Error handling service request")

    def drop_connection_next(self, path_glob: str = "*", times: int = 1) -> None:
        """Close the connection of the next ``times`` matching requests without an answer.

        aiohttp's client sends an idempotent request (a GET poll) again once after a
        disconnect: drop it twice for the client to see the error.
        """
        self._add(_Fault("drop", path_glob, times))

    # -- the application -----------------------------------------------------------------------

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        task = "/arcgis/rest/services/{service:.+}/GPServer/{task}"
        admin = "/arcgis/admin/services/{service:.+}.GPServer/jobs/{job}/cancel"
        routes = [
            (task + "/submitJob", self._submit),
            (task + "/jobs/{job}", self._job),
            (task + "/jobs/{job}/results", self._all_results),
            (task + "/jobs/{job}/results/{param}", self._result),
            (task + "/jobs/{job}/inputs/{param}", self._input),
            (task + "/jobs/{job}/cancel", self._services_cancel),
        ]
        for path, handler in routes:
            app.router.add_route("GET", path, handler)
            app.router.add_route("POST", path, handler)
        app.router.add_route("*", admin, self._admin_cancel, name="admin_cancel")
        return app

    async def _params(self, request: web.Request) -> dict[str, str]:
        params = dict(request.query.items())
        if request.content_type == "application/x-www-form-urlencoded":
            params.update(parse_qsl((await request.read()).decode("utf-8", "replace")))
        return params

    def _json(self, request: web.Request, body: Any, status: int = 200) -> web.Response:
        pretty = request.get(_F) == "pjson"
        text = json.dumps(body, indent=2 if pretty else None)
        return web.Response(status=status, text=text, content_type="application/json")

    def _token_error(self, request: web.Request, code: int, expired: bool) -> web.Response:
        message = "Token Required" if code == 499 else "Invalid token."
        details = ["Token has expired."] if expired else []
        status = code if self.real_http_status else 200
        return self._json(request, _envelope(code, message, details), status)

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse | None:
        delay, fault = self._take_faults(request.path)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None and fault.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return None
        if fault is not None:
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        if request.match_info.route.name == "admin_cancel" and request.method != "POST":
            return web.Response(status=405, headers={"Allow": "POST"})
        params = await self._params(request)
        f = params.get("f")
        if f not in ("json", "pjson"):
            return web.Response(
                status=400, text="html not supported by fake", content_type="text/html"
            )
        request[_F], request[_PARAMS] = f, params
        if self.token_required:
            bearer = request.headers.get("X-Esri-Authorization", "")
            token = params.get("token") or (bearer[7:] if bearer.startswith("Bearer ") else None)
            if not token:
                return self._token_error(request, 499, expired=False)
            if token not in self.tokens and token not in self.admin_tokens:
                return self._token_error(request, 498, expired=token in self.expired)
            request[_TOKEN] = token
        return await handler(request)

    def _lookup(self, request: web.Request) -> ArcGISJob | web.Response:
        job = self.jobs.get(request.match_info["job"])
        if job is None:
            return self._json(request, _envelope(400, _UNABLE, ["Job not found"]))
        return job

    # -- handlers ------------------------------------------------------------------------------

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        task = request.match_info["task"]
        if self.tasks is not None and task not in self.tasks:
            return self._json(request, _envelope(400, _UNABLE, ["Invalid URL"]))
        inputs = {k: v for k, v in request[_PARAMS].items() if k not in ("f", "token")}
        job_id = f"j{self._next_job:032x}"
        self._next_job += 1
        script = self._scripts.popleft() if self._scripts else self.default_script
        job = ArcGISJob(
            job_id=job_id,
            service=request.match_info["service"],
            task=task,
            script=script,
            inputs=inputs,
        )
        job._say(_INFO, "Submitted.")
        self.jobs[job_id] = job
        return self._json(request, {"jobId": job_id, "jobStatus": SUBMITTED})

    async def _job(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        if isinstance(job, web.Response):
            return job
        job.advance()
        if self.token_required and self.expire_after_polls is not None:
            self._authenticated_polls += 1
            if self._authenticated_polls >= self.expire_after_polls:
                for token in list(self.tokens | self.admin_tokens):
                    self.expire(token)
        messages = request[_PARAMS].get("returnMessages", "true").lower() != "false"
        return self._json(request, job.resource(self.progress_style, messages=messages))

    def _param(self, job: ArcGISJob, name: str) -> dict[str, Any] | None:
        entry = job.script.results.get(name)
        if entry is None:
            return None
        return {"paramName": name, "dataType": entry[0], "value": entry[1]}

    async def _result(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        if isinstance(job, web.Response):
            return job
        doc = self._param(job, request.match_info["param"])
        if job.status != SUCCEEDED or doc is None:
            reason = "Job is not succeeded" if job.status != SUCCEEDED else "Invalid URL"
            return self._json(request, _envelope(400, _UNABLE, [reason]))
        return self._json(request, doc)

    async def _all_results(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        if isinstance(job, web.Response):
            return job
        if job.status != SUCCEEDED:
            return self._json(request, _envelope(400, _UNABLE, ["Job is not succeeded"]))
        return self._json(request, [self._param(job, p) for p in job.script.results])

    async def _input(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        if isinstance(job, web.Response):
            return job
        name = request.match_info["param"]
        if name not in job.inputs:
            return self._json(request, _envelope(400, _UNABLE, ["Invalid URL"]))
        return self._json(
            request, {"paramName": name, "dataType": "GPString", "value": job.inputs[name]}
        )

    def _accept_cancel(self, job: ArcGISJob, api: CancelApi) -> None:
        if self.cancel_ignored:
            job.cancels.append((api, "ignored"))
            return
        job.cancels.append((api, "accepted"))
        job.cancel(self.cancel_ticks)

    async def _services_cancel(self, request: web.Request) -> web.StreamResponse:
        job = self._lookup(request)
        if isinstance(job, web.Response):
            return job
        # Reference: cancel-gp-job: only waiting or executing jobs; a submitted job gets
        # the same error and goes on running.
        if job.status not in (WAITING, EXECUTING):
            job.cancels.append(("services", "error"))
            details = ["Invalid or missing input parameters."]
            return self._json(request, _envelope(400, _UNABLE, details))
        self._accept_cancel(job, "services")
        status = CANCELLING if self.cancel_ignored else job.status
        return self._json(request, {"jobId": job.job_id, "jobStatus": status})

    async def _admin_cancel(self, request: web.Request) -> web.StreamResponse:
        if self.token_required and request[_TOKEN] not in self.admin_tokens:
            body = {"status": "error", "messages": [_NO_PERMISSION], "code": 403}
            return self._json(request, body)
        job = self._lookup(request)
        if isinstance(job, web.Response):
            return job
        # Reference: admin cancel-job: "can only succeed if the current status of the
        # job is SUBMITTED or EXECUTING".
        if job.status not in (SUBMITTED, EXECUTING):
            job.cancels.append(("admin", "error"))
            messages = [f"Unable to cancel job :[{job.job_id}]"]
            return self._json(request, {"status": "error", "messages": messages, "code": 500})
        self._accept_cancel(job, "admin")
        return self._json(request, {"status": "success"})
