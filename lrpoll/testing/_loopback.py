"""`LoopbackServer`: what every fake shares: an aiohttp.web app on a loopback address.

A fake sets ``host`` (checked by `_loopback`), ``_requested_port`` and
``_shutdown_timeout`` in its ``__init__`` and builds its app in `_app`; this base binds
it, stops it, and names its URLs.
"""

from __future__ import annotations

import abc
import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Literal, Self

from aiohttp import web

from .._secrets import REDACTED, is_secret_header

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from multidict import CIMultiDictProxy

__all__ = ["LoopbackServer", "RequestRecord"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

FaultKind = Literal["fail", "delay", "drop", "malformed", "throttle", "redirect"]


@dataclass
class _Fault:
    """One injected fault, for the next ``times`` requests whose path matches ``path_glob``."""

    kind: FaultKind
    path_glob: str
    times: int
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake server saw it.

    Attributes:
        time: Loop time at which the request arrived.
        method: HTTP method, upper case.
        path: Decoded path (`%2F` becomes `/`).
        raw_path: The request target exactly as sent, query included (`%2F` stays `%2F`).
        query: Query parameters (the last value wins for repeated names).
        headers: Request headers with lower-case names; credentials (a name on
            lrpoll's secrets list, `lrpoll._secrets`) read `"REDACTED"`.
        body: The raw request body.
        status: Response status, or 0 when the connection was dropped without an answer.
    """

    time: float
    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        """Return the body parsed as JSON.

        Raises:
            ValueError: Raised when the body is not valid JSON.
        """
        return json.loads(self.body)


def _loopback(host: str) -> str:
    """Return `host` as a loopback address, refusing anything else."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        raise ValueError(f"FakeLROServer binds loopback addresses only, not {host!r}")
    return str(address)


def _redact(headers: CIMultiDictProxy[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        shown = REDACTED if is_secret_header(key) else value
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


class LoopbackServer(abc.ABC):
    """An aiohttp.web server on loopback, run inside the caller's event loop.

    Every request is logged in `requests` (credentials redacted) by `_middleware`, which
    a fake puts first in its app; a fake answers through `_answer`.
    """

    host: str
    requests: list[RequestRecord]
    _faults: list[_Fault]
    _requested_port: int
    _shutdown_timeout: float
    _runner: web.AppRunner | None = None
    _port: int | None = None

    @abc.abstractmethod
    def _app(self) -> web.Application:
        """The application to serve: middlewares and routes."""

    def requests_to(self, path_glob: str = "*", method: str | None = None) -> list[RequestRecord]:
        """Return the logged requests whose path matches `path_glob` (and `method`, if given)."""
        return [
            r
            for r in self.requests
            if fnmatchcase(r.path, path_glob) and (method is None or r.method == method.upper())
        ]

    def fail_next(
        self,
        path_glob: str = "*",
        status: int = 503,
        body: bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests with `status` and `body`.

        `body` defaults to this fake's own error body (`_fault_body`); a mapping is sent
        as JSON.
        """
        if body is None:
            body = self._fault_body(status)
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        self._add(_Fault("fail", path_glob, times, status, raw, all_headers))

    def delay_next(self, path_glob: str = "*", seconds: float = 1.0, times: int = 1) -> None:
        """Hold the next `times` matching requests for `seconds` of loop time, then answer them.

        Delayed requests are then handled normally (a status poll still advances its job).
        """
        if not seconds >= 0:
            raise ValueError("seconds must be >= 0")
        self._add(_Fault("delay", path_glob, times, seconds=seconds))

    def _fault_body(self, status: int) -> bytes | Mapping[str, Any]:
        """The body `fail_next` sends when given none: this fake's error for `status`."""
        return {"error": {"code": status, "message": "injected failure"}}

    async def _injected(self, request: web.Request) -> web.Response | None:
        """Wait out the delays injected for `request`; then its injected answer, if any."""
        delay, fault = self._take_faults(request.path)
        if delay:
            await asyncio.sleep(delay)
        if fault is None:
            return None
        return web.Response(status=fault.status, body=fault.body, headers=fault.headers)

    def _add(self, fault: _Fault) -> None:
        if fault.times < 1:
            raise ValueError("times must be >= 1")
        self._faults.append(fault)

    def _take_faults(self, path: str) -> tuple[float, _Fault | None]:
        """Consume the faults matching `path`: total delay, then the first answering fault."""
        delay, answer = 0.0, None
        for fault in self._faults:
            if fault.times > 0 and fnmatchcase(path, fault.path_glob):
                fault.times -= 1
                if fault.kind != "delay":
                    answer = fault
                    break
                delay += fault.seconds
        self._faults = [f for f in self._faults if f.times > 0]
        return delay, answer

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse | None:
        """Answer one request (None: drop the connection); by default, the route's handler."""
        return await handler(request)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        arrived = asyncio.get_running_loop().time()
        body = await request.read()
        status = 0
        try:
            response = await self._answer(request, handler)
            if response is None:  # dropped: the transport is closed, nothing reaches the client
                return web.Response()
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.requests.append(
                RequestRecord(
                    time=arrived,
                    method=request.method,
                    path=request.path,
                    raw_path=request.raw_path,
                    query=dict(request.query.items()),
                    headers=_redact(request.headers),
                    body=body,
                    status=status,
                )
            )

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
