"""The runtime's record of one operation: typed, slotted, owned by the runtime alone.

`OpRecord` is the polling state the per-operation step reads and advances; `Extras`
holds what few operations use (hooks, a token, subscribers, a logger, the cancel
request), created on first use so that an idle operation costs one record and its
heap entry. The `Operation` handle users hold only reads a record; every change goes
through the runtime, which moves states through `_machine.TRANSITIONS`.
"""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

from ._json import RawJSON, parse_json
from ._machine import TERMINAL, next_state
from ._secrets import scrub

if TYPE_CHECKING:
    import asyncio

    from ._core import Succeeded
    from ._exceptions import LrpollError
    from ._machine import Event, OperationState
    from ._spec import CancelResult, PollSpec

__all__ = [
    "AbandonPolicy",
    "CancelSent",
    "Extras",
    "Hooks",
    "OpRecord",
    "Update",
    "new_op_id",
    "op_name",
]

AbandonPolicy = Literal["stop", "cancel", "detach"]
"""What happens to an operation when the task awaiting it is cancelled.

``stop`` (default): stop polling on the client side. ``cancel``: send the server cancel
(shielded, bounded by the scheduler's ``abandon_timeout``), then let the cancellation
propagate. ``detach``: keep polling; another awaiter may take the operation.
"""

#: A hook: called with the operation's handle (an `Operation`; this layer sits below it).
Hook = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Update:
    """One change seen on an operation, as `Operation.updates` yields it.

    Attributes:
        state: the state after the change.
        progress: percent done, or None when unknown.
        message: the rendered message template for this change, if any.
        status: the last status document.
        final: True on the last update of an operation, the one with its terminal
            state (a bot posts its final message from this one, or from ``on_done``).
    """

    state: OperationState
    progress: float | None
    message: str | None
    status: Any
    final: bool = False

    def __repr__(self) -> str:
        # The status is the server's document as received; what it echoes of a
        # credential is hidden where it is shown, as in exception messages.
        return scrub(
            f"Update(state={self.state!r}, progress={self.progress!r}, "
            f"message={self.message!r}, status={self.status!r})"
        )


@dataclass(frozen=True, slots=True)
class CancelSent:
    """What the one cancel request of an operation got back."""

    result: CancelResult
    message: str | None
    http_status: int | None
    sent: bool


@dataclass(frozen=True, slots=True)
class Hooks:
    """The plain-function hooks of one operation, and how often ``on_progress`` fires.

    ``on_progress`` is called when the progress moved by at least
    ``progress_min_step`` percent and ``progress_min_interval`` seconds passed since its
    last call; the final answer's call is never held back.
    """

    on_progress: Hook | None = None
    on_status: Hook | None = None
    on_done: Hook | None = None
    on_timeout: Hook | None = None
    progress_min_step: float = 0.0
    progress_min_interval: float = 0.0

    @classmethod
    def checked(
        cls,
        on_progress: Hook | None = None,
        on_status: Hook | None = None,
        on_done: Hook | None = None,
        on_timeout: Hook | None = None,
        progress_min_step: float = 0.0,
        progress_min_interval: float = 0.0,
    ) -> Hooks:
        """The hooks, refusing coroutine functions (they would never be awaited).

        Raises:
            TypeError: naming the hook; async work belongs in ``op.updates()``.
        """
        hooks = cls(
            on_progress, on_status, on_done, on_timeout, progress_min_step, progress_min_interval
        )
        for name, hook in hooks.named():
            if inspect.iscoroutinefunction(hook) or inspect.iscoroutinefunction(
                getattr(hook, "__call__", None)  # noqa: B004 (an object with an async __call__)
            ):
                raise TypeError(
                    f"{name} is an async function: hooks are plain functions called in the"
                    " poll's path; iterate op.updates() in a task for async work"
                )
        return hooks

    def __bool__(self) -> bool:
        return any((self.on_progress, self.on_status, self.on_done, self.on_timeout))

    def named(self) -> list[tuple[str, Hook]]:
        """The hooks that are set, with their names."""
        pairs = [
            ("on_progress", self.on_progress),
            ("on_status", self.on_status),
            ("on_done", self.on_done),
            ("on_timeout", self.on_timeout),
        ]
        return [(name, hook) for name, hook in pairs if hook is not None]


