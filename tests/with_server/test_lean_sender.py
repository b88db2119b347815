"""`LeanSender` against real loopback servers: reuse, limits, faults, caps, close.

Normal answers come from aiohttp.web apps or `lrpoll.testing` fakes; hostile ones from
`RawServer`, an ``asyncio.start_server`` whose handler writes exact bytes and counts, on
the server's side, the connections accepted, open at once, and closed by the client.
Everything runs on the test's looptime loop: "5 seconds" below are loop seconds.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from aiohttp import web
from yarl import URL

import lrpoll
from lrpoll import LeanSender
from lrpoll._sender import BodyTooLarge, Limits, RawRequest, SendFault
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import assert_no_leftover_tasks, now

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from tests.with_server.conftest import Serve

    Handler = Callable[["Conn"], Awaitable[None]]
    StartRaw = Callable[..., Awaitable["RawServer"]]
    MakeLean = Callable[..., LeanSender]


@dataclass
class Request:
    """One request as a `RawServer` read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    conn: int


@dataclass
class RawServer:
    """A loopback server whose handler speaks bytes, with counts kept on the server's side.

    Attributes:
        accepted: connections accepted so far.
        open: connections open now.
        peak: the most connections open at once.
        client_closed: connections the client closed (the handler read EOF).
        requests: every request read, in order.
    """

    handler: Handler
    url: str = ""
    accepted: int = 0
    open: int = 0
    peak: int = 0
    client_closed: int = 0
    requests: list[Request] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        self.accepted += 1
        self.open += 1
        self.peak = max(self.peak, self.open)
        conn = Conn(self, self.accepted, reader, writer)
        try:
            await self.handler(conn)
        except ConnectionError:
            pass
        finally:
            writer.close()
            self.open -= 1
            await self.notify()
            self.tasks.discard(task)

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait (5 loop seconds at most) until ``predicate()`` holds."""
        with anyio.fail_after(5):
            async with self.changed:
                await self.changed.wait_for(predicate)


@dataclass
class Conn:
    """One accepted connection, as a handler sees it."""

    server: RawServer
    index: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def read_request(self) -> Request | None:
        """The next request on this connection, or None when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise
            self.server.client_closed += 1
            await self.server.notify()
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        request = Request(method, target, headers, body, self.index)
        self.server.requests.append(request)
        await self.server.notify()
        return request

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def until_closed(self) -> None:
        """Read until the client closes the connection."""
        while await self.reader.read(4096):
            pass
        self.server.client_closed += 1
        await self.server.notify()


def ok(body: bytes = b"{}", *, status: int = 200, headers: str = "") -> bytes:
    """A complete HTTP/1.1 response with a Content-Length body."""
    return b"HTTP/1.1 %d X\r\n%sContent-Length: %d\r\n\r\n%s" % (
        status,
        headers.encode(),
        len(body),
        body,
    )


def answering(delay: float = 0.0, body: bytes = b"{}") -> Handler:
    """A keep-alive handler answering every request ``body``, after ``delay`` seconds."""

    async def handler(conn: Conn) -> None:
        while await conn.read_request() is not None:
            if delay:
                await asyncio.sleep(delay)
            await conn.write(ok(body))

    return handler


def get(url: str, *, method: str = "GET", max_body: int = 1 << 20, **kwargs: Any) -> RawRequest:
    """A RawRequest as the transport builds one."""
    return RawRequest(method, URL(url, encoded=True), {}, max_body=max_body, **kwargs)


@pytest.fixture(name="raw")
async def _raw() -> AsyncIterator[StartRaw]:
    """Start `RawServer`s for the test; stopped (their handlers cancelled) after it."""
    servers: list[tuple[RawServer, asyncio.Server]] = []

    async def start(handler: Handler, host: str = "127.0.0.1") -> RawServer:
        raw = RawServer(handler)
        server = await asyncio.start_server(raw.serve, host, 0)
        port = server.sockets[0].getsockname()[1]
        raw.url = f"http://{host}:{port}"
        servers.append((raw, server))
        return raw

    yield start
    for raw, server in servers:
        server.close()
        for task in list(raw.tasks):
            task.cancel()
        await server.wait_closed()
    await asyncio.sleep(0)


