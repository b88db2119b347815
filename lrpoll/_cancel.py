"""Giving up: cancel outcomes, cancellation tokens and abandon policies.

Two ways to give up, always distinct:

- *stop* is client-side only: polling halts, nothing is sent, the server job goes on,
  ``op.resume()`` picks up where it left off;
- *cancel* asks the server to end the job, then keeps polling until the server
  confirms (cancel is best effort and often asynchronous: cancelling → cancelled).

`classify_cancel` (pure) reads the server's answer to a cancel request;
`CancelOutcome` reports how the whole cancel ended.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from ._expr import is_truthy, json_snippet

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._operation import Operation, OperationState
    from ._spec import CancelResult, CancelSpec

__all__ = ["AbandonPolicy", "CancelOutcome", "CancelToken", "OutcomeKind", "classify_cancel"]

AbandonPolicy = Literal["stop", "cancel", "detach"]
"""What happens to an operation when the task awaiting it is cancelled.

``stop`` (default): stop polling on the client side. ``cancel``: send the server cancel
(shielded, bounded by the scheduler's ``abandon_timeout``), then let the cancellation
propagate. ``detach``: keep polling; another awaiter may take the operation.
"""

OutcomeKind = Literal[
    "cancelled",
    "finished_anyway",
    "already_finished",
    "not_found",
    "not_supported",
    "refused",
    "unconfirmed",
]
"""How a cancel ended: see `CancelOutcome`."""

_DEFAULT_STATUSES: Final[Mapping[int, CancelResult]] = {
    400: "already_finished",
    409: "already_finished",
    412: "already_finished",
    404: "not_found",
    410: "not_found",
    405: "not_supported",
    501: "not_supported",
}
_EXPRESSION_ORDER: Final = ("not_supported", "already_finished", "refused", "accepted")


def classify_cancel(
    spec: CancelSpec, status: int | None, headers: Mapping[str, str], body: Any
) -> tuple[CancelResult, str | None]:
    """What the server's answer to a cancel request means, and the server's message.

    Expressions first (in the order not_supported, already_finished, refused, accepted),
    then ``spec.statuses``, then the defaults. Pure; never raises.
    """
    view = {"status": status, "headers": dict(headers), "body": body}
    message_expr = spec.expression("message")
    message = message_expr.search(view) if message_expr is not None else None
    if message is None and isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
    if message is not None and not isinstance(message, str):
        message = json_snippet(message)
    for name in _EXPRESSION_ORDER:
        expr = spec.expression(name)
        if expr is not None and is_truthy(expr.search(view)):
            return name, message
    if status is None:
        return "refused", message
    assert spec.statuses is not None
    result = spec.statuses.get(status) or _DEFAULT_STATUSES.get(status)
    if result is None:
        result = "accepted" if 200 <= status < 300 else "refused"
    return result, message


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    """How a cancel ended.

    Attributes:
        kind: ``cancelled`` (the server confirmed), ``finished_anyway`` (accepted, but
            the job then succeeded or failed: see ``state``), ``already_finished`` (it
            had ended before the request, or the server says so: 400/409, a done
            operation), ``not_found`` (404/410), ``not_supported`` (405/501,
            ``UNIMPLEMENTED``), ``refused`` (any other answer, a URL off the trusted
            origins, or a transport fault: see ``message``), ``unconfirmed`` (accepted, but
            no terminal state before the confirmation deadline).
        operation_id: the operation.
        state: the operation's state when the outcome was decided.
        http_status: the cancel request's HTTP status (None when nothing was sent).
        message: the server's message, or why nothing was sent.
        sent: whether a cancel request went out.
    """

    kind: OutcomeKind
    operation_id: str
    state: OperationState
    http_status: int | None = None
    message: str | None = None
    sent: bool = False

    @property
    def confirmed(self) -> bool:
        """True when the server confirmed the cancellation."""
        return self.kind == "cancelled"


class CancelToken:
    """One handle to give up on many operations at once.

    Pass it to ``scheduler.start(..., token=)`` / ``watch(..., token=)``. `stop` stops
    every operation on the token (and on its children) on the client side; `cancel`
    cancels them all on the server and returns their outcomes. A token can carry a
    ``reason`` and a ``timeout`` (seconds from creation, in loop time) after which it
    applies ``on_timeout`` (``"stop"`` or ``"cancel"``) by itself.

    Operations registered after the token was stopped or cancelled are stopped or
    cancelled at once.
    """

    def __init__(
        self,
        *,
        reason: str | None = None,
        timeout: float | None = None,
        on_timeout: Literal["stop", "cancel"] = "stop",
        parent: CancelToken | None = None,
    ) -> None:
        self.reason = reason
        self.parent = parent
        self.on_timeout = on_timeout
        self._ops: set[Operation] = set()
        self._children: list[CancelToken] = []
        self._state: Literal["active", "stopped", "cancelled"] = "active"
        self._timer: asyncio.TimerHandle | None = None
        self._timeout = timeout
        if parent is not None:
            parent._children.append(self)
            if parent._state != "active":
                self._state = parent._state
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(timeout, self._expire)

    def child(self, *, reason: str | None = None) -> CancelToken:
        """A token that is stopped or cancelled with this one (not the other way round)."""
        return CancelToken(reason=reason, parent=self)

    @property
    def stopped(self) -> bool:
        """True once `stop` was called (here or on a parent)."""
        return self._state == "stopped"

    @property
    def cancelled(self) -> bool:
        """True once `cancel` was called (here or on a parent)."""
        return self._state == "cancelled"

    @property
    def operations(self) -> frozenset[Operation]:
        """The unfinished operations on this token and its children."""
        ops = {op for op in self._ops if not op.done}
        for child in self._children:
            ops |= child.operations
        return frozenset(ops)

    def stop(self) -> None:
        """Stop every operation on the token, on the client side; the server jobs go on."""
        self._set("stopped")
        for op in self.operations:
            op.stop()

    async def cancel(self) -> list[CancelOutcome]:
        """Cancel every operation on the token on the server; the outcomes, in no order.

        Requests go out concurrently, bounded by each scheduler's slots.
        """
        self._set("cancelled")
        ops = [op for op in self.operations if op.spec.cancel is not None]
        for op in self.operations:
            if op.spec.cancel is None:
                op.stop()
        outcomes: list[CancelOutcome] = []

        async def one(op: Operation) -> None:
            outcomes.append(await op.cancel())

        async with anyio.create_task_group() as tg:
            for op in ops:
                tg.start_soon(one, op)
        return outcomes

    def _set(self, state: Literal["stopped", "cancelled"]) -> None:
        if self._state == "active" or state == "cancelled":
            self._state = state
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for child in self._children:
            child._set(state)

    def _register(self, op: Operation) -> None:
        self._ops.add(op)
        if self._state == "stopped":
            op.stop()
        elif self._state == "cancelled":
            op._scheduler._cancel_soon(op)

    def _unregister(self, op: Operation) -> None:
        self._ops.discard(op)

    def _expire(self) -> None:
        self._timer = None
        if self.on_timeout == "cancel":
            # Each operation's scheduler runs its cancel in its own task group.
            self._set("cancelled")
            for op in self.operations:
                op._scheduler._cancel_soon(op)
        else:
            self.stop()

    def __repr__(self) -> str:
        reason = f" {self.reason!r}" if self.reason else ""
        return f"<CancelToken {self._state}{reason} ops={len(self._ops)}>"
