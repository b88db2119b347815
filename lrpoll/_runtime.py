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
import inspect
import json
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio
from yarl import URL

from . import _log
from ._batch import advance_batch, batch_key
from ._cancel import CancelOutcome, drive_cancel
from ._checkpoint import dump, load, spec_of, to_record
from ._core import Retry, Running, Succeeded, past_deadline
from ._core import resume_delay as _resume_delay
from ._exceptions import AuthError, UntrustedURL
from ._heap import TimerHeap
from ._machine import POLLED, TERMINAL
from ._operation import Operation, record_of
from ._record import Hooks, OpRecord, Update
from ._step import advance
from ._urls import origin_of, redact_url

if TYPE_CHECKING:
    import random
    from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Mapping

    from anyio.abc import TaskGroup

    from ._cancel import AbandonPolicy
    from ._machine import Event
    from ._pacing import HostPacing
    from ._spec import PollSpec
    from ._step import Advance
    from ._store import CheckpointStore
    from ._transport import Transport

__all__ = ["Runtime", "SchedulerStatistics", "with_credential_hint"]


@dataclass(frozen=True, slots=True)
class SchedulerStatistics:
    """A snapshot of the scheduler's work (see `Scheduler.statistics`)."""

    operations: Mapping[str, int]
    heap_size: int
    in_flight: int
    slots: int
    polls_sent: int
    errors_retried: int


