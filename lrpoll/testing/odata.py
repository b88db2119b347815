"""`FakeOData`: a fake OData 4.01 service with asynchronous requests, on loopback (aiohttp.web).

It follows OData-P §11.6 (PROTOCOLS.md §5.4) and runs inside the caller's event loop: jobs
advance one tick per status-monitor poll, never by the clock, so tests on a fake clock
(looptime) see the same answers at the same instants every run. Routes, under ``/odata``:

| Route                              | Answer                                                  |
|------------------------------------|---------------------------------------------------------|
| ``POST /odata/Exports``            | create: 201 + ``Location``/``OData-EntityId`` + entity  |
| ``POST /odata/GenerateReport``     | action: 200 ``{"value": "report-<n>.pdf"}``             |
| ``POST /odata/ClearCache``         | action without a result: 204                            |
| ``GET /odata/Products``            | query: 200 ``{"value": [...]}``                         |
| ``GET /odata/Exports({id})``       | an exported entity (where ``redirect_when_done`` leads) |
| ``GET /odata/$async/{token}``      | the status monitor: 202 running, then the final answer  |
| ``DELETE /odata/$async/{token}``   | cancel                                                  |
| ``GET /odata/$async/{token}-cancel`` | the monitor of an asynchronous cancel                 |

The first four answer synchronously without ``Prefer: respond-async`` (never 202), and with
it ``202 Accepted`` + ``Location: <absolute>/odata/$async/<token>`` + ``Retry-After`` +
``Preference-Applied: respond-async``. The monitor answers 202 for ``ticks`` polls, then:

- success, for a 4.01 request: ``200`` + ``AsyncResult: <code>`` + the final headers and body;
- success, for ``OData-MaxVersion: 4.0`` without ``Accept`` (or with a bare ``*/*``), or
  ``Accept`` naming ``application/http``: ``200`` + ``Content-Type: application/http``
  holding the final response;
- failure: ``AsyncResult: 500`` (or 400) and an OData error body (wrapped likewise for 4.0);
- server-side cancel: ``200`` + ``application/http`` holding ``HTTP/1.1 503 Service Unavailable``;
- ``redirect_when_done`` (exports only): ``303 See Other`` + ``Location: /odata/Exports(<id>)``.

Not served: ``$batch`` and the ``callback`` preference (jobs advance per poll, so a
callback would only echo the client's own polls). Every request is logged in `requests`.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from aiohttp import web

from ._loopback import LoopbackServer, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["FakeOData", "ODataJob", "ODataScript"]

ScriptKind: TypeAlias = Literal["success", "failure", "server_cancel", "slow"]
"""How a fake OData job ends: with its result, an error, a service-side cancel, or never."""

RequestKind: TypeAlias = Literal["export", "report", "clear_cache", "products"]
"""What the asynchronous request was (it decides the final status and body)."""

_REASONS: dict[int, str] = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_PRODUCTS: list[dict[str, Any]] = [
    {"ID": 1, "Name": "Bread", "Price": 2.5},
    {"ID": 2, "Name": "Milk", "Price": 1.25},
]


@dataclass(frozen=True, kw_only=True)
class ODataScript:
    """What one asynchronous job does.

    Attributes:
        kind: ``success``, ``failure`` (``AsyncResult: error_status`` with an OData error),
            ``server_cancel`` (an ``application/http`` 503), or ``slow`` (202 forever).
        ticks: monitor polls answered 202 before the final answer; the i-th carries
            ``percentComplete = 100*i // (ticks + 1)`` (the 202 of the request carries 0).
        error_status: the final status of a failure (500 or 400).
        error_code: the OData ``error.code`` of a failure.
        error_message: the OData ``error.message`` of a failure or a service-side cancel.
    """

    kind: ScriptKind = "success"
    ticks: int = 3
    error_status: int = 500
    error_code: str = "ExportFailed"
    error_message: str = "export failed"

    def __post_init__(self) -> None:
        """Validate the script.

        Raises:
            ValueError: Raised for negative ticks or an error status outside 400..599.
        """
        if self.ticks < 0:
            raise ValueError("ticks must be >= 0")
        if not 400 <= self.error_status <= 599:
            raise ValueError("error_status must be a 4xx or 5xx code")

    @classmethod
    def success(cls, ticks: int = 3) -> ODataScript:
        """A job that runs ``ticks`` polls, then answers its result."""
        return cls(kind="success", ticks=ticks)

    @classmethod
    def failure(
        cls,
        message: str = "export failed",
        *,
        status: int = 500,
        code: str = "ExportFailed",
        ticks: int = 3,
    ) -> ODataScript:
        """A job that fails after ``ticks`` polls: ``AsyncResult: status`` + OData error."""
        return cls(
            kind="failure", ticks=ticks, error_status=status, error_code=code, error_message=message
        )

    @classmethod
    def server_cancel(
        cls, message: str = "cancelled by the service", ticks: int = 3
    ) -> ODataScript:
        """A job the service cancels after ``ticks`` polls (an embedded ``503``)."""
        return cls(kind="server_cancel", ticks=ticks, error_message=message, error_code="Cancelled")

    @classmethod
    def slow(cls) -> ODataScript:
        """A job that never finishes (202 forever, at percent 0)."""
        return cls(kind="slow", ticks=0)


JobState: TypeAlias = Literal["running", "done", "cancelling", "cancelled", "expired"]


@dataclass(eq=False, kw_only=True)
class ODataJob:
    """One asynchronous request on a `FakeOData`, inspectable by tests.

    Attributes:
        token: the monitor token (``/odata/$async/<token>``).
        kind: what the request was.
        script: what the job does.
        entity_id: the id of the exported entity (exports), else None.
        state: ``running``, ``done``, ``cancelling`` (an asynchronous cancel in progress),
            ``cancelled`` or ``expired``.
        polls: GET requests on its monitor answered so far (401s excluded).
        prefer: the request's ``Prefer`` header.
        cancel_requests: DELETE requests received.
        cancel_left: monitor polls (either monitor) until an asynchronous cancel ends.
    """

    token: str
    kind: RequestKind
    script: ODataScript
    entity_id: int | None = None
    state: JobState = "running"
    polls: int = 0
    prefer: str = ""
    cancel_requests: int = 0
    cancel_left: int = 0

    @property
    def percent(self) -> int:
        """The percent done the next 202 reports."""
        if self.script.kind == "slow":
            return 0
        return min(100, 100 * min(self.polls, self.script.ticks) // (self.script.ticks + 1))


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": [], "innererror": {}}}


def _json_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(_error_body(code, message), status=status, headers=headers)


def _prefers(header: str) -> dict[str, str]:
    """The preferences of a ``Prefer`` header (RFC 7240), names lower-case, values unquoted."""
    out: dict[str, str] = {}
    for item in header.split(","):
        token = item.split(";", 1)[0].strip()
        if not token:
            continue
        name, _, value = token.partition("=")
        out[name.strip().lower()] = value.strip().strip('"')
    return out


class FakeOData(LoopbackServer):
    """A fake OData service on 127.0.0.1 with asynchronous requests (OData-P §11.6).

    Knobs are attributes: set them before (or between) requests.

    ```python
    async with FakeOData(ticks=2) as server:
        server.script_next(ODataScript.failure("disk full"))
        ...  # POST server.url("/odata/Exports") with Prefer: respond-async, poll Location
    ```

    Args:
        host: Loopback address to bind (``127.0.0.x``, ``::1`` or ``localhost``).
        port: Port to bind; 0 picks a free one.
        odata_version: The ``OData-Version`` sent on every response (``"4.01"`` or ``"4.0"``).
        bearer: When set, every route requires ``Authorization: Bearer <bearer>`` (401
            with an OData error and ``WWW-Authenticate: Bearer`` otherwise).
        ticks: 202 polls of jobs created without a queued script (`ODataScript.ticks`).
        retry_after: ``Retry-After`` seconds on 202 and 303 answers; 0 omits the header.
        http_date: Send ``Retry-After`` as an HTTP-date (with a matching ``Date``).
        status_body: Give 202 answers a body ``{"status": "Running", "percentComplete": p}``.
        sync_anyway: Ignore ``respond-async`` and answer synchronously (a MAY of §8.2.8.8).
        ttl_polls: When set, a monitor answers at most this many GETs; later ones (and a
            DELETE) get ``expired_status``.
        expired_status: 410 (default) or 404 for an expired monitor.
        redirect_when_done: A finished export's monitor answers ``303 See Other`` to the
            entity (``/odata/Exports(<id>)``) instead of the result.
        cancel_status: 204 (default) or 200 for an accepted DELETE.
        async_cancel: Answer DELETE with 202 + ``Location`` of a cancel monitor
            (``/odata/$async/<token>-cancel``); the cancel ends after ``cancel_polls``
            polls of either monitor. Meanwhile the job's monitor answers 202, then 404;
            the cancel monitor answers 202, then 204.
        cancel_polls: Polls an asynchronous cancel takes.
        cancel_unsupported: Answer DELETE with 405 + ``Allow: GET``.
        cancel_ignored: Answer DELETE as accepted but let the job finish (a negative test).
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.

    Raises:
        ValueError: Raised for a host that is not loopback or a knob out of range.

    Attributes:
        jobs: Jobs by token, in creation order.
        requests: Every request, in the order its answer was decided.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        odata_version: Literal["4.01", "4.0"] = "4.01",
        bearer: str | None = None,
        ticks: int = 3,
        retry_after: int = 1,
        http_date: bool = False,
        status_body: bool = True,
        sync_anyway: bool = False,
        ttl_polls: int | None = None,
        expired_status: Literal[404, 410] = 410,
        redirect_when_done: bool = False,
        cancel_status: Literal[200, 204] = 204,
        async_cancel: bool = False,
        cancel_polls: int = 2,
        cancel_unsupported: bool = False,
        cancel_ignored: bool = False,
        shutdown_timeout: float = 0.25,
    ) -> None:
        """Set the knobs; nothing is bound before `start`."""
        if retry_after < 0 or ticks < 0 or cancel_polls < 0:
            raise ValueError("retry_after, ticks and cancel_polls must be >= 0")
        self.host = _loopback(host)
        self.odata_version = odata_version
        self.bearer = bearer
        self.ticks = ticks
        self.retry_after = retry_after
        self.http_date = http_date
        self.status_body = status_body
        self.sync_anyway = sync_anyway
        self.ttl_polls = ttl_polls
        self.expired_status = expired_status
        self.redirect_when_done = redirect_when_done
        self.cancel_status = cancel_status
        self.async_cancel = async_cancel
        self.cancel_polls = cancel_polls
        self.cancel_unsupported = cancel_unsupported
        self.cancel_ignored = cancel_ignored
        self.jobs: dict[str, ODataJob] = {}
        self.requests = []
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._scripts: deque[ODataScript] = deque()
        self._next_job = 1
        self._next_entity = 42
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def service_root(self) -> str:
        """The absolute service root, ``<base_url>/odata``."""
        return self.base_url + "/odata"

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        return self._check_auth(request) or await handler(request)

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(self._version_header)
        app.router.add_post("/odata/Exports", self._exports)
        app.router.add_post("/odata/GenerateReport", self._report)
        app.router.add_post("/odata/ClearCache", self._clear_cache)
        app.router.add_get("/odata/Products", self._products)
        app.router.add_get("/odata/Exports({id})", self._entity)
        app.router.add_get("/odata/$async/{token}", self._monitor)
        app.router.add_delete("/odata/$async/{token}", self._delete)
        return app

    def monitor_url(self, token: str) -> str:
        """Return the absolute status-monitor URL of job ``token``."""
        return self.url(f"/odata/$async/{token}")

    # -- jobs ----------------------------------------------------------------------------------

    def script_next(self, *scripts: ODataScript) -> None:
        """Queue scripts for the next asynchronous requests, one per request, in order."""
        self._scripts.extend(scripts)

    def expire(self, token: str) -> None:
        """Let job ``token``'s monitor expire now: GET and DELETE get ``expired_status``.

        Raises:
            KeyError: Raised for an unknown token.
        """
        self.jobs[token].state = "expired"

    def forget(self, token: str) -> None:
        """Drop job ``token`` as if it never existed: GET and DELETE get 404.

        Raises:
            KeyError: Raised for an unknown token.
        """
        del self.jobs[token]

    def _new_job(self, kind: RequestKind, prefer: str) -> ODataJob:
        script = self._scripts.popleft() if self._scripts else ODataScript(ticks=self.ticks)
        token = f"job{self._next_job}"
        self._next_job += 1
        entity_id = self._new_entity() if kind == "export" else None
        job = ODataJob(token=token, kind=kind, script=script, entity_id=entity_id, prefer=prefer)
        self.jobs[token] = job
        return job

    def _new_entity(self) -> int:
        entity_id, self._next_entity = self._next_entity, self._next_entity + 1
        return entity_id

    # -- request pipeline --------------------------------------------------------------------

    async def _version_header(self, request: web.Request, response: web.StreamResponse) -> None:
        response.headers["OData-Version"] = self.odata_version

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self.bearer is None:
            return None
        if request.headers.get("Authorization") == f"Bearer {self.bearer}":
            return None
        message = "missing or invalid bearer token"
        return _json_error(401, "Unauthorized", message, {"WWW-Authenticate": "Bearer"})

    def _retry_headers(self) -> dict[str, str]:
        if self.retry_after == 0:
            return {}
        if not self.http_date:
            return {"Retry-After": str(self.retry_after)}
        # A Date from the same instant makes the delay exact (clients read an HTTP-date
        # Retry-After against Date), whatever the loop's clock says.
        now = math.floor(time.time())
        return {
            "Date": email.utils.formatdate(now, usegmt=True),
            "Retry-After": email.utils.formatdate(now + self.retry_after, usegmt=True),
        }

    # -- synchronous results -------------------------------------------------------------------

    def _entity_body(self, entity_id: int) -> dict[str, Any]:
        return {
            "@odata.context": f"{self.service_root}/$metadata#Exports/$entity",
            "ID": entity_id,
            "Status": "Completed",
            "File": f"export-{entity_id}.csv",
        }

    def _final(self, job: ODataJob) -> tuple[int, dict[str, str], Any]:
        """The final (synchronous) status, headers and body of ``job``'s request."""
        if job.script.kind in ("failure", "server_cancel"):
            status = 503 if job.script.kind == "server_cancel" else job.script.error_status
            return status, {}, _error_body(job.script.error_code, job.script.error_message)
        return self._result(job.kind, job.entity_id, job.token)

    def _result(
        self, kind: RequestKind, entity_id: int | None, tag: str
    ) -> tuple[int, dict[str, str], Any]:
        if kind == "export":
            assert entity_id is not None
            location = self.url(f"/odata/Exports({entity_id})")
            headers = {"Location": location, "OData-EntityId": location}
            return 201, headers, self._entity_body(entity_id)
        if kind == "report":
            context = f"{self.service_root}/$metadata#Edm.String"
            return 200, {}, {"@odata.context": context, "value": f"report-{tag}.pdf"}
        if kind == "products":
            return (
                200,
                {},
                {"@odata.context": f"{self.service_root}/$metadata#Products", "value": _PRODUCTS},
            )
        return 204, {}, None

    @staticmethod
    def _response(status: int, headers: Mapping[str, str], body: Any) -> web.Response:
        if body is None:
            return web.Response(status=status, headers=headers)
        return web.json_response(body, status=status, headers=headers)

    # -- handlers: requests ----------------------------------------------------------------------

    async def _start(self, request: web.Request, kind: RequestKind) -> web.StreamResponse:
        prefer = request.headers.get("Prefer", "")
        if "respond-async" not in _prefers(prefer) or self.sync_anyway:
            # §8.2.8.8 / §11.6: without respond-async, never 202.
            entity_id = self._new_entity() if kind == "export" else None
            status, headers, body = self._result(kind, entity_id, "sync")
            return self._response(status, headers, body)
        job = self._new_job(kind, prefer)
        headers = {
            "Location": self.monitor_url(job.token),
            "Preference-Applied": "respond-async",
            **self._retry_headers(),
        }
        body = {"status": "Running", "percentComplete": 0} if self.status_body else None
        return self._response(202, headers, body)

    async def _exports(self, request: web.Request) -> web.StreamResponse:
        return await self._start(request, "export")

    async def _report(self, request: web.Request) -> web.StreamResponse:
        return await self._start(request, "report")

    async def _clear_cache(self, request: web.Request) -> web.StreamResponse:
        return await self._start(request, "clear_cache")

    async def _products(self, request: web.Request) -> web.StreamResponse:
        return await self._start(request, "products")

    async def _entity(self, request: web.Request) -> web.StreamResponse:
        raw = request.match_info["id"]
        if not raw.isdigit() or not 42 <= int(raw) < self._next_entity:
            return _json_error(404, "NotFound", f"no export {raw}")
        return web.json_response(self._entity_body(int(raw)))

    # -- handlers: the status monitor ----------------------------------------------------------

    def _wrapped(self, request: web.Request) -> bool:
        # §11.6: application/http for OData-MaxVersion 4.0 without Accept, or an Accept
        # that names application/http; otherwise AsyncResult. A bare "*/*" (what HTTP
        # clients such as aiohttp send by default) counts as no Accept.
        accept = request.headers.get("Accept", "*/*").lower()
        if "application/http" in accept:
            return True
        no_accept = accept.replace(" ", "") in ("", "*/*")
        return no_accept and request.headers.get("OData-MaxVersion", "").strip() == "4.0"

    @staticmethod
    def _http_message(status: int, headers: Mapping[str, str], body: Any) -> web.Response:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        payload = ""
        if body is not None:
            lines.append("Content-Type: application/json")
            payload = json.dumps(body)
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        text = "\r\n".join(lines) + "\r\n\r\n" + payload
        return web.Response(
            status=200, body=text.encode(), headers={"Content-Type": "application/http"}
        )

    def _running(self, job: ODataJob, token: str) -> web.Response:
        headers = {"Location": self.monitor_url(token), **self._retry_headers()}
        body = None
        if self.status_body:
            status = "Cancelling" if job.state == "cancelling" else "Running"
            body = {"status": status, "percentComplete": job.percent}
        return self._response(202, headers, body)

    def _tick_cancel(self, job: ODataJob) -> None:
        if job.state == "cancelling":
            if job.cancel_left <= 0:
                job.state = "cancelled"
            else:
                job.cancel_left -= 1

    async def _monitor(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        if token.endswith("-cancel") and token.removesuffix("-cancel") in self.jobs:
            return self._cancel_monitor(token.removesuffix("-cancel"))
        job = self.jobs.get(token)
        if job is None:
            return _json_error(404, "NotFound", "no such status monitor")
        if job.state == "expired" or (self.ttl_polls is not None and job.polls >= self.ttl_polls):
            job.state = "expired"
            return _json_error(self.expired_status, "Expired", "the status monitor expired")
        job.polls += 1
        self._tick_cancel(job)
        if job.state == "cancelled":
            return _json_error(404, "NotFound", "the request was cancelled")
        if job.state == "cancelling" or job.script.kind == "slow" or job.polls <= job.script.ticks:
            return self._running(job, token)
        job.state = "done"
        if job.script.kind == "server_cancel":
            # §11.6: cancelled by the service, a single HTTP response with a 5xx status.
            return self._http_message(*self._final(job))
        status, headers, body = self._final(job)
        if self.redirect_when_done and job.kind == "export" and job.script.kind == "success":
            location = f"/odata/Exports({job.entity_id})"
            return web.Response(status=303, headers={"Location": location, **self._retry_headers()})
        if self._wrapped(request):
            return self._http_message(status, headers, body)
        headers = {"AsyncResult": str(status), **headers}
        # The monitor's own status is 200 whatever the final status (a 204 has no body).
        return self._response(200, headers, body)

    def _cancel_monitor(self, token: str) -> web.StreamResponse:
        job = self.jobs[token]
        self._tick_cancel(job)
        if job.state == "cancelling":
            headers = {"Location": self.monitor_url(token + "-cancel"), **self._retry_headers()}
            return web.Response(status=202, headers=headers)
        return web.Response(status=204)

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        job = self.jobs.get(token)
        if job is None or job.state == "cancelled":
            return _json_error(404, "NotFound", "no such status monitor")
        job.cancel_requests += 1
        if job.state == "expired":
            return _json_error(self.expired_status, "Expired", "the status monitor expired")
        if self.cancel_unsupported:
            return _json_error(405, "MethodNotAllowed", "cancel is not supported", {"Allow": "GET"})
        if self.cancel_ignored:
            return web.Response(status=self.cancel_status)
        if job.state == "cancelling":
            headers = {"Location": self.monitor_url(token + "-cancel"), **self._retry_headers()}
            return web.Response(status=202, headers=headers)
        if self.async_cancel and job.state == "running":
            job.state, job.cancel_left = "cancelling", self.cancel_polls
            headers = {"Location": self.monitor_url(token + "-cancel"), **self._retry_headers()}
            return web.Response(status=202, headers=headers)
        # A finished job's result is discarded too; later GETs get 404.
        job.state = "cancelled"
        return web.Response(status=self.cancel_status)
