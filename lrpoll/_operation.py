"""Operation: the awaitable handle users hold for one long-running job.

An operation waiting for its next poll is only this object and one entry in the
scheduler's timer heap: no task, no future, no logger until someone asks for one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from ._checkpoint import dump
from ._exceptions import LrpollError, PollingStopped

if TYPE_CHECKING:
    from yarl import URL

    from ._cancel import CancelOutcome
    from ._scheduler import Scheduler
    from ._spec import PollSpec

__all__ = ["Callback", "Operation", "OperationState", "Update"]

OperationState = Literal[
    "pending",
    "running",
    "cancelling",
    "stopped",
    "succeeded",
    "failed",
    "cancelled",
    "timed_out",
    "gone",
    "error",
]
"""Where an operation stands. ``running`` and ``cancelling`` (a cancel was accepted,
confirmation pending) are polled; ``stopped`` is client-side and resumable; the rest are
terminal."""

TERMINAL: Final[frozenset[str]] = frozenset(
    {"succeeded", "failed", "cancelled", "timed_out", "gone", "error"}
)

Callback = Callable[["Operation"], Any]
"""A hook called with the operation: ``on_progress``, ``on_status``, ``on_done``, ``on_timeout``."""


@dataclass(frozen=True, slots=True)
class Update:
    """One change seen on an operation, as `Operation.updates` yields it.

    Attributes:
        state: the state after the change.
        progress: percent done, or None when unknown.
        message: the rendered message template for this change, if any.
        status: the last status document.
    """

    state: OperationState
    progress: float | None
    message: str | None
    status: Any


class Operation:
    """The handle for one long-running operation.

    ``await op`` returns the result, or raises `OperationFailed`, `OperationCancelled`,
    `PollTimeout`, `OperationGone`, `PollingStopped` or a `TransportError` once the
    operation's error budget is spent.
    """

    __slots__ = (
        "_base",
        "_due",
        "_error",
        "_extra",
        "_failing_since",
        "_id",
        "_result",
        "_scheduler",
        "_started",
        "_state",
        "_url",
        "_waiter",
        "attempts",
        "errors",
        "message",
        "progress",
        "spec",
        "status",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        spec: PollSpec,
        op_id: str | int,
        url: URL | str,
        started: float,
        base: dict[str, Any] | None = None,
    ) -> None:
        self._scheduler = scheduler
        self.spec = spec
        self._id = op_id
        # A string, not a yarl.URL: a URL object grows a cache of its parts when read,
        # and the scheduler builds one per request for a fraction of a microsecond.
        self._url = str(url)
        self._started = started
        self._base = base
        self._state: OperationState = "pending"
        self._due: float | None = None  # the due time of its live heap entry
        self._failing_since: float | None = None
        self._result: Any = None
        self._error: LrpollError | None = None
        self._waiter: asyncio.Future[None] | None = None
        # Rarely used things (callbacks, subscribers, logger) live here, created lazily.
        self._extra: dict[str, Any] | None = None
        self.attempts = 0
        self.errors = 0
        self.progress: float | None = None
        self.message: str | None = None
        self.status: Any = None

    # -- read-only views ------------------------------------------------------------

    @property
    def id(self) -> str:
        """The operation's id (given to `start`/`watch`, else ``op-<n>``)."""
        return self._id if isinstance(self._id, str) else f"op-{self._id}"

    def __lt__(self, other: Operation) -> bool:
        # Heap entries are (due, op): equal due times fall back to an arbitrary, stable order.
        return id(self) < id(other)

    @property
    def state(self) -> OperationState:
        """Where the operation stands."""
        return self._state

    @property
    def done(self) -> bool:
        """True once the operation reached a terminal state (stopped is not terminal)."""
        return self._state in TERMINAL

    @property
    def status_url(self) -> str:
        """The status URL in use (as sent, before credentials are added)."""
        return self._url

    @property
    def elapsed(self) -> float:
        """Seconds since the operation began, in loop time, leaving out time stopped."""
        now = self._scheduler.time()
        if self._state == "stopped" and self._extra is not None:
            # Frozen while stopped, so a checkpoint of a stopped operation (and resume)
            # does not count the stop towards max_duration.
            now = self._extra.get("stopped_at", now)
        return now - self._started

    @property
    def error(self) -> LrpollError | None:
        """The error ``await op`` raises, once ended without a result."""
        return self._error

    def result(self) -> Any:
        """The result, without waiting.

        Raises:
            LrpollError: the operation's error, if it ended without a result.
            RuntimeError: when the operation has not finished.
        """
        if self._state == "succeeded":
            return self._result
        if self._state == "stopped":
            raise PollingStopped("polling was stopped", operation_id=self.id, status=self.status)
        if self._error is not None:
            raise self._error
        raise RuntimeError(f"operation {self.id} is still {self._state}")

    def __repr__(self) -> str:
        progress = "" if self.progress is None else f" {self.progress:g}%"
        return f"<Operation {self.id} {self._state}{progress}>"

    # -- waiting ----------------------------------------------------------------------

    async def wait(self, *, through_stops: bool = False) -> Any:
        """Wait for the end and return the result (the same as ``await op``).

        Args:
            through_stops: keep waiting while the operation is stopped (until it is
                resumed and ends) instead of raising `PollingStopped`.

        Raises:
            OperationFailed: when the server reports failure.
            OperationCancelled: when the server reports cancellation.
            PollTimeout: at ``max_duration`` or after ``max_attempts``.
            PollingStopped: when polling is stopped on the client side.
            TransportError: when the error budget is spent.
        """
        while True:
            if self._state in TERMINAL or (self._state == "stopped" and not through_stops):
                return self.result()
            if self._waiter is None or self._waiter.done():
                self._waiter = asyncio.get_running_loop().create_future()
            waiter = self._waiter
            try:
                # shield: one awaiter's cancellation must not cancel the shared future.
                await asyncio.shield(waiter)
            except asyncio.CancelledError:
                # The caller's cancellation always propagates; the policy only decides
                # what happens to the operation (stop, cancel on the server, detach).
                await self._scheduler._abandoned(self)
                raise

    def __await__(self) -> Generator[Any, None, Any]:
        return self.wait().__await__()

    async def poll_once(self) -> Update:
        """Poll now, once (the Go ``Poll``), and return what changed.

        The regular schedule continues from this poll's decision.
        """
        await self._scheduler._poll_now(self)
        return self.snapshot()

    def snapshot(self) -> Update:
        """The operation's current state as an `Update`."""
        return Update(self._state, self.progress, self.message, self.status)

    async def updates(self) -> AsyncIterator[Update]:
        """Yield each change (state, progress, message, status) until a terminal state.

        The last update carries the terminal (or ``stopped``) state; iteration then
        ends without raising: ``await op`` tells how it ended. After a resume, call
        `updates` again.
        """
        if self._state in TERMINAL or self._state == "stopped":
            yield self.snapshot()
            return
        queue: asyncio.Queue[Update] = asyncio.Queue()
        subs: list[asyncio.Queue[Update]] = self._extras().setdefault("subscribers", [])
        subs.append(queue)
        try:
            while True:
                update = await queue.get()
                yield update
                if update.state in TERMINAL or update.state == "stopped":
                    return
        finally:
            subs.remove(queue)

    # -- stop / resume ---------------------------------------------------------------

    def stop(self) -> None:
        """Stop polling on the client side; the server job goes on.

        An in-flight poll's answer is ignored. Tasks awaiting the operation get
        `PollingStopped`. Does nothing on a finished operation.
        """
        self._scheduler._stop(self)

    def resume(self) -> None:
        """Resume polling after `stop`, with the same URLs, spec and attempt count.

        Time spent stopped does not count towards ``max_duration``: the deadline moves
        by the length of the stop, and `elapsed` leaves it out.

        Raises:
            RuntimeError: when the operation has already finished.
        """
        self._scheduler._resume(self)

    async def cancel(self) -> CancelOutcome:
        """Ask the server to cancel, then poll until it confirms (or the confirm deadline).

        The cancel request goes out at most once, however many tasks call this at
        once: they all get the same outcome. A stopped operation is polled again to
        confirm. Nothing is sent when the operation already ended (outcome
        ``already_finished``; its result stays available) or when the cancel URL lies
        off the trusted origins (outcome ``refused``).

        Raises:
            SpecError: when the spec has no `CancelSpec` (nothing is sent).

        Warning:
            Server cancel is best effort: read the outcome's ``kind``; ``unconfirmed``
            means the server accepted but had not confirmed by ``confirm_timeout``.
        """
        return await self._scheduler._cancel(self)

    def checkpoint(self, *, key: bytes | None = None) -> str:
        """A versioned JSON checkpoint of the polling state, without credentials.

        ``scheduler.resume(checkpoint)`` continues the operation, in this process or
        another. With ``key``, the checkpoint carries an HMAC-SHA256 signature that
        `Scheduler.resume` checks with the same key.
        """
        return dump(self, key=key)

    # -- internals ---------------------------------------------------------------------

    def _extras(self) -> dict[str, Any]:
        if self._extra is None:
            self._extra = {}
        return self._extra

    def _context(self) -> dict[str, Any]:
        """The template context that does not change per poll."""
        ctx = dict(self._base) if self._base else {}
        ctx["operation"] = self.id
        ctx["status_url"] = self._url
        ctx.setdefault("request_url", self._url)
        ctx["last"] = self.status
        ctx["progress"] = self.progress
        return ctx
