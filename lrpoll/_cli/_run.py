"""Running ``watch``, ``start`` and ``resume``: one scheduler, a display, Ctrl-C handling.

The first Ctrl-C stops polling on the client side (the server job goes on) and says how
to resume: the checkpoint file written with ``--checkpoint``, or the exact command. With
``--cancel-on-interrupt`` it asks the server to cancel instead, shows the outcome, and
waits for the confirmation at most ``--cancel-wait`` seconds (then stops). A second
Ctrl-C exits at once (code 5), writing the checkpoint first when one was asked for.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from .._checkpoint import load
from .._scheduler import Scheduler
from ._display import Watched, label_for
from ._exit import CliError, ExitCode, code_for_state
from ._inputs import origin_url

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .._operation import Operation
    from .._spec import PollSpec
    from ._display import Display
    from ._inputs import Headers

__all__ = ["Job", "Plan", "run", "write_checkpoints"]


@dataclass(frozen=True, kw_only=True)
class Job:
    """One operation to follow: watch a status URL, start one, or resume a checkpoint."""

    kind: Literal["watch", "start", "resume"]
    url: str
    method: str = "GET"
    body: Any = None
    checkpoint: str | None = None


@dataclass(kw_only=True)
class Plan:
    """Everything ``run`` needs besides the display."""

    jobs: list[Job]
    spec: PollSpec | None
    headers: Headers
    allow_origins: list[str] = field(default_factory=list)
    checkpoint_path: str | None = None
    cancel_on_interrupt: bool = False
    cancel_wait: float = 10.0
    #: The command that resumes a stopped operation without a checkpoint file.
    replay: Callable[[Watched], str | None] = lambda watched: None


def job_from_checkpoint(text: str) -> Job:
    """A resume job for one checkpoint (its status URL says which origin to trust).

    Raises:
        CheckpointError: when the checkpoint cannot be loaded.
    """
    doc = load(text)
    return Job(kind="resume", url=str(doc["status_url"]), checkpoint=text)


def write_checkpoints(path: str, watched: Sequence[Watched]) -> int:
    """Write the stopped operations' checkpoints to ``path``, one per line; how many."""
    lines = [w.op.checkpoint().replace("\n", " ") for w in watched if w.op.state == "stopped"]
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(temporary, target)
    return len(lines)


class _Interrupts:
    """Ctrl-C: the first press sets `first`; the second calls ``at_once``."""

    def __init__(self, at_once: Callable[[], None]) -> None:
        self.first = anyio.Event()
        self._presses = 0
        self._at_once = at_once

    def __enter__(self) -> _Interrupts:
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self._pressed)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)

    def _pressed(self) -> None:
        self._presses += 1
        if self._presses == 1:
            self.first.set()
        else:
            self._at_once()


async def _open(scheduler: Scheduler, plan: Plan, job: Job) -> Operation:
    headers = plan.headers.plain or None
    if job.kind == "resume":
        assert job.checkpoint is not None
        op = scheduler.resume(job.checkpoint)
        if op.state == "stopped":
            op.resume()
        return op
    assert plan.spec is not None
    if job.kind == "watch":
        return await scheduler.watch(job.url, plan.spec, request_headers=headers)
    return await scheduler.start(
        job.method, job.url, spec=plan.spec, json=job.body, request_headers=headers
    )


