"""The scheduler: configuration, lifecycle, and the three ways in (start, watch, resume).

The work is elsewhere: `_runtime.Runtime` runs the records (timer heap and request slots
in `_heap`, host pacing in `_pacing`, each poll through `_step.advance`), the transport
checks and sends every request through its sender (`_aiohttp` by default), and the core
decides. Leaving ``async with Scheduler(...)`` stops every operation and leaves no task
or connection.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import anyio
from yarl import URL

from ._aiohttp import AiohttpSender
from ._checkpoint import load, spec_of, to_record
from ._core import (
    Ended,
    Observation,
    Succeeded,
    decide,
    first_delay,
    header_ref,
    start_decision,
)
from ._core import resume_delay as _resume_delay
from ._exceptions import TemplateError, UntrustedURL
from ._machine import TERMINAL
from ._operation import record_of
from ._pacing import HostPacing
from ._record import Hooks, OpRecord, op_name
from ._registry import get_discovery
from ._runtime import Runtime
from ._sender import Limits
from ._spec import checked_headers
from ._step import apply, headers_for, observation
from ._step import status_url as checked_url
from ._transport import Transport, build_trust
from ._urls import origin_of, redact_url, resolve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping
    from types import TracebackType

    import aiohttp
    from anyio.abc import TaskGroup

    from ._auth import Credential
    from ._cancel import AbandonPolicy, CancelToken
    from ._operation import Callback, Operation
    from ._sender import Sender
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


class Scheduler:
    """Runs many operations on one event loop.

    Args:
        base_url: resolves relative URLs; its origin is trusted (gets credentials).
        session: an aiohttp session to borrow (never closed here); by default the
            scheduler owns one.
        sender: a raw sender to use instead of aiohttp (see `lrpoll._transport.Sender`);
            lrpoll's origin, credential, cap and redirect checks stay in force.
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
        headers: non-secret headers for every request (``User-Agent``, a client id),
            under each request's own; a credential name is refused (`SpecError`): give
            it to ``credentials=``.

    Note:
        Credentials never go in the session's default headers: aiohttp would send them
        to any URL. A borrowed session that carries a credential header (any name on
        lrpoll's secrets list) or cookies may only be used with trusted origins.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        sender: Sender | None = None,
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
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        if session is not None and sender is not None:
            raise ValueError("give a session or a sender, not both")
        self._base, self._trust, self._credentials = build_trust(
            base_url, credentials, trusted_origins, allow_origins
        )
        self._headers = checked_headers(headers, "headers")
        self._session = session
        self._sender = sender
        self._limits = limits or Limits()
        self._slots = slots
        self._per_host = per_host
        self._pacing = HostPacing(
            retry_rate=retry_rate, retry_burst=retry_burst, gate_release_rate=gate_release_rate
        )
        self._rng = random.Random(seed)
        self._abandon: AbandonPolicy = abandon
        self._abandon_timeout = abandon_timeout
        self._shutdown = shutdown
        self._shutdown_timeout = shutdown_timeout
        self._ids = itertools.count(1)
        self._transport: Transport | None = None
        self._runtime: Runtime | None = None
        self._tg: TaskGroup | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Scheduler:
        sender = self._sender or AiohttpSender(
            self._session, limits=self._limits, slots=self._slots, per_host=self._per_host
        )
        self._transport = Transport(
            sender,
            trust=self._trust,
            credentials=self._credentials,
            limits=self._limits,
            headers=self._headers,
        )
        self._runtime = Runtime(
            self._transport,
            pacing=self._pacing,
            rng=self._rng,
            abandon=self._abandon,
            abandon_timeout=self._abandon_timeout,
        )
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._runtime.open(tg, self._slots)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        runtime, tg = self._runtime, self._tg
        assert runtime is not None
        assert tg is not None
        live = runtime.live()
        if self._shutdown == "cancel" and live:
            await runtime.cancel_all(live, self._shutdown_timeout)
        runtime.close()
        tg.cancel_scope.cancel()
        try:
            # Workers never raise, so the task group has nothing to add: passing the
            # body's exception in would wrap it in an ExceptionGroup.
            await tg.__aexit__(None, None, None)
            return None
        finally:
            self._tg = None
            if self._transport is not None:
                with anyio.CancelScope(shield=True):
                    await self._transport.aclose()

    def time(self) -> float:
        """The event loop's clock (what deadlines and delays count in)."""
        return self._running().time()

    @property
    def transport(self) -> Transport:
        """The HTTP seam (for extensions, and for `lrpoll.step`)."""
        if self._transport is None:
            raise RuntimeError("use the scheduler inside 'async with'")
        return self._transport

    def _running(self) -> Runtime:
        if self._runtime is None or self._tg is None:
            raise RuntimeError("use the scheduler inside 'async with'")
        return self._runtime

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
        retry_start: bool = False,
        request_headers: Mapping[str, str] | None = None,
    ) -> Operation:
        """Send the start request and begin polling the operation it starts.

        A start answer that is already terminal needs no poll. A failed start request is
        sent again within the spec's error budget when that is safe: always when nothing
        was sent (a connect error); on 408, 429, 5xx, timeouts and resets for idempotent
        methods, for any method with an ``Idempotency-Key`` header or ``retry_start=True``,
        and as the spec's ``start_retry`` says (see `_core.start_decision`).

        ``headers`` go with the start request only (an ``Idempotency-Key`` belongs
        there); ``request_headers`` with every request of this operation (the start,
        each poll, the result fetch, the cancel), kept in its spec and checkpoints.

        Raises:
            UntrustedURL: when the request or status URL lies off the allowed origins.
            TransportError: when the start request fails (`AuthError` for 401/403).
            TemplateError: when the status URL template cannot be filled from the answer.
        """
        runtime, transport = self._running(), self.transport
        spec = _with_request_headers(spec, request_headers)
        target = self._absolute(url)
        op_id: str | int = operation_id or next(self._ids)
        shown_id = op_name(op_id)
        method = method.upper()
        sent_headers = headers_for(spec, spec.start_headers, headers)
        idempotent = retry_start or any(k.lower() == "idempotency-key" for k in sent_headers or {})
        errors, failing_since = 0, None
        while True:
            answer = await transport.request(
                method, target, headers=sent_headers, query=params, json_body=json, form=form
            )
            now = runtime.time()
            obs = observation(
                answer,
                rand=runtime.rand(),
                errors=errors,
                failing_for=0.0 if failing_since is None else now - failing_since,
            )
            verdict = start_decision(
                spec, obs, method=method, idempotent=idempotent, operation_id=shown_id
            )
            if verdict is None:
                break
            if isinstance(verdict, Ended):
                raise verdict.error
            errors += 1
            failing_since = now if failing_since is None else failing_since
            origin = origin_of(target)
            throttled = answer.http_status == 429
            await anyio.sleep(
                self._pacing.after_retry(origin, now, verdict.delay, throttled=throttled)
            )
        request_url = answer.url or target
        if spec.discover is not None:
            start_view = {
                "method": method,
                "request_url": str(request_url),
                "status": answer.http_status,
                "headers": dict(answer.headers),
                "body": answer.body,
            }
            spec = get_discovery(spec.discover)(spec, start_view)
        base = {
            "start": answer.body,
            "start_headers": dict(answer.headers),
            "request_url": str(request_url),
            "operation": shown_id,
        }
        decision = decide(spec, obs, base, operation_id=shown_id)
        terminal = isinstance(decision, Succeeded | Ended)
        status_ref = header_ref(spec.status_from, answer.headers)
        if status_ref is None and spec.status_template is not None:
            try:
                status_ref = spec.status_template.fill(base)
            except TemplateError:
                if not terminal:
                    raise
        where = request_url
        if status_ref is not None:
            where = checked_url(transport, resolve(request_url, status_ref), spec.status_query)
        rec = OpRecord(spec, op_id, str(where), now, base)
        hooks = Hooks(on_progress, on_status, on_done, on_timeout)
        op = runtime.adopt(rec, hooks=hooks, token=token, abandon=abandon)
        if isinstance(decision, Succeeded) and spec.result_template is not None:
            # Done at once; the result comes from its own request, the step's.
            rec.keep_last(answer.body, answer.raw)
            rec.pending = decision
            runtime.begin(rec, now)
            await runtime.poll_now(rec)
            return op
        if terminal:
            runtime.after(rec, apply(rec, decision, now, answer))
            return op
        delay, warnings = first_delay(spec, obs)
        for warning in warnings:
            runtime.logger(rec).warning(warning)
        runtime.begin(rec, now + delay)
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
        request_headers: Mapping[str, str] | None = None,
    ) -> Operation:
        """Attach to an operation that already exists, by its status URL; polls at once.

        ``request_headers`` go with every request of this operation (each poll, the
        result fetch, the cancel), kept in its spec and checkpoints.

        Raises:
            UntrustedURL: when the status URL lies off the allowed origins.
            SpecError: when ``request_headers`` name a credential.
        """
        runtime = self._running()
        spec = _with_request_headers(spec, request_headers)
        url = checked_url(self.transport, self._absolute(status_url), spec.status_query)
        now = runtime.time()
        rec = OpRecord(spec, operation_id or next(self._ids), str(url), now)
        hooks = Hooks(on_progress, on_status, on_done, on_timeout)
        op = runtime.adopt(rec, hooks=hooks, token=token, abandon=abandon)
        delay, _ = first_delay(spec, Observation(rand=runtime.rand()))
        runtime.begin(rec, now + delay)
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
        this scheduler, by origin. Attempts, errors, progress and the deadline carry
        over: a running checkpoint's deadline is absolute (the time between saving and
        resuming counts), a stopped one keeps the time it had left. First polls of many
        resumed operations spread over one interval. A checkpoint saved while stopped
        resumes stopped; one saved while cancelling goes on confirming without sending
        the cancel again; one saved after the end gives an ended operation.

        Raises:
            CheckpointError: for a bad version, shape, size or signature.
            UntrustedURL: when its status URL lies off the allowed origins.
        """
        runtime = self._running()
        doc = load(checkpoint, key=key)
        spec = spec or spec_of(doc)
        self.transport.check(URL(doc["status_url"], encoded=True))
        now = runtime.time()
        rec = to_record(doc, spec, now=now, wall=time.time())
        hooks = Hooks(on_progress, on_status, on_done, on_timeout)
        op = runtime.adopt(rec, hooks=hooks, token=token, abandon=abandon)
        if rec.state not in TERMINAL:
            due = None if rec.state == "stopped" else now + _resume_delay(spec, runtime.rand())
            runtime.begin(rec, due)
        return op

    async def as_completed(self, ops: Iterable[Operation]) -> AsyncIterator[Operation]:
        """Yield the operations as they finish (or stop), first finished first."""
        runtime = self._running()
        pending = list(ops)
        queue: asyncio.Queue[Operation] = asyncio.Queue()
        for op in pending:
            if op.done or op.state == "stopped":
                queue.put_nowait(op)
            else:
                runtime.when_done(record_of(op), queue)
        for _ in pending:
            yield await queue.get()

    def statistics(self) -> SchedulerStatistics:
        """Operations by state, heap size, polls in flight, polls sent, errors retried."""
        runtime = self._runtime
        if runtime is None:
            return SchedulerStatistics({}, 0, 0, self._slots, 0, 0)
        return SchedulerStatistics(
            operations={k: v for k, v in runtime.states.items() if v},
            heap_size=len(runtime.heap),
            in_flight=len(runtime.in_flight),
            slots=self._slots,
            polls_sent=runtime.polls,
            errors_retried=runtime.retries,
        )

    def _absolute(self, url: str) -> URL:
        ref = URL(url, encoded=True) if "%" in url else URL(url)
        if ref.is_absolute():
            return ref
        if self._base is None:
            raise UntrustedURL("relative URL without a base_url", url=redact_url(url))
        return self._base.join(ref)


def _with_request_headers(spec: PollSpec, headers: Mapping[str, str] | None) -> PollSpec:
    """``spec`` with ``headers`` over its ``request_headers`` (validated by the spec)."""
    if not headers:
        return spec
    return spec.replace(request_headers={**(spec.request_headers or {}), **headers})
