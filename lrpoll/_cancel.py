"""Giving up: cancel outcomes, cancellation tokens, abandon policies, and the cancel driver.

Two ways to give up, always distinct:

- *stop* is client-side only: polling halts, nothing is sent, the server job goes on,
  ``op.resume()`` picks up where it left off;
- *cancel* asks the server to end the job, then keeps polling until the server
  confirms (cancel is best effort and often asynchronous: cancelling → cancelled).

The rules (what a cancel answer means, how a whole cancel ended) are the core's
(`_core.classify_cancel`, `_core.cancel_outcome`); `drive_cancel` sends the one cancel
request and waits for the confirmation through the runtime's narrow `CancelHost`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import anyio
from yarl import URL

from ._checkpoint import dump, load, spec_of, to_record
from ._core import cancel_outcome, classify_cancel
from ._exceptions import SpecError, TemplateError, TooManyRedirects, UntrustedURL
from ._machine import POLLED
from ._record import AbandonPolicy, CancelSent
from ._secrets import scrub
from ._step import StepResult, headers_for
from ._urls import resolve

if TYPE_CHECKING:
    from ._machine import OperationState
    from ._record import OpRecord
    from ._spec import PollSpec
    from ._transport import Transport

__all__ = [
    "AbandonPolicy",
    "CancelHost",
    "CancelOutcome",
    "CancelToken",
    "OutcomeKind",
    "cancel_step",
    "drive_cancel",
]

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


class _Handle(Protocol):
    """What a token needs of an operation (an `Operation` is one)."""

    @property
    def done(self) -> bool: ...

    @property
    def spec(self) -> PollSpec: ...

    def stop(self) -> None: ...

    async def cancel(self) -> CancelOutcome: ...

    def cancel_nowait(self) -> None: ...


class CancelToken:
    """One handle to give up on many operations at once.

    Pass it to ``scheduler.start(..., token=)`` / ``watch(..., token=)``. `stop` stops
    every operation on the token (and on its children) on the client side; `cancel`
    cancels them all on the server and returns their outcomes. A token can carry a
    ``reason`` and a ``timeout`` (seconds from creation, in loop time) after which it
    applies ``on_timeout`` (``"stop"`` or ``"cancel"``) by itself.

    Operations added after the token was stopped or cancelled are stopped or
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
        self._ops: set[Any] = set()
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
    def operations(self) -> frozenset[Any]:
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

        Requests go out concurrently, bounded by each scheduler's slots. An operation
        whose spec has no `CancelSpec` is stopped, with a ``not_supported`` outcome
        (as `Operation.cancel` gives).
        """
        self._set("cancelled")
        ops = list(self.operations)
        outcomes: list[CancelOutcome] = []

        async def one(op: _Handle) -> None:
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

    def add(self, op: _Handle) -> None:
        """Put ``op`` on this token (``start``/``watch``/``resume`` do it for ``token=``).

        An operation added to a stopped token is stopped at once; to a cancelled one,
        cancelled in the background.
        """
        self._ops.add(op)
        if self._state == "stopped":
            op.stop()
        elif self._state == "cancelled":
            op.cancel_nowait()

    def discard(self, op: _Handle) -> None:
        """Take ``op`` off this token (the runtime does it when the operation ends)."""
        self._ops.discard(op)

    def _expire(self) -> None:
        self._timer = None
        if self.on_timeout == "cancel":
            # Each operation's scheduler runs its cancel in its own task group.
            self._set("cancelled")
            for op in self.operations:
                op.cancel_nowait()
        else:
            self.stop()

    def __repr__(self) -> str:
        reason = f" {self.reason!r}" if self.reason else ""
        return f"<CancelToken {self._state}{reason} ops={len(self._ops)}>"


class CancelHost(Protocol):
    """What the cancel driver needs of the runtime that owns a record."""

    @property
    def transport(self) -> Transport:
        """The transport (checks and credentials included)."""

    @property
    def closed(self) -> bool:
        """Whether nothing can be sent any more."""

    def accept_cancel(self, rec: OpRecord) -> None:
        """The server accepted the cancel: ``cancelling``, and poll to confirm."""

    def poll_soon(self, rec: OpRecord) -> None:
        """Poll ``rec`` now (its final state is one poll away)."""

    def unconfirmed(self, rec: OpRecord) -> None:
        """No confirmation in time: back to ``running``."""

    def stop(self, rec: OpRecord) -> None:
        """Stop polling ``rec`` on the client side."""

    async def settled(self, rec: OpRecord) -> None:
        """Return once ``rec`` ended or stopped."""

    def log(self, rec: OpRecord, event: str, **fields: Any) -> None:
        """Log ``event`` at info for ``rec``."""


async def drive_cancel(rec: OpRecord, host: CancelHost) -> CancelOutcome:
    """Send the cancel request of ``rec`` at most once, then wait for the server's confirmation.

    Every caller (concurrent ones included) shares the one request and gets the same
    kind of outcome. A spec without a `CancelSpec` sends nothing: the operation is
    stopped (the client gives up on it) and the outcome is ``not_supported``.
    """
    cancel = rec.spec.cancel
    if cancel is None:
        if not rec.done:
            host.stop(rec)
        return CancelOutcome(
            "not_supported" if rec.state == "stopped" else "already_finished",
            rec.op_id,
            rec.state,
            message="the spec has no cancel request: nothing was sent"
            + ("; polling was stopped" if rec.state == "stopped" else ""),
        )
    extras = rec.more()
    request = extras.cancel
    if request is None:
        if rec.done:
            return CancelOutcome(
                "already_finished", rec.op_id, rec.state, message="the operation had already ended"
            )
        if host.closed:
            # Nothing can be sent (and nothing is recorded, so a checkpoint of the
            # operation can still be cancelled elsewhere).
            return CancelOutcome(
                "refused", rec.op_id, rec.state, message="cancel not sent: the scheduler is closed"
            )
        request = extras.cancel = asyncio.get_running_loop().create_future()
        try:
            sent = await _send_cancel(rec, host)
        except BaseException:
            request.set_result(CancelSent("refused", "cancel request interrupted", None, False))
            raise
        request.set_result(sent)
    else:
        sent = await asyncio.shield(request)
    if sent.result == "accepted" and not rec.done:
        with anyio.move_on_after(cancel.confirm_timeout):
            await host.settled(rec)
    kind = cancel_outcome(sent.result, rec.state, ended=rec.done)
    if kind == "unconfirmed" and rec.state == "cancelling":
        host.unconfirmed(rec)
    outcome = CancelOutcome(
        kind,  # type: ignore[arg-type]
        rec.op_id,
        rec.state,
        http_status=sent.http_status,
        message=sent.message,
        sent=sent.sent,
    )
    host.log(rec, "cancel outcome", kind=kind, http_status=sent.http_status)
    return outcome


async def _send_cancel(rec: OpRecord, host: CancelHost) -> CancelSent:
    cancel = rec.spec.cancel
    template = rec.spec.cancel_template
    assert cancel is not None
    assert template is not None
    ctx = rec.context()
    transport = host.transport
    try:
        url = resolve(URL(ctx["request_url"], encoded=True), template.fill(ctx))
        transport.check(url)
    except (TemplateError, UntrustedURL) as exc:
        return CancelSent("refused", f"cancel not sent: {exc}", None, False)
    try:
        answer = await transport.request(
            cancel.method,
            url,
            headers=headers_for(rec.spec, cancel.headers),
            json_body=cancel.json,
            form=cancel.form,
        )
    except (UntrustedURL, TooManyRedirects) as exc:
        return CancelSent("refused", f"cancel not sent: {exc}", None, False)
    if answer.http_status is None:
        fault = answer.fault.message if answer.fault is not None else "no answer"
        return CancelSent("refused", fault, None, True)
    result, message = classify_cancel(
        cancel, answer.http_status, answer.headers, answer.body, poll_spec=rec.spec, last=rec.last
    )
    if message is not None:
        message = scrub(message)  # the server's words may echo the caller's credential
    if rec.done:
        return CancelSent(result, message, answer.http_status, True)
    if result == "accepted":
        host.accept_cancel(rec)
        host.log(rec, "cancel accepted", http_status=answer.http_status)
    elif result in ("already_finished", "not_found") and rec.state in POLLED:
        host.poll_soon(rec)
    return CancelSent(result, message, answer.http_status, True)


class _OneShot:
    """The `CancelHost` of `cancel_step`: one record, no runtime, nothing to wait for."""

    closed = False

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def accept_cancel(self, rec: OpRecord) -> None:
        if rec.state != "cancelling":  # a cancel sent again (at least once) is accepted again
            rec.transition("cancel_accepted")

    def poll_soon(self, rec: OpRecord) -> None:
        rec.due = None  # `cancel_step` makes every polled checkpoint due at once

    def unconfirmed(self, rec: OpRecord) -> None:
        pass

    def stop(self, rec: OpRecord) -> None:
        pass  # never asked: `cancel_step` refuses a spec without a CancelSpec first

    async def settled(self, rec: OpRecord) -> None:
        pass

    def log(self, rec: OpRecord, event: str, **fields: Any) -> None:
        pass


async def cancel_step(
    checkpoint: str | bytes,
    *,
    transport: Transport,
    now: float | None = None,
    spec: PollSpec | None = None,
) -> StepResult:
    """Send the cancel request of the operation a checkpoint describes: one step of cancelling.

    The cancel counterpart of `lrpoll.step`, for callers that keep the schedule
    elsewhere (a job queue, a fleet of workers): load the checkpoint, send its spec's
    cancel request once, and return the next checkpoint. When the server accepted, the
    next checkpoint is ``cancelling`` and due at once: stepping it with `lrpoll.step`
    confirms the cancel by polling, as `Operation.cancel` does. Whatever the answer, a
    running operation's checkpoint stays due at once; a stopped one whose cancel was not
    accepted stays stopped (``due`` None).

    Args:
        checkpoint: from `Operation.checkpoint` or a previous step.
        transport: sends the request, with lrpoll's checks and credentials.
        now: the epoch time to step at (default: the wall clock).
        spec: the spec instead of the checkpoint's, as in `lrpoll.step` (required for a
            detached checkpoint).

    Returns:
        A `StepResult` with no ``decision``, ``cancel`` set to what the answer meant
        (``accepted``, ``already_finished``, ``not_found``, ``not_supported``,
        ``refused``), and ``checkpoint`` None only for an operation that had already
        ended (nothing is sent then).

    Raises:
        CheckpointError: for a bad checkpoint or signature.
        SpecError: when the checkpoint's spec has no `CancelSpec` (nothing is sent).
        UntrustedURL: when its status URL lies off the transport's origins.

    Note:
        Sending twice is possible when a caller loses the next checkpoint (a worker that
        dies before saving it): cancel requests are at least once, so the server must
        take a repeated cancel as the same cancel, which cancel endpoints do.
    """
    doc = load(checkpoint, key=transport.checkpoint_key)
    detached = "spec_digest" in doc
    spec = spec_of(doc, spec)
    if spec.cancel is None:
        raise SpecError("this operation's spec has no cancel request", field="cancel")
    transport.check(URL(doc["status_url"], encoded=True))
    at = time.time() if now is None else now
    rec = to_record(doc, spec, now=at, wall=at)
    if rec.done:
        return StepResult(None, None, None, cancel="already_finished")
    sent = await _send_cancel(rec, _OneShot(transport))
    request = asyncio.get_running_loop().create_future()
    request.set_result(sent)
    rec.more().cancel = request
    rec.due = at if rec.state in POLLED else None
    text = dump(rec, now=at, wall=at, key=transport.checkpoint_key, detached=detached)
    return StepResult(None, text, rec.due, sent=sent.sent, cancel=sent.result)
