"""A raw-socket load generator that measures how many requests the fast server answers.

    python -m benchmarks.loadgen --port P --cpu 1 --connections 64 --depth 1 --duration 3

Closed loop: each connection keeps ``depth`` requests in flight (``1`` = no pipelining, one
request per round trip as an HTTP client does) on keep-alive. It parses only the status
line's neighbourhood and ``Content-Length``, far less than aiohttp does, so the server, not
this client, is the bottleneck; if it is not (another process on the client core), the
server's own CPU time shows it. Prints one JSON line: responses per second counted by this
client and by the server (``/_stats``) over the window, the server's CPU busy share, and
requests per second of server CPU time (what one fully busy core would serve).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any, cast

from benchmarks.fastserver import new_event_loop, pin_to_cpu
from benchmarks.harness import StatsClient


class LoadProtocol(asyncio.Protocol):
    """One connection that sends the next request whenever a response completes."""

    def __init__(self, request: bytes, depth: int, counter: list[int]) -> None:
        self.request = request
        self.depth = depth
        self.counter = counter
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.running = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's is no subclass
        self.transport.write(self.request * self.depth)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        done = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            at = buffer.find(b"Content-Length: ", 0, end)
            length = int(buffer[at + 16 : buffer.find(b"\r\n", at)])
            stop = end + 4 + length
            if len(buffer) < stop:
                break
            buffer = buffer[stop:]
            done += 1
        self.buffer = buffer
        if done:
            self.counter[0] += done
            if self.running and self.transport is not None:
                self.transport.write(self.request * done)


async def measure(
    port: int, path: str, connections: int, depth: int, duration: float
) -> dict[str, Any]:
    """Run the closed loop for ``duration`` seconds and return the figures."""
    loop = asyncio.get_running_loop()
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    counter = [0]
    protocols: list[LoadProtocol] = []
    stats = StatsClient("127.0.0.1", port)
    await stats.connect()
    for _ in range(connections):
        _, protocol = await loop.create_connection(
            lambda: LoadProtocol(request, depth, counter), "127.0.0.1", port
        )
        protocols.append(protocol)
    await asyncio.sleep(min(1.0, duration / 3))  # warm up
    before = await stats.get()
    client_before, t0 = counter[0], time.perf_counter()
    await asyncio.sleep(duration)
    client_after, t1 = counter[0], time.perf_counter()
    after = await stats.get()
    for protocol in protocols:
        protocol.running = False
        if protocol.transport is not None:
            protocol.transport.close()
    await stats.close()
    server_seconds = float(after["time"]) - float(before["time"])
    served = (int(after["requests"]) - int(before["requests"])) / server_seconds
    busy = (float(after["cpu_s"]) - float(before["cpu_s"])) / server_seconds
    return {
        "connections": connections,
        "depth": depth,
        "client_req_per_s": (client_after - client_before) / (t1 - t0),
        "server_req_per_s": served,
        # Below 1.0 the client (or other work on the machine) was the limit, not the server.
        "server_cpu_busy": busy,
        "server_req_per_cpu_s": served / busy if busy > 0 else None,
        "server_loop": after["loop"],
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cpu", type=int, default=None)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--path", default="/op/loadgen")
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    args = parser.parse_args(argv)
    why = pin_to_cpu(args.cpu)
    if why:
        print(f"loadgen: not pinned: {why}", file=sys.stderr)
    loop, _ = new_event_loop(args.loop)
    try:
        result = loop.run_until_complete(
            measure(args.port, args.path, args.connections, args.depth, args.duration)
        )
    finally:
        loop.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
