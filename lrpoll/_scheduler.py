"""The scheduler: configuration, lifecycle, the ways in (start, watch, resume) and lookups.

The work is elsewhere: `_start` sends start requests, `_runtime.Runtime` runs and finds
the records (timer heap and request slots in `_heap`, host pacing in `_pacing`, each poll
through `_step.advance`, checkpoints to the `_store`), the transport
checks and sends every request through its sender (`_aiohttp` by default, `_lean` with
``http="lean"``), and the core
decides. Leaving ``async with Scheduler(...)`` stops every operation and leaves no task
or connection.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._pacing import HostPacing
from ._record import Hooks, new_op_id
from ._runtime import Runtime, SchedulerStatistics
from ._sender import Limits
from ._spec import checked_headers
from ._start import absolute_url, start_operation, watch_operation, with_request_headers
from ._transport import Transport, build_trust, check_http, make_sender

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping
    from types import TracebackType

    import aiohttp
    from anyio.abc import TaskGroup

    from ._auth import Credential
    from ._cancel import AbandonPolicy, CancelToken
    from ._machine import OperationState
    from ._operation import Callback, Operation
    from ._sender import Sender
    from ._spec import PollSpec
    from ._store import CheckpointStore
    from ._transport import HttpClient

__all__ = ["Scheduler", "SchedulerStatistics"]


class Scheduler:
    """Runs many operations on one event loop.

    Args:
        base_url: resolves relative URLs; its origin is trusted (gets credentials).
        session: an aiohttp session to borrow (never closed here); by default the
            scheduler owns one.
        sender: a raw sender to use instead of aiohttp (see `lrpoll._transport.Sender`);
            lrpoll's origin, credential, cap and redirect checks stay in force.
        http: the sender built when none is given: ``"aiohttp"`` (default) or
            ``"lean"``, lrpoll's own HTTP/1.1 client (`LeanSender`): about half the CPU
            per poll, without proxies, HTTP/2 or cookies.
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
        retry_refill: tokens each good answer from a host puts back in its retry bucket:
            after an outage, each lets one deferred retry go at once (0: refill with
            time only).
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
        checkpoint_store: where each operation's checkpoint is saved at every state
            change (ended ones kept until `remove`); `resume_all` loads them.
        keep_ended: how many ended operations `get` and `find` still know (the newest
            ones; older ones are forgotten, and stay in the ``checkpoint_store`` if
            any), so a long-lived service does not grow without bound; None keeps
            every ended operation until `remove`.
        checkpoint_key: signs the stored checkpoints (HMAC-SHA256) and checks them in
            `resume_all` and `resume`.
        hook_errors: a hook that raises is logged with its traceback on the ``lrpoll``
            logger (``"log"``, default); ``"raise"`` (for tests) also re-raises the first
            such exception when ``async with`` ends.

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
        http: HttpClient = "aiohttp",
        credentials: Mapping[str, Credential] | None = None,
        trusted_origins: Iterable[str] = (),
        allow_origins: Iterable[str] | Literal["any"] = (),
        slots: int = 100,
        per_host: int = 0,
        limits: Limits | None = None,
        retry_rate: float = 5.0,
        retry_burst: float = 20.0,
        gate_release_rate: float = 50.0,
        retry_refill: float = 1.0,
        seed: int | None = None,
        abandon: AbandonPolicy = "stop",
        abandon_timeout: float = 5.0,
        shutdown: Literal["stop", "cancel"] = "stop",
        shutdown_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        checkpoint_store: CheckpointStore | None = None,
        checkpoint_key: bytes | None = None,
        hook_errors: Literal["log", "raise"] = "log",
        keep_ended: int | None = 10_000,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        if session is not None and sender is not None:
            raise ValueError("give a session or a sender, not both")
        check_http(http)
        if http == "lean" and (session is not None or sender is not None):
            raise ValueError('http="lean" builds its own sender: give no session or sender')
        self._base, self._trust, self._credentials = build_trust(
            base_url, credentials, trusted_origins, allow_origins
        )
        self._headers = checked_headers(headers, "headers")
        self._session = session
        self._sender = sender
        self._http: HttpClient = http
        self._limits = limits or Limits()
        self._slots = slots
        self._per_host = per_host
        self._pacing = HostPacing(
            retry_rate=retry_rate,
            retry_burst=retry_burst,
            gate_release_rate=gate_release_rate,
            retry_refill=retry_refill,
        )
        self._rng = random.Random(seed)
        self._shutdown = shutdown
        self._shutdown_timeout = shutdown_timeout
        self._store = checkpoint_store
        self._options: dict[str, Any] = {
            "abandon": abandon,
            "abandon_timeout": abandon_timeout,
            "store": checkpoint_store,
            "checkpoint_key": checkpoint_key,
            "hook_errors": hook_errors,
            "keep_ended": keep_ended,
        }
        self._transport: Transport | None = None
        self._runtime: Runtime | None = None
        self._tg: TaskGroup | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Scheduler:
        sender = self._sender or make_sender(
            self._http,
            self._session,
            limits=self._limits,
            slots=self._slots,
            per_host=self._per_host,
        )
        self._transport = Transport(
            sender,
            trust=self._trust,
            credentials=self._credentials,
            limits=self._limits,
            headers=self._headers,
        )
        self._runtime = Runtime(
            self._transport, pacing=self._pacing, rng=self._rng, **self._options
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
        await runtime.shutdown(self._shutdown, self._shutdown_timeout)
        tg.cancel_scope.cancel()
        try:
            # Workers never raise, so the task group has nothing to add: passing the
            # body's exception in would wrap it in an ExceptionGroup.
            await tg.__aexit__(None, None, None)
            if runtime.hook_error is not None and exc is None:
                raise runtime.hook_error
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
        progress_min_step: float = 0.0,
        progress_min_interval: float = 0.0,
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
            MalformedStatus: when a 2xx start answer is not JSON (a login page) and the
                status URL template needs it.
            SpecError: when a relative URL has no ``base_url``.
            ValueError: when an unfinished operation here already has ``operation_id``.
            TypeError: when a hook is an ``async def`` function.
        """
        runtime = self._running()
        hooks = Hooks.checked(
            on_progress, on_status, on_done, on_timeout, progress_min_step, progress_min_interval
        )
        op_id = operation_id or new_op_id()
        runtime.check_id(op_id)
        runtime.warn_unbounded(spec)
        return await start_operation(
            runtime,
            method,
            absolute_url(self._base, url),
            spec=with_request_headers(spec, request_headers),
            op_id=op_id,
            json=json,
            form=form,
            headers=headers,
            params=params,
            hooks=hooks,
            token=token,
            abandon=abandon,
            retry_start=retry_start,
        )

    async def watch(
        self,
        status_url: str,
        spec: PollSpec,
        *,
        operation_id: str | None = None,
        on_progress: Callback | None = None,
        on_status: Callback | None = None,
        on_done: Callback | None = None,
        on_timeout: Callback | None = None,
        progress_min_step: float = 0.0,
        progress_min_interval: float = 0.0,
        token: CancelToken | None = None,
        abandon: AbandonPolicy | None = None,
        request_headers: Mapping[str, str] | None = None,
    ) -> Operation:
        """Attach to an operation that already exists, by its status URL; polls at once.

        Like `start`, a coroutine that returns the `Operation` (``await op`` then
        waits for its result). ``request_headers`` go with every request of this
        operation (each poll, the result fetch, the cancel), kept in its spec and
        checkpoints.

        Raises:
            UntrustedURL: when the status URL lies off the allowed origins.
            SpecError: when ``request_headers`` name a credential, or a relative URL
                has no ``base_url``.
            ValueError: when an unfinished operation here already has ``operation_id``.
        """
        runtime = self._running()
        hooks = Hooks.checked(
            on_progress, on_status, on_done, on_timeout, progress_min_step, progress_min_interval
        )
        runtime.warn_unbounded(spec)
        return watch_operation(
            runtime,
            absolute_url(self._base, status_url),
            spec=with_request_headers(spec, request_headers),
            op_id=operation_id or new_op_id(),
            hooks=hooks,
            token=token,
            abandon=abandon,
        )

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
        progress_min_step: float = 0.0,
        progress_min_interval: float = 0.0,
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
            CheckpointError: for a bad version, shape, size or signature (checked with
                ``key``, else the scheduler's ``checkpoint_key``).
            UntrustedURL: when its status URL lies off the allowed origins.
            ValueError: when this scheduler holds the operation unfinished (a stopped
                one: call its ``resume()`` instead).
        """
        hooks = Hooks.checked(
            on_progress, on_status, on_done, on_timeout, progress_min_step, progress_min_interval
        )
        return self._running().resume_checkpoint(
            checkpoint, spec=spec, key=key, hooks=hooks, token=token, abandon=abandon
        )

    async def resume_all(self, **options: Any) -> list[Operation]:
        """Resume every checkpoint in the ``checkpoint_store`` (ended ones end at once).

        ``options`` are `resume`'s (hooks, ``token``, ``abandon``, ...). A checkpoint
        whose operation this scheduler already holds unfinished is skipped.

        Raises:
            RuntimeError: when the scheduler has no ``checkpoint_store``.
            CheckpointError: for a stored checkpoint that cannot be loaded.
        """
        return await self._running().resume_stored(lambda text: self.resume(text, **options))

    # -- finding operations -----------------------------------------------------------

    def get(self, operation_id: str) -> Operation | None:
        """The operation with this id (ended ones too, until `remove`), or None."""
        return self._running().get(operation_id)

    def find(
        self, *, state: OperationState | Iterable[OperationState] | None = None
    ) -> list[Operation]:
        """The operations in ``state`` (one state or several; every one for None)."""
        states = None if state is None else frozenset([state] if isinstance(state, str) else state)
        return self._running().find(states)

    async def remove(self, operation_id: str) -> None:
        """Forget an ended or stopped operation here and in the ``checkpoint_store``.

        Raises:
            ValueError: when it is still polled (stop or cancel it first).
        """
        await self._running().remove(operation_id)

    def as_completed(self, ops: Iterable[Operation]) -> AsyncIterator[Operation]:
        """Yield the operations as they finish (or stop), first finished first."""
        return self._running().as_completed(ops)

    def statistics(self) -> SchedulerStatistics:
        """Operations by state, heap size, polls in flight, polls sent, errors retried."""
        runtime = self._runtime
        if runtime is None:
            return SchedulerStatistics({}, 0, 0, self._slots, 0, 0)
        return runtime.statistics(self._slots)
