"""The contender interface and the scenarios every contender is measured with.

A contender is one small module in ``benchmarks/contenders/`` that defines a subclass of
:class:`Contender` and names it ``CONTENDER``; the runner finds it by itself. The module is also
runnable on its own::

    python -m benchmarks.contenders.naive --port P --scenario saturate --n 10000 \\
        --interval 0.001 --slots 100 --duration 5 [--loop uvloop] [--cpu 1]

and prints one JSON line (the run's parameters and metrics) on stdout. See
``benchmarks/README.md`` for the interface and for what each figure means.
"""

from __future__ import annotations

import abc
import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import platform
import resource
import secrets
import statistics
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

from benchmarks.fastserver import pin_to_cpu

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

SCENARIOS: Final = ("saturate", "memory", "lateness", "drain")
_PAGE: Final = os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------------- the interface


@dataclass(frozen=True, slots=True)
class Workload:
    """What every operation of one run looks like; contenders build their URLs from it.

    Attributes:
        base_url: ``http://127.0.0.1:<port>`` of the fast server.
        interval: seconds between two polls of one operation (the contender's fixed delay).
        slots: how many requests may be in flight at once (connector limit, or the number of
            closed-loop requesters for a ceiling contender).
        done_after: the server says done at this poll (``0``: never).
        size: pad each status document to about this many bytes (``0``: tiny).
        shape: ``flat`` (four fields) or ``nested`` (an Oracle-like list of two tables
            under ``result.body.tables.items``).
        stamp_due: add ``due=<time.time() when this poll should go out>`` to every poll after
            the first, so the server can sample send lateness.
        tag: prefix of this run's operation ids (keeps runs apart on one server).
    """

    base_url: str
    interval: float
    slots: int
    done_after: int = 0
    size: int = 0
    stamp_due: bool = False
    tag: str = ""
    shape: str = "flat"

    def op_id(self, index: int) -> str:
        """Return the id of operation number ``index``."""
        return f"{self.tag}{index}"

    @property
    def query(self) -> str:
        """The query string every status URL carries (``done_after``, ``size``), maybe empty."""
        parts = []
        if self.done_after:
            parts.append(f"done_after={self.done_after}")
        if self.size:
            parts.append(f"size={self.size}")
        if self.shape != "flat":
            parts.append(f"shape={self.shape}")
        return "&".join(parts)


class Contender(abc.ABC):
    """One way of polling many operations, measured side by side with the others.

    Subclass it in ``benchmarks/contenders/<name>.py`` and set ``CONTENDER = YourClass``.
    One instance serves one run (one process): ``open()``, then ``start()`` one or more
    times, then ``wait()`` (only when operations end) and finally ``aclose()``.
    """

    #: Short name used on the command line (``--only``) and in the tables.
    name: ClassVar[str]
    #: One line for the README and the tables.
    description: ClassVar[str] = ""
    #: Which scenarios apply (see ``SCENARIOS``).
    scenarios: ClassVar[frozenset[str]] = frozenset(SCENARIOS)
    #: True when it also runs on uvloop.
    supports_uvloop: ClassVar[bool] = True
    #: A closed-loop ceiling: ``start()`` starts ``slots`` requesters and ignores the ids.
    closed_loop: ClassVar[bool] = False
    #: The requester counts a closed-loop contender is measured with.
    closed_loop_slots: ClassVar[tuple[int, ...]] = (10, 100)
    #: Position in the tables.
    order: ClassVar[int] = 50

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        #: Operations that ended with an exception (not counting cancellation by aclose()).
        self.errors = 0

    @classmethod
    def unavailable(cls) -> str | None:
        """Return why this contender cannot run here (a missing package), or None."""
        return None

    async def open(self) -> None:  # noqa: B027 - optional hook, empty on purpose
        """Create sessions and clients; called once, before anything is measured."""

    @abc.abstractmethod
    async def start(self, ids: range) -> None:
        """Begin polling operations ``workload.op_id(i) for i in ids``, and return promptly.

        Called more than once with consecutive ranges (the memory scenario adds one tenth,
        measures, then adds the rest). Must not wait for the operations to poll or end.
        """

    @abc.abstractmethod
    async def wait(self) -> None:
        """Return when every started operation is done (only called when they end)."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop polling everything, wait until it stopped, release every connection."""


