"""The ``lrpoll demo`` scenario: a handful of export jobs on the embedded fake server.

`run_demo` starts a `FakeLROServer` on 127.0.0.1, starts every job in `JOBS` through
one `Scheduler`, follows each operation's updates concurrently, and returns a
`DemoReport` saying whether every operation ended as scripted. A `Reporter` shows what
happens; `PlainReporter` prints plain text (the CLI adds rich output when it can).

Adding a scripted job is one more `DemoJob` in `JOBS`: the `JobScript` the fake server
follows, the state the operation must end in, and, when the job needs the client to do
something while it runs (stop and resume it, cancel it), a `drive` coroutine built from
`DemoContext.follow` and the operation's own methods, as `_stop_then_resume` does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Coroutine, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

import anyio
from yarl import URL

from ._scheduler import Scheduler
from ._spec import Backoff, CancelSpec, ErrorBudget, Messages, PollSpec
from .testing import FakeLROServer, JobScript

if TYPE_CHECKING:
    from ._exceptions import LrpollError
    from ._operation import Operation, OperationState, Update
    from ._scheduler import SchedulerStatistics

__all__ = [
    "JOBS",
    "DemoContext",
    "DemoJob",
    "DemoReport",
    "Outcome",
    "PlainReporter",
    "Reporter",
    "demo_spec",
    "format_percent",
    "run_demo",
]

#: Seconds between polls: short, so the whole demo takes a few seconds of real time.
INTERVAL: Final = 0.2
#: Seconds after which the demo gives up on everything (a safety net; never reached).
OVERALL_LIMIT: Final = 30.0


def demo_spec(*, interval: float = INTERVAL, max_duration: float | None = 30.0) -> PollSpec:
    """The spec for the fake server's export jobs, with sub-second polling."""
    return PollSpec(
        name="demo-export",
        status_url="/api/exports/{start.jobId}/status",
        interval=interval,
        min_interval=0.0,
        max_duration=max_duration,
        errors=ErrorBudget(
            max_consecutive=3, backoff=Backoff.exponential(interval, max_delay=1.0, jitter=1.0)
        ),
        done="status == 'done'",
        failed="status == 'failed'",
        cancelled="status == 'cancelled'",
        progress="progress",
        result="result",
        error_message="error.message",
        messages=Messages(
            in_progress="{last.message} ({progress}%)",
            completed="Export completed: {result.url}",
            failed="Export failed: {error}",
            timed_out="Gave up waiting: {error}",
            cancelled="Export cancelled: {error}",
        ),
        cancel=CancelSpec(url="/api/exports/{start.jobId}/cancel", confirm_timeout=5.0),
    )


Driver = Callable[["DemoContext"], Coroutine[Any, Any, None]]
"""What the client does while a job runs; the default just follows it to its end."""


@dataclass(frozen=True, kw_only=True)
class DemoJob:
    """One scripted job of the demo.

    Attributes:
        name: a short label (the table being exported).
        story: one line saying what the job shows.
        script: what the fake server does with the job.
        expect: the state the operation must end in.
        expect_error: text the operation's error must contain, when it has one.
        max_duration: the job's deadline in seconds (``PollSpec.max_duration``).
        drive: what the client does while the job runs (default: follow it to its end).
    """

    name: str
    story: str
    script: JobScript
    expect: OperationState
    expect_error: str | None = None
    max_duration: float | None = 30.0
    drive: Driver | None = None


@dataclass(kw_only=True)
class DemoContext:
    """What a `DemoJob.drive` coroutine works with."""

    job: DemoJob
    op: Operation
    server: FakeLROServer
    reporter: Reporter
    _last: tuple[object, ...] | None = field(default=None, repr=False)

    def say(self, text: str) -> None:
        """Tell the user what the client just did."""
        self.reporter.note(self.job, text)

    async def follow(self, until: Callable[[Update], bool] | None = None) -> None:
        """Report the operation's updates until ``until`` holds or the updates end.

        Updates that change nothing visible (same state, progress and message) are
        not reported again.
        """
        # updates() is an async generator: close it on leaving, so its subscription ends
        # here rather than when the garbage collector finds it.
        updates = cast("AsyncGenerator[Update, None]", self.op.updates())
        async with aclosing(updates):
            async for update in updates:
                shown = (update.state, update.progress, update.message)
                if shown != self._last:
                    self._last = shown
                    self.reporter.update(self.job, update)
                if until is not None and until(update):
                    return


