"""`LeanSender`: HTTP/1.1 over asyncio's own transports, for a cheaper poll than aiohttp's.

A status poll is one small request on a keep-alive connection. aiohttp's
``ClientSession.request`` spends most of a saturated poll's CPU building, tracing and
tearing down the objects around that request; this sender writes the request's bytes
and reads the answer with `lrpoll._h1.ResponseReader`, and nothing else. It keeps the
`Sender` contract whole: no redirects followed, nothing added but ``Host``,
``Accept``, ``Accept-Encoding``, ``User-Agent`` and a body's ``Content-Type`` /
``Content-Length``; the body held to the cap after decoding; `SendFault` and
`BodyTooLarge` for everything else. The transport above it still does every check.

What it does not do: proxies (aiohttp ignores the environment's too, by default),
HTTP/2, cookies, ``Expect: 100-continue``. Connections: at most ``slots`` open, and
``per_host`` per origin, reused most recent first, closed after ``keepalive`` idle
seconds. An idempotent request (``GET``, ``HEAD``, ``PUT``, ``DELETE``, ``OPTIONS``)
whose connection closes before the whole answer came is sent once more, as aiohttp
does, on a new connection (the origin's other idle ones, as old and as suspect, are
closed first): a kept-alive connection the server closed meanwhile is not a fault, and
a drop counts the same under either sender. When every slot is held by idle connections
to other origins, the longest idle one is closed to make room.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import ssl
from collections import deque
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode

from ._h1 import ResponseReader, request_head
from ._sender import Limits, RawResponse, SendFault

if TYPE_CHECKING:
    from yarl import URL

    from ._sender import RawRequest

__all__ = ["LeanSender"]

_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# The body's framing is the sender's: a caller's value could disagree with the body.
_FRAMING: Final = frozenset({"content-length", "transfer-encoding"})

Key = tuple[str, str, int]


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection, carrying one request at a time."""

    __slots__ = ("idle_since", "key", "pool", "reader", "transport", "waiter")

    def __init__(self, pool: _Pool, key: Key) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.reader: ResponseReader | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader, waiter = self.reader, self.waiter
        if reader is None or waiter is None or waiter.done():
            self.close()  # bytes nobody asked for: the connection is spent
            return
        try:
            if reader.feed(data):
                waiter.set_result(None)
        # SendFault and BodyTooLarge; anything else too, so that no fault of the reader
        # leaves the request waiting for its timeout.
        except Exception as exc:  # noqa: BLE001
            waiter.set_exception(exc)

    def eof_received(self) -> bool:
        return False  # close the transport

    def connection_lost(self, exc: BaseException | None) -> None:
        transport, self.transport = self.transport, None
        if transport is not None:
            self.pool.lost(self)
        reader, waiter = self.reader, self.waiter
        if reader is not None and waiter is not None and not waiter.done():
            try:
                reader.feed_eof()
                waiter.set_result(None)
            except SendFault as fault:
                waiter.set_exception(_Disconnected(str(fault)))
            except Exception as err:  # noqa: BLE001 (as in data_received)
                waiter.set_exception(err)

    @property
    def closed(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """Open connections by origin: at most ``slots`` in all, ``per_host`` per origin."""

    def __init__(
        self,
        slots: int,
        per_host: int,
        limits: Limits,
        keepalive: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.slots = slots
        self.per_host = per_host
        self.limits = limits
        self.keepalive = keepalive
        self.idle: dict[Key, list[_Connection]] = {}
        self.open: dict[Key, int] = {}
        self.total = 0
        self.opened = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.all: set[_Connection] = set()
        self.closed = False
        self._ssl = ssl_context

    def _room(self, key: Key) -> bool:
        if self.total >= self.slots:
            return False
        return not self.per_host or self.open.get(key, 0) < self.per_host

    async def acquire(self, key: Key, host: str) -> _Connection:
        loop = asyncio.get_running_loop()
        while True:
            if self.closed:
                # A request in flight when the sender closed may come back to retry, or a
                # waiter be woken by the close: no connection outlives aclose().
                raise SendFault("the sender is closed", sent=False)
            idle = self.idle.get(key)
            while idle:
                conn = idle.pop()
                if conn.closed:
                    continue
                if loop.time() - conn.idle_since > self.keepalive:
                    conn.close()
                    continue
                return conn
            if self._room(key) or self._evict_for(key):
                return await self._connect(key, host)
            waiter = loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, then cancelled before it ran: pass the turn on
                else:
                    waiter.cancel()
                    with contextlib.suppress(ValueError):  # _wake may have dropped it
                        self.waiters.remove(waiter)
                raise

    def _evict_for(self, key: Key) -> bool:
        """Close the longest idle connection to another origin, if that makes room for ``key``.

        Idle connections hold their slots: without this, a request to an origin with no
        connection of its own would wait for a slot that no request is going to free.
        """
        if self.per_host and self.open.get(key, 0) >= self.per_host:
            return False
        oldest: _Connection | None = None
        for conns in self.idle.values():
            for conn in conns:  # oldest first
                if not conn.closed:
                    if oldest is None or conn.idle_since < oldest.idle_since:
                        oldest = conn
                    break
        if oldest is None:
            return False
        self.idle[oldest.key].remove(oldest)
        self._forget(oldest)
        oldest.close()
        return True

    async def _connect(self, key: Key, host: str) -> _Connection:
        scheme, _, port = key
        if not _resolvable(host):
            raise SendFault(f"invalid host {host[:80]!r}", sent=False)
        self.total += 1
        self.open[key] = self.open.get(key, 0) + 1
        conn = _Connection(self, key)
        self.all.add(conn)
        loop = asyncio.get_running_loop()
        ssl_ctx = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            ssl_ctx = self._ssl
        try:
            async with asyncio.timeout(self.limits.connect_timeout):
                await loop.create_connection(
                    lambda: conn,
                    host,
                    port,
                    ssl=ssl_ctx,
                    server_hostname=host if ssl_ctx else None,
                )
        except BaseException as exc:
            self._forget(conn)
            self._wake()
            if isinstance(exc, (OSError, TimeoutError, ssl.SSLError)):
                kind = "connect timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
                raise SendFault(kind, sent=False) from None
            raise
        self.opened += 1
        return conn

    def _forget(self, conn: _Connection) -> None:
        if conn in self.all:
            self.all.discard(conn)
            self.total -= 1
            left = self.open[conn.key] - 1
            if left:
                self.open[conn.key] = left
            else:
                del self.open[conn.key]

    def lost(self, conn: _Connection) -> None:
        """A connection closed (either side): its place is free."""
        self._forget(conn)
        self._wake()

    def drop_idle(self, key: Key) -> None:
        """Close the idle connections to ``key``'s origin."""
        for conn in self.idle.pop(key, ()):
            self._forget(conn)
            conn.close()

    def release(self, conn: _Connection, *, reuse: bool) -> None:
        """Give ``conn`` back after a request; closed unless ``reuse``."""
        conn.reader = None
        conn.waiter = None
        if reuse and not conn.closed:
            conn.idle_since = asyncio.get_running_loop().time()
            self.idle.setdefault(conn.key, []).append(conn)
            self._wake()
        else:
            conn.close()  # connection_lost frees its place

    def _wake(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        self.closed = True
        for conn in list(self.all):
            conn.close()
        self.idle.clear()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)  # they find the pool closed and fail
        self.waiters.clear()


class LeanSender:
    """Sends requests over HTTP/1.1 keep-alive connections of its own, without aiohttp.

    Args:
        limits: the timeouts.
        slots: connections open at once (requests beyond wait for one).
        per_host: connections per origin (0: ``limits.per_host``, and 0 there too: none
            beyond ``slots``).
        keepalive: seconds an idle connection is kept for reuse.
        user_agent: the ``User-Agent`` sent unless a request names its own.
        ssl_context: verifies ``https`` servers (and may hold a client certificate);
            default: `ssl.create_default_context()`, the system's CAs, host names checked.

    Attributes:
        opened: connections opened so far.
    """

    owned = True

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        slots: int = 100,
        per_host: int = 0,
        keepalive: float = 15.0,
        user_agent: str = "lrpoll",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.limits = limits or Limits()
        self._pool = _Pool(
            slots, per_host or self.limits.per_host, self.limits, keepalive, ssl_context
        )
        self._user_agent = user_agent

    @property
    def opened(self) -> int:
        """Connections opened so far."""
        return self._pool.opened

    def implicit_credentials(self, url: URL) -> str | None:
        """None: this sender adds no credentials of its own (no default headers, no jar)."""
        return None

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one request, read its body up to ``request.max_body``.

        Raises:
            SendFault: for connect errors, timeouts, resets and malformed responses.
            BodyTooLarge: when the body passes the cap.
        """
        if self._pool.closed:
            raise SendFault("the sender is closed", sent=False)
        url = request.url
        scheme = url.scheme
        host = url.raw_host
        if scheme not in _DEFAULT_PORTS or not host:
            raise SendFault(f"cannot send to {scheme or 'a relative'} URL", sent=False)
        port = url.explicit_port or _DEFAULT_PORTS[scheme]
        key = (scheme, host, port)
        data = self._encode(request)
        try:
            async with asyncio.timeout(self.limits.timeout):
                conn = await self._pool.acquire(key, host)
                try:
                    return await self._exchange(conn, request, data)
                except _Disconnected:
                    if request.method not in _IDEMPOTENT:
                        raise
                # The origin's other idle connections are as old and as suspect (a restart,
                # a NAT's idle timeout kill them all): the retry goes on a new connection.
                self._pool.drop_idle(key)
                conn = await self._pool.acquire(key, host)
                return await self._exchange(conn, request, data)
        except TimeoutError:
            raise SendFault("timed out") from None

    def _encode(self, request: RawRequest) -> bytes:
        headers = {
            "Accept": "*/*",
            "Accept-Encoding": "gzip, deflate",
            "User-Agent": self._user_agent,
        }
        body = b""
        if request.form is not None:
            body = urlencode(dict(request.form)).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif request.json is not None:
            body = json.dumps(request.json).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if body or request.method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        url = request.url
        host = url.host_port_subcomponent or ""
        given = {k.lower() for k in request.headers} - _FRAMING
        if given:
            headers = {k: v for k, v in headers.items() if k.lower() not in given}
            for name, value in request.headers.items():
                lower = name.lower()
                if lower == "host":
                    host = value  # the caller's Host replaces the URL's, as in aiohttp
                elif lower not in _FRAMING:
                    headers[name] = value
        try:
            head = request_head(request.method, url.raw_path_qs, host, headers)
        except ValueError as exc:
            raise SendFault(str(exc), sent=False) from None
        return head + body

    async def _exchange(self, conn: _Connection, request: RawRequest, data: bytes) -> RawResponse:
        reader = ResponseReader(head=request.method == "HEAD", cap=request.max_body)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        conn.reader, conn.waiter = reader, waiter
        ok = False
        try:
            transport = conn.transport
            if transport is None or transport.is_closing():
                raise _Disconnected("server closed the connection before answering")
            transport.write(data)
            await waiter
            ok = True
        finally:
            self._pool.release(conn, reuse=ok and reader.keep_alive)
        return RawResponse(reader.status, reader.headers, reader.body)

    async def aclose(self) -> None:
        """Close every connection; a request sent afterwards fails (`SendFault`)."""
        self._pool.close()
        await asyncio.sleep(0)  # let the transports' close callbacks run


def _resolvable(host: str) -> bool:
    """False for a numeric host that is not a canonical IP address.

    The resolver reads ``2130706433``, ``0x7f.1`` or ``127.1`` as 127.0.0.1; aiohttp
    refuses such hosts, and so does this sender (no top-level domain is all digits).
    """
    last = host.rstrip(".").rsplit(".", 1)[-1].lower()
    if not last or not (last.isdigit() or last.startswith("0x")):
        return True
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


class _Disconnected(SendFault):
    """The connection closed before the whole answer came.

    An idempotent request is then sent once more, on another connection (as aiohttp
    does; RFC 9112 §9.3.1).
    """