class Runtime:
    """Runs operations' records on one event loop (see the module docstring).

    Args:
        transport: sends every request.
        pacing: per-host gates and retry buckets.
        rng: jitter.
        abandon: the default abandon policy.
        abandon_timeout: seconds the ``"cancel"`` abandon policy may take.
        store: where checkpoints are saved at every state change, or None.
        checkpoint_key: signs the stored checkpoints and checks loaded ones.
        hook_errors: ``"log"`` a failing hook, or also keep its exception in
            `hook_error` (``"raise"``: the scheduler raises it on exit).
        keep_ended: how many ended operations stay known by id (the newest), or None
            for all until `remove`.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        pacing: HostPacing,
        rng: random.Random,
        abandon: AbandonPolicy,
        abandon_timeout: float,
        store: CheckpointStore | None = None,
        checkpoint_key: bytes | None = None,
        hook_errors: Literal["log", "raise"] = "log",
        keep_ended: int | None = 10_000,
    ) -> None:
        if keep_ended is not None and keep_ended < 0:
            raise ValueError("keep_ended must be at least 0 (or None)")
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
        # Every operation of this runtime by id, the newest ``keep_ended`` ended ones too.
        self._ops: dict[str, OpRecord] = {}
        # Ids of ended operations, oldest first: the order they are forgotten in.
        self._ended: dict[str, None] = {}
        self._keep_ended = keep_ended
        self._store = store
        self._key = checkpoint_key
        self._dirty: dict[str, OpRecord] = {}
        self._wake = asyncio.Event()
        self._saving = asyncio.Lock()
        self._warned: set[Any] = set()
        self._hook_errors = hook_errors
        #: The first exception a hook raised (kept when ``hook_errors="raise"``).
        self.hook_error: BaseException | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def open(self, tg: TaskGroup, slots: int) -> None:
        """Start ``slots`` request slots in ``tg``."""
        self._tg = tg
        for _ in range(slots):
            tg.start_soon(self.heap.worker)
        if self._store is not None:
            tg.start_soon(self._writer)

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
    def pacing(self) -> HostPacing:
        """The per-host gates and retry buckets."""
        return self._pacing

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
        """Register a new record under its id, keep its hooks, token and abandon policy.

        Raises:
            ValueError: when this runtime already holds an unfinished operation with
                that id.
        """
        self.check_id(rec.op_id)
        if hooks:
            rec.more().hooks = hooks
        handle = Operation(rec, self)
        rec.handle = handle
        if token is not None:
            rec.more().token = token
        if abandon is not None and abandon != self._abandon:
            rec.more().abandon = abandon
        self.states[rec.state] += 1
        self._ops[rec.op_id] = rec
        if rec.done:
            self._retire(rec)
        self._changed(rec)
        return handle

    def check_id(self, op_id: str) -> None:
        """Refuse an id an unfinished operation of this runtime holds.

        Raises:
            ValueError: naming the id, and ``op.resume()`` for a stopped one.
        """
        held = self._ops.get(op_id)
        if held is None or held.done:
            return
        if held.state == "stopped":
            raise ValueError(
                f"operation {op_id!r} is stopped in this scheduler: call"
                f" scheduler.get({op_id!r}).resume() instead of starting it again"
            )
        raise ValueError(
            f"operation {op_id!r} is already {held.state} in this scheduler; give the new"
            " one another operation_id (or leave it out for a unique one)"
        )

    def warn_unbounded(self, spec: PollSpec, key: Any = None) -> None:
        """Log one warning per spec that sets neither ``max_duration`` nor ``max_attempts``."""
        if spec.max_duration is not None or spec.max_attempts is not None:
            return
        key = id(spec) if key is None else key
        if key in self._warned:
            return
        self._warned.add(key)
        _log.get_logger().warning(
            "spec has no max_duration or max_attempts: its operations poll until they end"
            " or the process does; set max_duration to bound them",
            status_url=spec.status_url,
        )

    def get(self, op_id: str) -> Operation | None:
        """The operation with this id, ended ones included, or None."""
        rec = self._ops.get(op_id)
        return None if rec is None else rec.handle

    def statistics(self, slots: int) -> SchedulerStatistics:
        """Operations by state, heap size, polls in flight, polls sent, errors retried."""
        return SchedulerStatistics(
            operations={k: v for k, v in self.states.items() if v},
            heap_size=len(self.heap),
            in_flight=len(self.in_flight),
            slots=slots,
            polls_sent=self.polls,
            errors_retried=self.retries,
        )

    async def as_completed(self, ops: Iterable[Operation]) -> AsyncIterator[Operation]:
        """Yield the operations as they finish (or stop), first finished first."""
        pending = list(ops)
        queue: asyncio.Queue[Operation] = asyncio.Queue()
        for op in pending:
            if op.done or op.state == "stopped":
                queue.put_nowait(op)
            else:
                self.when_done(record_of(op), queue)
        for _ in pending:
            yield await queue.get()

    def find(self, states: frozenset[str] | None) -> list[Operation]:
        """The operations in one of ``states`` (all for None), oldest first."""
        return [r.handle for r in self._ops.values() if states is None or r.state in states]

    async def remove(self, op_id: str) -> None:
        """Forget an ended or stopped operation, and drop its stored checkpoint.

        Raises:
            ValueError: when the operation is still polled (stop or cancel it first).
        """
        rec = self._ops.get(op_id)
        if rec is not None and rec.state in POLLED:
            raise ValueError(f"operation {op_id!r} is still {rec.state}: stop or cancel it first")
        self._ops.pop(op_id, None)
        self._ended.pop(op_id, None)
        self._dirty.pop(op_id, None)
        if self._store is not None:
            async with self._saving:
                await self._store.remove(op_id)

    def resume_checkpoint(
        self,
        checkpoint: str | bytes,
        *,
        spec: PollSpec | None = None,
        key: bytes | None = None,
        hooks: Hooks | None = None,
        token: Any = None,
        abandon: AbandonPolicy | None = None,
    ) -> Operation:
        """Adopt the operation a checkpoint describes (see `Scheduler.resume`)."""
        doc = load(checkpoint, key=key if key is not None else self._key)
        self.check_id(doc["id"])
        if spec is None:
            spec = spec_of(doc)
            self.warn_unbounded(spec, json.dumps(doc["spec"], sort_keys=True))
        else:
            self.warn_unbounded(spec)
        self._transport.check(URL(doc["status_url"], encoded=True))
        now = self.time()
        rec = to_record(doc, spec, now=now, wall=time.time())
        op = self.adopt(rec, hooks=hooks, token=token, abandon=abandon)
        if rec.state not in TERMINAL:
            due = None if rec.state == "stopped" else now + _resume_delay(spec, self.rand())
            self.begin(rec, due)
        return op

    async def resume_stored(self, resume: Callable[[str], Operation]) -> list[Operation]:
        """``resume`` every checkpoint of the store, but those whose id is held unfinished.

        Raises:
            RuntimeError: without a store.
        """
        if self._store is None:
            raise RuntimeError("resume_all needs Scheduler(checkpoint_store=...)")
        await self.flush()  # what is stored is then what this runtime knows
        ops = []
        for text in await self._store.load_all():
            doc = load(text, key=self._key)
            held = self._ops.get(doc["id"])
            if held is None or held.done:
                ops.append(resume(text))
        return ops

    async def shutdown(self, policy: str, within: float) -> None:
        """Cancel the live operations first when ``policy`` is ``"cancel"``, save, close."""
        live = self.live()
        if policy == "cancel" and live:
            await self.cancel_all(live, within)
        with anyio.CancelScope(shield=True), anyio.move_on_after(within):
            await self.flush()  # before close: the store keeps what was running as running
        self.close()

    # -- the checkpoint store -------------------------------------------------------------

    def _changed(self, rec: OpRecord) -> None:
        if self._store is not None and not self._closed:
            self._dirty[rec.op_id] = rec
            self._wake.set()

    async def _writer(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Save every checkpoint that changed since its last save (the latest state)."""
        if self._store is None:
            return
        async with self._saving:
            while self._dirty:
                op_id, rec = self._dirty.popitem()
                try:
                    text = dump(rec, now=self.time(), wall=time.time(), key=self._key)
                    await self._store.save(op_id, text)
                except Exception as exc:  # noqa: BLE001 (a store fault must not stop polling)
                    self.logger(rec).error(
                        f"checkpoint not saved: {exc!r}", store=repr(self._store)
                    )

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
        self._changed(rec)

    def _recount(self, rec: OpRecord, old: str) -> None:
        if rec.state != old:
            self.states[old] -= 1
            self.states[rec.state] += 1
            self._changed(rec)

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
        key = batch_key(rec) if rec.spec.batch is not None else None
        if key is not None:
            await self._run_batch(rec, key, now)
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

    async def _run_batch(self, rec: OpRecord, key: Hashable, now: float) -> None:
        """``rec`` and the due records of its batch key: one list request (`advance_batch`)."""
        spec, batch = rec.spec, rec.spec.batch
        assert batch is not None

        def same(other: OpRecord) -> bool:
            return (other.spec is spec or other.spec.batch == batch) and batch_key(other) == key

        group = [rec, *self.heap.take_where(same, now + batch.window)]
        before = {r: r.state for r in group}
        self.in_flight.update(group)
        self.polls += len(group)
        try:
            done = await advance_batch(
                group, self._transport, now=now, rand=self._rng.random, clock=self._loop.time
            )
        finally:
            self.in_flight.difference_update(group)
        for other, adv in done:
            if adv is not None:
                self._recount(other, before[other])
                self.after(other, adv)

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
        if isinstance(decision, Retry):
            self.retries += 1
            now = self.time()  # the instant the step decided: nothing awaited since
            origin = origin_of(URL(rec.url, encoded=True))
            delay = self._pacing.after_retry(
                origin, now, decision.delay, throttled=adv.throttled, key=rec
            )
            self.heap.push(rec, now + delay)
            return
        if adv.sent and self._pacing.active:
            self._release(rec)
        if isinstance(decision, Running):
            self._observe(rec, decision.progress, decision.message, progressed=adv.progressed)
            if rec.state in POLLED and adv.due is not None:
                self.heap.push(rec, adv.due)
        else:
            self._finish(rec, answered=isinstance(decision, Succeeded), progressed=adv.progressed)

    def _release(self, rec: OpRecord) -> None:
        """A good answer refills its host's retry bucket: deferred retries go sooner."""
        now = self.time()
        released = self._pacing.after_success(origin_of(URL(rec.url, encoded=True)), now, rec)
        for other, due in released:
            # Only a record still waiting on the heap for a later slot is moved up.
            if other.due is not None and other.due > due:
                self.heap.push(other, due)

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
                self._call(rec, "on_status", hooks.on_status)
            if progressed and hooks.on_progress is not None and self._progress_due(rec, hooks):
                self._call(rec, "on_progress", hooks.on_progress)
        if extras.subscribers:  # an Update reads (parses) the last document
            self._publish(rec, Update(rec.state, progress, message, rec.last))

    def _progress_due(self, rec: OpRecord, hooks: Hooks) -> bool:
        """Whether ``on_progress`` may fire now (`Hooks` throttling), and note it if so."""
        extras = rec.more()
        now, progress = self.time(), rec.progress
        if extras.progress_at is not None:
            if now - extras.progress_at < hooks.progress_min_interval:
                return False
            sent = extras.progress_sent
            if (
                sent is not None
                and progress is not None
                and abs(progress - sent) < (hooks.progress_min_step)
            ):
                return False
        extras.progress_at, extras.progress_sent = now, progress
        return True

    def _retire(self, rec: OpRecord) -> None:
        """Count ``rec`` among the ended operations; forget the oldest past ``keep_ended``."""
        self._ended[rec.op_id] = None
        keep = self._keep_ended
        while keep is not None and len(self._ended) > keep:
            oldest = next(iter(self._ended))
            del self._ended[oldest]
            held = self._ops.get(oldest)
            if held is not None and held.done:
                del self._ops[oldest]

    def _finish(self, rec: OpRecord, *, answered: bool = False, progressed: bool = False) -> None:
        rec.due = None
        self._retire(rec)
        if isinstance(rec.error, AuthError) and rec.error.http_status in (401, 403):
            # Not for an auth error read from a body (ArcGIS's 498): the token was sent.
            rec.error = with_credential_hint(rec.error, self._transport, URL(rec.url, encoded=True))
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
            self._call(rec, "on_status", hooks.on_status)
        if progressed and hooks.on_progress is not None:
            self._call(rec, "on_progress", hooks.on_progress)
        if rec.state == "timed_out" and hooks.on_timeout is not None:
            self._call(rec, "on_timeout", hooks.on_timeout)
        if hooks.on_done is not None:
            self._call(rec, "on_done", hooks.on_done)

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

    def _call(self, rec: OpRecord, name: str, callback: Any) -> None:
        try:
            result = callback(rec.handle)
            if inspect.isawaitable(result):
                if asyncio.iscoroutine(result):
                    result.close()
                raise TypeError(f"{name} returned an awaitable: hooks are plain functions")
        except Exception as exc:  # noqa: BLE001 (a user callback must not kill polling)
            # The traceback goes in the message (redacted with it), so every handler
            # shows it, not only those that render structlog's extra fields.
            trace = "".join(traceback.format_exception(exc)).rstrip()
            self.logger(rec).error(f"hook {name} failed: {exc!r}\n{trace}", hook=name)
            if self._hook_errors == "raise" and self.hook_error is None:
                self.hook_error = exc

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


def with_credential_hint(error: AuthError, transport: Transport, url: URL) -> AuthError:
    """``error`` saying whether a credential went to ``url``, and for which origin.

    Never the credential's value: its type and the origins credentials are given for.
    """
    origin = origin_of(url)
    shown = "" if origin is None else f"{origin[0]}://{origin[1]}:{origin[2]}"
    try:
        access = transport.check(url)
    except UntrustedURL:
        access = "anonymous"
    credential = transport.credentials.get(origin) if origin is not None else None
    if access == "trusted" and credential is not None:
        hint = f"a {type(credential).__name__} was sent for {shown}"
    else:
        known = sorted(f"{o[0]}://{o[1]}:{o[2]}" for o in transport.credentials)
        where = f"credentials are given for {', '.join(known)}" if known else "none are given"
        hint = f"no credential was sent to {shown} ({where})"
    return AuthError(
        f"{error.message}; {hint}",
        http_status=error.http_status,
        body_snippet=error.body_snippet,
        operation_id=error.operation_id,
        status=error.status,
    )