class TaskPerOperation(Contender):
    """A base for contenders that run one asyncio task per operation."""

    def __init__(self, workload: Workload) -> None:
        super().__init__(workload)
        self._tasks: list[asyncio.Task[None]] = []

    @abc.abstractmethod
    async def operate(self, index: int) -> None:
        """Poll operation ``index`` until it is done."""

    async def start(self, ids: range) -> None:
        """Create one task per operation."""
        operate = self.operate
        create = asyncio.get_running_loop().create_task
        self._tasks.extend(create(operate(index)) for index in ids)

    async def wait(self) -> None:
        """Wait for every task; count those that failed."""
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self.errors += sum(isinstance(result, BaseException) for result in results)
        if self.errors:
            first = next(r for r in results if isinstance(r, BaseException))
            raise RuntimeError(f"{self.errors} operations failed, first: {first!r}")

    async def aclose(self) -> None:
        """Cancel the tasks still running and wait for them."""
        pending = [task for task in self._tasks if not task.done()]
        for task in pending:
            task.cancel()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self.errors += sum(
            isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError)
            for result in results
        )
        self._tasks.clear()
        await self.close_clients()

    async def close_clients(self) -> None:
        """Close sessions; called by :meth:`aclose` once no task runs."""


# --------------------------------------------------------------------------- measuring


class StatsClient:
    """A raw keep-alive connection to the server's ``/_stats`` and ``/_reset``.

    Not aiohttp: it must not share the contender's connection limit, and :meth:`snapshot`
    reads the process CPU time right before the request leaves, so the client's CPU window
    and the server's count window line up even when the event loop lags.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._base_polls = 0
        self._base_connections = 0

    async def connect(self) -> None:
        """Open the connection and note the server's poll and connection counts so far.

        The connection count taken here includes this connection, so
        :meth:`connections_since` counts only the contender's.
        """
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        stats = await self.get()
        self._base_polls = int(stats["polls"])
        self._base_connections = int(stats.get("connections", 0))

    def polls_since(self, stats: dict[str, Any]) -> int:
        """Polls the server answered between :meth:`connect` and ``stats``."""
        return int(stats["polls"]) - self._base_polls

    def connections_since(self, stats: dict[str, Any]) -> int:
        """TCP connections the server accepted between :meth:`connect` and ``stats``."""
        return int(stats.get("connections", 0)) - self._base_connections

    async def close(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = self._reader = None

    async def _request(self, method: str, target: str) -> dict[str, Any]:
        assert self._reader is not None
        assert self._writer is not None
        self._writer.write(
            f"{method} {target} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        head = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await self._reader.readexactly(length)
        result: dict[str, Any] = json.loads(body)
        return result

    async def get(self) -> dict[str, Any]:
        """Return the server's ``/_stats`` document."""
        return await self._request("GET", "/_stats")

    async def snapshot(self) -> tuple[dict[str, Any], float]:
        """Return ``/_stats`` and this process's CPU time taken as the request left."""
        cpu = time.process_time()
        return await self.get(), cpu

    async def reset(self, scope: str | None = None) -> None:
        """Clear the server's counters (``scope="lateness"``: only the lateness reservoir)."""
        await self._request("POST", "/_reset" + (f"?scope={scope}" if scope else ""))

    async def wait_for_polls(self, target: int, limit: float) -> None:
        """Return once the server has answered ``target`` polls since :meth:`connect`."""
        deadline = time.monotonic() + limit
        while True:
            stats = await self.get()
            polls = self.polls_since(stats)
            if polls >= target:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {polls} of {target} polls after {limit:.0f} s"
                    f" ({stats['requests']} requests in all)"
                )
            await asyncio.sleep(0.05)


