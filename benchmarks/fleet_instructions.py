"""Instructions per poll of one fleet worker process, counted by callgrind: A/B without noise.

`benchmarks.fleet` measures a fleet poll's CPU by the clock, which moves by 15-25 %
between runs on a shared machine; instruction counts move much less (2-4 % between
runs here: how many completions one round trip to Redis carries still depends on
timing). This starts a redis-server and the benchmark fast server (as `benchmarks.fleet`
does), enrolls ``ops`` operations in a fresh namespace, then runs one
`lrpoll.fleet.Worker` (100 slots) in a process of its own under ``valgrind
--tool=callgrind`` until every operation is done, twice: each operation done after
``--small`` polls, then after ``--large``. The difference of the two totals, divided by
the difference in polls, is the worker's instructions per poll, free of start-up,
imports and each operation's first claim (the one checkpoint per operation the worker
did not write itself). Redis and the benchmark server are not counted.

    python -m benchmarks.fleet_instructions                 # 500 ops, 2 then 4 polls
    python -m benchmarks.fleet_instructions --repeat 3      # three pairs, to see the spread
    python -m benchmarks.fleet_instructions --no-pin --keep /tmp/cg   # callgrind files kept

The worker runs with a lease margin of 600 s: under callgrind a poll takes some 50 times
as long, and a claim waiting past the default margin would be given back unpolled. A
run that sent more requests than its polls (on a loaded machine some of the first
connections to the fast server fail and are retried) is run again, up to five times.
By default the server is pinned to core 0 and the worker to core 1, as in
`benchmarks.instructions`; ``--no-pin`` leaves both to the scheduler (better when other
work pins itself to core 0). Needs valgrind (Debian's ``valgrind``) and redis-server;
prints one line per pair and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
from typing import Any

import lrpoll
from benchmarks.fastserver import pin_to_cpu
from benchmarks.fleet import _spec, _start_redis, _stop, _urls
from benchmarks.instructions import callgrind
from benchmarks.run import fast_server
from lrpoll.fleet import Fleet, Worker

SLOTS = 100
KEEP: str | None = None  # --keep: a directory to copy each run's callgrind file to


async def _enroll(redis_url: str, namespace: str, base: str, tag: str, n: int, polls: int) -> None:
    spec = _spec()
    async with Fleet(redis_url, namespace=namespace) as fleet:
        tokens = [
            lrpoll.checkpoint_for(url, spec, operation_id=f"f-{i}")
            for i, url in enumerate(_urls(base, tag, n, polls))
        ]
        await fleet.enroll_many(tokens)


async def _work(redis_url: str, namespace: str, base: str, total: int) -> dict[str, int]:
    worker = Worker(redis_url, namespace=namespace, slots=SLOTS, max_sleep=0.01, lease_margin=600)
    worker.auth("default", trusted_origins=[base])
    task = asyncio.create_task(worker.run())
    while worker.statistics.completed < total:  # noqa: ASYNC110 (a counter, no event)
        await asyncio.sleep(0.05)
    worker.close()
    await task
    s = worker.statistics
    return {"sent": s.sent, "stale": s.stale, "requeued": s.requeued, "round_trips": s.round_trips}


def _child(args: argparse.Namespace) -> None:
    pin_to_cpu(args.cpu)
    stats = asyncio.run(_work(args.redis, args.namespace, args.base, args.total))
    print(json.dumps(stats))


def _count(redis_url: str, base: str, ops: int, polls: int, run: int, cpu: int | None) -> int:
    """Instructions of one clean worker run under callgrind (up to five tries)."""
    for attempt in range(5):
        try:
            return _count_once(
                redis_url, base, ops, polls, f"ins{os.getpid()}x{run}t{attempt}", cpu
            )
        except _Unclean as exc:
            print(f"  run not clean, again: {exc}", file=sys.stderr, flush=True)
    raise RuntimeError("five runs in a row were not clean")


class _Unclean(Exception):
    """A run that sent more requests than its polls (a connect error retried, say)."""


def _count_once(
    redis_url: str, base: str, ops: int, polls: int, namespace: str, cpu: int | None
) -> int:
    """Instructions of one worker process under callgrind, draining ``ops`` x ``polls``."""
    tag = f"{namespace}p{polls}"  # fresh ids: the server counts polls per id
    asyncio.run(_enroll(redis_url, namespace, base, tag, ops, polls))
    args = ["benchmarks.fleet_instructions", "--child", "--redis", redis_url]
    args += ["--namespace", namespace, "--base", base, "--total", str(ops * polls)]
    keep = None if KEEP is None else os.path.join(KEEP, f"callgrind.{namespace}.p{polls}")
    instructions, done = callgrind(args, cpu, "the worker", keep=keep)
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    if stats["sent"] != ops * polls or stats["stale"] or stats["requeued"]:
        raise _Unclean(str(stats))
    return instructions


def measure(ops: int, small: int, large: int, repeat: int, pin: bool) -> list[int]:
    """Instructions per poll of the worker, once per pair of runs."""
    out: list[int] = []
    cpu = 1 if pin else None
    with tempfile.TemporaryDirectory() as workdir, fast_server(pin) as (port, _):
        redis, redis_url = _start_redis(workdir)
        base = f"http://127.0.0.1:{port}"
        try:
            for r in range(repeat):
                low = _count(redis_url, base, ops, small, 2 * r, cpu)
                high = _count(redis_url, base, ops, large, 2 * r + 1, cpu)
                per = (high - low) / (ops * (large - small))
                out.append(round(per))
                print(f"pair {r + 1}: {per:,.0f} instructions per poll", flush=True)
        finally:
            _stop(redis)
    return out


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=500)
    parser.add_argument("--small", type=int, default=2, help="polls per operation, first run")
    parser.add_argument("--large", type=int, default=4, help="polls per operation, second run")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument(
        "--keep", metavar="DIR", help="copy each run's callgrind file there (callgrind_annotate)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--redis", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    global KEEP  # one option, read by _count_once
    KEEP = args.keep
    runs = measure(args.ops, args.small, args.large, args.repeat, not args.no_pin)
    result: dict[str, Any] = {"ops": args.ops, "small": args.small, "large": args.large}
    result["instructions_per_poll"] = runs
    result["median"] = round(statistics.median(runs))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
