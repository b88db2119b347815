"""GOOGLE: google-api-core's ``AsyncOperation`` polling ``GET /v1/operations/<id>`` over REST.

google-api-core's own async REST path (``operations_v1.AsyncOperationsRestClient``) needs the
``grpc`` extra (``operations_v1`` imports ``grpc`` at module level) and the ``async_rest``
extra (``google.auth.aio``); neither is in the project's ``bench`` extra. So this contender
builds the same thing by hand, as ``AsyncOperationsRestTransport._get_operation`` does it:
the ``refresh`` coroutine does an aiohttp ``GET`` on one shared session (connector limit =
slots) and ``json_format.Parse`` into an ``operations_pb2.Operation``; everything else is
google-api-core: ``operation_async.AsyncOperation`` (one per operation, attached to an
existing operation name, no start request) and ``await op.result()``, whose
``AsyncRetry``-driven loop raises ``_OperationNotComplete`` on every running poll.

google-api-core sleeps ``random.uniform(0, delay)`` between polls (full jitter), so the mean
gap is half the configured delay. To poll at the same mean rate as the other contenders, the
retry is ``AsyncRetry(initial=2*interval, maximum=2*interval, multiplier=1, timeout=None)``.
For the lateness scenario only, each drawn delay is recorded (a wrapper around
google-api-core's own sleep generator) and sent as ``due=``.
"""

from __future__ import annotations

import contextvars
import functools
import time
from typing import TYPE_CHECKING, Any, ClassVar

import aiohttp

from benchmarks.harness import TaskPerOperation, main

if TYPE_CHECKING:
    from collections.abc import Iterator

try:
    from google.api_core import exceptions as core_exceptions
    from google.api_core import operation_async, retry_async
    from google.api_core.future import async_future
    from google.api_core.retry import retry_unary_async
    from google.longrunning import operations_pb2  # type: ignore[import-untyped, unused-ignore]
    from google.protobuf import (  # type: ignore[import-untyped, unused-ignore]
        empty_pb2,
        json_format,
        struct_pb2,
    )
except ImportError as exc:  # the bench extra is not installed
    _MISSING: str | None = f"google-api-core not importable: {exc}"
else:
    _MISSING = None

#: When the current task's next poll is due (set by the sleep generator wrapper).
_DUE: contextvars.ContextVar[float | None] = contextvars.ContextVar("due", default=None)


def _stamping_sleep_generator(*args: Any, **kwargs: Any) -> Iterator[float]:
    """google-api-core's sleep generator, recording when each drawn sleep ends."""
    for delay in _ORIGINAL_GENERATOR(*args, **kwargs):
        _DUE.set(time.time() + delay)
        yield delay


_ORIGINAL_GENERATOR: Any = None


class Google(TaskPerOperation):
    """google-api-core AsyncOperation with a REST refresh coroutine, task per operation."""

    name: ClassVar[str] = "google"
    description: ClassVar[str] = "google-api-core AsyncOperation, REST refresh over aiohttp"
    order: ClassVar[int] = 40

    _session: aiohttp.ClientSession

    @classmethod
    def unavailable(cls) -> str | None:
        """Say so when google-api-core is missing."""
        return _MISSING

    async def open(self) -> None:
        """Create the session and the retry policy that paces polling."""
        global _ORIGINAL_GENERATOR
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.workload.slots)
        )
        delay = 2 * self.workload.interval  # uniform(0, delay) has the mean interval
        self._retry = retry_async.AsyncRetry(
            predicate=async_future.RETRY_PREDICATE,
            initial=delay,
            maximum=delay,
            multiplier=1.0,
            timeout=None,
        )
        if self.workload.stamp_due and _ORIGINAL_GENERATOR is None:
            # Process-wide and never undone: a lateness run is a process of its own.
            module: Any = retry_unary_async
            _ORIGINAL_GENERATOR = module.exponential_sleep_generator
            module.exponential_sleep_generator = _stamping_sleep_generator
        query = self.workload.query
        self._query = f"?{query}" if query else ""

    async def _get_operation(self, name: str, retry: Any = None) -> Any:
        """The refresh coroutine: GET the operation, parse it as the REST transport does."""
        url = f"{self.workload.base_url}/v1/{name}{self._query}"
        due = _DUE.get()
        if due is not None:
            url += f"{'&' if self._query else '?'}due={due:.6f}"
        async with self._session.get(url, headers={"Content-Type": "application/json"}) as r:
            content = await r.read()
            if r.status >= 400:
                raise core_exceptions.from_http_status(  # type: ignore[no-untyped-call]
                    r.status, content.decode(errors="replace")
                )
        operation = operations_pb2.Operation()
        json_format.Parse(content, operation, ignore_unknown_fields=False)
        return operation

    async def _cancel(self) -> None:
        raise NotImplementedError

    async def operate(self, index: int) -> None:
        """Attach an AsyncOperation to the operation and await its result."""
        name = f"operations/{self.workload.op_id(index)}"
        future = operation_async.AsyncOperation(  # type: ignore[no-untyped-call]
            operations_pb2.Operation(name=name),
            functools.partial(self._get_operation, name),
            self._cancel,
            result_type=empty_pb2.Empty,
            metadata_type=struct_pb2.Struct,
            retry=self._retry,
        )
        await future.result()  # type: ignore[no-untyped-call]

    async def close_clients(self) -> None:
        """Close the session."""
        await self._session.close()


CONTENDER = Google

if __name__ == "__main__":
    main(CONTENDER)
