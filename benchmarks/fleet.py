"""Fleet figures: one fleet worker beside the in-process Scheduler, in the same run.

    python -m benchmarks.fleet                 # N = 2 000 operations x 5 polls, 20 000 for memory
    python -m benchmarks.fleet --ops 5000 --memory-ops 100000
    python -m benchmarks.fleet --tiny          # the smoke test's size
    python -m benchmarks.fleet --inline        # the first layout: specs inside checkpoints

Starts its own redis-server (Debian's, on a free loopback port, temporary directory,
no persistence) and the benchmark fast server, both stopped by PID on the way out.
Prints one JSON object:

- ``scheduler_polls_per_s`` / ``fleet_polls_per_s``: N operations, each done after K polls
  at a 1 ms interval, drained by an in-process `lrpoll.Scheduler` (100 slots) and then by
  one `lrpoll.fleet.Worker` (100 slots, one process, Redis on loopback); ``ratio`` is
  fleet / scheduler;
- ``scheduler_cpu_us_per_poll`` / ``fleet_cpu_us_per_poll``: this process's CPU time
  (``time.process_time``) over each drain, per poll (Redis and the benchmark server run
  in processes of their own: not counted), and ``redis_cpu_us_per_poll``, the Redis
  server's CPU time (``INFO cpu``) over the worker's drain, per poll;
- ``round_trips_per_poll``: Redis pipelines the worker sent per request it sent;
- ``gc_frozen``: whether both drains ran after `freeze_startup` moved what importing and
  starting made out of the garbage collector's view, as the worker command does before
  it runs (``--no-freeze`` leaves it in view);
- ``redis_bytes_per_op``: Redis ``used_memory`` growth per enrolled operation, over
  ``memory_ops`` operations (with ``checkpoint_bytes``, the size of one checkpoint as
  `lrpoll.checkpoint_for` writes it, and ``stored_checkpoint_bytes``, as the fleet
  stores it: without its spec); ``--hash-max-listpack-value 4096`` shows it with the
  checkpoint inside a listpack, ``--inline`` with the fleet's first layout (each
  checkpoint stored whole, its spec inside).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import lrpoll
from lrpoll.fleet import Fleet, Worker
from lrpoll.fleet._command import freeze_startup

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def _start_redis(workdir: str, listpack_value: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found on PATH (apt-get install redis-server)")
    port = _free_port()
    args = [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir]
    args += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    if listpack_value:
        args += ["--hash-max-listpack-value", str(listpack_value)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.02)
    _stop(proc)
    raise SystemExit("redis-server did not start")


def _start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.fastserver", "--port", "0", "--loop", "asyncio"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, f"http://127.0.0.1:{port}"


def _spec() -> lrpoll.PollSpec:
    return lrpoll.PollSpec(
        status_url="{+request_url}",
        interval=0.001,
        min_interval=0.0,
        done="status == 'done'",
        progress="progress",
    )


def _urls(base: str, tag: str, n: int, polls: int) -> list[str]:
    return [f"{base}/op/{tag}-{i}?done_after={polls}" for i in range(n)]


async def _scheduler(
    base: str, n: int, polls: int, http: lrpoll.HttpClient = "aiohttp"
) -> dict[str, float]:
    spec = _spec()
    async with lrpoll.Scheduler(base_url=base, slots=100, http=http) as scheduler:
        start, cpu = time.perf_counter(), time.process_time()
        ops = [await scheduler.watch(url, spec) for url in _urls(base, "s", n, polls)]
        async for op in scheduler.as_completed(ops):
            if op.state != "succeeded":
                raise RuntimeError(f"scheduler: {op.error!r}")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        return {"polls_per_s": n * polls / elapsed, "cpu_us_per_poll": cpu / (n * polls) * 1e6}


async def _enroll(fleet: Fleet, tokens: list[str], inline: bool) -> None:
    if not inline:
        await fleet.enroll_many(tokens)
        return
    # The first layout: each checkpoint stored whole, its spec inside.
    calls = []
    for token in tokens:
        op_id = json.loads(token)["id"]
        calls.append(fleet.scripts.enroll(op_id, token, "default", state="running", sched="due"))
    for k in range(0, len(calls), 1000):
        await fleet.scripts.run(fleet.redis, calls[k : k + 1000])


async def _redis_cpu(fleet: Fleet) -> float:
    info = await fleet.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def _fleet(
    redis_url: str,
    base: str,
    n: int,
    polls: int,
    *,
    inline: bool = False,
    http: lrpoll.HttpClient = "aiohttp",
) -> dict[str, float]:
    spec = _spec()
    async with Fleet(redis_url, namespace="bench") as fleet:
        tokens = [
            lrpoll.checkpoint_for(url, spec, operation_id=f"f-{i}")
            for i, url in enumerate(_urls(base, "f", n, polls))
        ]
        await _enroll(fleet, tokens, inline)
        worker = Worker(redis_url, namespace="bench", slots=100, max_sleep=0.01, http=http)
        worker.auth("default", trusted_origins=[base])
        redis_cpu = await _redis_cpu(fleet)
        start, cpu = time.perf_counter(), time.process_time()
        task = asyncio.create_task(worker.run())
        # Each operation takes exactly `polls` completions (no faults here): wait for them
        # without asking Redis, so the waiting costs the worker's process nothing.
        while worker.statistics.completed < n * polls:  # noqa: ASYNC110 (a counter, no event)
            await asyncio.sleep(0.01)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        redis_cpu = await _redis_cpu(fleet) - redis_cpu
        worker.close()
        await task
        stats = worker.statistics
        counts = await fleet.counts()
        if counts["due"] or counts["leased"]:
            raise RuntimeError(f"fleet: operations left on the schedule: {counts}")
        if stats.stale:
            raise RuntimeError(f"fleet: {stats.stale} stale completions")
        return {
            "polls_per_s": stats.sent / elapsed,
            "cpu_us_per_poll": cpu / max(1, stats.sent) * 1e6,
            "redis_cpu_us_per_poll": redis_cpu / max(1, stats.sent) * 1e6,
            "round_trips_per_poll": stats.round_trips / max(1, stats.sent),
            "polls": stats.sent,
        }


async def _memory(redis_url: str, base: str, n: int, *, inline: bool = False) -> dict[str, float]:
    spec = _spec()
    async with Fleet(redis_url, namespace="memory") as fleet:
        before = (await fleet.redis.info("memory"))["used_memory"]
        token = ""
        for k in range(0, n, 1000):
            tokens = [
                lrpoll.checkpoint_for(f"{base}/op/m-{i}?done_after=5", spec, operation_id=f"m-{i}")
                for i in range(k, min(n, k + 1000))
            ]
            token = tokens[-1]
            await _enroll(fleet, tokens, inline)
        after = (await fleet.redis.info("memory"))["used_memory"]
        stored = await fleet.redis.hstrlen(fleet.keys.op("m-0"), "ckpt")
        return {
            "redis_bytes_per_op": (after - before) / n,
            "checkpoint_bytes": len(token),
            "stored_checkpoint_bytes": stored,
        }


async def _run(args: argparse.Namespace, redis_url: str, base: str) -> dict[str, Any]:
    sched = await _scheduler(base, args.ops, args.polls, args.http)
    fleet = await _fleet(redis_url, base, args.ops, args.polls, inline=args.inline, http=args.http)
    memory = await _memory(redis_url, base, args.memory_ops, inline=args.inline)
    return {
        "ops": args.ops,
        "polls_per_op": args.polls,
        "memory_ops": args.memory_ops,
        "scheduler_polls_per_s": round(sched["polls_per_s"]),
        "fleet_polls_per_s": round(fleet["polls_per_s"]),
        "ratio": round(fleet["polls_per_s"] / sched["polls_per_s"], 3),
        "scheduler_cpu_us_per_poll": round(sched["cpu_us_per_poll"]),
        "fleet_cpu_us_per_poll": round(fleet["cpu_us_per_poll"]),
        "redis_cpu_us_per_poll": round(fleet["redis_cpu_us_per_poll"]),
        "fleet_polls": fleet["polls"],
        "round_trips_per_poll": round(fleet["round_trips_per_poll"], 3),
        "redis_bytes_per_op": round(memory["redis_bytes_per_op"]),
        "checkpoint_bytes": memory["checkpoint_bytes"],
        "stored_checkpoint_bytes": memory["stored_checkpoint_bytes"],
        "layout": "inline" if args.inline else "detached",
        "hash_max_listpack_value": args.hash_max_listpack_value or 64,
        "http": args.http,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--memory-ops", type=int, default=20_000)
    parser.add_argument(
        "--hash-max-listpack-value",
        type=int,
        default=0,
        metavar="BYTES",
        help="start redis-server with this hash-max-listpack-value (default: Redis's, 64)",
    )
    parser.add_argument(
        "--inline",
        action="store_true",
        help="enroll in the fleet's first layout: each checkpoint whole, its spec inside",
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave what start-up made in the garbage collector's view (the worker command "
        "freezes it; by default both drains run after the same freeze)",
    )
    parser.add_argument(
        "--http",
        choices=("aiohttp", "lean"),
        default="aiohttp",
        help="the HTTP client of both the scheduler and the worker (Scheduler(http=...))",
    )
    parser.add_argument("--tiny", action="store_true", help="N = 50, memory over 200")
    args = parser.parse_args(argv)
    if args.tiny:
        args.ops, args.polls, args.memory_ops = 50, 2, 200
    with tempfile.TemporaryDirectory() as workdir:
        redis, redis_url = _start_redis(workdir, args.hash_max_listpack_value)
        try:
            server, base = _start_server()
            try:
                if not args.no_freeze:
                    freeze_startup()
                result = asyncio.run(_run(args, redis_url, base))
                result["gc_frozen"] = not args.no_freeze
            finally:
                _stop(server)
        finally:
            _stop(redis)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
