"""Helpers shared by the test suites: loop time, request-log views, specs, log capture, tasks.

Everything here reads time from the running loop (a looptime loop in the tests), never the
wall clock, and reads what was sent from the fake servers' request logs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import lrpoll

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, MutableMapping

    from lrpoll.testing import FakeLROServer, RequestRecord

__all__ = [
    "EXPORTS",
    "LogCapture",
    "StackedCredential",
    "assert_no_leftover_tasks",
    "capture_logs",
    "doc",
    "export_spec",
    "gaps",
    "lrpoll_tasks",
    "now",
    "poll_times",
    "retry_requests",
]

EXPORTS = "/api/exports"
"""The fake server's default job route prefix."""


def now() -> float:
    """The running loop's clock (looptime's fake time in the tests)."""
    return asyncio.get_running_loop().time()


def export_spec(**overrides: Any) -> lrpoll.PollSpec:
    """A spec for `FakeLROServer`'s export jobs: status from `Location`, 1 s interval.

    ``min_interval`` is 0 so Retry-After and error backoff are not floored unless a test
    says so; any field can be overridden.
    """
    fields: dict[str, Any] = {
        "status_from": ("location",),
        "interval": 1.0,
        "min_interval": 0.0,
        "done": "status == 'done'",
        "failed": "status == 'failed'",
        "cancelled": "status == 'cancelled'",
        "progress": "progress",
        "result": "result",
        "error_message": "error.message",
    }
    fields.update(overrides)
    return lrpoll.PollSpec(**fields)


def doc(status: str = "running", **fields: Any) -> bytes:
    """A JSON status document as bytes, for `FakeLROServer.fail_next(status=200, body=...)`."""
    return json.dumps({"status": status, **fields}).encode()


def poll_times(
    server: FakeLROServer, path_glob: str = "*/status", method: str = "GET"
) -> list[float]:
    """Arrival times of the logged requests matching ``path_glob`` and ``method``, sorted.

    The fake logs a request when its answer is decided, so a held request comes after
    later ones in `FakeLROServer.requests`; sorting restores the order they were sent in.
    """
    return sorted(r.time for r in server.requests_to(path_glob, method))


def gaps(times: Iterable[float]) -> list[float]:
    """Differences between consecutive instants, rounded to the microsecond."""
    return [round(b - a, 6) for a, b in itertools.pairwise(times)]


def retry_requests(records: Iterable[RequestRecord], failed_status: int = 503) -> list[float]:
    """Loop times of the requests that retried a path whose previous answer was a failure.

    A request is a retry when the previous logged request to the same path (one path per
    operation) was answered ``failed_status``.
    """
    last_status: dict[str, int] = {}
    retries: list[float] = []
    for record in sorted(records, key=lambda r: r.time):
        if last_status.get(record.path) == failed_status:
            retries.append(record.time)
        last_status[record.path] = record.status
    return retries


async def assert_no_leftover_tasks(before: set[asyncio.Task[Any]], *, settle: int = 10) -> None:
    """Fail when tasks other than those in ``before`` (and the current one) are alive.

    ``settle`` loop cycles first let tasks that were already cancelled (an aiohttp.web
    server's handlers after its cleanup) run to their end.
    """
    for _ in range(settle):
        await asyncio.sleep(0)
    current = asyncio.current_task()
    left = {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}
    assert not left, f"tasks left behind: {[t.get_coro() for t in left]}"


def lrpoll_tasks() -> list[asyncio.Task[Any]]:
    """Live tasks running lrpoll's own code (not `lrpoll.testing`'s fake servers)."""
    package = os.path.dirname(lrpoll.__file__) + os.sep
    testing = os.path.join(package, "testing") + os.sep

    def ours(name: str, filename: str) -> bool:
        in_package = name.startswith("lrpoll.") or filename.startswith(package)
        return in_package and not (
            name.startswith("lrpoll.testing") or filename.startswith(testing)
        )

    found = []
    for task in asyncio.all_tasks():
        # anyio names a task after its function and wraps the coroutine: look at both,
        # and down the chain of awaited coroutines.
        coro: Any = task.get_coro()
        names = [(task.get_name(), "")]
        while coro is not None and hasattr(coro, "cr_code"):
            names.append((coro.cr_code.co_qualname, coro.cr_code.co_filename))
            coro = coro.cr_await
        if any(ours(name, filename) for name, filename in names):
            found.append(task)
    return found


@dataclass
class LogCapture:
    """Records emitted on the ``"lrpoll"`` stdlib logger, with every attribute kept."""

    records: list[logging.LogRecord] = field(default_factory=list)

    def events(self, level: int | None = None) -> list[str]:
        """The event names (the log messages), optionally at one level only."""
        return [r.getMessage() for r in self.records if level is None or r.levelno == level]

    def text(self) -> str:
        """Everything captured, message and all extra fields, as one string."""
        return "\n".join(f"{r.getMessage()} {vars(r)!r}" for r in self.records)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)  # renders exc_info and args, as a real handler would
        self._sink.append(record)


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[LogCapture]:
    """Capture the ``"lrpoll"`` logger at ``level``; restore its level and handlers after."""
    logger = logging.getLogger("lrpoll")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    capture = LogCapture()
    handler = _ListHandler(capture.records)
    logger.handlers = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield capture
    finally:
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        logger.handlers = saved[2]


@dataclass(frozen=True)
class StackedCredential:
    """Several credential providers applied to one origin (a Bearer token and a cookie)."""

    parts: tuple[lrpoll.Credential, ...]

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Apply every part."""
        for part in self.parts:
            part.apply(headers, query, form)

    def secrets(self) -> tuple[str, ...]:
        """Every part's secrets."""
        return tuple(s for part in self.parts for s in part.secrets())
