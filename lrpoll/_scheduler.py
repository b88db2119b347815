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
from typing import TYPE_CHECKING, Any, Final, Literal

import aiohttp
import anyio
from yarl import URL

from . import _log
from ._cancel import AbandonPolicy, CancelOutcome, CancelToken, classify_cancel
from ._checkpoint import load, spec_of
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
from ._exceptions import (
    LrpollError,
    MalformedStatus,
    OperationCancelled,
    SpecError,
    TemplateError,
    TooManyRedirects,
    UntrustedURL,
)
from ._operation import TERMINAL, Callback, Operation, OperationState, Update
from ._registry import get_decoder, get_discovery
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

_POLLED: Final = frozenset({"running", "cancelling"})


def _decode(name: str, answer: Answer) -> None:
    """Turn a text body into a status document with the named decoder, in place."""
    if answer.body is None or answer.fault is not None:
        return
    try:
        answer.body = get_decoder(name)(answer.body, answer.headers)
    except (ValueError, RecursionError) as exc:
        answer.body = None
        answer.fault = MalformedStatus(f"status body could not be decoded ({name}): {exc}")


def _unsettled(op: Operation) -> bool:
    return not op.done and op.state != "stopped"


@dataclass(frozen=True, slots=True)
class _CancelSent:
    """What the one cancel request of an operation got back."""

    result: str
    message: str | None
    http_status: int | None
    sent: bool


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
    release_at: float = 0.0
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
        trusted_origins: more origins that get credentials: their own provider from
            ``credentials``, else the base URL's.
        allow_origins: origins polled *without* credentials (``"any"`` for every origin).
        slots: polls in flight at once (the worker pool; default 100).
        per_host: connections per host (0: no limit beyond ``slots``).
        limits: body caps, timeouts, redirect hops.
        retry_rate: retries per second a failing host gets (token bucket).
        retry_burst: retries a failing host gets at once.
        gate_release_rate: polls per second a host gets when the gate a 429 closed
            reopens (the polls held at the gate leave at this rate).
        seed: seeds the jitter, for reproducible schedules.
        abandon: what happens to an operation whose awaiting task is cancelled
            (``"stop"``, ``"cancel"`` or ``"detach"``; per operation in `start`/`watch`).
        abandon_timeout: seconds the ``"cancel"`` abandon policy may take (shielded).
        shutdown: what leaving ``async with`` does to running operations: ``"stop"``
            them (default), or ``"cancel"`` them on the server first.
        shutdown_timeout: seconds the ``"cancel"`` shutdown may take.

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
        gate_release_rate: float = 50.0,
        seed: int | None = None,
        abandon: AbandonPolicy = "stop",
        abandon_timeout: float = 5.0,
        shutdown: Literal["stop", "cancel"] = "stop",
        shutdown_timeout: float = 10.0,
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
        base_origin_ = origin_of(self._base) if self._base is not None else None
        base_cred = creds.get(base_origin_) if base_origin_ is not None else None
        for url in trusted_origins:
            origin = origin_of(url)
            if origin is None:
                raise ValueError(f"trusted origin must be an absolute http(s) URL: {url!r}")
            trusted.add(origin)
            # A trusted origin without a provider of its own gets the base URL's.
            if base_cred is not None:
                creds.setdefault(origin, base_cred)
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
        if gate_release_rate <= 0:
            raise ValueError("gate_release_rate must be above 0")
        self._gate_release_rate = gate_release_rate
        self._rng = random.Random(seed)
        self._abandon: AbandonPolicy = abandon
        self._abandon_timeout = abandon_timeout
        self._shutdown = shutdown
        self._shutdown_timeout = shutdown_timeout
        # Entries are (due, op); an entry is live while ``op._due is due`` (identity: a
        # rescheduled or stopped operation leaves its old entry behind, skipped lazily).
        self._heap: list[tuple[float, Operation]] = []
        self._ids = itertools.count(1)
        self._idle: deque[asyncio.Future[None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._fired_at = 0.0  # the latest instant a heap timer was run for
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
            # A jar would replay a trusted origin's cookies to other ports and schemes of
            # the same host (cookies ignore both): lrpoll keeps none.
            cookie_jar=aiohttp.DummyCookieJar(),
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
        live = {op for due, op in self._heap if op._due is due} | self._in_flight
        if self._shutdown == "cancel" and live:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._shutdown_timeout):
                async with anyio.create_task_group() as tg:
                    for op in live:
                        if op.spec.cancel is not None and not op.done:
                            tg.start_soon(self._cancel, op)
        self._closing = True
        for op in list(live) + [entry[1] for entry in self._heap]:
            self._stop(op)
        self._heap.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        try:
            # Workers never raise, so the task group has nothing to add: passing the
            # body's exception in would wrap it in an ExceptionGroup.
            await self._tg.__aexit__(None, None, None)
            return None
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
        token: CancelToken | None = None,
        abandon: AbandonPolicy | None = None,
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
        if spec.discover is not None:
            start_view = {
                "method": method.upper(),
                "request_url": str(request_url),
                "status": answer.status,
                "headers": dict(answer.headers),
                "body": answer.body,
            }
            spec = get_discovery(spec.discover)(spec, start_view)
        base = {
            "start": answer.body,
            "start_headers": dict(answer.headers),
            "request_url": str(request_url),
            "operation": op_id,
        }
        decision = decide(spec, obs, base, operation_id=op_id)
        terminal = isinstance(decision, Succeeded | Ended)
        status_ref = next(
            (answer.headers[h] for h in spec.status_from if answer.headers.get(h)), None
        )
        if status_ref is None and spec.status_template is not None:
            try:
                status_ref = spec.status_template.fill(base)
            except TemplateError:
                if not terminal:
                    raise
        if status_ref is None:
            status_url = request_url
        else:
            status_url = self._status_url(resolve(request_url, status_ref), spec)
        op = Operation(self, spec, op_id, status_url, now, base)
        self._adopt(op, token, abandon, on_progress, on_status, on_done, on_timeout)
        if isinstance(decision, Succeeded | Ended):
            op.status = answer.body
            if isinstance(decision, Succeeded) and spec.result_template is not None:
                self._set_state(op, "running")
                decision = await self._fetch_result(op, decision)
            self._apply(op, decision, now, answer.body)
            return op
        delay, warnings = first_delay(spec, obs)
        self._warn(op, warnings)
        self._set_state(op, "running")
        self._push(op, now + delay)
        if token is not None:
            token._register(op)
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
        token: CancelToken | None = None,
        abandon: AbandonPolicy | None = None,
    ) -> Operation:
        """Attach to an operation that already exists, by its status URL; polls at once.

        Raises:
            UntrustedURL: when the status URL lies off the allowed origins.
        """
        self.transport  # noqa: B018 (raises outside 'async with')
        url = self._status_url(self._absolute(status_url), spec)
        now = self.time()
        op = Operation(self, spec, operation_id or next(self._ids), url, now)
        self._adopt(op, token, abandon, on_progress, on_status, on_done, on_timeout)
        self._set_state(op, "running")
        delay, _ = first_delay(spec, Observation(rand=self._rng.random()))
        self._push(op, now + delay)
        if token is not None:
            token._register(op)
        return op

    def resume(
        self,
        checkpoint: str | bytes,
        *,
        spec: PollSpec | None = None,
        key: bytes | None = None,
        token: CancelToken | None = None,
        abandon: AbandonPolicy | None = None,
        on_progress: Callback | None = None,
        on_status: Callback | None = None,
        on_done: Callback | None = None,
        on_timeout: Callback | None = None,
    ) -> Operation:
        """Continue an operation from `Operation.checkpoint`, in this process or another.

        The checkpoint's spec is used unless ``spec`` overrides it; credentials come from
        this scheduler, by origin. Attempts, errors, progress and the time left carry
        over (the time between saving and resuming does not count towards
        ``max_duration``). First polls of many resumed operations spread over one
        interval. A checkpoint saved while stopped resumes stopped; one saved while
        cancelling goes on confirming without sending the cancel again.

        Raises:
            CheckpointError: for a bad version, shape, size or signature.
            UntrustedURL: when its status URL lies off the allowed origins.
        """
        doc = load(checkpoint, key=key)
        spec = spec or spec_of(doc)
        url = URL(doc["status_url"], encoded=True)
        self.transport.check(url)
        now = self.time()
        base = {
            "start": doc.get("start"),
            "start_headers": dict(doc["start_headers"]),
            "request_url": doc["request_url"],
            "operation": doc["id"],
        }
        op = Operation(self, spec, doc["id"], url, now - doc["elapsed"], base)
        op.attempts, op.errors = doc["attempts"], doc["errors"]
        op.progress, op.status = doc["progress"], doc.get("last")
        self._adopt(op, token, abandon, on_progress, on_status, on_done, on_timeout)
        if doc["cancel_sent"]:
            sent = asyncio.get_running_loop().create_future()
            accepted = doc["state"] == "cancelling"
            sent.set_result(
                _CancelSent(
                    "accepted" if accepted else "refused", "sent before the checkpoint", None, True
                )
            )
            op._extras()["cancel_request"] = sent
        if doc["state"] == "stopped":
            self._set_state(op, "stopped")
            op._extras()["stopped_at"] = now
        else:
            self._set_state(op, doc["state"])
            spread = spec.effective_backoff.delay * self._rng.random()
            self._push(op, now + spread)
        if token is not None:
            token._register(op)
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
        due = due + 0.0  # a float object of its own: liveness is checked by identity
        op._due = due
        heapq.heappush(self._heap, (due, op))
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
        while heap and heap[0][1]._due is not heap[0][0]:
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
        # A loop may run a timer a hair before its time (asyncio within its clock
        # resolution, uvloop to the millisecond, looptime with time frozen): what it was
        # set for is due now, or the woken worker re-arms it and spins.
        self._fired_at = max(self._fired_at, self._timer_at)
        self._wake_one()

    def _take_due(self) -> Operation | None:
        heap = self._heap
        assert self._loop is not None
        now = max(self._loop.time(), self._fired_at)
        while heap:
            due, op = heap[0]
            if op._due is not due:
                heapq.heappop(heap)
                continue
            if due > now:
                return None
            heapq.heappop(heap)
            op._due = None
            if heap and heap[0][0] <= now and self._idle:
                self._wake_one()
            return op
        return None

    async def _worker(self) -> None:
        loop = asyncio.get_running_loop()
        streak = 0
        while True:
            op = self._take_due()
            if op is None:
                streak = 0
                fut: asyncio.Future[None] = loop.create_future()
                self._idle.append(fut)
                self._arm_timer()
                await fut
                continue
            await self._poll(op)
            streak += 1
            if streak >= 64:
                # A poll whose answer needs no I/O wait (a zero delay, a cached answer)
                # never suspends: yield now and then so nothing else on the loop starves.
                streak = 0
                await asyncio.sleep(0)

    # -- one poll ---------------------------------------------------------------------------

    async def _poll_now(self, op: Operation) -> None:
        if op.done:
            return
        op._due = None  # drop its heap entry; this poll's decision schedules the next
        await self._poll(op)

    async def _poll(self, op: Operation) -> None:
        spec = op.spec
        now = self.time()
        if spec.max_duration is not None and now - op._started >= spec.max_duration:
            obs = Observation(body=op.status, elapsed=now - op._started)
            self._apply(op, timed_out(spec, obs, self._base_for(op), operation_id=op.id), now)
            return
        url = URL(op._url, encoded=True)
        host = None
        if self._hosts:  # only once some host has failed
            origin = origin_of(url)
            host = self._hosts.get(origin) if origin is not None else None
        if host is not None and host.gate_until > now:
            # Held at the gate; when it reopens, the held polls leave at the release rate
            # instead of all at once (a herd would earn the next 429).
            due = max(host.gate_until, host.release_at)
            host.release_at = due + 1.0 / self._gate_release_rate
            self._push(op, due)
            return
        self._in_flight.add(op)
        self._counters.in_flight += 1
        self._counters.polls += 1
        answer: Answer | None = None
        try:
            if spec.max_duration is None:
                answer = await self._request_status(spec, url)
            else:
                # The deadline holds even while the server sits on a poll.
                with anyio.move_on_after(op._started + spec.max_duration - now):
                    answer = await self._request_status(spec, url)
        except (UntrustedURL, TooManyRedirects) as exc:
            self._in_flight.discard(op)
            self._counters.in_flight -= 1
            if op._state in _POLLED:
                exc.operation_id = op.id
                self._finish(op, "error", error=exc)
            return
        except Exception as exc:  # noqa: BLE001 (a bug here must not kill the worker pool)
            self._in_flight.discard(op)
            self._counters.in_flight -= 1
            if op._state in _POLLED:
                error = LrpollError(f"internal error while polling: {exc!r}", operation_id=op.id)
                self._finish(op, "error", error=error)
            return
        self._in_flight.discard(op)
        self._counters.in_flight -= 1
        if op._state not in _POLLED or op._due is not None:
            return  # stopped (or polled by poll_once) while in flight: ignore this answer
        now = self.time()
        if answer is None:  # the deadline passed while the poll was in flight
            obs = Observation(body=op.status, elapsed=now - op._started)
            self._apply(op, timed_out(spec, obs, self._base_for(op), operation_id=op.id), now)
            return
        op.attempts += 1
        obs = self._observation(answer, now, op._started, op.attempts, op.errors, op._failing_since)
        decision = decide(spec, obs, self._base_for(op), operation_id=op.id)
        if isinstance(decision, Succeeded) and spec.result_template is not None:
            op.status = answer.body
            decision = await self._fetch_result(op, decision)
            if op._state not in _POLLED:
                return
        if _log.debug_enabled():
            self._logger(op).debug(
                "poll", status=answer.status, attempt=op.attempts, decision=type(decision).__name__
            )
        self._apply(op, decision, now, answer.body, answer)

    async def _request_status(self, spec: PollSpec, url: URL) -> Answer:
        answer = await self.transport.request(
            spec.status_method,
            url,
            headers=spec.status_headers,
            json_body=spec.status_json,
            form=spec.status_form,
            parse=spec.decoder is None,
        )
        if spec.decoder is not None:
            _decode(spec.decoder, answer)
        return answer

    async def _fetch_result(self, op: Operation, decision: Succeeded) -> Succeeded | Ended:
        """GET ``spec.result_url`` once the operation is done: its body is the result."""
        template = op.spec.result_template
        assert template is not None
        ctx = op._context()
        ctx["result"] = decision.result
        try:
            ref = template.fill(ctx)
        except TemplateError as exc:
            if exc.null:
                return decision  # nothing to fetch: the status document holds the result
            exc.operation_id = op.id
            return Ended("error", exc)
        try:
            url = resolve(URL(ctx["request_url"], encoded=True), ref)
            answer = await self.transport.request("GET", url)
        except (UntrustedURL, TooManyRedirects) as exc:
            exc.operation_id = op.id
            return Ended("error", exc)
        obs = Observation(
            status=answer.status,
            headers=answer.headers,
            body=answer.body,
            fault=answer.fault,
            snippet=answer.snippet,
        )
        error = start_error(op.spec, obs, operation_id=op.id) or answer.fault
        if error is not None:
            error.message = f"fetching the result from {redact_url(url)}: {error.message}"
            return Ended("error", error)
        return Succeeded(answer.body, decision.progress, decision.message, decision.warnings)

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
                    current = URL(op._url, encoded=True)
                    new_url = self._status_url(resolve(current, decision.status_url), op.spec)
                    op._url = str(new_url)
                except UntrustedURL as exc:
                    exc.operation_id = op.id
                    self._finish(op, "error", error=exc)
                    return
            if op._state in _POLLED:
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
            changed = decision.progress != op.progress
            op.status, op.progress = body, decision.progress
            self._finish(
                op,
                "succeeded",
                result=decision.result,
                message=decision.message,
                answered=True,
                progressed=changed,
            )
        else:
            # An error or 404 body (an error page) is not a status document: keep the last.
            judged = decision.state not in ("error", "gone")
            if judged and body is not None:
                op.status = body
            error, state = decision.error, decision.state
            if state == "gone" and op._state == "cancelling":
                # 404/410 right after an accepted cancel is the server confirming it.
                error = OperationCancelled(
                    "cancelled: the status URL answered 404/410 after the cancel was accepted"
                )
                state = "cancelled"
            error.operation_id = op.id
            if error.status is None or not judged:
                error.status = op.status
            self._finish(op, state, error=error, message=decision.message)

    def _pace_retry(
        self, op: Operation, decision: Retry, now: float, answer: Answer | None
    ) -> float:
        origin = origin_of(URL(op._url, encoded=True))
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
    ) -> None:
        changed = progress != op.progress
        op.status = body
        op.progress = progress
        if message is not None:
            op.message = message
        extra = op._extra
        if extra is None:
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
        answered: bool = False,
        progressed: bool = False,
    ) -> None:
        if op._state in TERMINAL:
            return
        op._due = None
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
            token = extra.get("token")
            if token is not None:
                token._unregister(op)
            hooks = extra.get("hooks") or {}
            # The final answer's hooks fire once the terminal state is set.
            if answered and "on_status" in hooks:
                self._call(op, hooks["on_status"])
            if progressed and "on_progress" in hooks:
                self._call(op, hooks["on_progress"])
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
        op._due = None
        self._set_state(op, "stopped")
        if self._loop is not None:
            op._extras()["stopped_at"] = self._loop.time()
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
        now = self.time()
        stopped_at = op._extras().pop("stopped_at", now)
        op._started += now - stopped_at  # time stopped does not count towards max_duration
        self._set_state(op, "running")
        self._push(op, now)

    def _adopt(
        self,
        op: Operation,
        token: CancelToken | None,
        abandon: AbandonPolicy | None,
        *callbacks: Callback | None,
    ) -> None:
        """Count a new operation and keep its hooks, token and abandon policy (lazily)."""
        names = ("on_progress", "on_status", "on_done", "on_timeout")
        hooks = {n: cb for n, cb in zip(names, callbacks, strict=True) if cb is not None}
        if hooks:
            op._extras()["hooks"] = hooks
        if token is not None:
            op._extras()["token"] = token
        if abandon is not None and abandon != self._abandon:
            op._extras()["abandon"] = abandon
        self._counters.states["pending"] += 1

    async def _abandoned(self, op: Operation) -> None:
        """The task awaiting ``op`` was cancelled: apply the operation's abandon policy."""
        if op.done or op._state == "stopped":
            return
        policy = (op._extra or {}).get("abandon", self._abandon)
        if policy == "detach":
            return
        if policy == "cancel" and op.spec.cancel is not None and not self._closing:
            # Shielded, so the caller's cancellation does not cut the request short, and
            # bounded, so abandoning never hangs the caller.
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._abandon_timeout):
                await self._cancel(op)
            return
        self._stop(op)

    def _cancel_soon(self, op: Operation) -> None:
        """Cancel ``op`` in the background (a token's timeout); stop it if it has no cancel."""
        if op.spec.cancel is None or self._tg is None or self._closing:
            self._stop(op)
            return
        self._tg.start_soon(self._cancel, op)

    async def _cancel(self, op: Operation) -> CancelOutcome:
        cancel = op.spec.cancel
        if cancel is None:
            raise SpecError("this operation's spec has no cancel request", field="cancel")
        extra = op._extras()
        request: asyncio.Future[_CancelSent] | None = extra.get("cancel_request")
        if request is None:
            if op.done:
                return CancelOutcome(
                    "already_finished", op.id, op._state, message="the operation had already ended"
                )
            if self._closing or self._tg is None:
                # Its session is closed: nothing can be sent (and nothing is recorded, so
                # a checkpoint of the operation can still be cancelled elsewhere).
                return CancelOutcome(
                    "refused", op.id, op._state, message="cancel not sent: the scheduler is closed"
                )
            request = extra["cancel_request"] = asyncio.get_running_loop().create_future()
            try:
                sent = await self._send_cancel(op)
            except BaseException:
                request.set_result(
                    _CancelSent("refused", "cancel request interrupted", None, False)
                )
                raise
            request.set_result(sent)
        else:
            sent = await asyncio.shield(request)
        if sent.result == "accepted" and not op.done:
            with anyio.move_on_after(cancel.confirm_timeout):
                while _unsettled(op):
                    if op._waiter is None or op._waiter.done():
                        op._waiter = asyncio.get_running_loop().create_future()
                    await asyncio.shield(op._waiter)
        kind: str
        if op.done:
            if op._state == "cancelled":
                kind = "cancelled"
            elif sent.result == "accepted":
                kind = "finished_anyway"
            else:
                kind = (
                    "already_finished"
                    if sent.result in ("already_finished", "accepted")
                    else (sent.result)
                )
        elif sent.result == "accepted":
            kind = "unconfirmed"
            if op._state == "cancelling":
                self._set_state(op, "running")
        else:
            kind = sent.result
        outcome = CancelOutcome(
            kind,  # type: ignore[arg-type]
            op.id,
            op._state,
            http_status=sent.http_status,
            message=sent.message,
            sent=sent.sent,
        )
        if _log.info_enabled():
            self._logger(op).info("cancel outcome", kind=kind, http_status=sent.http_status)
        return outcome

    async def _send_cancel(self, op: Operation) -> _CancelSent:
        cancel = op.spec.cancel
        assert cancel is not None
        assert op.spec.cancel_template is not None
        ctx = op._context()
        try:
            url = resolve(URL(ctx["request_url"], encoded=True), op.spec.cancel_template.fill(ctx))
            self.transport.check(url)
        except (TemplateError, UntrustedURL) as exc:
            return _CancelSent("refused", f"cancel not sent: {exc}", None, False)
        try:
            answer = await self.transport.request(
                cancel.method,
                url,
                headers=cancel.headers,
                json_body=cancel.json,
                form=cancel.form,
            )
        except (UntrustedURL, TooManyRedirects) as exc:
            return _CancelSent("refused", f"cancel not sent: {exc}", None, False)
        if answer.status is None:
            fault = answer.fault.message if answer.fault is not None else "no answer"
            return _CancelSent("refused", fault, None, True)
        result, message = classify_cancel(cancel, answer.status, answer.headers, answer.body)
        if op.done:
            return _CancelSent(result, message, answer.status, True)
        if result == "accepted":
            if op._state == "stopped":
                self._resume(op)
            self._set_state(op, "cancelling")
            if _log.info_enabled():
                self._logger(op).info("cancel accepted", http_status=answer.status)
        elif result in ("already_finished", "not_found") and op._state in _POLLED:
            # Look now: the final state (and any result) is one poll away.
            self._push(op, self.time())
        return _CancelSent(result, message, answer.status, True)

    # -- hooks, logging ---------------------------------------------------------------------

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
