"""A fast loopback HTTP/1.1 server that plays many long-running operations at once.

Run it as its own process, pinned to its own core::

    python -m benchmarks.fastserver --port 0 --cpu 0

It prints the port it listens on (one line on stdout) once it accepts connections, and
stops on SIGTERM or SIGINT. It binds 127.0.0.1 only.

aiohttp.web tops out near 20 k requests/s on one core, below what a fast client can ask
for, so this is a bare :class:`asyncio.Protocol`: it reads the request line and the headers
up to the blank line, skips a ``Content-Length`` body, answers in order on the same
keep-alive connection (pipelining-safe) and nothing else (no chunked requests).

Routes (any method unless said; the query string is optional everywhere):

``GET /op/<id>?done_after=<k>&size=<bytes>&shape=nested&due=<epoch>``
    A generic status document ``{"id","status":"running"|"done","progress","polls"}``. Each
    id counts its own polls and says ``done`` from its ``k``-th poll on (``0`` or absent:
    never); ``size`` pads the document to about that many bytes; ``shape=nested`` adds an
    Oracle-like ``result.body.tables.items`` list of two tables.
``POST|PUT /azure/start/<id>?...``
    An Azure start: ``202`` with an absolute ``Azure-AsyncOperation`` monitor URL that keeps
    the query string. No ``Retry-After``: azure-core treats ``0`` as absent and falls back to
    30 s, so a client sets its polling interval explicitly.
``GET /azure/<id>?...``
    The monitor: ``{"status":"InProgress"|"Succeeded","percentComplete"}``.
``GET /v1/operations/<id>?...``
    A ``google.longrunning.Operation`` in JSON: ``{"name","done":false,"metadata":Any}``, then
    ``{"name","done":true,"metadata":Any,"response":{"@type":".../google.protobuf.Empty"}}``.
``GET /_stats``
    Requests served, TCP connections accepted, polls per kind, operations seen, the server's
    clock and CPU time, and the lateness summary (``now - due`` over every poll that carried
    ``due=``, a reservoir).
``POST /_reset`` (``?scope=lateness`` clears only the lateness reservoir)
    Clears counters (connections accepted too), per-operation poll counts and the reservoir.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from typing import Final, cast

_RESERVOIR: Final = 200_000

_REASONS: Final = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    404: b"Not Found",
    501: b"Not Implemented",
}

_POLL_KINDS: Final = ("op", "azure", "google")


class Stats:
    """Counters and the lateness reservoir, shared by every connection."""

    def __init__(self) -> None:
        self.started = time.time()
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.requests = 0
        self.connections = 0
        self.kinds: dict[str, int] = {}
        self.polls: dict[str, int] = {}
        self.reset_lateness()

    def reset_lateness(self) -> None:
        """Forget the lateness samples only."""
        self.late: list[float] = []
        self.late_count = 0
        self.late_sum = 0.0
        self.late_max = float("-inf")

    def record_due(self, due: float) -> None:
        """Sample ``now - due`` (Algorithm R reservoir)."""
        late = time.time() - due
        self.late_count += 1
        self.late_sum += late
        if late > self.late_max:
            self.late_max = late
        if len(self.late) < _RESERVOIR:
            self.late.append(late)
        else:
            slot = random.randrange(self.late_count)
            if slot < _RESERVOIR:
                self.late[slot] = late

    def summary(self, loop_name: str) -> dict[str, object]:
        """Return the ``/_stats`` document."""
        late = sorted(self.late)
        lateness: dict[str, float | int | None] = {"count": self.late_count}
        if late:
            lateness |= {
                "p50_ms": 1000 * late[len(late) // 2],
                "p99_ms": 1000 * late[min(len(late) - 1, int(len(late) * 0.99))],
                "max_ms": 1000 * self.late_max,
                "mean_ms": 1000 * self.late_sum / self.late_count,
            }
        return {
            "time": time.time(),
            "cpu_s": time.process_time(),
            "uptime": time.time() - self.started,
            "loop": loop_name,
            "requests": self.requests,
            "connections": self.connections,
            "kinds": dict(self.kinds),
            "polls": sum(self.kinds.get(kind, 0) for kind in _POLL_KINDS),
            "ops": len(self.polls),
            "lateness": lateness,
        }


_PADS: dict[int, str] = {}


def _pad(size: int, used: int) -> str:
    """Return a ``,"pad":"xxx"`` member bringing a document of ``used`` bytes to ``size``."""
    want = size - used - 9
    if want <= 0:
        return ""
    pad = _PADS.get(want)
    if pad is None:
        pad = _PADS[want] = ',"pad":"' + "x" * want + '"'
    return pad


def _quote(text: str) -> str:
    """Return ``text`` as a JSON string (fast path for the ids the benchmarks use)."""
    if text.isascii() and text.replace("-", "").replace("_", "").replace("/", "").isalnum():
        return f'"{text}"'
    return json.dumps(text)


def _response(status: int, body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status,
        _REASONS[status],
        len(body),
        extra,
        body,
    )


_NOT_FOUND: Final = _response(404, b'{"error":"not found"}')
_EMPTY: Final = _response(200, b"{}")


class Server:
    """Routes one parsed request to its answer (a whole HTTP response, as bytes)."""

    def __init__(self, port: int, loop_name: str) -> None:
        self.stats = Stats()
        self.origin = f"http://127.0.0.1:{port}"
        self.loop_name = loop_name

    def handle(self, method: bytes, target: str) -> bytes:
        """Answer one request for ``target`` (path and query, already decoded)."""
        stats = self.stats
        stats.requests += 1
        path, _, query = target.partition("?")
        done_after = 0
        size = 0
        nested = False
        if query:
            for item in query.split("&"):
                key, _, value = item.partition("=")
                try:
                    if key == "due":
                        stats.record_due(float(value))
                    elif key == "done_after":
                        done_after = int(value)
                    elif key == "size":
                        size = int(value)
                    elif key == "shape":
                        nested = value == "nested"
                except ValueError:
                    return _response(400, b'{"error":"bad query parameter"}')
        if path.startswith("/op/"):
            return self._generic(path[4:], done_after, size, nested)
        if path.startswith("/azure/"):
            rest = path[7:]
            if rest.startswith("start/"):
                return self._azure_start(method, rest[6:], query)
            return self._azure_monitor(rest, done_after, size)
        if path.startswith("/v1/operations/"):
            return self._google(path[15:], done_after, size)
        if path == "/_stats":
            body = json.dumps(stats.summary(self.loop_name)).encode()
            return _response(200, body)
        if path == "/_reset" and method == b"POST":
            if query == "scope=lateness":
                stats.reset_lateness()
            else:
                stats.reset()
            return _EMPTY
        if path == "/_health":
            return _EMPTY
        return _NOT_FOUND

    def _poll(self, kind: str, op_id: str, done_after: int) -> tuple[int, bool, int]:
        """Count one poll of ``op_id``; return its poll count, whether done, and progress."""
        stats = self.stats
        stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
        polls = stats.polls.get(op_id, 0) + 1
        stats.polls[op_id] = polls
        if 0 < done_after <= polls:
            return polls, True, 100
        return polls, False, (polls * 100 // done_after if done_after else polls % 100)

    def _generic(self, op_id: str, done_after: int, size: int, nested: bool = False) -> bytes:
        polls, done, progress = self._poll("op", op_id, done_after)
        status = "done" if done else "running"
        doc = f'{{"id":{_quote(op_id)},"status":"{status}","progress":{progress},"polls":{polls}'
        if nested:
            # An Oracle-like export status: the per-table states in result.body.tables.items.
            table = "DONE" if done else "RUNNING"
            doc += (
                ',"result":{"body":{"tables":{"items":['
                f'{{"name":"ORDERS","status":"{table}","rows":{polls * 100}}},'
                '{"name":"CUSTOMERS","status":"QUEUED","rows":0}]}}}'
            )
        return _response(200, (doc + _pad(size, len(doc) + 1) + "}").encode())

    def _azure_start(self, method: bytes, op_id: str, query: str) -> bytes:
        self.stats.kinds["azure_start"] = self.stats.kinds.get("azure_start", 0) + 1
        if method not in (b"POST", b"PUT"):
            return _response(400, b'{"error":"start with POST or PUT"}')
        monitor = f"{self.origin}/azure/{op_id}" + (f"?{query}" if query else "")
        return _response(
            202, b'{"status":"InProgress"}', b"Azure-AsyncOperation: " + monitor.encode() + b"\r\n"
        )

    def _azure_monitor(self, op_id: str, done_after: int, size: int) -> bytes:
        _, done, progress = self._poll("azure", op_id, done_after)
        status = "Succeeded" if done else "InProgress"
        doc = f'{{"status":"{status}","percentComplete":{progress}'
        return _response(200, (doc + _pad(size, len(doc) + 1) + "}").encode())

    def _google(self, op_id: str, done_after: int, size: int) -> bytes:
        _, done, progress = self._poll("google", op_id, done_after)
        name = _quote("operations/" + op_id)
        head = (
            f'{{"name":{name},"done":{"true" if done else "false"},"metadata":{{"@type":'
            f'"type.googleapis.com/google.protobuf.Struct","value":{{"progress":{progress}'
        )
        tail = (
            '}},"response":{"@type":"type.googleapis.com/google.protobuf.Empty"}}'
            if done
            else "}}}"
        )
        return _response(200, (head + _pad(size, len(head) + len(tail)) + tail).encode())


class HTTPProtocol(asyncio.Protocol):
    """One keep-alive connection: parse what arrived, answer every complete request."""

    __slots__ = ("buffer", "server", "transport")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.server.stats.connections += 1
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is no subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        buffer = self.buffer + data if self.buffer else data
        out: list[bytes] = []
        close = False
        handle = self.server.handle
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            line_end = head.find(b"\r\n")
            line = head if line_end < 0 else head[:line_end]
            parts = line.split(b" ")
            if len(parts) != 3:
                out.append(_response(400, b'{"error":"bad request line"}'))
                close = True
                buffer = b""
                break
            length = 0
            # Slow path only when a header we care about may be present: Content-Length,
            # Transfer-Encoding or Connection: close (aiohttp's GETs carry none of them).
            if b"ength" in head or b"ENGTH" in head or b"ransfer" in head or b"lose" in head:
                lower = head.lower()
                if b"\r\ntransfer-encoding:" in lower:
                    out.append(_response(501, b'{"error":"chunked requests unsupported"}'))
                    close = True
                    buffer = b""
                    break
                at = lower.find(b"\r\ncontent-length:")
                if at >= 0:
                    stop = lower.find(b"\r\n", at + 2)
                    try:
                        length = int(lower[at + 17 : stop if stop >= 0 else len(lower)])
                    except ValueError:
                        out.append(_response(400, b'{"error":"bad content-length"}'))
                        close = True
                        buffer = b""
                        break
                if b"\r\nconnection: close" in lower:
                    close = True
            stop = end + 4 + length
            if len(buffer) < stop:
                break
            buffer = buffer[stop:]
            out.append(handle(parts[0], parts[1].decode("latin-1")))
            if close:
                buffer = b""
                break
        self.buffer = buffer
        if out:
            transport.write(out[0] if len(out) == 1 else b"".join(out))
        if close:
            transport.close()


def pin_to_cpu(cpu: int | None) -> str | None:
    """Pin this process to one core; return why not when that is impossible."""
    if cpu is None:
        return None
    if not hasattr(os, "sched_setaffinity"):
        return "os.sched_setaffinity is not available on this platform"
    allowed = os.sched_getaffinity(0)
    if cpu not in allowed:
        return f"cpu {cpu} is not among the allowed cpus {sorted(allowed)}"
    os.sched_setaffinity(0, {cpu})
    return None


def new_event_loop(kind: str) -> tuple[asyncio.AbstractEventLoop, str]:
    """Return a new loop of ``kind`` (``auto`` prefers uvloop) and its name."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            return uvloop.new_event_loop(), "uvloop"
    return asyncio.new_event_loop(), "asyncio"


async def serve(port: int, loop_name: str) -> None:
    """Serve on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    holder: list[Server] = []
    srv = await loop.create_server(
        lambda: HTTPProtocol(holder[0]), "127.0.0.1", port, backlog=4096, reuse_address=True
    )
    bound = srv.sockets[0].getsockname()[1]
    holder.append(Server(bound, loop_name))
    print(bound, flush=True)
    async with srv:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    args = parser.parse_args(argv)
    why = pin_to_cpu(args.cpu)
    if why:
        print(f"fastserver: not pinned: {why}", file=sys.stderr)
    loop, loop_name = new_event_loop(args.loop)
    try:
        loop.run_until_complete(serve(args.port, loop_name))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
