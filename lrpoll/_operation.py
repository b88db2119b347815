"""Operation: the awaitable handle users hold for one long-running job.

The handle reads the runtime's record of the operation and asks the runtime (through
the narrow `Runner` protocol) for every change; it writes nothing of its own. An
operation waiting for its next poll is this handle, its record and one heap entry: no
task, no future, no logger until someone asks for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from ._exceptions import LrpollError, PollingStopped
from ._machine import TERMINAL, OperationState
from ._record import Update

if TYPE_CHECKING:
    from ._cancel import CancelOutcome
    from ._record import AbandonPolicy, OpRecord
    from ._spec import PollSpec

__all__ = ["Callback", "Operation", "OperationState", "Runner", "Update", "record_of"]

Callback = Callable[["Operation"], Any]
"""A hook called with the operation: ``on_progress``, ``on_status``, ``on_done``, ``on_timeout``."""


class Runner(Protocol):
    """What an `Operation` handle may ask of the runtime that owns its record."""

    def time(self) -> float:
        """The runtime's clock."""

    async def poll_now(self, rec: OpRecord) -> None:
        """Poll ``rec`` now, once; the schedule continues from its decision."""

    def stop(self, rec: OpRecord) -> None:
        """Stop polling ``rec`` on the client side."""

    def resume(self, rec: OpRecord) -> None:
        """Resume polling ``rec`` after a stop."""

    async def cancel(self, rec: OpRecord) -> CancelOutcome:
        """Ask the server to cancel ``rec``, then confirm by polling."""

    def cancel_nowait(self, rec: OpRecord) -> None:
        """Cancel ``rec`` in the background (stop it when it has no cancel)."""

    async def settled(self, rec: OpRecord) -> None:
        """Return at the next end or stop of ``rec``."""

    async def abandoned(self, rec: OpRecord, *, policy: Any = None) -> None:
        """The task awaiting ``rec`` was cancelled: apply its abandon policy."""

    def subscribe(self, rec: OpRecord) -> asyncio.Queue[Update]:
        """A queue that receives each update of ``rec``."""

    def unsubscribe(self, rec: OpRecord, queue: asyncio.Queue[Update]) -> None:
        """Stop sending updates of ``rec`` to ``queue``."""

    def checkpoint(self, rec: OpRecord, *, key: bytes | None) -> str:
        """The checkpoint of ``rec``."""