async def _follow(ctx: DemoContext) -> None:
    await ctx.follow()


async def _stop_then_resume(ctx: DemoContext) -> None:
    """Stop polling at 30 % (client side only), wait, then resume where it left off."""
    await ctx.follow(until=lambda u: (u.progress or 0) >= 30)
    if ctx.op.done:  # a very slow machine: it finished between two polls
        return
    ctx.op.stop()
    ctx.say("op.stop(): the client stops polling; the server job goes on")
    await ctx.follow()  # reports the "stopped" state
    await anyio.sleep(3 * INTERVAL)
    ctx.op.resume()
    ctx.say("op.resume(): polling again where it left off")
    await ctx.follow()


async def _one_server_error(ctx: DemoContext) -> None:
    """Make the server answer the next poll with 503: a transient fault lrpoll retries."""
    ctx.server.fail_next(URL(ctx.op.status_url).path, status=503)
    ctx.say("the next poll will get a 503: retried within the error budget")
    await ctx.follow()


async def _cancel_on_server(ctx: DemoContext) -> None:
    """Ask the server to cancel at 20 %; the server answers "cancelling", then confirms."""
    await ctx.follow(until=lambda u: (u.progress or 0) >= 20)
    if ctx.op.done:
        return
    ctx.say("await op.cancel(): one cancel request, then polling until the server confirms")
    async with anyio.create_task_group() as tg:
        tg.start_soon(ctx.follow)
        outcome = await ctx.op.cancel()
    ctx.say(f"cancel outcome: {outcome.kind} (HTTP {outcome.http_status})")


JOBS: tuple[DemoJob, ...] = (
    DemoJob(
        name="customers",
        story="succeeds after 5 polls",
        script=JobScript.success(polls=5),
        expect="succeeded",
    ),
    DemoJob(
        name="orders",
        story="queued for 2 polls, then reports its own progress",
        script=JobScript(queued_polls=2, polls=4, progress=(10, 35, 60, 85)),
        expect="succeeded",
    ),
    DemoJob(
        name="invoices",
        story="fails on its 4th poll: the server's message becomes OperationFailed",
        script=JobScript.fail_at(4, "disk full on /exports"),
        expect="failed",
        expect_error="disk full on /exports",
    ),
    DemoJob(
        name="audit-log",
        story="never finishes: max_duration=1.5 s gives up with PollTimeout",
        script=JobScript.slow(),
        expect="timed_out",
        expect_error="no terminal state within 1.5 s",
        max_duration=1.5,
    ),
    DemoJob(
        name="inventory",
        story="op.stop() at 30 %, op.resume() a moment later (the server went on)",
        script=JobScript.timed(seconds=2.0, polls=8),
        expect="succeeded",
        drive=_stop_then_resume,
    ),
    DemoJob(
        name="products",
        story="one poll answers 503: retried, then succeeds",
        script=JobScript.success(polls=6),
        expect="succeeded",
        drive=_one_server_error,
    ),
    DemoJob(
        name="shipments",
        story="cancelled on the server at 20 %: cancelling, then confirmed cancelled",
        script=JobScript.cancel_async(2, polls=10),
        expect="cancelled",
        drive=_cancel_on_server,
    ),
)
"""The demo's jobs, started in this order. Add a `DemoJob` here to script one more."""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one job's operation ended, against what the demo scripted."""

    job: DemoJob
    state: OperationState
    error: str | None

    @property
    def problem(self) -> str | None:
        """Why the outcome is not the scripted one, or None when it is."""
        if self.state != self.job.expect:
            return f"ended {self.state}, expected {self.job.expect}"
        if self.job.expect_error is not None and self.job.expect_error not in (self.error or ""):
            return f"error {self.error!r} lacks {self.job.expect_error!r}"
        return None


@dataclass(frozen=True, kw_only=True)
class DemoReport:
    """What the demo did: outcomes, the scheduler's statistics and the time it took."""

    server_url: str
    outcomes: tuple[Outcome, ...]
    statistics: SchedulerStatistics
    elapsed: float

    @property
    def ok(self) -> bool:
        """True when every operation ended as scripted."""
        return all(o.problem is None for o in self.outcomes)

    def by_state(self) -> list[tuple[str, int, list[str]]]:
        """``(state, operations, job names)`` per end state.

        The count is the scheduler's own (`Scheduler.statistics`), the names the demo's.
        """
        names: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            names.setdefault(outcome.state, []).append(outcome.job.name)
        counts = self.statistics.operations
        return [(state, counts.get(state, len(jobs)), jobs) for state, jobs in names.items()]