class Extras:
    """What few operations need, kept out of the idle record."""

    __slots__ = (
        "abandon",
        "cancel",
        "done_queues",
        "error",
        "failing_since",
        "hooks",
        "logger",
        "pending",
        "progress_at",
        "progress_sent",
        "result",
        "stopped_at",
        "subscribers",
        "token",
        "waiter",
    )

    def __init__(self) -> None:
        self.hooks: Hooks | None = None
        # A CancelToken (typed Any: the token's module sits above this one).
        self.token: Any = None
        self.abandon: AbandonPolicy | None = None
        self.subscribers: list[asyncio.Queue[Update]] | None = None
        # Queues of `Scheduler.as_completed`, each receiving the handle once it ends.
        self.done_queues: list[asyncio.Queue[Any]] | None = None
        self.logger: Any = None
        self.stopped_at: float | None = None
        # The progress ``on_progress`` was last called with, and when (throttling).
        self.progress_sent: float | None = None
        self.progress_at: float | None = None
        # The one cancel request: a future while in flight, its answer once back.
        self.cancel: asyncio.Future[CancelSent] | None = None
        # An ended operation's result or error, a done decision waiting for its result
        # fetch, and the future awaiters wait on: none is set while an operation idles.
        self.result: Any = None
        self.error: LrpollError | None = None
        self.pending: Succeeded | None = None
        self.waiter: asyncio.Future[None] | None = None
        # When the current run of transient faults began.
        self.failing_since: float | None = None


class _Verbatim:
    """A last document that is itself bytes, kept apart from a kept JSON text."""

    __slots__ = ("doc",)

    def __init__(self, doc: Any) -> None:
        self.doc = doc


def new_op_id() -> str:
    """A default operation id: ``op-`` and 12 random hex digits (48 bits).

    Unique across schedulers and restarts for any practical number of operations.
    """
    return f"op-{secrets.token_hex(6)}"


def op_name(op_id: str | int) -> str:
    """An operation id as shown: a given string as it is, a number as ``op-<n>``."""
    return op_id if isinstance(op_id, str) else f"op-{op_id}"


T = TypeVar("T")


class _InExtras(Generic[T]):
    """An `OpRecord` attribute kept in its extras: None while there are none.

    Setting it to None creates no extras, so an idle record stays without them.
    """

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = ""

    def __set_name__(self, owner: type[Any], name: str) -> None:
        self.name = name

    @overload
    def __get__(self, rec: None, owner: type[Any] | None = None) -> _InExtras[T]: ...
    @overload
    def __get__(self, rec: OpRecord, owner: type[Any] | None = None) -> T: ...
    def __get__(self, rec: OpRecord | None, owner: type[Any] | None = None) -> T | _InExtras[T]:
        if rec is None:
            return self
        extras = rec.extras
        value: T = None if extras is None else getattr(extras, self.name)  # type: ignore[assignment]
        return value

    def __set__(self, rec: OpRecord, value: T) -> None:
        if value is not None or rec.extras is not None:
            setattr(rec.more(), self.name, value)