class Operation:
    """The handle for one long-running operation.

    ``await op`` returns the result, or raises `OperationFailed`, `OperationCancelled`,
    `PollTimeout`, `OperationGone`, `PollingStopped` or a `TransportError` once the
    operation's error budget is spent.
    """

    __slots__ = ("_rec", "_runner")

    def __init__(self, rec: OpRecord, runner: Runner) -> None:
        self._rec = rec
        self._runner = runner

    # -- read-only views ------------------------------------------------------------

    @property
    def id(self) -> str:
        """The operation's id: given to `start`/`watch`, else ``op-`` and 12 random hex digits."""
        return self._rec.op_id

    @property
    def spec(self) -> PollSpec:
        """The spec it is polled with."""
        return self._rec.spec

    @property
    def state(self) -> OperationState:
        """Where the operation stands."""
        return self._rec.state

    @property
    def done(self) -> bool:
        """True once the operation reached a terminal state (stopped is not terminal)."""
        return self._rec.state in TERMINAL

    @property
    def status(self) -> Any:
        """The last status document."""
        return self._rec.last

    @property
    def progress(self) -> float | None:
        """Percent done, or None when unknown."""
        return self._rec.progress

    @property
    def message(self) -> str | None:
        """The latest rendered message, if the spec has message templates."""
        return self._rec.message

    @property
    def attempts(self) -> int:
        """Status answers so far."""
        return self._rec.attempts

    @property
    def errors(self) -> int:
        """Consecutive transient faults (0 after a good answer)."""
        return self._rec.errors

    @property
    def status_url(self) -> str:
        """The status URL in use (as sent, before credentials are added)."""
        return self._rec.url

    @property
    def elapsed(self) -> float:
        """Seconds since the operation began, in loop time, leaving out time stopped."""
        rec = self._rec
        now = self._runner.time()
        if rec.state == "stopped" and rec.extras is not None and rec.extras.stopped_at:
            # Frozen while stopped, so the stop does not count towards max_duration.
            now = rec.extras.stopped_at
        return now - rec.started

    @property
    def error(self) -> LrpollError | None:
        """The error ``await op`` raises, once ended without a result."""
        return self._rec.error

    def result(self) -> Any:
        """The result, without waiting.

        Raises:
            LrpollError: the operation's error, if it ended without a result.
            RuntimeError: when the operation has not finished.
        """
        rec = self._rec
        if rec.state == "succeeded":
            return rec.result
        if rec.state == "stopped":
            raise PollingStopped("polling was stopped", operation_id=self.id, status=rec.last)
        if rec.error is not None:
            raise rec.error
        raise RuntimeError(f"operation {self.id} is still {rec.state}")

    def __repr__(self) -> str:
        progress = "" if self.progress is None else f" {self.progress:g}%"
        return f"<Operation {self.id} {self.state}{progress}>"

    # -- waiting ----------------------------------------------------------------------

    async def wait(
        self, *, through_stops: bool = False, abandon: AbandonPolicy | None = None
    ) -> Any:
        """Wait for the end and return the result (the same as ``await op``).

        To wait at most some time, cancel the waiting task: ``with
        asyncio.timeout(5): await op.wait(abandon="detach")`` (or anyio's
        ``move_on_after``). ``abandon`` says what that cancellation does to the
        operation: ``"detach"`` leaves it polled, for the next waiter or `Scheduler.get`.
        A deadline is the caller's scope, not a parameter, so it composes with the
        caller's other deadlines (and one clock reads them all).

        Args:
            through_stops: keep waiting while the operation is stopped (until it is
                resumed and ends) instead of raising `PollingStopped`.
            abandon: the abandon policy for this wait, over the operation's own
                (``start(abandon=)``, else the scheduler's; ``"stop"`` by default).

        Raises:
            OperationFailed: when the server reports failure.
            OperationCancelled: when the server reports cancellation.
            PollTimeout: at ``max_duration`` or after ``max_attempts``.
            PollingStopped: when polling is stopped on the client side.
            TransportError: when the error budget is spent.
        """
        rec = self._rec
        while True:
            if rec.state in TERMINAL or (rec.state == "stopped" and not through_stops):
                return self.result()
            try:
                await self._runner.settled(rec)
            except asyncio.CancelledError:
                # The caller's cancellation always propagates; the policy only decides
                # what happens to the operation (stop, cancel on the server, detach).
                await self._runner.abandoned(rec, policy=abandon)
                raise

    def __await__(self) -> Generator[Any, None, Any]:
        return self.wait().__await__()

    async def poll_once(self) -> Update:
        """Poll now, once (the Go ``Poll``), and return what changed.

        The regular schedule continues from this poll's decision. A stopped or ended
        operation is not polled: its current state comes back.
        """
        await self._runner.poll_now(self._rec)
        return self.snapshot()

    def snapshot(self) -> Update:
        """The operation's current state as an `Update` (``final`` once it ended)."""
        rec = self._rec
        return Update(rec.state, rec.progress, rec.message, rec.last, rec.state in TERMINAL)

    async def updates(self) -> AsyncIterator[Update]:
        """Yield each change (state, progress, message, status) until a terminal state.

        The last update carries the terminal (or ``stopped``) state, and ``final=True``
        when terminal; iteration then ends without raising: ``await op`` tells how it
        ended. After a resume, call
        `updates` again.
        """
        if self.done or self.state == "stopped":
            yield self.snapshot()
            return
        queue = self._runner.subscribe(self._rec)
        try:
            while True:
                update = await queue.get()
                yield update
                if update.state in TERMINAL or update.state == "stopped":
                    return
        finally:
            self._runner.unsubscribe(self._rec, queue)

    # -- stop / resume ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop polling on the client side; the server job goes on.

        An in-flight poll's answer is ignored. Tasks awaiting the operation get
        `PollingStopped`. Does nothing on a finished operation.
        """
        self._runner.stop(self._rec)

    def resume(self) -> None:
        """Resume polling after `stop`, with the same URLs, spec and attempt count.

        Time spent stopped does not count towards ``max_duration``: the deadline moves
        by the length of the stop, and `elapsed` leaves it out.

        Raises:
            RuntimeError: when the operation has already finished.
        """
        self._runner.resume(self._rec)

    async def cancel(self) -> CancelOutcome:
        """Ask the server to cancel, then poll until it confirms (or the confirm deadline).

        The cancel request goes out at most once, however many tasks call this at
        once: they all get the same outcome. A stopped operation is polled again to
        confirm. Nothing is sent when the operation already ended (outcome
        ``already_finished``; its result stays available), when the cancel URL lies
        off the trusted origins (outcome ``refused``), or when the spec has no
        `CancelSpec`: the operation is then stopped, and the outcome is
        ``not_supported`` (as `CancelToken.cancel` gives for it).

        Warning:
            Server cancel is best effort: read the outcome's ``kind``; ``unconfirmed``
            means the server accepted but had not confirmed by ``confirm_timeout``.
        """
        return await self._runner.cancel(self._rec)

    def cancel_nowait(self) -> None:
        """Start `cancel` in the scheduler's task group and return at once.

        The outcome is logged (``cancel outcome`` on the ``lrpoll`` logger); an
        operation whose spec has no cancel request is stopped instead. A token's
        ``cancel`` on timeout uses this.
        """
        self._runner.cancel_nowait(self._rec)

    def checkpoint(self, *, key: bytes | None = None) -> str:
        """A versioned JSON checkpoint of the polling state, without credentials.

        ``scheduler.resume(checkpoint)`` continues the operation, in this process or
        another. With ``key``, the checkpoint carries an HMAC-SHA256 signature that
        `Scheduler.resume` checks with the same key. An ended operation's checkpoint
        records how it ended (state, result or error); resuming it gives that end.
        """
        return self._runner.checkpoint(self._rec, key=key)


def record_of(op: Operation) -> OpRecord:
    """The runtime's record behind a handle (for the runtime that made it)."""
    return op._rec
