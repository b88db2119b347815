"""traverse's (Go) OData ``AsyncPoller`` over an `lrpoll.Operation`.

`start_odata_async` starts a request with the `lrpoll.presets.odata_async` preset (Go's
``CreateAsync``) and wraps the operation in an `ODataAsyncPoller`: ``poll``, ``wait``,
``cancel``, ``result``, ``status``, ``percent_complete`` and ``on_progress``, with the Go
defaults (2 s between polls, 10 min in all).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import lrpoll
from lrpoll.presets.odata import odata_async

__all__ = ["ODataAsyncPoller", "ProgressCallback", "start_odata_async"]

ProgressCallback = Callable[[str, int], object]
"""``on_progress(status, percent)``: called after each poll (percent -1 when unknown)."""


class ODataAsyncPoller:
    """traverse's (Go) ``AsyncPoller`` in lrpoll's terms: a thin view over an `Operation`.

    ``poll`` is one step, ``wait`` runs to the end, ``cancel`` asks the service to
    cancel, ``result``, ``status`` and ``percent_complete`` read the last answer, and
    ``on_progress(status, percent)`` is called after each poll seen through ``poll`` or
    ``wait``. Interval and maximum wait (2 s and 10 min by default) are the spec's
    ``interval`` and ``max_duration``: see `start_odata_async`.

    Args:
        operation: an operation polled with the ``odata`` preset (or any spec).
        on_progress: called with ``(status(), percent_complete())`` after each poll.
        status_path: JMESPath over a running answer's body for the service's status text
            (``"status"``; ``"Status"`` for SAP-style monitors); None: lrpoll's state.
    """

    __slots__ = ("_status_expr", "on_progress", "operation")

    def __init__(
        self,
        operation: lrpoll.Operation,
        *,
        on_progress: ProgressCallback | None = None,
        status_path: str | None = "status",
    ) -> None:
        """Wrap ``operation``.

        Raises:
            SpecError: when ``status_path`` is not valid JMESPath.
        """
        self.operation = operation
        self.on_progress = on_progress
        self._status_expr = (
            None if status_path is None else lrpoll.Expression(status_path, field="status_path")
        )

    @property
    def done(self) -> bool:
        """True once the operation ended (succeeded, failed, cancelled, timed out, ...)."""
        return self.operation.done

    async def poll(self) -> bool:
        """Poll once now (Go ``Poll``); True while the operation is still running.

        Returns:
            True while running, False once it succeeded.

        Raises:
            OperationFailed: when the service reports failure (``AsyncResult`` >= 400).
            OperationCancelled: when the operation was cancelled (here or by the service).
            PollTimeout: at ``max_duration``.
            OperationGone: when the monitor answers 404/410 (expired).
            TransportError: when the error budget is spent (`AuthError` on 401/403).
            PollingStopped: when polling was stopped on the client side.
        """
        await self.operation.poll_once()
        self._notify()
        if self.operation.done or self.operation.state == "stopped":
            self.operation.result()  # raises the operation's error, if any
            return False
        return True

    async def wait(self) -> Any:
        """Wait for the end (Go ``Wait``) and return the result, calling ``on_progress``.

        Returns:
            The result (the final answer's body, unwrapped from ``application/http``).

        Raises:
            OperationFailed: when the service reports failure.
            OperationCancelled: when the operation was cancelled.
            PollTimeout: at ``max_duration`` (10 min by default).
            OperationGone: when the monitor answers 404/410 (expired).
            TransportError: when the error budget is spent (`AuthError` on 401/403).
            PollingStopped: when polling was stopped on the client side.
        """
        if self.on_progress is not None:
            async for _update in self.operation.updates():
                self._notify()
        return await self.operation.wait()

    async def cancel(self) -> lrpoll.CancelOutcome:
        """Ask the service to cancel, then poll until it confirms (`Operation.cancel`).

        Sends ``DELETE`` on the status monitor (OData-P §11.6) once, however many tasks
        call this, and keeps polling the monitor until it answers ``404`` (the service's
        confirmation) or the spec's ``confirm_timeout`` passes.

        Returns:
            How the cancel ended: ``kind`` is ``cancelled`` (confirmed),
            ``not_supported`` (``405``), ``not_found`` (the monitor was gone),
            ``finished_anyway`` (the result came first), ``already_finished`` (nothing
            sent), ``unconfirmed`` or ``refused``.

        Raises:
            SpecError: when the operation's spec has no cancel request (nothing is sent).

        Warning:
            Cancel is best effort: read the outcome's ``kind`` rather than assume the
            work stopped. An ``unconfirmed`` outcome leaves the operation polling.
        """
        return await self.operation.cancel()

    def result(self) -> Any:
        """The result, once done (Go ``Result``).

        Raises:
            RuntimeError: when the operation is still running.
            LrpollError: the operation's error, when it ended without a result.
        """
        return self.operation.result()

    def status(self) -> str:
        """The last status seen (Go ``Status``).

        While running: the service's status text from the last ``202`` body (at
        ``status_path``), else ``"running"``; once ended: lrpoll's state
        (``"succeeded"``, ``"failed"``, ``"cancelled"``, ``"timed_out"``, ``"gone"``,
        ``"error"``), or ``"stopped"`` / ``"cancelling"``.
        """
        op = self.operation
        if op.state in ("running", "pending") and self._status_expr is not None:
            value = self._status_expr.search(op.status)
            if isinstance(value, str) and value:
                return value
        return op.state

    def percent_complete(self) -> int:
        """Percent done, 0-100, or -1 when the service did not report progress (Go)."""
        progress = self.operation.progress
        return -1 if progress is None else round(progress)

    def _notify(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.status(), self.percent_complete())

    def __repr__(self) -> str:
        """``<ODataAsyncPoller op-1 Running 50%>``."""
        return f"<ODataAsyncPoller {self.operation.id} {self.status()} {self.percent_complete()}%>"


async def start_odata_async(
    scheduler: lrpoll.Scheduler,
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    interval: float = 2.0,
    max_wait: float | None = 600.0,
    wait: int | None = None,
    on_progress: ProgressCallback | None = None,
    status_path: str | None = "status",
    **preset_params: Any,
) -> ODataAsyncPoller:
    """Start ``method url`` with ``Prefer: respond-async``; wrap the operation (Go ``CreateAsync``).

    Args:
        scheduler: a running scheduler (its base URL and credentials apply).
        method: the HTTP method (``"POST"`` for a create or an action, ``"GET"``).
        url: the request URL (relative to the scheduler's ``base_url``, or absolute).
        json: the request body.
        headers: more request headers (they win over the spec's ``start_headers``).
        params: query parameters.
        interval: seconds between polls without ``Retry-After`` (Go ``PollInterval``).
        max_wait: seconds before `PollTimeout` (Go ``MaxWait``; None: no limit).
        wait: ``Prefer: wait=N`` seconds (the preset's ``wait``).
        on_progress: ``on_progress(status, percent)`` for `ODataAsyncPoller`.
        status_path: see `ODataAsyncPoller`.
        **preset_params: more `lrpoll.presets.odata_async` parameters (``percent_path``,
            ``request_headers``, ``errors``, ...).

    Returns:
        The poller; a synchronous answer gives one that is already done.

    Raises:
        SpecError: for bad preset parameters.
        TransportError: when the start request fails (`AuthError` on 401/403).
    """
    spec = odata_async(interval=interval, max_duration=max_wait, wait=wait, **preset_params)
    # The spec's start_headers carry `Prefer: respond-async`; they are passed here too so
    # they go out whether or not the scheduler sends a spec's start_headers itself.
    sent = {**(spec.start_headers or {}), **(headers or {})}
    op = await scheduler.start(method, url, spec=spec, json=json, headers=sent, params=params)
    return ODataAsyncPoller(op, on_progress=on_progress, status_path=status_path)
