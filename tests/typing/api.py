"""The public API as a user writes it, with the types mypy must infer.

mypy checks this file with the rest of the suite (``files = ["lrpoll", "tests"]``):
every ``assert_type`` pins a public type, and every ``# type: ignore[code]`` marks a
misuse mypy must keep rejecting (strict mode reports an ignore that is no longer
needed). `tests/test_public_api.py` also runs `main` against the fake server, so the
file stays true at run time too.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, assert_type

import anyio

import lrpoll
from lrpoll.testing import FakeJob, FakeLROServer, JobScript, RequestRecord

EXPORT = lrpoll.PollSpec(
    status_url="/api/exports/{start.jobId}/status",
    interval=0.01,
    min_interval=0,
    max_duration=30,
    done="status == 'done'",
    failed="status == 'failed'",
    cancelled="status == 'cancelled'",
    progress="progress",
    result="result",
    error_message="error.message",
    cancel=lrpoll.CancelSpec(url="/api/exports/{start.jobId}/cancel", confirm_timeout=5),
    messages=lrpoll.Messages(in_progress="Export progress: {progress}%", completed="Done"),
)


def specs() -> None:
    """Specs are frozen, keyword-only data with a JSON form."""
    assert_type(EXPORT.interval, float | None)
    assert_type(EXPORT.backoff, lrpoll.Backoff | None)
    assert_type(EXPORT.errors, lrpoll.ErrorBudget)
    assert_type(EXPORT.messages, lrpoll.Messages)
    assert_type(EXPORT.cancel, lrpoll.CancelSpec | None)
    assert_type(EXPORT.effective_backoff, lrpoll.Backoff)
    assert_type(EXPORT.expression("done"), lrpoll.Expression | None)
    assert_type(EXPORT.status_template, lrpoll.UrlTemplate | None)
    assert_type(EXPORT.message_template("in_progress"), lrpoll.MessageTemplate | None)
    assert_type(EXPORT.replace(interval=2.0), lrpoll.PollSpec)
    data = EXPORT.to_json()
    assert_type(data, dict[str, Any])
    assert_type(lrpoll.PollSpec.from_json(data), lrpoll.PollSpec)
    assert_type(lrpoll.Backoff.exponential(0.5, factor=2, max_delay=30), lrpoll.Backoff)
    assert_type(lrpoll.Backoff.fixed(1.0), lrpoll.Backoff)
    assert_type(lrpoll.Backoff.linear(1.0, step=0.5), lrpoll.Backoff)
    assert_type(lrpoll.registry.preset_names(), list[str])
    assert_type(EXPORT.preset, lrpoll.registry.PresetRef | None)
    assert_type(EXPORT.body_error, lrpoll.BodyError | None)
    rule = lrpoll.BodyError(when="error", code="error.code", codes={498: "auth", "X": "gone"})
    assert_type(rule.codes, Mapping[int | str, lrpoll.BodyErrorKind] | None)
    assert_type(lrpoll.BodyError.read_code("498"), int | str | None)
    assert_type(EXPORT.batch, lrpoll.Batch | None)
    listing = lrpoll.Batch(url="/v1/operations", items="operations", id="name", key="last.name")
    assert_type(listing.window, float)
    arcgis = lrpoll.presets.arcgis_job(task_url="/arcgis/rest/services/S/GPServer/T")
    assert_type(arcgis, lrpoll.PollSpec)

    try:
        lrpoll.PollSpec(status_url="/s/{start.id}", done="status == 'done")
    except lrpoll.SpecError as exc:
        assert_type(exc.field, str)
        assert_type(exc.position, int | None)
        assert_type(exc.file, str | None)
    assert_type(lrpoll.loads_spec(json.dumps(data), format="json"), lrpoll.PollSpec)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "spec.json")
        path.write_text(json.dumps(data))
        assert_type(lrpoll.load_spec(path), lrpoll.PollSpec)
        assert_type(lrpoll.load_spec(str(path)), lrpoll.PollSpec)


def expressions() -> None:
    """Expressions and templates compile once and evaluate over plain data."""
    expr = lrpoll.Expression("percent(rows_done, rows_total)", field="progress")
    assert_type(expr.search({"rows_done": 1, "rows_total": 4}), Any)
    url = lrpoll.UrlTemplate("/v1/{+start.name}", field="status_url")
    assert_type(url.fill({"start": {"name": "operations/1"}}), str)
    assert_type(url.is_static, bool)
    message = lrpoll.MessageTemplate("{progress}%", field="messages.in_progress")
    assert_type(message.render({"progress": 40}), str | None)


def core() -> None:
    """The sans-I/O core: observations in, decisions out."""
    obs = lrpoll.core.Observation(http_status=200, body={"status": "running", "progress": 10})
    decision = lrpoll.core.decide(EXPORT, obs)
    assert_type(decision, lrpoll.core.Decision)
    if isinstance(decision, lrpoll.core.Running):
        assert_type(decision.delay, float)
        assert_type(decision.progress, float | None)
    elif isinstance(decision, lrpoll.core.Succeeded):
        assert_type(decision.result, Any)
    elif isinstance(decision, lrpoll.core.Ended):
        assert_type(decision.error, lrpoll.LrpollError)
    else:
        assert_type(decision, lrpoll.core.Retry)
    assert_type(
        lrpoll.core.parse_retry_after("5", received_at=0.0), tuple[float | None, str | None]
    )
    assert_type(lrpoll.core.read_progress("40"), tuple[float | None, str | None])


def errors(exc: lrpoll.LrpollError) -> None:
    """Every error carries the operation id and the last status document."""
    assert_type(exc.message, str)
    assert_type(exc.operation_id, str | None)
    assert_type(exc.status, Any)
    if isinstance(exc, lrpoll.HTTPStatusError):
        assert_type(exc.http_status, int)
        assert_type(exc.body_snippet, str)
    if isinstance(exc, lrpoll.UntrustedURL):
        assert_type(exc.url, str)


def on_progress(op: lrpoll.Operation) -> None:
    """A plain-function hook, called with the operation."""
    assert_type(op.progress, float | None)


async def run_operations(server: FakeLROServer) -> None:
    """Start, follow, await, stop, resume and cancel operations on the fake server."""
    credentials = {server.base_url: lrpoll.BearerToken("s3cret")}
    server.bearer = "s3cret"
    async with lrpoll.Scheduler(base_url=server.base_url, credentials=credentials) as scheduler:
        assert_type(scheduler, lrpoll.Scheduler)
        op = await scheduler.start(
            "POST", "/api/exports", json={"table": "t"}, spec=EXPORT, on_progress=on_progress
        )
        assert_type(op, lrpoll.Operation)
        assert_type(op.state, lrpoll.OperationState)
        assert_type(op.done, bool)
        assert_type(op.status_url, str)
        assert_type(op.message, str | None)
        async for update in op.updates():
            assert_type(update, lrpoll.Update)
            assert_type(update.state, lrpoll.OperationState)
            assert_type(update.progress, float | None)
            assert_type(update.message, str | None)
            assert_type(update.status, Any)
            assert update.state != "finished"  # type: ignore[comparison-overlap]  # no such state
        result = await op
        assert_type(result, Any)
        assert result == {"url": "/downloads/job-1.csv"}
        assert_type(op.result(), Any)

        server.script_next(JobScript.fail_at(1, "disk full"))
        failing = await scheduler.start("POST", "/api/exports", json={}, spec=EXPORT)
        try:
            await failing
        except lrpoll.OperationFailed as exc:
            assert_type(exc, lrpoll.OperationFailed)
        assert_type(failing.error, lrpoll.LrpollError | None)
        assert failing.error is not None
        assert failing.error.message == "disk full"

        server.script_next(JobScript.slow())
        slow = await scheduler.start("POST", "/api/exports", json={}, spec=EXPORT)
        slow.stop()
        assert slow.state == "stopped"
        checkpoint = slow.checkpoint()
        assert_type(checkpoint, str)
        slow.resume()
        outcome = await slow.cancel()
        assert_type(outcome, lrpoll.CancelOutcome)
        assert_type(outcome.kind, lrpoll.OutcomeKind)
        assert_type(outcome.confirmed, bool)
        assert outcome.confirmed

        ops = [await scheduler.start("POST", "/api/exports", json={}, spec=EXPORT) for _ in "ab"]
        async for finished in scheduler.as_completed(ops):
            assert_type(finished, lrpoll.Operation)
        assert_type(scheduler.get(ops[0].id), lrpoll.Operation | None)
        assert_type(scheduler.find(state=("succeeded", "failed")), list[lrpoll.Operation])
        watched = await scheduler.watch("/api/exports/job-1/status", EXPORT)
        assert_type(watched, lrpoll.Operation)
        with anyio.move_on_after(0.01):
            await watched.wait(abandon="detach")
        store: lrpoll.CheckpointStore = lrpoll.DirectoryStore(tempfile.mkdtemp())
        assert isinstance(store, lrpoll.CheckpointStore)
        stats = scheduler.statistics()
        assert_type(stats, lrpoll.SchedulerStatistics)
        assert_type(stats.polls_sent, int)
        assert_type(stats.operations["succeeded"], int)


async def misuse(scheduler: lrpoll.Scheduler) -> None:
    """Mistakes mypy must reject (type-checked, never run)."""
    EXPORT.interval = 2.0  # type: ignore[misc]  # frozen
    lrpoll.PollSpec("/status")  # type: ignore[call-arg]  # keyword-only
    await scheduler.start("POST", "/api/exports")  # type: ignore[call-arg]  # no spec
    op = await scheduler.watch("/api/exports/job-1/status", EXPORT)
    op.progress = 40.0  # type: ignore[misc]  # read-only: the runtime owns the state
    lrpoll.Backoff(kind="random")  # type: ignore[arg-type]  # fixed, linear, exponential


def fakes(server: FakeLROServer) -> None:
    """The fake server's inspection API."""
    job = server.jobs["job-1"]
    assert_type(job, FakeJob)
    assert_type(job.polls, int)
    assert_type(server.requests_to("*/status", "GET"), list[RequestRecord])
    assert_type(server.base_url, str)


async def main() -> None:
    """Run everything above once against a fresh fake server."""
    specs()
    expressions()
    core()
    errors(lrpoll.OperationFailed("failed", operation_id="op-1"))
    async with FakeLROServer() as server:
        await run_operations(server)
        fakes(server)


if __name__ == "__main__":
    asyncio.run(main())
