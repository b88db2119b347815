"""The in-process runtime: records on a timer heap, each poll through the one step, fan-out.

`Runtime` owns the operations' records. Its request slots take due records from the
`TimerHeap`, hold them at a closed host gate (`HostPacing`), run `_step.advance` on them,
and then tell the world: hooks, ``updates()`` subscribers, awaiters, tokens, the log.
It is the `Runner` every `Operation` handle talks to and the `CancelHost` of the cancel
driver; state changes it makes itself (stop, resume, cancel accepted) go through the
machine's table like the step's.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
from yarl import URL

from . import _log
from ._cancel import CancelOutcome, drive_cancel
from ._checkpoint import dump
from ._core import Retry, Running, Succeeded, past_deadline
from ._heap import TimerHeap
from ._machine import POLLED, TERMINAL
from ._operation import Operation
from ._record import Hooks, OpRecord, Update
from ._step import advance
from ._urls import origin_of, redact_url

if TYPE_CHECKING:
    import random
    from collections.abc import Iterable

    from anyio.abc import TaskGroup

    from ._cancel import AbandonPolicy
    from ._machine import Event
    from ._pacing import HostPacing
    from ._step import Advance
    from ._transport import Transport

__all__ = ["Runtime"]


class Runtime:
    """Runs operations' records on one event loop (see the module docstring).

    Args:
        transport: sends every request.
        pacing: per-host gates and retry buckets.
        rng: jitter.
        abandon: the default abandon policy.
        abandon_timeout: seconds the ``"cancel"`` abandon policy may take.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        pacing: HostPacing,
        rng: random.Random,
        abandon: AbandonPolicy,
        abandon_timeout: float,
    ) -> None:
        self._transport = transport
        self._pacing = pacing
        self._rng = rng
        self._abandon: AbandonPolicy = abandon
        self._abandon_timeout = abandon_timeout
        self._loop = asyncio.get_running_loop()
        self.heap: TimerHeap[OpRecord] = TimerHeap(self._loop, self._run)
        self.in_flight: set[OpRecord] = set()
        self.states: Counter[str] = Counter()
        self.polls = 0
        self.retries = 0
        self._tg: TaskGroup | None = None
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------

    def open(self, tg: TaskGroup, slots: int) -> None:
        """Start ``slots`` request slots in ``tg``."""
        self._tg = tg
        for _ in range(slots):
            tg.start_soon(self.heap.worker)

    def live(self) -> set[OpRecord]:
        """The records waiting for a poll or with a poll in flight."""
        return set(self.heap.live()) | self.in_flight

    def close(self) -> None:
        """Stop every operation; nothing can be sent any more."""
        self._closed = True
        for rec in self.live():
            self.stop(rec)
        self.heap.clear()

    @property
    def transport(self) -> Transport:
        """The transport."""
        return self._transport

    @property
    def closed(self) -> bool:
        """Whether the runtime is closed."""
        return self._closed or self._tg is None

    def time(self) -> float:
        """The event loop's clock."""
        return self._loop.time()

    def rand(self) -> float:
        """A uniform value in [0, 1) for jitter."""
        return self._rng.random()

    # -- adopting records ---------------------------------------------------------------

    def adopt(
        self,
        rec: OpRecord,
        *,
        hooks: Hooks | None = None,
        token: Any = None,
        abandon: AbandonPolicy | None = None,
    ) -> Operation:
        """Count a new record, keep its hooks, token and abandon policy; its handle."""
        handle = Operation(rec, self)
        rec.handle = handle
        if hooks is not None and any(
            (hooks.on_progress, hooks.on_status, hooks.on_done, hooks.on_timeout)
        ):
            rec.more().hooks = hooks
        if token is not None:
            rec.more().token = token
        if abandon is not None and abandon != self._abandon:
            rec.more().abandon = abandon
        self.states[rec.state] += 1
        return handle

    def begin(self, rec: OpRecord, due: float | None) -> None:
        """Start polling an adopted record at ``due``, and put it on its token.

        A ``due`` of None leaves it unscheduled (a stopped record waits for resume).
        """
        if rec.state == "pending":
            self._move(rec, "poll")
        if due is not None:
            self.heap.push(rec, due)
        self._add_to_token(rec)

    def _add_to_token(self, rec: OpRecord) -> None:
        token = rec.extras.token if rec.extras is not None else None
        if token is not None:
            token.add(rec.handle)

    def _move(self, rec: OpRecord, event: Event) -> None:
        old = rec.transition(event)
        self.states[old] -= 1
        self.states[rec.state] += 1

    def _recount(self, rec: OpRecord, old: str) -> None:
        if rec.state != old:
            self.states[old] -= 1
            self.states[rec.state] += 1

    # -- one poll -------------------------------------------------------------------------

    async def _run(self, rec: OpRecord) -> None:
        """A due record: held at its host's gate, or one step through `_step.advance`."""
        now = self.time()
        if self._pacing.active and not past_deadline(rec.spec, rec.started, now):
            # Only once some host has failed is the origin computed.
            held = self._pacing.hold(origin_of(URL(rec.url, encoded=True)), now)
            if held is not None:
                self.heap.push(rec, held)
                return
        before = rec.state
        self.in_flight.add(rec)
        self.polls += 1
        try:
            adv = await advance(
                rec, self._transport, now=now, rand=self._rng.random(), clock=self._loop.time
            )
        finally:
            self.in_flight.discard(rec)
        if adv is None:
            return
        self._recount(rec, before)
        self.after(rec, adv)

    def after(self, rec: OpRecord, adv: Advance) -> None:
        """Tell the world what a step did, and schedule the next one."""
        decision = adv.decision
        if decision is None:
            assert adv.due is not None
            self.heap.push(rec, adv.due)
            return
        for warning in decision.warnings:
            self.logger(rec).warning(warning)
        if _log.debug_enabled():
            self.logger(rec).debug(
                "poll", attempt=rec.attempts, decision=type(decision).__name__, sent=adv.sent
            )
        if isinstance(decision, Running):
            self._observe(rec, decision.progress, decision.message, progressed=adv.progressed)
            if rec.state in POLLED and adv.due is not None:
                self.heap.push(rec, adv.due)
        elif isinstance(decision, Retry):
            self.retries += 1
            now = self.time()  # the instant the step decided: nothing awaited since
            origin = origin_of(URL(rec.url, encoded=True))
            delay = self._pacing.after_retry(origin, now, decision.delay, throttled=adv.throttled)
            self.heap.push(rec, now + delay)
        else:
            self._finish(rec, answered=isinstance(decision, Succeeded), progressed=adv.progressed)

    async def poll_now(self, rec: OpRecord) -> None:
        """Poll ``rec`` now (``op.poll_once()``); nothing for a stopped or ended one."""
        if rec.state not in POLLED:
            return
        self.heap.drop(rec)  # its heap entry goes; this poll's decision schedules the next
        await self._run(rec)

    # -- fan-out ----------------------------------------------------------------------------

    def _observe(
        self, rec: OpRecord, progress: float | None, message: str | None, *, progressed: bool
    ) -> None:
        extras = rec.extras
        if extras is None:
            return
        hooks = extras.hooks
        if hooks is not None:
            if hooks.on_status is not None:
                self._call(rec, hooks.on_status)
            if progressed and hooks.on_progress is not None:
                self._call(rec, hooks.on_progress)
        if extras.subscribers:
            self._publish(rec, Update(rec.state, progress, message, rec.last))

    def _finish(self, rec: OpRecord, *, answered: bool = False, progressed: bool = False) -> None:
        rec.due = None
        self._resolve(rec)
        if _log.info_enabled():
            error = None if rec.error is None else str(rec.error)
            self.logger(rec).info("operation ended", state=rec.state, error=error)
        extras = rec.extras
        if extras is None:
            return
        if extras.token is not None:
            extras.token.discard(rec.handle)
        hooks = extras.hooks
        if hooks is None:
            return
        # The final answer's hooks fire once the terminal state is set.
        if answered and hooks.on_status is not None:
            self._call(rec, hooks.on_status)
        if progressed and hooks.on_progress is not None:
            self._call(rec, hooks.on_progress)
        if rec.state == "timed_out" and hooks.on_timeout is not None:
            self._call(rec, hooks.on_timeout)
        if hooks.on_done is not None:
            self._call(rec, hooks.on_done)

    def _resolve(self, rec: OpRecord) -> None:
        if rec.waiter is not None and not rec.waiter.done():
            rec.waiter.set_result(None)
        extras = rec.extras
        if extras is not None:
            handle: Operation = rec.handle
            if extras.subscribers:
                self._publish(rec, handle.snapshot())
            queues, extras.done_queues = extras.done_queues or [], None
            for queue in queues:
                queue.put_nowait(handle)

    def _publish(self, rec: OpRecord, update: Update) -> None:
        assert rec.extras is not None
        for queue in rec.extras.subscribers or ():
            queue.put_nowait(update)

    def subscribe(self, rec: OpRecord) -> asyncio.Queue[Update]:
        """A queue that receives each update of ``rec``."""
        queue: asyncio.Queue[Update] = asyncio.Queue()
        extras = rec.more()
        if extras.subscribers is None:
            extras.subscribers = []
        extras.subscribers.append(queue)
        return queue

    def unsubscribe(self, rec: OpRecord, queue: asyncio.Queue[Update]) -> None:
        """Stop sending updates of ``rec`` to ``queue``."""
        if rec.extras is not None and rec.extras.subscribers is not None:
            rec.extras.subscribers.remove(queue)

    def when_done(self, rec: OpRecord, queue: asyncio.Queue[Any]) -> None:
        """Put the handle of ``rec`` on ``queue`` once it ends or stops."""
        extras = rec.more()
        if extras.done_queues is None:
            extras.done_queues = []
        extras.done_queues.append(queue)

    async def settled(self, rec: OpRecord) -> None:
        """Return at the next end or stop of ``rec`` (one shared future per record)."""
        if rec.waiter is None or rec.waiter.done():
            rec.waiter = self._loop.create_future()
        # shield: one awaiter's cancellation must not cancel the shared future.
        await asyncio.shield(rec.waiter)

    def _call(self, rec: OpRecord, callback: Any) -> None:
        try:
            result = callback(rec.handle)
            if asyncio.iscoroutine(result):
                result.close()
                raise TypeError("callbacks are plain functions; use op.updates() for async code")
        except Exception as exc:  # noqa: BLE001 (a user callback must not kill polling)
            self.logger(rec).error("callback failed", callback=repr(callback), error=repr(exc))

    def logger(self, rec: OpRecord) -> Any:
        """The record's logger, bound to its id and redacted URL, made on first use."""
        extras = rec.more()
        if extras.logger is None:
            extras.logger = _log.get_logger(operation=rec.op_id, url=redact_url(rec.url))
        return extras.logger

    def log(self, rec: OpRecord, event: str, **fields: Any) -> None:
        """Log ``event`` at info for ``rec``."""
        if _log.info_enabled():
            self.logger(rec).info(event, **fields)

    # -- stop, resume, cancel, abandon ----------------------------------------------------

    def stop(self, rec: OpRecord) -> None:
        """Stop polling ``rec`` on the client side (nothing for a stopped or ended one)."""
        if rec.state in TERMINAL or rec.state == "stopped":
            return
        rec.due = None
        self._move(rec, "stop")
        rec.more().stopped_at = self.time()
        self.log(rec, "polling stopped")
        self._resolve(rec)

    def _unstop(self, rec: OpRecord, event: Event) -> None:
        now = self.time()
        extras = rec.more()
        stopped_at = extras.stopped_at if extras.stopped_at is not None else now
        extras.stopped_at = None
        rec.started += now - stopped_at  # time stopped does not count towards max_duration
        self._move(rec, event)
        self.heap.push(rec, now)

    def resume(self, rec: OpRecord) -> None:
        """Resume polling ``rec`` after a stop.

        Raises:
            RuntimeError: when it already ended, or the runtime is closed.
        """
        if rec.state in TERMINAL:
            raise RuntimeError(f"operation {rec.op_id} already ended ({rec.state}); cannot resume")
        if rec.state != "stopped":
            return
        if self.closed:
            raise RuntimeError("the scheduler is closed")
        self._unstop(rec, "resume")

    def accept_cancel(self, rec: OpRecord) -> None:
        """The server accepted the cancel: ``cancelling`` (a stopped record polls again)."""
        if rec.state == "stopped":
            self._unstop(rec, "cancel_accepted")
        else:
            self._move(rec, "cancel_accepted")

    def poll_soon(self, rec: OpRecord) -> None:
        """Poll ``rec`` now."""
        self.heap.push(rec, self.time())

    def unconfirmed(self, rec: OpRecord) -> None:
        """No confirmation in time: back to ``running``."""
        self._move(rec, "cancel_unconfirmed")

    async def cancel(self, rec: OpRecord) -> CancelOutcome:
        """Ask the server to cancel ``rec``, then confirm by polling (`drive_cancel`)."""
        return await drive_cancel(rec, self)

    def cancel_nowait(self, rec: OpRecord) -> None:
        """Cancel ``rec`` in the background; stop it when it has no cancel or nothing can run."""
        if rec.spec.cancel is None or self.closed or self._tg is None:
            self.stop(rec)
            return
        self._tg.start_soon(self.cancel, rec)

    async def cancel_all(self, recs: Iterable[OpRecord], within: float) -> None:
        """Cancel ``recs`` on the server at once, shielded, for at most ``within`` seconds."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(within):
            async with anyio.create_task_group() as tg:
                for rec in recs:
                    if rec.spec.cancel is not None and not rec.done:
                        tg.start_soon(self.cancel, rec)

    async def abandoned(self, rec: OpRecord, *, policy: Any = None) -> None:
        """The task awaiting ``rec`` was cancelled: apply its abandon policy."""
        if rec.done or rec.state == "stopped":
            return
        if policy is None:
            own = rec.extras.abandon if rec.extras is not None else None
            policy = own or self._abandon
        if policy == "detach":
            return
        if policy == "cancel" and rec.spec.cancel is not None and not self._closed:
            # Shielded, so the caller's cancellation does not cut the request short, and
            # bounded, so abandoning never hangs the caller.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._abandon_timeout):
                await self.cancel(rec)
            return
        self.stop(rec)

    def checkpoint(self, rec: OpRecord, *, key: bytes | None) -> str:
        """The checkpoint of ``rec`` (`_checkpoint.dump`)."""
        return dump(rec, now=self.time(), wall=time.time(), key=key)