class LagProbe:
    """A task that sleeps ``period`` again and again and records how late it wakes up."""

    def __init__(self, period: float = 0.05) -> None:
        self.period = period
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        period = self.period
        clock = time.perf_counter
        while True:
            before = clock()
            await asyncio.sleep(period)
            self.samples.append(clock() - before - period)

    def start(self) -> None:
        """Start probing (forgetting earlier samples)."""
        self.samples = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, float | int]:
        """Stop probing; return p50/p99/max lateness in milliseconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return summarize(self.samples, "lag")


def summarize(samples: list[float], prefix: str) -> dict[str, float | int]:
    """Return ``{prefix}_p50_ms``, ``_p99_ms``, ``_max_ms`` and ``_samples`` of seconds."""
    if not samples:
        return {f"{prefix}_samples": 0}
    ordered = sorted(samples)
    return {
        f"{prefix}_p50_ms": 1000 * statistics.median(ordered),
        f"{prefix}_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        f"{prefix}_max_ms": 1000 * ordered[-1],
        f"{prefix}_samples": len(ordered),
    }


def rss_bytes() -> int:
    """Resident set size of this process now (``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True, slots=True)
class Params:
    """One run's parameters, as given on the command line."""

    scenario: str
    n: int
    interval: float
    slots: int
    duration: float
    warmup: float
    done_after: int
    size: int
    shape: str
    trace: bool
    windows: int
    limit: float


Sample = dict[str, Any]


async def _settle(n: int) -> None:
    """Let the last responses to ``n`` new operations be processed, then collect garbage."""
    await asyncio.sleep(min(1.0, 0.2 + n / 20_000))
    gc.collect()


def _workload(params: Params, port: int, **changes: Any) -> Workload:
    fields: dict[str, Any] = {
        "base_url": f"http://127.0.0.1:{port}",
        "interval": params.interval,
        "slots": params.slots,
        "done_after": params.done_after,
        "size": params.size,
        "shape": params.shape,
        "tag": secrets.token_hex(3) + "-",
    }
    fields.update(changes)
    return Workload(**fields)


async def _saturate(
    cls: type[Contender], params: Params, port: int, stats: StatsClient
) -> list[Sample]:
    """N operations that never end, polled as fast as the contender can."""
    contender = cls(_workload(params, port))
    await contender.open()
    probe = LagProbe()
    samples: list[Sample] = []
    try:
        began = time.perf_counter()
        await contender.start(range(params.n))
        await stats.wait_for_polls(0 if cls.closed_loop else params.n, params.limit)
        ramp = time.perf_counter() - began
        await asyncio.sleep(params.warmup)
        for _ in range(params.windows):
            probe.start()
            before, cpu0 = await stats.snapshot()
            await asyncio.sleep(params.duration)
            after, cpu1 = await stats.snapshot()
            lag = await probe.stop()
            polls = int(after["polls"]) - int(before["polls"])
            seconds = float(after["time"]) - float(before["time"])
            samples.append(
                {
                    "polls_per_s": polls / seconds,
                    "cpu_per_poll_us": 1e6 * (cpu1 - cpu0) / max(polls, 1),
                    "cpu_busy": (cpu1 - cpu0) / seconds,
                    **lag,
                    # Since the contender opened: every connection it made, and every poll
                    # the server answered it (keep-alive reuse: connections == slots).
                    "connections": stats.connections_since(after),
                    "polls_total": stats.polls_since(after),
                    "polls": polls,
                    "seconds": seconds,
                    "ramp_s": ramp,
                    "rss_mb": rss_bytes() / 2**20,
                }
            )
    finally:
        await contender.aclose()
    for sample in samples:
        sample["errors"] = contender.errors
    return samples


