"""`FakeLROServer`: a generic fake long-running-operation server on loopback (aiohttp.web).

It runs inside the caller's event loop and reads time only from that loop, so tests on a fake
clock (looptime) stay deterministic. Routes, under `prefix` (default `/api/exports`):

| Route                        | Answer                                                          |
|------------------------------|-----------------------------------------------------------------|
| `POST {prefix}`              | create `job-<n>`: 202 `{"jobId", "status": "queued"}` + Location |
| `GET {prefix}/{id}/status`   | advance the job one tick, then 200 with its status document     |
| `GET {prefix}/{id}`          | the same document, without advancing the job                    |
| `POST {prefix}/{id}/cancel`  | cancel per the job's script (`JobScript.cancel`)                |
| `DELETE {prefix}/{id}`       | same as the cancel route                                        |

Every request first meets the injected faults (in the order they were added; a fault's
`path_glob` is an `fnmatch` pattern matched case-sensitively against the decoded path), then the
bearer check, then its route. Every request is logged in `requests`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING, Literal

from aiohttp import web

from ._jobs import FakeJob, JobScript
from ._loopback import LoopbackServer, RequestRecord, _Fault, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["FakeLROServer", "RequestRecord"]

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_INJECTED_BODY = b'{"error": {"code": "Unavailable", "message": "injected failure"}}'
_THROTTLED_BODY = b'{"error": {"code": "TooManyRequests", "message": "slow down"}}'


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": code, "message": message}}
    return web.json_response(body, status=status, headers=headers)


class FakeLROServer(LoopbackServer):
    """A fake "export job" server on 127.0.0.1 for tests, demos and examples.

    Use it as an async context manager (or call `start()` / `close()`) inside the event loop
    that runs the client:

    ```python
    async with FakeLROServer() as server:
        server.script_next(JobScript.fail_at(2, "disk full"))
        ...  # POST server.url("/api/exports"), then poll the Location
    ```

    Args:
        host: Loopback address to bind (`127.0.0.x`, `::1` or `localhost`).
        port: Port to bind; 0 picks a free one.
        prefix: Path prefix of the job routes.
        default_script: Script of jobs created when no `script_next` is queued.
        start_status: Status of the creation answer (200, 201 or 202).
        bearer: When set, every route requires `Authorization: Bearer <bearer>`.
        expire_after_polls: When set with `bearer`, the token stops being accepted after this
            many authorized status polls, until `bearer` is assigned again.
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.

    Raises:
        ValueError: Raised when `host` is not a loopback address or a knob is out of range.

    Attributes:
        jobs: Jobs by id, in creation order.
        requests: Every request, in the order its answer was decided.
        default_script: Script of jobs created when no `script_next` is queued.
        start_status: Status of the creation answer.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        prefix: str = "/api/exports",
        default_script: JobScript | None = None,
        start_status: Literal[200, 201, 202] = 202,
        bearer: str | None = None,
        expire_after_polls: int | None = None,
        shutdown_timeout: float = 0.25,
    ) -> None:
        if start_status not in (200, 201, 202):
            raise ValueError("start_status must be 200, 201 or 202")
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError("prefix must start with '/' and not end with '/'")
        self.host = _loopback(host)
        self.prefix = prefix
        self.default_script = JobScript() if default_script is None else default_script
        self.start_status = start_status
        self.expire_after_polls = expire_after_polls
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[RequestRecord] = []
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._bearer = bearer
        self._authorized_polls = 0
        self._scripts: deque[JobScript] = deque()
        self._faults = []
        self._next_id = 1
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        p = self.prefix
        app.router.add_post(p, self._create)
        app.router.add_get(p + "/{id}/status", self._status)
        app.router.add_get(p + "/{id}", self._peek)
        app.router.add_post(p + "/{id}/cancel", self._cancel)
        app.router.add_delete(p + "/{id}", self._cancel)
        return app

    def status_url(self, job_id: str) -> str:
        """Return the absolute status URL of job `job_id`."""
        return self.url(f"{self.prefix}/{job_id}/status")

    @property
    def bearer(self) -> str | None:
        """The accepted bearer token; assigning one also restarts `expire_after_polls`."""
        return self._bearer

    @bearer.setter
    def bearer(self, token: str | None) -> None:
        self._bearer = token
        self._authorized_polls = 0

    # -- jobs --------------------------------------------------------------------------------

    def script_next(self, *scripts: JobScript) -> None:
        """Queue scripts for the next created jobs, one per job, in order."""
        self._scripts.extend(scripts)

    def add_job(self, script: JobScript | None = None, *, job_id: str | None = None) -> FakeJob:
        """Create a job without a request (to attach to an operation that already exists).

        Args:
            script: The job's script; `None` takes the next queued script or the default.
            job_id: The job's id; `None` picks the next free `job-<n>`.

        Returns:
            The new job, also in `jobs`.

        Raises:
            ValueError: Raised when `job_id` is taken or contains `/`.
        """
        if job_id is not None and (job_id in self.jobs or "/" in job_id or not job_id):
            raise ValueError(f"job id {job_id!r} is taken or invalid")
        while job_id is None or job_id in self.jobs:
            job_id, self._next_id = f"job-{self._next_id}", self._next_id + 1
        if script is None:
            script = self._scripts.popleft() if self._scripts else self.default_script
        job = FakeJob(id=job_id, script=script, created_at=asyncio.get_running_loop().time())
        self.jobs[job_id] = job
        return job

    # -- fault injection ---------------------------------------------------------------------

    def _fault_body(self, status: int) -> bytes:
        """`fail_next`'s default body."""
        return _INJECTED_BODY

    def drop_connection_next(self, path_glob: str = "*", times: int = 1) -> None:
        """Close the connection of the next `times` matching requests without an answer.

        Note:
            aiohttp's client (3.14) silently resends an idempotent request (GET, DELETE, ...)
            once after a disconnect, so a single drop of a GET goes unnoticed by it: use
            `times=2` to make it see the error.
        """
        self._add(_Fault("drop", path_glob, times))

    def malformed_next(
        self,
        path_glob: str = "*",
        times: int = 1,
        body: bytes = b"<html>oops</html>",
        content_type: str = "application/json",
    ) -> None:
        """Answer the next `times` matching requests 200 with a body that is not JSON."""
        self._add(_Fault("malformed", path_glob, times, 200, body, {"Content-Type": content_type}))

    def throttle_next(self, path_glob: str = "*", retry_after: str = "10", times: int = 1) -> None:
        """Answer the next `times` matching requests 429 with `Retry-After: retry_after`."""
        headers = {"Content-Type": "application/json", "Retry-After": retry_after}
        self._add(_Fault("throttle", path_glob, times, 429, _THROTTLED_BODY, headers))

    def redirect_next(
        self, path_glob: str, location: str, status: int = 302, times: int = 1
    ) -> None:
        """Answer the next `times` matching requests with a redirect to `location` (as given)."""
        if status not in _REDIRECT_STATUSES:
            raise ValueError(f"redirect status must be one of {sorted(_REDIRECT_STATUSES)}")
        self._add(_Fault("redirect", path_glob, times, status, b"", {"Location": location}))

    # -- request pipeline --------------------------------------------------------------------

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse | None:
        delay, fault = self._take_faults(request.path)
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.close()
                return None
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        return self._check_auth(request) or await handler(request)

    def _check_auth(self, request: web.Request) -> web.Response | None:
        if self._bearer is None:
            return None
        if request.headers.get("Authorization") != f"Bearer {self._bearer}":
            message = "missing or invalid credentials"
            return _error(401, "Unauthorized", message, {"WWW-Authenticate": "Bearer"})
        limit = self.expire_after_polls
        if limit is not None and self._authorized_polls >= limit:
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            return _error(401, "Unauthorized", "token expired", challenge)
        return None

    def _job(self, request: web.Request) -> FakeJob | None:
        job = self.jobs.get(request.match_info["id"])
        if job is not None:
            job.refresh(asyncio.get_running_loop().time())
        return job

    # -- handlers ----------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        job = self.add_job()
        headers = {"Location": f"{self.prefix}/{job.id}/status"}
        if job.script.start_retry_after is not None:
            headers["Retry-After"] = job.script.start_retry_after
        body = {"jobId": job.id, "status": "queued"}
        return web.json_response(body, status=self.start_status, headers=headers)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        if job is None:
            return _error(404, "NotFound", "job not found")
        if self._bearer is not None:
            self._authorized_polls += 1
        job.advance(asyncio.get_running_loop().time())
        headers = {}
        if job.script.retry_after is not None and not job.finished:
            headers["Retry-After"] = job.script.retry_after
        return web.json_response(job.document(), headers=headers)

    async def _peek(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        if job is None:
            return _error(404, "NotFound", "job not found")
        return web.json_response(job.document())

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        job = self._job(request)
        if job is None:
            return _error(404, "NotFound", "job not found")
        match job.request_cancel(await request.read()):
            case "cancelled":
                return web.json_response({"jobId": job.id, "status": "cancelled"})
            case "cancelling":
                return web.json_response({"jobId": job.id, "status": "cancelling"}, status=202)
            case "unsupported":
                status = job.script.unsupported_status
                headers = {"Allow": "GET"} if status == 405 else {}
                return _error(status, "UNIMPLEMENTED", "cancel is not supported", headers)
            case "finished":
                message = f"job is already {job.state}"
                return _error(job.script.finished_status, "AlreadyFinished", message)
