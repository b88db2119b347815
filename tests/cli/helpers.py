"""Running the ``lrpoll`` command in a subprocess, against fakes served from a thread."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import pyte

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence
    from types import TracebackType

    from lrpoll.testing import FakeJob, LoopbackServer

T = TypeVar("T")

#: The worktree (or checkout) holding the lrpoll under test, first on the subprocess's path.
ROOT = str(Path(lrpoll.__file__).parents[1])
ENV = {
    **os.environ,
    "NO_COLOR": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p),
}
ENV.pop("LRPOLL_TOKEN", None)
TIMEOUT = 60
#: The generic fake's protocol, as command-line options.
GENERIC = (
    "--done", "status == 'done'",
    "--failed", "status == 'failed'",
    "--cancelled", "status == 'cancelled'",
    "--progress", "progress",
    "--result", "result",
    "--error-message", "error.message",
    "--message", "{last.message} ({progress}%)",
    "--interval", "0.05",
)  # fmt: skip


def command(*args: str) -> list[str]:
    """``python -m lrpoll ARGS``, warnings as errors."""
    return [sys.executable, "-W", "error", "-m", "lrpoll", *args]


def lrpoll_command(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m lrpoll ARGS`` to completion."""
    return subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        env=env or ENV,
        timeout=TIMEOUT,
        check=False,
    )


class Served:
    """A fake server running in its own event loop, in a thread, while the test runs."""

    def __init__(self, make: Callable[[], LoopbackServer]) -> None:
        self._make = make
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: Any = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` in the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(TIMEOUT)

    def call(self, fn: Callable[[], T]) -> T:
        """Call ``fn`` in the server's loop (fakes read that loop's clock)."""

        async def call() -> T:
            return fn()

        return self.run(call())

    def __enter__(self) -> Self:
        self._thread.start()

        async def start() -> Any:
            server = self._make()
            await server.start()
            return server

        self.server = self.run(start())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.run(self.server.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()


class Generic(Served):
    """`FakeLROServer` in a thread."""

    server: FakeLROServer

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(lambda: FakeLROServer(**kwargs))

    def job(self, script: JobScript) -> FakeJob:
        """A job that exists already (to watch)."""
        return self.call(lambda: self.server.add_job(script))

    def status_url(self, job: FakeJob) -> str:
        """The job's absolute status URL."""
        return self.server.status_url(job.id)

    def cancel_url(self) -> str:
        """The cancel URL template of the jobs (over the status URL)."""
        return self.server.url(self.server.prefix) + "/{last.jobId}/cancel"


def read_until(proc: subprocess.Popen[str], predicate: Callable[[str], bool]) -> list[str]:
    """Lines of the process's stdout up to and including the first one ``predicate`` holds."""
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if predicate(line):
            return lines
    raise AssertionError(f"the process ended first: {lines}")


def run_in_terminal(
    args: Sequence[str],
    *,
    columns: int,
    rows: int,
    interrupt_when: Callable[[pyte.Screen], bool] | None = None,
) -> tuple[int, pyte.Screen]:
    """Run ``args`` on a pseudo-terminal of that size; its exit code and the screen it left.

    The output goes through pyte, a terminal emulator: the screen is what a person
    would see when the command ends. ``interrupt_when`` presses Ctrl-C (SIGINT) once,
    as soon as the screen shows what it looks for.
    """
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {
        **ENV,
        "TERM": "xterm-256color",
        "LC_ALL": "C.UTF-8",
        "COLUMNS": str(columns),
        "LINES": str(rows),
    }
    env.pop("NO_COLOR")
    proc = subprocess.Popen(
        args, stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True
    )
    os.close(follower)
    deadline = time.monotonic() + TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end closed
                break
            if not data:
                break
            stream.feed(data)
            if interrupt_when is not None and interrupt_when(screen):
                proc.send_signal(signal.SIGINT)
                interrupt_when = None
        code = proc.wait(TIMEOUT)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    return code, screen