class Reporter(Protocol):
    """Shows the demo as it runs."""

    def begin(self, server_url: str, jobs: Sequence[DemoJob]) -> None:
        """The server is up and the jobs are about to start."""

    def update(self, job: DemoJob, update: Update) -> None:
        """An operation changed (state, progress or message)."""

    def note(self, job: DemoJob, text: str) -> None:
        """The client did something to an operation (stop, resume, ...)."""

    def end(self, report: DemoReport) -> None:
        """Every operation has ended."""


def format_percent(progress: float | None) -> str:
    """Progress in four columns: `` 40%``, or ``   -`` when unknown."""
    return "   -" if progress is None else f"{progress:3.0f}%"


class PlainReporter:
    """Plain text on stdout: one line per change, then a summary. ASCII only."""

    def __init__(self, write: Callable[[str], None] | None = None) -> None:
        self._write = write or (lambda line: print(line, flush=True))
        self._width = 0

    def begin(self, server_url: str, jobs: Sequence[DemoJob]) -> None:
        """Print what the demo will do."""
        self._width = max(len(j.name) for j in jobs)
        self._write(
            f"lrpoll demo: {len(jobs)} export jobs, one Scheduler, fake server {server_url}"
        )
        self._write("")
        for job in jobs:
            self._write(f"  {job.name:<{self._width}}  {job.story}")
        self._write("")

    def update(self, job: DemoJob, update: Update) -> None:
        """Print one line: job, state, progress, message."""
        line = f"{job.name:<{self._width}}  {update.state:<9}  {format_percent(update.progress)}"
        self._write(f"{line}  {update.message or ''}".rstrip())

    def note(self, job: DemoJob, text: str) -> None:
        """Print what the client did."""
        self._write(f"{job.name:<{self._width}}  {'':<9}  {'':>4}  -> {text}")

    def end(self, report: DemoReport) -> None:
        """Print the summary."""
        stats = report.statistics
        self._write("")
        self._write("Summary")
        for state, count, names in report.by_state():
            self._write(f"  {state:<10} {count}  {', '.join(names)}")
        self._write(
            f"  polls sent {stats.polls_sent}, errors retried {stats.errors_retried},"
            f" elapsed {report.elapsed:.1f} s"
        )
        for outcome in report.outcomes:
            if outcome.problem is not None:
                self._write(f"  UNEXPECTED: {outcome.job.name} {outcome.problem}")
        self._write(
            "  every operation ended as scripted"
            if report.ok
            else "  some operations did not end as scripted"
        )


async def run_demo(
    reporter: Reporter,
    *,
    jobs: Sequence[DemoJob] = JOBS,
    interval: float = INTERVAL,
) -> DemoReport:
    """Run the demo against an embedded fake server and report it.

    Args:
        reporter: shows the demo as it runs.
        jobs: the scripted jobs, started in order.
        interval: seconds between polls.

    Returns:
        The report; ``report.ok`` says whether every operation ended as scripted.
    """
    began = time.perf_counter()
    async with FakeLROServer() as server, Scheduler(base_url=server.base_url, seed=1) as scheduler:
        server_url = server.base_url
        reporter.begin(server_url, jobs)
        contexts: list[DemoContext] = []
        with anyio.move_on_after(OVERALL_LIMIT):
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    # Each start takes the next queued script: start them one by one.
                    server.script_next(job.script)
                    spec = demo_spec(interval=interval, max_duration=job.max_duration)
                    op = await scheduler.start(
                        "POST", "/api/exports", json={"table": job.name}, spec=spec
                    )
                    ctx = DemoContext(job=job, op=op, server=server, reporter=reporter)
                    contexts.append(ctx)
                    # Follow at once, so the first poll's update is seen too.
                    tg.start_soon(job.drive or _follow, ctx)
        statistics = scheduler.statistics()
    report = DemoReport(
        server_url=server_url,
        outcomes=tuple(_outcome(ctx) for ctx in contexts),
        statistics=statistics,
        elapsed=time.perf_counter() - began,
    )
    reporter.end(report)
    return report


def _outcome(ctx: DemoContext) -> Outcome:
    error: LrpollError | None = ctx.op.error
    return Outcome(job=ctx.job, state=ctx.op.state, error=None if error is None else error.message)
