"""The scheduler: one timer heap, a fixed pool of request slots, one event loop.

An operation waiting for its next poll is an entry ``(due, seq, op)`` in a heap. A fixed
number of worker tasks (the request slots, never scaled with the number of operations)
take the entries that are due, earliest first, and send their polls; idle workers sleep
on a future and one loop timer wakes them for the next due entry. Leaving
``async with Scheduler(...)`` stops every operation and leaves no task or connection.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import anyio
from yarl import URL

from . import _log
from ._core import (
    Ended,
    Observation,
    Retry,
    Running,
    Succeeded,
    decide,
    first_delay,
    start_error,
    timed_out,
)
from ._exceptions import LrpollError, TooManyRedirects, UntrustedURL
from ._operation import TERMINAL, Callback, Operation, OperationState, Update
from ._transport import Answer, Limits, Transport
from ._urls import Origin, TrustPolicy, origin_of, redact_url, resolve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping
    from types import TracebackType

    from anyio.abc import TaskGroup

    from ._auth import Credential
    from ._core import Decision
    from ._spec import PollSpec

__all__ = ["Scheduler", "SchedulerStatistics"]


@dataclass(frozen=True, slots=True)
class SchedulerStatistics:
    """A snapshot of the scheduler's work (see `Scheduler.statistics`)."""

    operations: Mapping[str, int]
    heap_size: int
    in_flight: int
    slots: int
    polls_sent: int
    errors_retried: int


@dataclass(slots=True)
class _Host:
    """Per-origin health: a gate closed by 429 and a token bucket that paces retries."""

    gate_until: float = 0.0
    tokens: float = 0.0
    refilled_at: float = 0.0


@dataclass(slots=True)
class _Counters:
    polls: int = 0
    retries: int = 0
    in_flight: int = 0
    states: Counter[str] = field(default_factory=Counter)