async def _memory(
    cls: type[Contender], params: Params, port: int, stats: StatsClient
) -> list[Sample]:
    """N idle operations after one poll each, added in steps; bytes per added operation.

    A tenth of N first (connections, caches and other fixed costs land there), then
    ``windows`` equal steps, each measured by RSS, then with ``trace`` one more step measured
    by tracemalloc (which inflates RSS, so that step reports traced bytes only).
    """
    gc.collect()
    baseline = rss_bytes()
    contender = cls(_workload(params, port))
    await contender.open()
    first = max(1, params.n // 10)
    steps = params.windows + (1 if params.trace else 0)
    bounds = [first + (params.n - first) * k // steps for k in range(steps + 1)]
    samples: list[Sample] = []
    try:
        await contender.start(range(first))
        await stats.wait_for_polls(first, params.limit)
        await _settle(first)
        for k, (low, high) in enumerate(itertools.pairwise(bounds)):
            traced = params.trace and k == steps - 1
            rss1 = rss_bytes()
            if traced:
                tracemalloc.start()
            traced1 = tracemalloc.get_traced_memory()[0]
            await contender.start(range(low, high))
            await stats.wait_for_polls(high, params.limit)
            await _settle(high - low)
            rss2 = rss_bytes()
            if traced:
                traced2 = tracemalloc.get_traced_memory()[0]
                tracemalloc.stop()
                samples.append({"traced_bytes_per_op": (traced2 - traced1) / (high - low)})
            else:
                samples.append({"rss_bytes_per_op": (rss2 - rss1) / (high - low)})
        peak = peak_rss_bytes()
    finally:
        await contender.aclose()
    for sample in samples:
        sample |= {
            "peak_rss_bytes_per_op": (peak - baseline) / params.n,
            "errors": contender.errors,
        }
    return samples


async def _lateness(
    cls: type[Contender], params: Params, port: int, stats: StatsClient
) -> list[Sample]:
    """N operations at ``interval``; the server samples ``now - due`` of every poll."""
    contender = cls(_workload(params, port, stamp_due=True))
    await contender.open()
    demand = params.n / params.interval
    samples: list[Sample] = []
    try:
        # Spread the starts over one interval, so the polls are spread too (a burst of N
        # polls every interval would measure the burst, not the poller).
        chunks = min(params.n, 100)
        bounds = [params.n * k // chunks for k in range(chunks + 1)]
        for low, high in itertools.pairwise(bounds):
            await contender.start(range(low, high))
            await asyncio.sleep(params.interval / chunks)
        await stats.wait_for_polls(params.n, params.limit)
        await asyncio.sleep(params.warmup)
        for _ in range(params.windows):
            await stats.reset("lateness")
            before, cpu0 = await stats.snapshot()
            await asyncio.sleep(params.duration)
            after, cpu1 = await stats.snapshot()
            late = after["lateness"]
            polls = int(after["polls"]) - int(before["polls"])
            seconds = float(after["time"]) - float(before["time"])
            samples.append(
                {
                    "late_p50_ms": late.get("p50_ms"),
                    "late_p99_ms": late.get("p99_ms"),
                    "late_max_ms": late.get("max_ms"),
                    "late_samples": late["count"],
                    "polls_per_s": polls / seconds,
                    "demand_per_s": demand,
                    "served_share": polls / seconds / demand,
                    "cpu_per_poll_us": 1e6 * (cpu1 - cpu0) / max(polls, 1),
                    "cpu_busy": (cpu1 - cpu0) / seconds,
                }
            )
    finally:
        await contender.aclose()
    for sample in samples:
        sample["errors"] = contender.errors
    return samples


async def _drain(
    cls: type[Contender], params: Params, port: int, stats: StatsClient
) -> list[Sample]:
    """N operations that end at their ``done_after``-th poll (default 3): time until all did."""
    samples: list[Sample] = []
    for _ in range(params.windows):
        contender = cls(_workload(params, port, done_after=params.done_after or 3))
        await contender.open()
        before = await stats.get()
        try:
            began = time.perf_counter()
            await contender.start(range(params.n))
            async with asyncio.timeout(params.limit):
                await contender.wait()
            seconds = time.perf_counter() - began
        finally:
            await contender.aclose()
        after = await stats.get()
        starts = after["kinds"].get("azure_start", 0) - before["kinds"].get("azure_start", 0)
        samples.append(
            {
                "drain_s": seconds,
                "ops_per_s": params.n / seconds,
                "polls_per_op": (int(after["polls"]) - int(before["polls"])) / params.n,
                "starts_per_op": starts / params.n,
                "errors": contender.errors,
            }
        )
    return samples


_SCENARIO_FUNCS: Final[
    dict[
        str,
        Callable[[type[Contender], Params, int, StatsClient], Coroutine[Any, Any, list[Sample]]],
    ]
] = {"saturate": _saturate, "memory": _memory, "lateness": _lateness, "drain": _drain}


async def run_scenario(cls: type[Contender], params: Params, port: int) -> list[Sample]:
    """Run one scenario against the server on ``port``; return one sample per window."""
    stats = StatsClient("127.0.0.1", port)
    await stats.connect()
    try:
        return await _SCENARIO_FUNCS[params.scenario](cls, params, port, stats)
    finally:
        await stats.close()


def medians(samples: list[Sample]) -> dict[str, float]:
    """Return the median of every numeric metric over ``samples``."""
    values: dict[str, list[float]] = {}
    for sample in samples:
        for key, value in sample.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(key, []).append(float(value))
    return {key: statistics.median(found) for key, found in values.items()}


# --------------------------------------------------------------------------- command line


def main(cls: type[Contender], argv: list[str] | None = None) -> None:
    """Run one scenario of ``cls`` and print one JSON line.

    Exits 0 with ``samples`` and ``metrics`` (medians), 1 with ``error``, 2 with
    ``unavailable`` (a package is missing, or the scenario or loop does not apply).
    """
    parser = argparse.ArgumentParser(description=f"benchmark contender {cls.name}")
    parser.add_argument("--port", type=int, required=True, help="the fast server's port")
    parser.add_argument("--scenario", choices=SCENARIOS, default="saturate")
    parser.add_argument("--n", type=int, default=1000, help="operations")
    parser.add_argument("--interval", type=float, default=0.001, help="seconds between polls")
    parser.add_argument("--slots", type=int, default=100, help="requests in flight at most")
    parser.add_argument("--duration", type=float, default=5.0, help="measured window, s")
    parser.add_argument("--warmup", type=float, default=1.0, help="s after every op polled")
    parser.add_argument("--windows", type=int, default=1, help="samples taken in this process")
    parser.add_argument("--done-after", type=int, default=0, help="server says done at poll k")
    parser.add_argument("--size", type=int, default=0, help="status document size, bytes")
    parser.add_argument("--shape", choices=("flat", "nested"), default="flat")
    parser.add_argument("--trace", action="store_true", help="memory: one more tracemalloc step")
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--limit", type=float, default=600.0, help="give up after this many s")
    args = parser.parse_args(argv)
    params = Params(
        scenario=args.scenario,
        n=args.n,
        interval=args.interval,
        slots=args.slots,
        duration=args.duration,
        warmup=args.warmup,
        done_after=args.done_after,
        size=args.size,
        shape=args.shape,
        trace=args.trace,
        windows=max(1, args.windows),
        limit=args.limit,
    )
    pin_error = pin_to_cpu(args.cpu)
    record: dict[str, Any] = {
        "contender": cls.name,
        "scenario": args.scenario,
        "loop": args.loop,
        "params": asdict(params),
        "cpu": None if pin_error else args.cpu,
        "python": platform.python_version(),
    }
    if pin_error:
        record["pin_error"] = pin_error
    why = cls.unavailable()
    if why is None and args.scenario not in cls.scenarios:
        why = f"scenario {args.scenario!r} does not apply to {cls.name}"
    if why is None and args.loop == "uvloop" and not cls.supports_uvloop:
        why = f"{cls.name} does not run on uvloop"
    if why is not None:
        print(json.dumps(record | {"unavailable": why}), flush=True)
        sys.exit(2)
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError as exc:
            print(json.dumps(record | {"unavailable": f"uvloop: {exc}"}), flush=True)
            sys.exit(2)
        loop_factory = uvloop.new_event_loop
    try:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            samples = runner.run(run_scenario(cls, params, args.port))
    except Exception as exc:  # noqa: BLE001 - reported to the runner as data, then exit 1
        print(json.dumps(record | {"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        sys.exit(1)
    print(json.dumps(record | {"samples": samples, "metrics": medians(samples)}), flush=True)