class OpRecord:
    """The polling state of one operation, in the runtime's clock.

    Attributes:
        id: the operation id (an int for ``op-<n>`` until formatted).
        spec: the compiled spec.
        url: the status URL in use, pre-encoded (a string: a URL object grows caches).
        base: the template context that does not change per poll (``start``,
            ``start_headers``, ``request_url``, ``operation``), or None.
        state: where it stands (changed only through `transition`).
        started: when it began, in the runtime's clock, moved on by stops.
        attempts: status answers so far.
        errors: consecutive transient faults.
        failing_since: when the current run of faults began.
        progress: percent done, or None.
        message: the latest rendered message.
        last: the last status document (parsed again on each read when kept as its
            JSON text: see `keep_last`).
        kept_last: the last status document for the core: the document, or a `RawJSON`.
        result: the result, once succeeded (kept in the extras, as are ``error``,
            ``pending``, ``waiter`` and ``failing_since``: an idle operation has none).
        error: the error, once ended without a result.
        pending: a done decision waiting for its result fetch (``spec.result_url``).
        due: the due time of its live heap entry (identity marks liveness).
        waiter: a future resolved at the next end or stop, for awaiters.
        handle: the `Operation` users hold.
        extras: the rarely used parts, or None.
    """

    __slots__ = (
        "_last",
        "attempts",
        "base",
        "due",
        "errors",
        "extras",
        "handle",
        "id",
        "message",
        "progress",
        "spec",
        "started",
        "state",
        "url",
    )

    def __init__(
        self,
        spec: PollSpec,
        op_id: str | int,
        url: str,
        started: float,
        base: dict[str, Any] | None = None,
    ) -> None:
        self.id = op_id
        self.spec = spec
        self.url = url
        self.base = base
        self.state: OperationState = "pending"
        self.started = started
        self.attempts = 0
        self.errors = 0
        self.progress: float | None = None
        self.message: str | None = None
        self._last: Any = None
        self.due: float | None = None
        # The `Operation` users hold (typed Any: the handle's module sits above this one).
        self.handle: Any = None
        self.extras: Extras | None = None

    # The last document is kept as its JSON text (bytes) when it came as JSON: bytes in
    # ``_last`` always mean that. A document that is itself bytes (a custom decoder's)
    # is kept wrapped, as a one-item list inside a `_Verbatim`.

    @property
    def last(self) -> Any:
        """The last status document (a new parse of its text each time it is read)."""
        doc = self._last
        if type(doc) is bytes:
            return parse_json(doc)
        return doc.doc if type(doc) is _Verbatim else doc

    @last.setter
    def last(self, doc: Any) -> None:
        self._last = _Verbatim(doc) if isinstance(doc, bytes) else doc

    @property
    def kept_last(self) -> Any:
        """The last status document as the core takes it: the document, or a `RawJSON`."""
        doc = self._last
        if type(doc) is bytes:
            return RawJSON(doc)
        return doc.doc if type(doc) is _Verbatim else doc

    def keep_last(self, doc: Any, raw: bytes | None) -> None:
        """Keep ``doc`` as the last status document: as ``raw``, its JSON text, if given.

        A parsed document costs several times its text in Python objects: an idle
        operation keeps the text, and whoever reads `last` parses it again.
        """
        if raw is None or doc is None:
            self.last = doc
        else:
            self._last = bytes(raw)

    @property
    def op_id(self) -> str:
        """The id as a string (``op-<n>`` for numbered ones)."""
        return op_name(self.id)

    @property
    def done(self) -> bool:
        """Whether it reached a terminal state."""
        return self.state in TERMINAL

    def more(self) -> Extras:
        """The extras, created on first use."""
        if self.extras is None:
            self.extras = Extras()
        return self.extras

    # An idle operation has none of these: they live in the extras, created only when
    # one of them is set to something other than None.
    failing_since: _InExtras[float | None] = _InExtras()
    result: _InExtras[Any] = _InExtras()
    error: _InExtras[LrpollError | None] = _InExtras()
    pending: _InExtras[Succeeded | None] = _InExtras()
    waiter: _InExtras[asyncio.Future[None] | None] = _InExtras()

    def transition(self, event: Event) -> OperationState:
        """Move to the state `_machine.TRANSITIONS` gives for ``event``; the old state.

        Raises:
            InvalidTransition: when the table has no such transition.
        """
        old = self.state
        self.state = next_state(old, event)
        return old

    def context(self, *, last: bool = True) -> dict[str, Any]:
        """The template context for messages, URLs and the cancel request.

        ``last=False`` leaves the last document out (the core puts the answer's own
        there when it renders a message), so it is not parsed for nothing.
        """
        ctx = dict(self.base) if self.base else {}
        ctx["operation"] = self.op_id
        ctx["status_url"] = self.url
        ctx.setdefault("request_url", self.url)
        ctx["last"] = self.last if last else None
        ctx["progress"] = self.progress
        return ctx

    def __lt__(self, other: OpRecord) -> bool:
        # Heap entries are (due, record): equal due times fall back to a stable order.
        return id(self) < id(other)
