"""Specs and helpers shared by the cancellation tests (fake server in the test's loop)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from lrpoll import CancelSpec, PollSpec

if TYPE_CHECKING:
    from lrpoll import Operation, Scheduler
    from lrpoll.testing import FakeJob, FakeLROServer, JobScript

PREFIX = "/api/exports"
CANCEL = CancelSpec(url=PREFIX + "/{start.jobId}/cancel", method="POST", confirm_timeout=30)


def make_spec(*, cancel: CancelSpec | None = CANCEL, **changes: Any) -> PollSpec:
    """The fake export API's spec: 1 s interval, done/failed/cancelled from ``status``."""
    fields: dict[str, Any] = {
        "status_url": PREFIX + "/{start.jobId}/status",
        "interval": 1.0,
        "done": "status == 'done'",
        "failed": "status == 'failed'",
        "cancelled": "status == 'cancelled'",
        "progress": "progress",
        "result": "result",
        "error_message": "error.message",
        "cancel": cancel,
    }
    fields.update(changes)
    return PollSpec(**fields)


SPEC = make_spec()


def now() -> float:
    """The running loop's clock (looptime's fake clock in these tests)."""
    return asyncio.get_running_loop().time()


async def start(
    scheduler: Scheduler,
    server: FakeLROServer,
    script: JobScript | None = None,
    *,
    spec: PollSpec = SPEC,
    **kwargs: Any,
) -> tuple[Operation, FakeJob]:
    """Start one job on ``server`` (with ``script``) and return its operation and fake job."""
    if script is not None:
        server.script_next(script)
    op = await scheduler.start("POST", PREFIX, json={}, spec=spec, **kwargs)
    return op, list(server.jobs.values())[-1]


def cancels(server: FakeLROServer, job: FakeJob | None = None) -> list[Any]:
    """The cancel requests (POST .../cancel or DELETE .../{id}) the server logged."""
    jid = "*" if job is None else job.id
    return server.requests_to(f"{PREFIX}/{jid}/cancel", "POST") + server.requests_to(
        f"{PREFIX}/{jid}", "DELETE"
    )


def polls(server: FakeLROServer, job: FakeJob) -> list[Any]:
    """The status polls of ``job`` the server logged."""
    return server.requests_to(f"{PREFIX}/{job.id}/status", "GET")