class _Run:
    def __init__(self, plan: Plan, display: Display) -> None:
        self.plan = plan
        self.display = display
        self.watched: list[Watched] = []

    def tell_how_to_resume(self) -> None:
        stopped = [w for w in self.watched if w.op.state == "stopped"]
        if not stopped:
            return
        path = self.plan.checkpoint_path
        if path is not None:
            count = write_checkpoints(path, self.watched)
            what = "checkpoint" if count == 1 else f"{count} checkpoints"
            self.display.note(f"{what} written to {path}; resume with: lrpoll resume {path}")
        else:
            self.display.note("resume with:")
            for one in stopped:
                command = self.plan.replay(one)
                if command is not None:
                    self.display.note(f"  {command}")
        if self.plan.headers.credential() is not None:
            self.display.note(
                "(credentials are never saved: give --header, --header-file or "
                "LRPOLL_TOKEN again when resuming)"
            )

    def exit_now(self) -> None:
        """The second Ctrl-C: say how to resume, then leave without waiting for anything."""
        for one in self.watched:
            if not one.op.done:
                one.op.stop()
        try:
            self.display.note("interrupted again: exiting now")
            self.tell_how_to_resume()
            self.display.end(self.watched)  # also gives a live display's terminal back
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(ExitCode.STOPPED)

    async def on_interrupt(self, interrupts: _Interrupts) -> None:
        await interrupts.first.wait()
        live = [w for w in self.watched if not w.op.done and w.op.state != "stopped"]
        if not self.plan.cancel_on_interrupt:
            self.display.note(
                "Ctrl-C: polling stopped; the server job goes on (Ctrl-C again exits at once)"
            )
            for one in live:
                one.op.stop()
            return
        self.display.note(
            "Ctrl-C: asking the server to cancel; waiting for its confirmation "
            f"(at most {self.plan.cancel_wait:g} s; Ctrl-C again exits at once)"
        )
        async with anyio.create_task_group() as tg:
            for one in live:
                tg.start_soon(self.cancel, one)

    async def cancel(self, one: Watched) -> None:
        with anyio.move_on_after(self.plan.cancel_wait):
            outcome = await one.op.cancel()
            http = "" if outcome.http_status is None else f" (HTTP {outcome.http_status})"
            why = f": {outcome.message}" if outcome.message and not outcome.confirmed else ""
            self.display.note(f"{one.label}: cancel {outcome.kind}{http}{why}")
            if not one.op.done:
                one.op.stop()
            return
        self.display.note(
            f"{one.label}: the server did not confirm the cancel within "
            f"{self.plan.cancel_wait:g} s; stopping"
        )
        one.op.stop()

    async def follow(self, one: Watched) -> None:
        async for update in one.op.updates():
            self.display.update(one, update)

    async def __call__(self) -> ExitCode:
        plan = self.plan
        urls = [job.url for job in plan.jobs]
        origins = list(dict.fromkeys(origin_url(url) for url in urls))
        async with Scheduler(
            base_url=origins[0],
            credentials=plan.headers.scheduler_credentials(urls),
            trusted_origins=origins[1:],
            allow_origins=plan.allow_origins,
            headers=plan.headers.plain if any(j.kind == "resume" for j in plan.jobs) else None,
        ) as scheduler:
            with _Interrupts(self.exit_now) as interrupts:
                for job in plan.jobs:
                    op = await _open(scheduler, plan, job)
                    if plan.cancel_on_interrupt and op.spec.cancel is None:
                        raise CliError(
                            "--cancel-on-interrupt: the spec has no cancel request "
                            "(give --cancel-url, or a spec or preset with one)"
                        )
                    self.watched.append(Watched(label_for(job.url), op))
                self.display.begin(self.watched)
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.on_interrupt, interrupts)
                    async with anyio.create_task_group() as followers:
                        for one in self.watched:
                            followers.start_soon(self.follow, one)
                    tg.cancel_scope.cancel()
                self.tell_how_to_resume()
                self.display.end(self.watched)
        return max(code_for_state(w.op.state) for w in self.watched)


async def run(plan: Plan, display: Display) -> ExitCode:
    """Follow the plan's operations to their ends (or a stop); the exit code.

    Raises:
        LrpollError: when an operation cannot be started or attached (the caller maps
            it to a one-line error and an exit code).
    """
    if plan.cancel_on_interrupt and plan.spec is not None and plan.spec.cancel is None:
        raise CliError(
            "--cancel-on-interrupt: the spec has no cancel request "
            "(give --cancel-url, or a spec or preset with one)"
        )
    return await _Run(plan, display)()