class Scheduler:
    """Runs many operations on one event loop.

    Args:
        base_url: resolves relative URLs; its origin is trusted (gets credentials).
        session: an aiohttp session to borrow (never closed here); by default the
            scheduler owns one.
        credentials: a credential provider per trusted origin
            (``{"https://api": BearerToken(...)}``), attached per request, only to that
            origin. Each key's origin becomes trusted.
        trusted_origins: more origins that get credentials.
        allow_origins: origins polled *without* credentials (``"any"`` for every origin).
        slots: polls in flight at once (the worker pool; default 100).
        per_host: connections per host (0: no limit beyond ``slots``).
        limits: body caps, timeouts, redirect hops.
        retry_rate: retries per second a failing host gets (token bucket).
        retry_burst: retries a failing host gets at once.
        seed: seeds the jitter, for reproducible schedules.

    Note:
        Credentials never go in the session's default headers: aiohttp would send them
        to any URL. A borrowed session that carries ``Authorization`` or ``Cookie``
        defaults may only be used with trusted origins.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        credentials: Mapping[str, Credential] | None = None,
        trusted_origins: Iterable[str] = (),
        allow_origins: Iterable[str] | Literal["any"] = (),
        slots: int = 100,
        per_host: int = 0,
        limits: Limits | None = None,
        retry_rate: float = 5.0,
        retry_burst: float = 20.0,
        seed: int | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self._base = URL(base_url) if base_url else None
        trusted: set[Origin] = set()
        if self._base is not None:
            base_origin = origin_of(self._base)
            if base_origin is None:
                raise ValueError(f"base_url must be an absolute http(s) URL: {base_url!r}")
            trusted.add(base_origin)
        creds: dict[Origin, Credential] = {}
        for url, cred in (credentials or {}).items():
            origin = origin_of(url)
            if origin is None:
                raise ValueError(f"credential origin must be an absolute http(s) URL: {url!r}")
            creds[origin] = cred
            trusted.add(origin)
            _log.add_secrets(cred.secrets())
        for url in trusted_origins:
            origin = origin_of(url)
            if origin is None:
                raise ValueError(f"trusted origin must be an absolute http(s) URL: {url!r}")
            trusted.add(origin)
        anonymous: frozenset[Origin] | Literal["any"]
        if allow_origins == "any":
            anonymous = "any"
        else:
            allowed = {origin_of(u) for u in allow_origins}
            if None in allowed:
                raise ValueError("allow_origins must hold absolute http(s) URLs")
            anonymous = frozenset(o for o in allowed if o is not None)
        self._trust = TrustPolicy(frozenset(trusted), anonymous)
        self._credentials = creds
        self._session = session
        self._limits = limits or Limits()
        self._slots = slots
        self._per_host = per_host
        self._retry_rate = retry_rate
        self._retry_burst = retry_burst
        self._rng = random.Random(seed)
        self._heap: list[tuple[float, int, Operation]] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._idle: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._in_flight: set[Operation] = set()
        self._hosts: dict[Origin, _Host] = {}
        self._counters = _Counters()
        self._transport: Transport | None = None
        self._tg: TaskGroup | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Scheduler:
        self._loop = asyncio.get_running_loop()
        owned = self._session is None
        session = self._session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._slots, limit_per_host=self._per_host),
            auto_decompress=True,
        )
        self._transport = Transport(
            session,
            owned=owned,
            trust=self._trust,
            credentials=self._credentials,
            limits=self._limits,
        )
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        for _ in range(self._slots):
            tg.start_soon(self._worker)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        self._closing = True
        for op in [entry[2] for entry in self._heap] + list(self._in_flight):
            self._stop(op)
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            self._tg = None
            if self._transport is not None:
                with anyio.CancelScope(shield=True):
                    await self._transport.aclose()

    def time(self) -> float:
        """The event loop's clock (what deadlines and delays count in)."""
        assert self._loop is not None, "the scheduler is not running"
        return self._loop.time()

    @property
    def transport(self) -> Transport:
        """The HTTP seam (for extensions such as cancellation)."""
        if self._transport is None:
            raise RuntimeError("use the scheduler inside 'async with'")
        return self._transport

    # -- starting and attaching ------------------------------------------------------

    async def start(
        self,
        method: str,
        url: str,
        *,
        spec: PollSpec,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        operation_id: str | None = None,
        on_progress: Callback | None = None,
        on_status: Callback | None = None,
        on_done: Callback | None = None,
        on_timeout: Callback | None = None,
    ) -> Operation:
        """Send the start request and begin polling the operation it starts.

        A start answer that is already terminal needs no poll. The start request itself
        is not retried (it is rarely idempotent).

        Raises:
            UntrustedURL: when the request or status URL lies off the allowed origins.
            TransportError: when the start request fails (`AuthError` for 401/403).
            TemplateError: when the status URL template cannot be filled from the answer.
        """
        transport = self.transport
        target = self._absolute(url)
        op_id = operation_id or f"op-{next(self._ids)}"
        answer = await transport.request(
            method.upper(), target, headers=headers, query=params, json_body=json, form=form
        )
        now = self.time()
        obs = self._observation(answer, now, now, attempt=0, errors=0, failing_since=None)
        error = start_error(spec, obs, operation_id=op_id)
        if error is not None:
            raise error
        request_url = answer.url or target
        base = {
            "start": answer.body,
            "start_headers": dict(answer.headers),
            "request_url": str(request_url),
            "operation": op_id,
        }
        decision = decide(spec, obs, base, operation_id=op_id)
        status_ref = next(
            (answer.headers[h] for h in spec.status_from if answer.headers.get(h)), None
        )
        if status_ref is None and spec.status_template is not None:
            status_ref = spec.status_template.fill(base)
        if status_ref is None:
            status_url = request_url
        else:
            status_url = self._status_url(resolve(request_url, status_ref), spec)
        op = Operation(self, spec, op_id, status_url, now, base)
        self._hooks(op, on_progress, on_status, on_done, on_timeout)
        self._counters.states["pending"] += 1
        if isinstance(decision, Succeeded | Ended):
            op.status = answer.body
            self._apply(op, decision, now, answer.body)
            return op
        delay, warnings = first_delay(spec, obs)
        self._warn(op, warnings)
        self._set_state(op, "running")
        self._push(op, now + delay)
        return op

    def watch(
        self,
        status_url: str,
        spec: PollSpec,
        *,
        operation_id: str | None = None,
        on_progress: Callback | None = None,
        on_status: Callback | None = None,
        on_done: Callback | None = None,
        on_timeout: Callback | None = None,
    ) -> Operation:
        """Attach to an operation that already exists, by its status URL; polls at once.

        Raises:
            UntrustedURL: when the status URL lies off the allowed origins.
        """
        self.transport  # noqa: B018 (raises outside 'async with')
        url = self._status_url(self._absolute(status_url), spec)
        now = self.time()
        op = Operation(self, spec, operation_id or f"op-{next(self._ids)}", url, now)
        self._hooks(op, on_progress, on_status, on_done, on_timeout)
        self._counters.states["pending"] += 1
        self._set_state(op, "running")
        jitter = spec.first_poll_jitter * self._rng.random() if spec.first_poll_jitter else 0.0
        self._push(op, now + jitter)
        return op

    async def as_completed(self, ops: Iterable[Operation]) -> AsyncIterator[Operation]:
        """Yield the operations as they finish (or stop), first finished first."""
        pending = list(ops)
        queue: asyncio.Queue[Operation] = asyncio.Queue()
        for op in pending:
            if op.done or op.state == "stopped":
                queue.put_nowait(op)
            else:
                op._extras().setdefault("done_queues", []).append(queue)
        for _ in pending:
            yield await queue.get()

    def statistics(self) -> SchedulerStatistics:
        """Operations by state, heap size, polls in flight, polls sent, errors retried."""
        c = self._counters
        return SchedulerStatistics(
            operations={k: v for k, v in c.states.items() if v},
            heap_size=len(self._heap),
            in_flight=c.in_flight,
            slots=self._slots,
            polls_sent=c.polls,
            errors_retried=c.retries,
        )

    # -- URL helpers ---------------------------------------------------------------------

    def _absolute(self, url: str) -> URL:
        ref = URL(url, encoded=True) if "%" in url else URL(url)
        if ref.is_absolute():
            return ref
        if self._base is None:
            raise UntrustedURL("relative URL without a base_url", url=redact_url(url))
        return self._base.join(ref)

    def _status_url(self, url: URL, spec: PollSpec) -> URL:
        self.transport.check(url)
        if spec.status_query:
            url = url.update_query(dict(spec.status_query))
        return url

    # -- the heap and the workers -----------------------------------------------------

    def _push(self, op: Operation, due: float) -> None:
        seq = next(self._seq)
        op._seq = seq
        heapq.heappush(self._heap, (due, seq, op))
        if self._idle:
            assert self._loop is not None
            if due <= self._loop.time():
                self._wake_one()
            else:
                self._arm_timer()

    def _wake_one(self) -> None:
        while self._idle:
            fut = self._idle.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _arm_timer(self) -> None:
        heap = self._heap
        while heap and heap[0][2]._seq != heap[0][1]:
            heapq.heappop(heap)
        if not heap:
            return
        due = heap[0][0]
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        assert self._loop is not None
        self._timer_at = due
        self._timer = self._loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake_one()

    def _take_due(self) -> Operation | None:
        heap = self._heap
        assert self._loop is not None
        now = self._loop.time()
        while heap:
            due, seq, op = heap[0]
            if op._seq != seq:
                heapq.heappop(heap)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            op._seq = 0
            if heap and heap[0][0] <= now and self._idle:
                self._wake_one()
            return op
        return None

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            op = self._take_due()
            if op is None:
                fut: asyncio.Future[None] = loop.create_future()
                self._idle.append(fut)
                self._arm_timer()
                await fut
                continue
            await self._poll(op)

    # -- one poll ---------------------------------------------------------------------------

    async def _poll_now(self, op: Operation) -> None:
        if op.done:
            return
        op._seq = 0  # drop its heap entry; this poll's decision schedules the next
        await self._poll(op)

    async def _poll(self, op: Operation) -> None:
        spec = op.spec
        now = self.time()
        if spec.max_duration is not None and now - op._started >= spec.max_duration:
            obs = Observation(body=op.status, elapsed=now - op._started)
            self._apply(op, timed_out(spec, obs, self._base_for(op), operation_id=op.id), now)
            return
        origin = origin_of(op._url)
        host = self._hosts.get(origin) if origin is not None else None
        if host is not None and host.gate_until > now:
            self._push(op, host.gate_until)
            return
        self._in_flight.add(op)
        self._counters.in_flight += 1
        self._counters.polls += 1
        try:
            answer = await self.transport.request(
                spec.status_method,
                op._url,
                headers=spec.status_headers,
                json_body=spec.status_json,
                form=spec.status_form,
            )
        except (UntrustedURL, TooManyRedirects) as exc:
            self._in_flight.discard(op)
            self._counters.in_flight -= 1
            if op._state == "running":
                exc.operation_id = op.id
                self._finish(op, "error", error=exc)
            return
        except Exception as exc:  # noqa: BLE001 (a bug here must not kill the worker pool)
            self._in_flight.discard(op)
            self._counters.in_flight -= 1
            if op._state == "running":
                error = LrpollError(f"internal error while polling: {exc!r}", operation_id=op.id)
                self._finish(op, "error", error=error)
            return
        self._in_flight.discard(op)
        self._counters.in_flight -= 1
        if op._state != "running" or op._seq:
            return  # stopped (or polled by poll_once) while in flight: ignore this answer
        now = self.time()
        op.attempts += 1
        obs = self._observation(answer, now, op._started, op.attempts, op.errors, op._failing_since)
        decision = decide(spec, obs, self._base_for(op), operation_id=op.id)
        if _log.debug_enabled():
            self._logger(op).debug(
                "poll", status=answer.status, attempt=op.attempts, decision=type(decision).__name__
            )
        self._apply(op, decision, now, answer.body, answer)

    def _observation(
        self,
        answer: Answer,
        now: float,
        started: float,
        attempt: int,
        errors: int,
        failing_since: float | None,
    ) -> Observation:
        return Observation(
            status=answer.status,
            headers=answer.headers,
            body=answer.body,
            fault=answer.fault,
            snippet=answer.snippet,
            received_at=time.time(),
            elapsed=now - started,
            attempt=attempt,
            errors=errors,
            failing_for=0.0 if failing_since is None else now - failing_since,
            rand=self._rng.random(),
        )

    def _base_for(self, op: Operation) -> dict[str, Any] | None:
        # Messages need the template context; build it only for specs that have some.
        return op._context() if op.spec._messages else None

    def _apply(
        self,
        op: Operation,
        decision: Decision,
        now: float,
        body: Any = None,
        answer: Answer | None = None,
    ) -> None:
        self._warn(op, getattr(decision, "warnings", ()))
        if isinstance(decision, Running):
            op.errors = 0
            op._failing_since = None
            self._observe(op, body, decision.progress, decision.message)
            if decision.status_url:
                try:
                    op._url = self._status_url(resolve(op._url, decision.status_url), op.spec)
                except UntrustedURL as exc:
                    exc.operation_id = op.id
                    self._finish(op, "error", error=exc)
                    return
            if op._state == "running":
                self._push(op, now + decision.delay)
        elif isinstance(decision, Retry):
            op.errors += 1
            if op._failing_since is None:
                op._failing_since = now
            self._counters.retries += 1
            delay = self._pace_retry(op, decision, now, answer)
            self._push(op, now + delay)
        elif isinstance(decision, Succeeded):
            op.errors = 0
            self._observe(op, body, decision.progress, decision.message, notify=False)
            self._finish(op, "succeeded", result=decision.result, message=decision.message)
        else:
            if decision.state != "error" or body is not None:
                op.status = body if body is not None else op.status
            decision.error.operation_id = op.id
            if decision.error.status is None:
                decision.error.status = op.status
            self._finish(op, decision.state, error=decision.error, message=decision.message)

    def _pace_retry(
        self, op: Operation, decision: Retry, now: float, answer: Answer | None
    ) -> float:
        origin = origin_of(op._url)
        if origin is None:
            return decision.delay
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = _Host(tokens=self._retry_burst, refilled_at=now)
        if answer is not None and answer.status == 429:
            # A 429 closes the gate for the whole host until its Retry-After.
            host.gate_until = max(host.gate_until, now + decision.delay)
        host.tokens = min(
            self._retry_burst, host.tokens + (now - host.refilled_at) * self._retry_rate
        )
        host.refilled_at = now
        host.tokens -= 1.0
        wait = 0.0 if host.tokens >= 0 else -host.tokens / self._retry_rate
        return max(decision.delay, wait)

    # -- state changes ----------------------------------------------------------------------

    def _observe(
        self,
        op: Operation,
        body: Any,
        progress: float | None,
        message: str | None,
        *,
        notify: bool = True,
    ) -> None:
        changed = progress != op.progress
        op.status = body
        op.progress = progress
        if message is not None:
            op.message = message
        extra = op._extra
        if extra is None or not notify:
            return
        hooks = extra.get("hooks")
        if hooks:
            if "on_status" in hooks:
                self._call(op, hooks["on_status"])
            if changed and "on_progress" in hooks:
                self._call(op, hooks["on_progress"])
        self._publish(op, Update(op._state, progress, message, body))

    def _set_state(self, op: Operation, state: OperationState) -> None:
        states = self._counters.states
        states[op._state] -= 1
        states[state] += 1
        op._state = state

    def _finish(
        self,
        op: Operation,
        state: OperationState,
        *,
        result: Any = None,
        error: LrpollError | None = None,
        message: str | None = None,
    ) -> None:
        if op._state in TERMINAL:
            return
        op._seq = 0
        op._result = result
        op._error = error
        if message is not None:
            op.message = message
        self._set_state(op, state)
        self._resolve(op)
        if _log.info_enabled():
            self._logger(op).info(
                "operation ended", state=state, error=None if error is None else str(error)
            )
        extra = op._extra
        if extra is not None:
            hooks = extra.get("hooks") or {}
            if state == "timed_out" and "on_timeout" in hooks:
                self._call(op, hooks["on_timeout"])
            if "on_done" in hooks:
                self._call(op, hooks["on_done"])

    def _resolve(self, op: Operation) -> None:
        if op._waiter is not None and not op._waiter.done():
            op._waiter.set_result(None)
        extra = op._extra
        if extra is not None:
            self._publish(op, op.snapshot())
            for queue in extra.pop("done_queues", ()):
                queue.put_nowait(op)

    def _publish(self, op: Operation, update: Update) -> None:
        assert op._extra is not None
        for queue in op._extra.get("subscribers", ()):
            queue.put_nowait(update)

    def _stop(self, op: Operation) -> None:
        if op._state in TERMINAL or op._state == "stopped":
            return
        op._seq = 0
        self._set_state(op, "stopped")
        if _log.info_enabled():
            self._logger(op).info("polling stopped")
        self._resolve(op)

    def _resume(self, op: Operation) -> None:
        if op._state in TERMINAL:
            raise RuntimeError(f"operation {op.id} already ended ({op._state}); cannot resume")
        if op._state != "stopped":
            return
        if self._closing or self._tg is None:
            raise RuntimeError("the scheduler is closed")
        self._set_state(op, "running")
        self._push(op, self.time())

    def _abandoned(self, op: Operation) -> None:
        """The task awaiting ``op`` was cancelled: the default policy stops polling."""
        if not op.done:
            self._stop(op)

    # -- hooks, logging ---------------------------------------------------------------------

    def _hooks(self, op: Operation, *callbacks: Callback | None) -> None:
        names = ("on_progress", "on_status", "on_done", "on_timeout")
        hooks = {n: cb for n, cb in zip(names, callbacks, strict=True) if cb is not None}
        if hooks:
            op._extras()["hooks"] = hooks

    def _call(self, op: Operation, callback: Callback) -> None:
        try:
            result = callback(op)
            if asyncio.iscoroutine(result):
                result.close()
                raise TypeError("callbacks are plain functions; use op.updates() for async code")
        except Exception as exc:  # noqa: BLE001 (a user callback must not kill polling)
            self._logger(op).error("callback failed", callback=repr(callback), error=repr(exc))

    def _warn(self, op: Operation, warnings: Iterable[str]) -> None:
        for warning in warnings:
            self._logger(op).warning(warning)

    def _logger(self, op: Operation) -> Any:
        extra = op._extras()
        logger = extra.get("log")
        if logger is None:
            logger = extra["log"] = _log.get_logger(operation=op.id, url=redact_url(op._url))
        return logger
