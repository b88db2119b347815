"""A real redis-server on loopback for the fleet tests, started and stopped by PID."""

from __future__ import annotations

import inspect
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

import lrpoll

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

#: Why the fleet tests skip, when they do.
NO_REDIS = (
    "redis-server not found on PATH: install Debian's redis-server "
    "(apt-get install redis-server; .ci/run does) to run the fleet tests"
)


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (free when asked; the server binds it right after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worktree_env() -> dict[str, str]:
    """The environment for subprocesses, with this checkout of lrpoll first on the path."""
    env = dict(os.environ)
    root = str(Path(lrpoll.__file__).parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class RedisProcess:
    """One redis-server process on 127.0.0.1 with its own directory.

    Args:
        workdir: the server's directory (its AOF and log live there).
        config: extra ``--name value`` settings (``appendonly yes`` for a durable one).
    """

    def __init__(self, workdir: Path, *, config: dict[str, str] | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError(NO_REDIS)
        self.exe = exe
        self.workdir = workdir
        self.port = free_port()
        self.config = {"save": "", "appendonly": "no", **(config or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's redis:// URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers PING."""
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--dir", str(self.workdir), "--logfile", "redis.log", "--daemonize", "no"]
        for name, value in self.config.items():
            args += [f"--{name}", value]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited: {log}")
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 20 s")

    def ping(self) -> bool:
        """Whether the server answers PING (and has loaded its data)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server by its PID (SIGTERM, then SIGKILL after 10 s)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def __enter__(self) -> RedisProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


async def until(
    check: Callable[[], Awaitable[Any] | Any], *, within: float = 30, every: float = 0.01
) -> Any:
    """The first true value of ``check()`` (awaited when it returns an awaitable).

    Raises:
        TimeoutError: when none came within ``within`` seconds.
    """
    with anyio.fail_after(within):
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            # The state lives in another process (Redis, a worker): nothing to wait on here.
            await anyio.sleep(every)
