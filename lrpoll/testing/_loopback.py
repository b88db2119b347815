"""`LoopbackServer`: what every fake shares: an aiohttp.web app on a loopback address.

A fake sets ``host`` (checked by `_loopback`), ``_requested_port`` and
``_shutdown_timeout`` in its ``__init__`` and builds its app in `_app`; this base binds
it, stops it, and names its URLs.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Self

from aiohttp import web

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["LoopbackServer"]


class LoopbackServer(abc.ABC):
    """An aiohttp.web server on loopback, run inside the caller's event loop."""

    host: str
    _requested_port: int
    _shutdown_timeout: float
    _runner: web.AppRunner | None = None
    _port: int | None = None

    @abc.abstractmethod
    def _app(self) -> web.Application:
        """The application to serve: middlewares and routes."""

    async def start(self) -> None:
        """Bind and start serving.

        Raises:
            RuntimeError: Raised when the server is already started.
            OSError: Raised when the address cannot be bound.
        """
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        runner = web.AppRunner(
            self._app(),
            handle_signals=False,
            access_log=None,
            shutdown_timeout=self._shutdown_timeout,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self._requested_port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def close(self) -> None:
        """Stop serving and close every connection; does nothing when not started."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        """Start the server and return it."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the server."""
        await self.close()

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: Raised before the server was started.
        """
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` of the running server (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        """Return the absolute URL of `path` (an absolute path, kept as written) on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)
