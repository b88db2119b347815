"""Instructions per request, counted by callgrind: the contenders side by side, without noise.

Wall-clock figures on a shared machine move by 15-25 % between runs; instruction counts do
not. Each contender runs under ``valgrind --tool=callgrind`` in its own process against
the fast server (started once, on core 0), twice: with ``ops`` operations polled
``--small`` times each, then ``--large`` times each. The difference of the two totals,
divided by the difference in requests, is the contender's instructions per request, free
of start-up and import costs. The ratio of CEIL's count to a contender's is the
throughput that contender would have against CEIL if the CPU spent the same time on
every instruction (it does not quite: C code such as uvloop's runs more instructions per
cycle than the interpreter, so a Python-heavy contender does a little worse by the
clock than by this ratio).

    python -m benchmarks.instructions                       # asyncio and uvloop, ~25 min
    python -m benchmarks.instructions --loops asyncio --only ceil,lrpoll

Contenders (every one with 100 connections, as in ``benchmarks.run``):

- ``ceil``: 100 closed-loop requesters, ``session.get(url)`` and ``read()``, one URL.
- ``transport``: lrpoll's `Transport` alone in the same closed loop, one URL object.
- ``transport-lean``: the same over `LeanSender` (lrpoll's own HTTP/1.1).
- ``lean``: a task per operation, ``json.loads(await r.read())``, a 1 ms sleep.
- ``lrpoll``: a `Scheduler`, one operation per URL, done after the given polls.
- ``lrpoll-lean``: the same with ``Scheduler(http="lean")``.

Needs valgrind (Debian's ``valgrind``); prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import TYPE_CHECKING, Any

from benchmarks.fastserver import pin_to_cpu
from benchmarks.run import ROOT, fast_server

if TYPE_CHECKING:
    import lrpoll

CONTENDERS = ("ceil", "transport", "transport-lean", "lean", "lrpoll", "lrpoll-lean")
SLOTS = 100
_COLLECTED = re.compile(r"Collected\s*:\s*([0-9,]+)")


async def _ceil(base: str, ops: int, polls: int, tag: str) -> None:
    import aiohttp

    url = f"{base}/op/{tag}ceil"
    per_worker = ops * polls // SLOTS
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=SLOTS)) as session:

        async def requester() -> None:
            for _ in range(per_worker):
                async with session.get(url) as response:
                    await response.read()

        await asyncio.gather(*(requester() for _ in range(SLOTS)))


async def _transport(
    base: str, ops: int, polls: int, tag: str, http: lrpoll.HttpClient = "aiohttp"
) -> None:
    from yarl import URL

    import lrpoll
    from lrpoll._transport import make_sender

    sender = make_sender(http, None, limits=lrpoll.Limits(), slots=SLOTS)
    url = URL(f"{base}/op/{tag}ceil", encoded=True)
    per_worker = ops * polls // SLOTS
    async with lrpoll.Transport.open(base, sender=sender) as transport:

        async def requester() -> None:
            for _ in range(per_worker):
                answer = await transport.request("GET", url)
                if answer.fault is not None:
                    raise answer.fault

        await asyncio.gather(*(requester() for _ in range(SLOTS)))


async def _transport_lean(base: str, ops: int, polls: int, tag: str) -> None:
    await _transport(base, ops, polls, tag, http="lean")


async def _lean(base: str, ops: int, polls: int, tag: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=SLOTS)) as session:

        async def operation(i: int) -> None:
            url = f"{base}/op/{tag}{i}?done_after={polls}"
            while True:
                async with session.get(url) as response:
                    status = json.loads(await response.read())
                if status["status"] == "done":
                    return
                await asyncio.sleep(0.001)

        await asyncio.gather(*(operation(i) for i in range(ops)))


async def _lrpoll(
    base: str, ops: int, polls: int, tag: str, http: lrpoll.HttpClient = "aiohttp"
) -> None:
    import lrpoll

    spec = lrpoll.PollSpec(
        status_url="{+request_url}",
        interval=0.001,
        min_interval=0.0,
        done="status == 'done'",
        progress="progress",
    )
    async with lrpoll.Scheduler(base_url=base, slots=SLOTS, http=http) as scheduler:
        handles = [
            await scheduler.watch(f"/op/{tag}{i}?done_after={polls}", spec) for i in range(ops)
        ]
        async for op in scheduler.as_completed(handles):
            if op.state != "succeeded":
                raise RuntimeError(f"{op.id} ended {op.state}: {op.error!r}")


async def _lrpoll_lean(base: str, ops: int, polls: int, tag: str) -> None:
    await _lrpoll(base, ops, polls, tag, http="lean")


_RUNNERS = {
    "ceil": _ceil,
    "transport": _transport,
    "transport-lean": _transport_lean,
    "lean": _lean,
    "lrpoll": _lrpoll,
    "lrpoll-lean": _lrpoll_lean,
}


def _child(args: argparse.Namespace) -> None:
    pin_to_cpu(args.cpu)
    base = f"http://127.0.0.1:{args.port}"
    # Fresh ids per run: the server counts polls per id.
    tag = f"i{os.getpid()}x"
    coro = _RUNNERS[args.child](base, args.ops, args.polls, tag)
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def callgrind(
    args: list[str], cpu: int | None, what: str, *, keep: str | None = None
) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run ``python -m ARGS`` under callgrind: its instructions and the finished process.

    ``cpu`` pins it (the child's ``--cpu``); ``keep`` is a path to copy callgrind's file to.

    Raises:
        RuntimeError: naming ``what``, when the run failed or callgrind gave no total.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        cmd += [os.path.realpath(sys.executable), "-m", *args]
        if cpu is not None:
            cmd += ["--cpu", str(cpu)]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        if keep is not None:
            shutil.copy(out, keep)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"{what} failed:\n{tail}")
    return int(found.group(1).replace(",", "")), done


def _count(name: str, loop: str, port: int, ops: int, polls: int, cpu: int | None) -> int:
    """Instructions of one child run under callgrind."""
    args = ["benchmarks.instructions", "--child", name, "--port", str(port), "--loop", loop]
    args += ["--ops", str(ops), "--polls", str(polls)]
    return callgrind(args, cpu, f"{name} on {loop}")[0]


def measure(
    names: list[str], loops: list[str], ops: int, small: int, large: int, pin: bool
) -> list[dict[str, Any]]:
    """Instructions per request of each contender on each loop, and its ratio to CEIL."""
    rows: list[dict[str, Any]] = []
    cpu = 1 if pin else None
    with fast_server(pin) as (port, _):
        for loop in loops:
            ceil: float | None = None
            for name in names:
                low = _count(name, loop, port, ops, small, cpu)
                high = _count(name, loop, port, ops, large, cpu)
                per = (high - low) / (ops * (large - small))
                if name == "ceil":
                    ceil = per
                row = {"contender": name, "loop": loop, "instructions_per_request": round(per)}
                row["ratio_to_ceil"] = round(ceil / per, 3) if ceil else None
                rows.append(row)
                print(
                    f"{name:10s} {loop:8s} {per:10,.0f} instr/request"
                    + (f"  {ceil / per:.2f}x CEIL" if ceil else ""),
                    flush=True,
                )
    return rows


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CONTENDERS))
    parser.add_argument("--loops", default="asyncio,uvloop")
    parser.add_argument("--ops", type=int, default=1000, help="operations (a multiple of 100)")
    parser.add_argument("--small", type=int, default=2, help="polls per operation, first run")
    parser.add_argument("--large", type=int, default=4, help="polls per operation, second run")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--loop", default="asyncio", help=argparse.SUPPRESS)
    parser.add_argument("--polls", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    names = [n for n in args.only.split(",") if n]
    if "ceil" in names:  # the ratios need CEIL first
        names.remove("ceil")
    names.insert(0, "ceil")
    rows = measure(names, args.loops.split(","), args.ops, args.small, args.large, not args.no_pin)
    print(json.dumps({"ops": args.ops, "small": args.small, "large": args.large, "rows": rows}))


if __name__ == "__main__":
    main()
