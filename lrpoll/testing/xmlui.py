"""`FakeXmlui`: the generic job API XMLUI's ``APICall`` deferred-mode examples poll, on loopback.

XMLUI is a client; this is the backend shape of its docs examples (``APICall.md``, the how-to
"Cancel a deferred API operation"), made configurable (PROTOCOLS.md §5.1). Jobs advance one
step per status poll, never by the clock, so tests on a fake clock (looptime) see the same
answers at the same instants every run.

| Route                             | Answer                                                    |
|-----------------------------------|-----------------------------------------------------------|
| ``POST /api/exports``             | 202 (200/201) ``{"jobId": "job-<n>", "tId": "tenant-a"}`` |
| ``GET /api/exports/{id}/status``  | one step, then 200 ``{"status", "progress", "message"}``  |
| ``POST /api/exports/{id}/cancel`` | 200 ``{"cancelled": true}``; 404 unknown; 409 finished    |

A running job reports ``{"status": "running", "progress": P, "message": "Export in
progress"}`` (plus ``tenant`` and ``includeProgress`` when the poll's query has them), with
``P`` going up by ``step`` per poll; at 100 ``{"status": "done", "progress": 100, "message":
"Export completed"}``; a failing script ``{"status": "failed", "progress": P, "message":
<reason>}``; a cancelled job ``{"status": "cancelled", "progress": P}`` (with
``xmlui_doc_compat``, the how-to's ``{"status": "failed", "progress": 0}``). Field names and
the done value are knobs, for the docs examples that use ``state``/``completed``/``percent``.
Every request is logged in `requests`.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from aiohttp import web

from ._loopback import LoopbackServer, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["FakeXmlui", "XmluiJob", "XmluiScript"]

ScriptKind: TypeAlias = Literal["success", "fail", "slow"]
"""How a fake job ends: done at 100 %, failed with a reason, or never."""

ProgressStyle: TypeAlias = Literal["number", "string", "percent"]
"""How progress is written: ``40``, ``"40"`` or ``"40%"`` (where XMLUI's Number() gives NaN)."""

JobStatus: TypeAlias = Literal["running", "done", "failed", "cancelled"]


@dataclass(frozen=True, kw_only=True)
class XmluiScript:
    """What one job does.

    Attributes:
        kind: ``success`` (progress up by ``step`` per poll until 100, then done),
            ``fail`` (fails at poll ``fail_at``), or ``slow`` (stays running at
            ``progress`` forever).
        step: percent added per status poll.
        fail_at: the status poll (1-based) at which a ``fail`` job fails.
        reason: the failure's ``message``.
        progress: the starting percent.
        progress_style: ``number``, ``string`` (``"40"``) or ``percent`` (``"40%"``).
        cancel_ignored: a cancel is answered 200 but the job goes on.
    """

    kind: ScriptKind = "success"
    step: int = 25
    fail_at: int = 2
    reason: str = "export failed"
    progress: int = 0
    progress_style: ProgressStyle = "number"
    cancel_ignored: bool = False

    def __post_init__(self) -> None:
        """Validate the script.

        Raises:
            ValueError: Raised for a negative step, a ``fail_at`` below 1 or a start
                progress outside 0..100.
        """
        if self.step < 0 or self.fail_at < 1 or not 0 <= self.progress <= 100:
            raise ValueError("step >= 0, fail_at >= 1 and 0 <= progress <= 100 are required")

    @classmethod
    def success(cls, step: int = 25, **kwargs: Any) -> XmluiScript:
        """A job that goes up by ``step`` percent per poll and is done at 100."""
        return cls(kind="success", step=step, **kwargs)

    @classmethod
    def failing(cls, at: int = 2, reason: str = "export failed", **kwargs: Any) -> XmluiScript:
        """A job that fails at status poll ``at`` with ``reason``."""
        return cls(kind="fail", fail_at=at, reason=reason, **kwargs)

    @classmethod
    def slow(cls, progress: int = 0, **kwargs: Any) -> XmluiScript:
        """A job that never finishes."""
        return cls(kind="slow", progress=progress, step=0, **kwargs)


@dataclass(eq=False, kw_only=True)
class XmluiJob:
    """One job on a `FakeXmlui`, inspectable by tests.

    Attributes:
        job_id: ``job-<n>``.
        script: what the job does.
        status: ``running``, ``done``, ``failed`` or ``cancelled``.
        progress: the percent done.
        polls: status polls answered so far.
        request: the start request's JSON body (None when it had none).
        cancel_requests: cancel requests received.
        cancel_body: the last cancel request's body, as sent.
    """

    job_id: str
    script: XmluiScript
    status: JobStatus = "running"
    progress: int = 0
    polls: int = 0
    request: Any = None
    cancel_requests: int = 0
    cancel_body: bytes = b""

    def advance(self) -> None:
        """One status poll's worth of work."""
        self.polls += 1
        if self.status != "running":
            return
        if self.script.kind == "fail" and self.polls >= self.script.fail_at:
            self.status = "failed"
            return
        self.progress = min(100, self.progress + self.script.step)
        if self.script.kind == "success" and self.progress >= 100:
            self.status = "done"


class FakeXmlui(LoopbackServer):
    """A fake XMLUI-style job API on 127.0.0.1 (PROTOCOLS.md §5.1).

    ```python
    async with FakeXmlui() as server:
        server.script_next(XmluiScript.failing(2, "disk full"))
        ...  # POST server.url("/api/exports"), then poll /api/exports/<jobId>/status
    ```

    Args:
        host: Loopback address to bind (``127.0.0.x``, ``::1`` or ``localhost``).
        port: Port to bind; 0 picks a free one.
        start_status: Status of the start answer: 202 (default), 200 or 201.
        location_header: Add ``Location: /api/exports/<jobId>/status`` to the start
            answer (XMLUI ignores it).
        step: Percent per poll of jobs created without a queued script.
        status_field: The status document's status field (``status`` or ``state``).
        done_value: The status value of a finished job (``done`` or ``completed``).
        progress_field: The progress field (``progress`` or ``percent``).
        unknown_job: Status of an unknown job: ``not_found`` (404 JSON) or ``docs``
            (the docs example's 200 ``{"state": "failed", "progress": 0, "message": "Job
            not found"}``).
        xmlui_doc_compat: A cancelled job reports ``{"status": "failed", "progress": 0}``,
            as the how-to's mock backend does.
        bearer: When set, every route requires ``Authorization: Bearer <bearer>`` (401
            ``{"error": "unauthorized"}`` otherwise).
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.

    Raises:
        ValueError: Raised for a host that is not loopback or a knob out of range.

    Attributes:
        jobs: Jobs by id, in creation order.
        requests: Every request, in the order its answer was decided.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        start_status: Literal[200, 201, 202] = 202,
        location_header: bool = False,
        step: int = 25,
        status_field: str = "status",
        done_value: Any = "done",
        progress_field: str = "progress",
        unknown_job: Literal["not_found", "docs"] = "not_found",
        xmlui_doc_compat: bool = False,
        bearer: str | None = None,
        shutdown_timeout: float = 0.25,
    ) -> None:
        """Set the knobs; nothing is bound before `start`."""
        if start_status not in (200, 201, 202):
            raise ValueError("start_status must be 200, 201 or 202")
        if unknown_job not in ("not_found", "docs"):
            raise ValueError("unknown_job must be 'not_found' or 'docs'")
        self.host = _loopback(host)
        self.start_status = start_status
        self.location_header = location_header
        self.default_script = XmluiScript(step=step)
        self.status_field = status_field
        self.done_value = done_value
        self.progress_field = progress_field
        self.unknown_job = unknown_job
        self.xmlui_doc_compat = xmlui_doc_compat
        self.bearer = bearer
        self.jobs: dict[str, XmluiJob] = {}
        self.requests = []
        self._faults = []
        self._scripts: deque[XmluiScript] = deque()
        self._next_id = 1
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/exports", self._start)
        app.router.add_get("/api/exports/{job_id}/status", self._status)
        app.router.add_post("/api/exports/{job_id}/cancel", self._cancel)
        return app

    # -- jobs ----------------------------------------------------------------------------------

    def script_next(self, *scripts: XmluiScript) -> None:
        """Queue scripts for the next jobs, one per start request, in order."""
        self._scripts.extend(scripts)

    def document(self, job: XmluiJob) -> dict[str, Any]:
        """The status document ``job`` shows now (without advancing it)."""
        value: Any = job.progress
        if job.script.progress_style == "string":
            value = str(job.progress)
        elif job.script.progress_style == "percent":
            value = f"{job.progress}%"
        status, progress = self.status_field, self.progress_field
        if job.status == "done":
            return {status: self.done_value, progress: value, "message": "Export completed"}
        if job.status == "failed":
            return {status: "failed", progress: value, "message": job.script.reason}
        if job.status == "cancelled":
            if self.xmlui_doc_compat:
                return {status: "failed", progress: 0}
            return {status: "cancelled", progress: value}
        return {status: "running", progress: value, "message": "Export in progress"}

    # -- fault injection ---------------------------------------------------------------------

    def _fault_body(self, status: int) -> bytes:
        """`fail_next`'s default body.

        ``fail_next(status=200, body=b"")`` or ``body=b"oops"`` gives the empty and
        non-JSON bodies XMLUI meets.
        """
        return b'{"error": "unavailable"}'

    # -- request pipeline --------------------------------------------------------------------

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        injected = await self._injected(request)
        if injected is not None:
            return injected
        if self.bearer is not None and (
            request.headers.get("Authorization") != f"Bearer {self.bearer}"
        ):
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    async def _start(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw.strip() else None
        except ValueError:
            return web.json_response({"error": "invalid JSON"}, status=400)
        job_id, self._next_id = f"job-{self._next_id}", self._next_id + 1
        script = self._scripts.popleft() if self._scripts else self.default_script
        job = XmluiJob(job_id=job_id, script=script, progress=script.progress, request=payload)
        self.jobs[job_id] = job
        headers = {"Location": f"/api/exports/{job_id}/status"} if self.location_header else {}
        return web.json_response(
            {"jobId": job_id, "tId": "tenant-a"}, status=self.start_status, headers=headers
        )

    async def _status(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            if self.unknown_job == "docs":
                return web.json_response(
                    {"state": "failed", "progress": 0, "message": "Job not found"}
                )
            return web.json_response({"error": "not found"}, status=404)
        job.advance()
        body = self.document(job)
        for name in ("tenant", "includeProgress"):
            if name in request.query and job.status == "running":
                body[name] = request.query[name]
        return web.json_response(body)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"error": "not found"}, status=404)
        job.cancel_requests += 1
        job.cancel_body = await request.read()
        if job.status != "running":
            return web.json_response({"error": "already finished"}, status=409)
        if not job.script.cancel_ignored:
            job.status = "cancelled"
        return web.json_response({"cancelled": True})