@pytest.fixture(name="lean")
async def _lean() -> AsyncIterator[MakeLean]:
    """Make LeanSenders for the test; each is closed after it."""
    async with AsyncExitStack() as stack:

        def make(**kwargs: Any) -> LeanSender:
            sender = LeanSender(**kwargs)
            stack.push_async_callback(sender.aclose)
            return sender

        yield make


class TestKeepAlive:
    """Connections are kept and reused, and given up when the server is done with them."""

    async def test_sequential_requests_share_one_connection(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """Twenty requests one after another open one connection, on both sides' counts."""
        server = await raw(answering(body=b'{"n": 1}'))
        sender = lean()
        for _ in range(20):
            response = await sender.send(get(server.url + "/status"))
            assert (response.http_status, response.body) == (200, b'{"n": 1}')
        assert (sender.opened, server.accepted) == (1, 1)
        assert [r.conn for r in server.requests] == [1] * 20

    async def test_connection_close_answer_is_not_reused(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """After ``Connection: close`` the client closes the connection and opens another."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(ok(headers="Connection: close\r\n"))
            await conn.until_closed()

        server = await raw(handler)
        sender = lean()
        await sender.send(get(server.url))
        await server.wait_for(lambda: server.client_closed == 1)
        await sender.send(get(server.url))
        assert (sender.opened, server.accepted) == (2, 2)

    async def test_extra_bytes_after_the_answer_spend_the_connection(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """An answer followed by bytes nobody asked for is returned; its connection is dropped."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(ok(b"first") + b"HTTP/1.1 200 X\r\nContent-Length: 5\r\n\r\nsmugl")
            await conn.until_closed()

        server = await raw(handler)
        sender = lean()
        assert (await sender.send(get(server.url))).body == b"first"
        await server.wait_for(lambda: server.client_closed == 1)
        assert (await sender.send(get(server.url))).body == b"first"
        assert server.accepted == 2

    async def test_idle_connection_closed_by_the_server_is_replaced(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A kept connection the server closed while idle is not used: the next one is fresh."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(ok())  # keep-alive by the headers, then closed anyway

        server = await raw(handler)
        sender = lean()
        await sender.send(get(server.url))
        await server.wait_for(lambda: server.open == 0)
        await asyncio.sleep(0.1)
        assert (await sender.send(get(server.url))).http_status == 200
        assert (sender.opened, server.accepted) == (2, 2)

    async def test_connection_idle_past_keepalive_is_closed_not_reused(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A connection idle longer than ``keepalive`` seconds is closed; the next is new."""
        server = await raw(answering())
        sender = lean(keepalive=15.0)
        await sender.send(get(server.url))
        await asyncio.sleep(10.0)
        await sender.send(get(server.url))
        assert server.accepted == 1
        await asyncio.sleep(16.0)
        await sender.send(get(server.url))
        assert (sender.opened, server.accepted) == (2, 2)
        await server.wait_for(lambda: server.client_closed == 1)

    async def test_bytes_on_an_idle_connection_spend_it(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """Bytes a server sends on an idle connection, unasked, make the client drop it."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(ok())
            if conn.index == 1:
                await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
            await conn.until_closed()

        server = await raw(handler)
        sender = lean()
        await sender.send(get(server.url))
        await server.wait_for(lambda: server.client_closed == 1)
        assert (await sender.send(get(server.url))).body == b"{}"
        assert (sender.opened, server.accepted) == (2, 2)

    @pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"])
    async def test_reused_connection_closed_unanswered_is_retried_when_idempotent(
        self, raw: StartRaw, lean: MakeLean, method: str
    ) -> None:
        """A reused connection the server closes on reading the next request, without a byte
        of answer, is retried once on a new connection for an idempotent method."""

        async def handler(conn: Conn) -> None:
            if conn.index == 1:
                await conn.read_request()
                await conn.write(ok())
                await conn.read_request()
                return  # closed without answering, as a server's idle timer does
            while await conn.read_request() is not None:
                await conn.write(ok(b"again"))

        server = await raw(handler)
        sender = lean()
        await sender.send(get(server.url + "/a"))
        response = await sender.send(get(server.url + "/b", method=method))
        assert response.http_status == 200
        assert response.body == (b"" if method == "HEAD" else b"again")
        assert (sender.opened, server.accepted) == (2, 2)
        assert [(r.method, r.target, r.conn) for r in server.requests] == [
            ("GET", "/a", 1),
            (method, "/b", 1),
            (method, "/b", 2),
        ]

    @pytest.mark.parametrize("method", ["POST", "PATCH"])
    async def test_reused_connection_closed_unanswered_is_not_retried_otherwise(
        self, raw: StartRaw, lean: MakeLean, method: str
    ) -> None:
        """The same close under a POST or PATCH is a SendFault: the server may have acted."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(ok())
            await conn.read_request()

        server = await raw(handler)
        sender = lean()
        await sender.send(get(server.url + "/a"))
        with pytest.raises(SendFault, match="closed the connection before answering") as info:
            await sender.send(get(server.url + "/jobs", method=method, json={"x": 1}))
        assert info.value.sent
        assert server.accepted == 1
        assert [(r.method, r.body) for r in server.requests] == [
            ("GET", b""),
            (method, b'{"x": 1}'),
        ]

    async def test_retry_goes_on_a_new_connection_not_another_idle_one(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """When every kept connection is dead (a restart, a NAT's idle timeout), the retry
        still succeeds: it goes on a new connection, not on the next dead idle one."""
        two = asyncio.Event()

        async def handler(conn: Conn) -> None:
            if conn.index <= 2:
                await conn.read_request()
                if conn.index == 2:
                    two.set()
                await two.wait()  # two connections open at once
                await conn.write(ok())
                await conn.read_request()
                return  # dead: closed on the next request, unanswered
            while await conn.read_request() is not None:
                await conn.write(ok(b"fresh"))

        server = await raw(handler)
        sender = lean()
        await asyncio.gather(sender.send(get(server.url)), sender.send(get(server.url)))
        assert (await sender.send(get(server.url))).body == b"fresh"
        assert (sender.opened, server.accepted) == (3, 3)

    @pytest.mark.parametrize(("method", "tries"), [("GET", 2), ("POST", 1)])
    async def test_server_that_always_hangs_up_fails_after_one_retry(
        self, raw: StartRaw, lean: MakeLean, method: str, tries: int
    ) -> None:
        """A server closing every connection unanswered: SendFault after one retry (GET) or
        none (POST), never a loop."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()

        server = await raw(handler)
        sender = lean()
        with pytest.raises(SendFault, match="server closed the connection before answering"):
            await sender.send(get(server.url, method=method))
        assert server.accepted == len(server.requests) == tries

    @pytest.mark.parametrize(("method", "tries"), [("GET", 2), ("DELETE", 2), ("POST", 1)])
    async def test_answer_cut_short_is_retried_only_when_idempotent(
        self, raw: StartRaw, lean: MakeLean, method: str, tries: int
    ) -> None:
        """An answer cut short by the close is sent once more when idempotent, as aiohttp
        does; otherwise it is a SendFault naming the cut."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            if conn.index == 1:
                await conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
                return
            await conn.write(ok(b"whole"))
            await conn.until_closed()

        server = await raw(handler)
        sender = lean()
        if tries == 1:
            with pytest.raises(SendFault, match="connection closed mid-response"):
                await sender.send(get(server.url, method=method))
        else:
            assert (await sender.send(get(server.url, method=method))).body == b"whole"
        assert server.accepted == tries


class TestLimits:
    """``slots`` and ``per_host`` bound the connections open at once, counted by the server."""

    async def test_slots_bound_connections(self, raw: StartRaw, lean: MakeLean) -> None:
        """200 concurrent sends with slots=10 never hold more than 10 connections open."""
        server = await raw(answering(delay=0.01))
        sender = lean(slots=10)
        responses = await asyncio.gather(*(sender.send(get(server.url)) for _ in range(200)))
        assert [r.http_status for r in responses] == [200] * 200
        assert server.peak == 10
        assert sender.opened == server.accepted == 10
        assert len(server.requests) == 200

    async def test_per_host_bounds_one_origin_not_another(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """per_host=2 keeps one busy origin to two connections; another origin is not held up."""
        slow = await raw(answering(delay=1.0))
        fast = await raw(answering(), host="127.0.0.2")
        sender = lean(slots=10, per_host=2)
        done: list[tuple[str, float]] = []

        async def send(server: RawServer, name: str) -> None:
            await sender.send(get(server.url))
            done.append((name, now()))

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(send, slow, "slow")
            await asyncio.sleep(0)
            tg.start_soon(send, fast, "fast")
        assert done[0] == ("fast", 0.0)
        assert slow.peak == 2
        assert max(t for name, t in done if name == "slow") == pytest.approx(5.0)

    async def test_per_host_defaults_to_the_limits(self, raw: StartRaw, lean: MakeLean) -> None:
        """Without per_host, ``Limits.per_host`` bounds each origin."""
        server = await raw(answering(delay=0.1))
        sender = lean(limits=Limits(per_host=1))
        await asyncio.gather(*(sender.send(get(server.url)) for _ in range(5)))
        assert server.peak == 1
        assert sender.opened == 1

    async def test_idle_connection_to_another_origin_makes_room(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """With every slot held by idle connections to other origins, one is closed for a new one.

        (A request must not wait for a slot that only an idle connection holds.)
        """
        first = await raw(answering())
        second = await raw(answering(), host="127.0.0.2")
        sender = lean(slots=1, limits=Limits(timeout=5.0))
        await sender.send(get(first.url))
        assert (await sender.send(get(second.url))).http_status == 200
        await first.wait_for(lambda: first.client_closed == 1)
        assert (await sender.send(get(first.url))).http_status == 200
        assert now() < 5.0
        assert (first.accepted, second.accepted) == (2, 1)

    async def test_woken_waiter_cancelled_passes_its_turn_on(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A request woken for a free slot, then cancelled before taking it, wakes the next one."""
        release = asyncio.Event()

        async def handler(conn: Conn) -> None:
            while await conn.read_request() is not None:
                await release.wait()
                await conn.write(ok())

        server = await raw(handler)
        sender = lean(slots=1, limits=Limits(timeout=10.0))
        tasks: dict[str, asyncio.Task[Any]] = {}

        async def first() -> None:
            await sender.send(get(server.url))
            # The slot was handed to the second request on release; it has not run yet.
            tasks["second"].cancel()

        tasks["first"] = asyncio.create_task(first())
        await server.wait_for(lambda: len(server.requests) == 1)
        tasks["second"] = asyncio.create_task(sender.send(get(server.url)))
        await asyncio.sleep(0)
        tasks["third"] = asyncio.create_task(sender.send(get(server.url)))
        await asyncio.sleep(0)
        release.set()
        await tasks["first"]
        with pytest.raises(asyncio.CancelledError):
            await tasks["second"]
        assert (await tasks["third"]).http_status == 200
        assert now() < 10.0
        assert sender.opened == 1


class TestFaults:
    """Network faults and hostile answers are SendFault or BodyTooLarge, and leave nothing open."""

    async def test_connection_refused_was_not_sent(self, lean: MakeLean) -> None:
        """A refused connection is SendFault with sent=False: safe to retry for any method."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(SendFault) as info:
            await lean().send(get(f"http://127.0.0.1:{port}/jobs", method="POST"))
        assert not info.value.sent
        assert info.value.kind == "ConnectionRefusedError"

    async def test_unanswered_request_times_out(self, raw: StartRaw, lean: MakeLean) -> None:
        """A server that never answers gives SendFault('timed out') at Limits.timeout."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.until_closed()

        server = await raw(handler)
        sender = lean(limits=Limits(timeout=5.0))
        start = now()
        with pytest.raises(SendFault, match=r"^timed out$") as info:
            await sender.send(get(server.url))
        assert now() - start == pytest.approx(5.0)
        assert info.value.sent
        await server.wait_for(lambda: server.client_closed == 1)

    async def test_cancelled_request_closes_its_connection(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A send cancelled mid-request closes its connection and leaves no task behind."""
        before = asyncio.all_tasks()

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.until_closed()

        server = await raw(handler)
        sender = lean()
        task = asyncio.create_task(sender.send(get(server.url)))
        await server.wait_for(lambda: len(server.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await server.wait_for(lambda: server.client_closed == 1 and server.open == 0)
        await assert_no_leftover_tasks(before)
        assert sender.opened == 1

    @pytest.mark.parametrize(
        ("answer", "reason"),
        [
            (b"HTTP/1.1 200 OK\r\nNo colon\r\n\r\n", "bad header line"),
            (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "bad status line"),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok",
                "both Transfer-Encoding and Content-Length",
            ),
        ],
    )
    async def test_malformed_answer_is_a_fault_and_not_reused(
        self, raw: StartRaw, lean: MakeLean, answer: bytes, reason: str
    ) -> None:
        """A malformed answer raises SendFault naming the problem; its connection is dropped."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            if conn.index == 1:
                await conn.write(answer)
                await conn.until_closed()
                return
            await conn.write(ok())
            await conn.until_closed()

        server = await raw(handler)
        sender = lean()
        with pytest.raises(SendFault, match=f"malformed response: {reason}"):
            await sender.send(get(server.url))
        assert (await sender.send(get(server.url))).http_status == 200
        assert (sender.opened, server.accepted) == (2, 2)

    async def test_content_length_over_the_cap(self, raw: StartRaw, lean: MakeLean) -> None:
        """A Content-Length over the cap is BodyTooLarge before the body; the connection closes."""

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(b"HTTP/1.1 200 OK\r\nX-Job: 7\r\nContent-Length: 1000000000\r\n\r\n")
            await conn.until_closed()  # the body never comes

        server = await raw(handler)
        sender = lean()
        with pytest.raises(BodyTooLarge, match="Content-Length 1000000000") as info:
            await sender.send(get(server.url, max_body=100))
        assert info.value.headers["x-job"] == "7"
        await server.wait_for(lambda: server.client_closed == 1)
        assert now() == 0.0

    async def test_endless_chunked_body_is_cut_at_the_cap(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A chunked body past the cap is BodyTooLarge; the client hangs up on the server."""
        written: list[int] = []

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            while sum(written) < 10 * 2**20:
                await conn.write(b"1000\r\n" + b" " * 4096 + b"\r\n")
                written.append(4096)
                await asyncio.sleep(0)

        server = await raw(handler)
        sender = lean()
        with pytest.raises(BodyTooLarge, match="body is over the 65536-byte cap"):
            await sender.send(get(server.url, max_body=65536))
        await server.wait_for(lambda: server.open == 0)
        assert sum(written) < 10 * 2**20

    async def test_gzip_bomb_is_cut_at_the_cap(self, raw: StartRaw, lean: MakeLean) -> None:
        """10 MB of zeros gzipped to a few KB raise BodyTooLarge at the decompressed cap."""
        wire = gzip.compress(bytes(10_000_000))

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            await conn.write(ok(wire, headers="Content-Encoding: gzip\r\n"))
            await conn.until_closed()

        server = await raw(handler)
        with pytest.raises(BodyTooLarge, match="body is over the 65536-byte cap"):
            await lean().send(get(server.url, max_body=65536))
        await server.wait_for(lambda: server.client_closed == 1)


class TestExchange:
    """What goes on the wire and what comes back."""

    async def test_gzip_answer_is_decoded(self, serve: Serve, lean: MakeLean) -> None:
        """A gzip-encoded answer from aiohttp.web comes back decoded; gzip and deflate are asked."""
        seen: list[str] = []

        async def status(request: web.Request) -> web.Response:
            seen.append(request.headers["Accept-Encoding"])
            body = gzip.compress(b'{"status": "done"}')
            return web.Response(body=body, headers={"Content-Encoding": "gzip"})

        base = await serve(web.get("/status", status))
        response = await lean().send(get(base + "/status"))
        assert response.body == b'{"status": "done"}'
        assert response.headers["content-encoding"] == "gzip"
        assert seen == ["gzip, deflate"]

    async def test_request_bytes(self, raw: StartRaw, lean: MakeLean) -> None:
        """Method, encoded target, Host, defaults, caller headers and bodies are sent as given."""
        server = await raw(answering())
        sender = lean(user_agent="lean-test")
        host = server.url.removeprefix("http://")
        request = RawRequest(
            "POST",
            URL(server.url + "/jobs/a%2Fb?q=%C3%A9", encoded=True),
            {"X-Client": "1", "accept": "application/json"},
            json={"n": 1},
        )
        await sender.send(request)
        await sender.send(get(server.url + "/form", method="PUT", form={"a": "1 2"}))
        await sender.send(get(server.url + "/plain", method="DELETE"))
        jobs, form, plain = server.requests
        assert (jobs.method, jobs.target, jobs.body) == (
            "POST",
            "/jobs/a%2Fb?q=%C3%A9",
            b'{"n": 1}',
        )
        assert jobs.headers == {
            "host": host,
            "accept-encoding": "gzip, deflate",
            "user-agent": "lean-test",
            "content-type": "application/json",
            "content-length": "8",
            "x-client": "1",
            "accept": "application/json",
        }
        assert (form.method, form.body) == ("PUT", b"a=1+2")
        assert form.headers["content-type"] == "application/x-www-form-urlencoded"
        assert (plain.method, plain.body, "content-length" in plain.headers) == (
            "DELETE",
            b"",
            False,
        )

    async def test_callers_host_replaces_the_urls(self, serve: Serve, lean: MakeLean) -> None:
        """A Host header in the request is sent instead of the URL's, once, as aiohttp does."""
        hosts: list[list[str]] = []

        async def status(request: web.Request) -> web.Response:
            hosts.append(request.headers.getall("Host"))
            return web.Response(body=b"{}")

        base = await serve(web.get("/status", status))
        request = RawRequest("GET", URL(base + "/status"), {"host": "api.example"})
        assert (await lean().send(request)).http_status == 200
        assert hosts == [["api.example"]]

    async def test_callers_framing_headers_give_way_to_the_body(
        self, serve: Serve, lean: MakeLean
    ) -> None:
        """A caller's Content-Length or Transfer-Encoding is not sent: the body's own is."""
        seen: list[tuple[list[str], list[str], bytes]] = []

        async def status(request: web.Request) -> web.Response:
            lengths = request.headers.getall("Content-Length", [])
            codings = request.headers.getall("Transfer-Encoding", [])
            seen.append((lengths, codings, await request.read()))
            return web.Response(body=b"{}")

        base = await serve(web.post("/start", status))
        wrong = {"Content-Length": "100", "Transfer-Encoding": "chunked"}
        request = RawRequest("POST", URL(base + "/start"), wrong, json={"a": 1})
        assert (await lean().send(request)).http_status == 200
        assert seen == [(["8"], [], b'{"a": 1}')]

    async def test_head_answer_has_no_body(self, serve: Serve, lean: MakeLean) -> None:
        """HEAD reads no body even where aiohttp.web states a Content-Length; the next works."""

        async def status(request: web.Request) -> web.Response:
            return web.Response(body=b'{"status": "done"}')

        base = await serve(web.route("*", "/status", status))
        sender = lean()
        head = await sender.send(get(base + "/status", method="HEAD"))
        assert (head.http_status, head.body) == (200, b"")
        assert (await sender.send(get(base + "/status"))).body == b'{"status": "done"}'
        assert sender.opened == 1

    async def test_header_with_a_newline_is_refused_unsent(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A header value with CR or LF is SendFault(sent=False); nothing reaches the server."""
        server = await raw(answering())
        request = RawRequest("GET", URL(server.url), {"X-A": "1\r\nX-Injected: 1"})
        with pytest.raises(SendFault, match="invalid request header") as info:
            await lean().send(request)
        assert not info.value.sent
        assert server.accepted == 0

    async def test_aclose_closes_every_connection(self, raw: StartRaw, lean: MakeLean) -> None:
        """aclose() closes every kept connection: the server sees each one closed."""
        three = asyncio.Event()

        async def handler(conn: Conn) -> None:
            await conn.read_request()
            if len(conn.server.requests) == 3:
                three.set()
            await three.wait()  # three connections open at once
            await conn.write(ok())
            await conn.until_closed()

        server = await raw(handler)
        sender = LeanSender()
        await asyncio.gather(*(sender.send(get(server.url)) for _ in range(3)))
        assert (sender.opened, server.open, server.client_closed) == (3, 3, 0)
        await sender.aclose()
        await server.wait_for(lambda: server.client_closed == 3)
        assert server.open == 0

    async def test_aclose_mid_request_fails_it_and_its_waiters(
        self, raw: StartRaw, lean: MakeLean
    ) -> None:
        """A request in flight and one waiting for a slot when aclose() runs both fail
        (SendFault) at once, without a retry opening a connection after the close."""
        server = await raw(answering(delay=60))
        sender = LeanSender(slots=1, limits=Limits(timeout=30))
        in_flight = asyncio.ensure_future(sender.send(get(server.url)))
        waiting = asyncio.ensure_future(sender.send(get(server.url)))
        await server.wait_for(lambda: len(server.requests) == 1)
        started = asyncio.get_running_loop().time()
        await sender.aclose()
        results = await asyncio.gather(in_flight, waiting, return_exceptions=True)
        assert [type(r) for r in results] == [SendFault, SendFault]
        assert asyncio.get_running_loop().time() - started < 30  # not at the timeout
        await asyncio.sleep(1)  # a retry would have connected by now
        assert (sender.opened, server.accepted) == (1, 1)
        with pytest.raises(SendFault, match="closed"):
            await sender.send(get(server.url))


class TestThroughTheTransport:
    """`lrpoll.Transport` with a LeanSender keeps every check of its own."""

    async def test_cross_origin_redirect_is_refused(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A redirect to an untrusted origin raises UntrustedURL; that origin receives nothing."""
        job = server.add_job(JobScript.slow())
        target = other.add_job()
        server.redirect_next("*/status", other.status_url(target.id))
        creds = {server.base_url: lrpoll.BearerToken("tok-1")}
        async with lrpoll.Transport.open(
            server.base_url, credentials=creds, sender=LeanSender()
        ) as transport:
            with pytest.raises(lrpoll.UntrustedURL):
                await transport.request("GET", URL(server.status_url(job.id)))
            answer = await transport.request("GET", URL(server.status_url(job.id)))
        assert answer.http_status == 200
        assert answer.body["status"] == "running"
        assert other.requests == []
        assert [r.headers.get("authorization") for r in server.requests] == ["REDACTED"] * 2

    async def test_oversized_answer_is_response_too_large(self, serve: Serve) -> None:
        """The sender's BodyTooLarge reaches the caller as the transport's ResponseTooLarge."""

        async def status(request: web.Request) -> web.Response:
            return web.Response(body=b"x" * 2048)

        base = await serve(web.get("/status", status))
        limits = lrpoll.Limits(max_body=1024)
        async with lrpoll.Transport.open(
            base, limits=limits, sender=LeanSender(limits=limits)
        ) as transport:
            answer = await transport.request("GET", URL(base + "/status"))
        assert isinstance(answer.fault, lrpoll.ResponseTooLarge)
