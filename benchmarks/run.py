"""Run every contender side by side against the fast server; print tables, write JSON.

    python -m benchmarks.run            # full suite
    python -m benchmarks.run --quick    # small N, about two minutes
    python -m benchmarks.run --only naive,azure --scenarios saturate

The server runs in its own process on core 0; each measurement runs in a fresh contender
process on core 1, so results are independent and memory is per process. Each figure is the
median of ``--reps`` processes times ``--windows`` samples per process (full: 3 x 1,
quick: 1 x 3; figures at 100 k operations: 1 x 3). CEIL always runs: the other throughputs
are given as a ratio to CEIL c=100 of the same run and loop. Results go to
``benchmarks/results/<timestamp>-<mode>.json`` and ``latest.json`` (``--tiny`` writes to a
temporary directory unless ``--out`` is given; an interrupted run writes
``<timestamp>-<mode>-interrupted.json`` and leaves ``latest.json`` alone).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import os
import platform
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from benchmarks.contenders import discover
from benchmarks.harness import medians

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT: Final = Path(__file__).resolve().parent.parent
RESULTS: Final = Path(__file__).resolve().parent / "results"
SERVER_CPU: Final = 0
CLIENT_CPU: Final = 1


@dataclass(frozen=True)
class Mode:
    """Sizes and repetitions of one suite."""

    name: str
    reps: int
    windows: int
    duration: float
    warmup: float
    saturate_ns: tuple[int, ...]
    memory_n: int
    lateness: tuple[tuple[str, int, float], ...]  # (figure name, n, interval)
    drain_n: int
    uvloop: bool
    large_n: int  # figures at this N or more: one process taking ``large_windows`` samples
    large_windows: int
    loadgen: tuple[tuple[int, int], ...]  # (connections, depth)
    loadgen_duration: float
    limit: float
    slots: int = 100
    saturate_interval: float = 0.001
    memory_interval: float = 3600.0
    memory_size: int = 200
    memory_nested_size: int = 215  # the nested (Oracle-like) document's figure
    drain_interval: float = 0.05


MODES: Final = {
    "tiny": Mode(
        name="tiny",
        reps=1,
        windows=1,
        duration=0.3,
        warmup=0.1,
        saturate_ns=(50,),
        memory_n=50,
        lateness=(("below", 50, 0.2),),
        drain_n=50,
        uvloop=False,
        large_n=10**9,
        large_windows=1,
        loadgen=((16, 1),),
        loadgen_duration=0.3,
        limit=40.0,
    ),
    "quick": Mode(
        name="quick",
        reps=1,
        windows=3,
        duration=0.8,
        warmup=0.3,
        saturate_ns=(2_000,),
        memory_n=10_000,
        lateness=(("below", 1_000, 1.0), ("overloaded", 2_000, 0.2)),
        drain_n=500,
        uvloop=False,
        large_n=10**9,
        large_windows=3,
        loadgen=((100, 1),),
        loadgen_duration=1.5,
        limit=120.0,
    ),
    "full": Mode(
        name="full",
        reps=3,
        windows=1,
        duration=5.0,
        warmup=1.0,
        saturate_ns=(10_000, 100_000),
        memory_n=100_000,
        lateness=(("below", 1_000, 1.0), ("overloaded", 10_000, 0.5)),
        drain_n=10_000,
        uvloop=True,
        large_n=100_000,
        large_windows=3,
        loadgen=((100, 1), (10, 1), (100, 16)),
        loadgen_duration=4.0,
        limit=900.0,
    ),
}


@dataclass
class Job:
    """One figure of one contender variant, measured by one or more fresh processes."""

    figure: str
    label: str
    contender: str
    module: str
    scenario: str
    loop: str
    args: dict[str, Any]
    reps: int
    windows: int
    runs: list[dict[str, Any]] = field(default_factory=list)

    def command(self, port: int, pin: bool) -> list[str]:
        """The contender process's command line."""
        cmd = [sys.executable, "-m", self.module, "--port", str(port), "--scenario", self.scenario]
        cmd += ["--loop", self.loop, "--windows", str(self.windows)]
        for key, value in self.args.items():
            flag = "--" + key.replace("_", "-")
            if value is True:
                cmd.append(flag)
            elif value is not False:
                cmd += [flag, str(value)]
        if pin:
            cmd += ["--cpu", str(CLIENT_CPU)]
        return cmd

    def summary(self) -> dict[str, Any]:
        """Status, medians over every sample of every run, and the raw runs."""
        samples = [s for run in self.runs for s in run.get("samples", [])]
        entry: dict[str, Any] = {
            "figure": self.figure,
            "label": self.label,
            "contender": self.contender,
            "scenario": self.scenario,
            "loop": self.loop,
            "args": self.args,
            "reps": self.reps,
            "windows": self.windows,
            "runs": self.runs,
        }
        unavailable = next((r["unavailable"] for r in self.runs if "unavailable" in r), None)
        errors = [r["error"] for r in self.runs if "error" in r]
        if unavailable:
            entry |= {"status": "unavailable", "reason": unavailable}
        elif not samples:
            entry |= {"status": "error", "reason": errors[0] if errors else "no samples"}
        else:
            entry |= {"status": "ok", "median": medians(samples), "samples": len(samples)}
            if errors:
                entry["failed_runs"] = errors
        return entry


def _figures(
    mode: Mode, closed_loop: bool, closed_loop_slots: tuple[int, ...] = (10, 100)
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """Yield ``(figure, scenario, loop, args)`` for one contender in ``mode``."""
    loops = ("asyncio", "uvloop") if mode.uvloop else ("asyncio",)
    common = {"duration": mode.duration, "warmup": mode.warmup, "limit": mode.limit}
    if closed_loop:
        for slots in closed_loop_slots:
            for loop in loops:
                yield "ceiling", "saturate", loop, {"slots": slots, **common}
        return
    for n in mode.saturate_ns:
        # uvloop at the first (smaller) N only: it is a variant, not a separate contender.
        for loop in loops if n == mode.saturate_ns[0] else ("asyncio",):
            args = {"n": n, "interval": mode.saturate_interval, "slots": mode.slots}
            yield f"saturate n={n}", "saturate", loop, args | common
    args = {"n": mode.memory_n, "interval": mode.memory_interval, "size": mode.memory_size}
    args |= {"slots": mode.slots, "trace": True, "limit": mode.limit}
    yield f"memory n={mode.memory_n}", "memory", "asyncio", args
    nested = args | {"size": mode.memory_nested_size, "shape": "nested"}
    yield f"memory nested n={mode.memory_n}", "memory", "asyncio", nested
    for name, n, interval in mode.lateness:
        args = {"n": n, "interval": interval, "slots": mode.slots}
        yield f"lateness {name} n={n} @{interval:g}s", "lateness", "asyncio", args | common
    args = {"n": mode.drain_n, "interval": mode.drain_interval, "slots": mode.slots}
    args |= {"done_after": 3, "limit": mode.limit}
    yield f"drain n={mode.drain_n}", "drain", "asyncio", args


def plan(
    mode: Mode, only: set[str] | None, scenarios: set[str] | None, reps: int, windows: int
) -> list[Job]:
    """Every job of ``mode``, CEIL first, restricted to ``only`` contenders and ``scenarios``.

    Each figure takes ``reps`` fresh processes of ``windows`` samples, except figures at
    ``mode.large_n`` operations or more: one process of ``mode.large_windows`` samples (the
    ramp to 100 k operations costs minutes for some peers; the samples still number three).
    """
    jobs: list[Job] = []
    for name, (module, cls) in discover().items():
        if only is not None and name not in only and name != "ceil":
            continue
        for figure, scenario, loop, args in _figures(mode, cls.closed_loop, cls.closed_loop_slots):
            if scenarios is not None and scenario not in scenarios:
                continue
            if scenario not in cls.scenarios or (loop == "uvloop" and not cls.supports_uvloop):
                continue
            label = f"{name} c={args['slots']}" if cls.closed_loop else name
            label += "+uvloop" if loop == "uvloop" else ""
            large = args.get("n", 0) >= mode.large_n
            job_reps, job_windows = (1, mode.large_windows) if large else (reps, windows)
            jobs.append(
                Job(figure, label, name, module, scenario, loop, args, job_reps, job_windows)
            )
    return jobs


# --------------------------------------------------------------------------- processes


def _stop(process: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Terminate ``process`` by its PID, kill it if it does not go in ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def fast_server(pin: bool) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """Start the fast server, yield its port and process, stop it on the way out."""
    cmd = [sys.executable, "-m", "benchmarks.fastserver", "--port", "0"]
    if pin:
        cmd += ["--cpu", str(SERVER_CPU)]
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 15.0)
        line = process.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            raise RuntimeError(f"the fast server did not start (said {line!r})")
        yield int(line), process
    finally:
        _stop(process)
        if process.stdout is not None:
            process.stdout.close()


def _server_request(port: int, method: str, path: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        result: dict[str, Any] = json.loads(connection.getresponse().read())
        return result
    finally:
        connection.close()


def _run_process(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run one measuring process; return its JSON line (or an error record)."""
    try:
        done = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": f"exit {done.returncode}, no result: {' | '.join(tail)}"}
    record: dict[str, Any] = json.loads(lines[-1])
    if done.returncode not in (0, 2) and "error" not in record:
        record["error"] = f"exit {done.returncode}"
    return record


def measure_server(port: int, mode: Mode, pin: bool) -> list[dict[str, Any]]:
    """Requests per second the fast server answers (loadgen on the client core)."""
    results = []
    for connections, depth in mode.loadgen:
        runs = []
        for _ in range(mode.reps if depth == 1 else 1):
            cmd = [sys.executable, "-m", "benchmarks.loadgen", "--port", str(port)]
            cmd += ["--connections", str(connections), "--depth", str(depth)]
            cmd += ["--duration", str(mode.loadgen_duration)]
            if pin:
                cmd += ["--cpu", str(CLIENT_CPU)]
            runs.append(_run_process(cmd, 60))
        good = [r for r in runs if "server_req_per_s" in r]
        row: dict[str, Any] = {"connections": connections, "depth": depth, "runs": runs}
        for key in ("server_req_per_s", "server_cpu_busy", "server_req_per_cpu_s"):
            found = [r[key] for r in good if r.get(key) is not None]
            row[key.removeprefix("server_")] = statistics.median(found) if found else None
        row["server_loop"] = good[0]["server_loop"] if good else None
        results.append(row)
    return results


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, Any]:
    """What this ran on."""
    model = "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions = {}
    for package in ("aiohttp", "azure-core", "azure-mgmt-core", "google-api-core", "protobuf"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    with contextlib.suppress(metadata.PackageNotFoundError):
        versions["uvloop"] = metadata.version("uvloop")
    return {
        "nproc": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg": os.getloadavg(),
        "packages": versions,
    }


_COLUMNS: Final[dict[str, list[tuple[str, str, str]]]] = {
    # scenario: (header, metric, format)
    "saturate": [
        ("polls/s", "polls_per_s", "{:,.0f}"),
        ("xCEIL", "ratio_to_ceil", "{:.2f}"),
        ("CPU us/poll", "cpu_per_poll_us", "{:.0f}"),
        ("CPU busy", "cpu_busy", "{:.2f}"),
        ("lag p50 ms", "lag_p50_ms", "{:.1f}"),
        ("lag p99 ms", "lag_p99_ms", "{:.0f}"),
        ("lag max ms", "lag_max_ms", "{:.0f}"),
        ("ramp s", "ramp_s", "{:.1f}"),
        ("conns", "connections", "{:.0f}"),
    ],
    "memory": [
        ("RSS B/op", "rss_bytes_per_op", "{:,.0f}"),
        ("traced B/op", "traced_bytes_per_op", "{:,.0f}"),
        ("peak RSS B/op", "peak_rss_bytes_per_op", "{:,.0f}"),
    ],
    "lateness": [
        ("late p50 ms", "late_p50_ms", "{:.1f}"),
        ("late p99 ms", "late_p99_ms", "{:.1f}"),
        ("late max ms", "late_max_ms", "{:.0f}"),
        ("polls/s", "polls_per_s", "{:,.0f}"),
        ("demand/s", "demand_per_s", "{:,.0f}"),
        ("served", "served_share", "{:.2f}"),
    ],
    "drain": [
        ("drain s", "drain_s", "{:.2f}"),
        ("ops/s", "ops_per_s", "{:,.0f}"),
        ("polls/op", "polls_per_op", "{:.1f}"),
        ("starts/op", "starts_per_op", "{:.0f}"),
    ],
}


def add_ratios(entries: list[dict[str, Any]]) -> None:
    """Give every saturate figure its ratio to CEIL c=100 on the same loop."""
    ceilings = {
        e["loop"]: e["median"]["polls_per_s"]
        for e in entries
        if e["contender"] == "ceil" and e["status"] == "ok" and e["args"].get("slots") == 100
    }
    for entry in entries:
        ceiling = ceilings.get(entry["loop"])
        if entry["scenario"] == "saturate" and entry["status"] == "ok" and ceiling:
            entry["median"]["ratio_to_ceil"] = entry["median"]["polls_per_s"] / ceiling


def tables(entries: list[dict[str, Any]]) -> str:
    """Render one table per figure."""
    out: list[str] = []
    figures: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        figures.setdefault(entry["figure"], []).append(entry)
    for figure, rows in figures.items():
        columns = _COLUMNS[rows[0]["scenario"]]
        header = ["", *(title for title, _, _ in columns)]
        body = []
        for row in rows:
            if row["status"] != "ok":
                body.append([row["label"], f"{row['status']}: {row['reason']}"])
                continue
            median = row["median"]
            cells = [row["label"]]
            for _, metric, fmt in columns:
                value = median.get(metric)
                cells.append("-" if value is None else fmt.format(value))
            body.append(cells)
        widths = [max(len(r[i]) for r in [header, *body] if len(r) > i) for i in range(len(header))]
        out.append(f"\n## {figure}")
        out.append(
            "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
        )
        out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for cells in body:
            if len(cells) == 2 and len(header) > 2:
                out.append(f"| {cells[0].ljust(widths[0])} | {cells[1]} |")
            else:
                out.append(
                    "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"
                )
    return "\n".join(out)


def describe(report: dict[str, Any]) -> str:
    """One paragraph: the run's mode, repetitions and machine."""
    m = report["machine"]
    load = ", ".join(f"{x:.1f}" for x in m["loadavg"])
    end = m.get("loadavg_end")
    load_end = f"; at the end {', '.join(f'{x:.1f}' for x in end)}" if end else ""
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    elapsed = f", took {report['elapsed_s']:.0f} s" if "elapsed_s" in report else ""
    return (
        f"{report['mode']} mode, started {report['started']}{elapsed};"
        f" {m['nproc']} CPUs ({m['cpu_model']}), Python {m['python']}, {m['platform']};"
        f" server pinned to core {SERVER_CPU} and contenders to core {CLIENT_CPU}:"
        f" {report['pinned']}; load average at the start {load}{load_end}; {packages}"
    )


def server_table(capacity: list[dict[str, Any]]) -> str:
    """Render the server's capacity."""
    lines = ["\n## fast server capacity (raw loadgen on the other core)"]
    lines.append("| connections | depth | req/s | server CPU busy | req per server CPU s | loop |")
    lines.append("|---|---|---|---|---|---|")
    for row in capacity:
        cells = [str(row["connections"]), str(row["depth"])]
        for key, fmt in (
            ("req_per_s", "{:,.0f}"),
            ("cpu_busy", "{:.2f}"),
            ("req_per_cpu_s", "{:,.0f}"),
        ):
            value = row.get(key)
            cells.append("-" if value is None else fmt.format(value))
        cells.append(str(row["server_loop"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small N, under two minutes")
    size.add_argument("--tiny", action="store_true", help="N about 50, seconds (smoke test)")
    parser.add_argument("--only", help="comma-separated contender names (CEIL always runs)")
    parser.add_argument("--scenarios", help="comma-separated: saturate,memory,lateness,drain")
    parser.add_argument("--ns", help="comma-separated N for the saturate figures")
    parser.add_argument("--reps", type=int, help="fresh processes per figure")
    parser.add_argument("--windows", type=int, help="samples per process")
    parser.add_argument("--out", type=Path, help="results directory")
    parser.add_argument("--no-server-check", action="store_true", help="skip the loadgen")
    parser.add_argument("--show", type=Path, help="print the tables of a saved result, exit")
    parser.add_argument("--list", action="store_true", help="print the contenders as JSON, exit")
    args = parser.parse_args(argv)
    if args.list:
        listing = {
            name: {
                "module": module,
                "description": cls.description,
                "closed_loop": cls.closed_loop,
                "scenarios": sorted(cls.scenarios),
                "unavailable": cls.unavailable(),
            }
            for name, (module, cls) in discover().items()
        }
        print(json.dumps(listing, indent=1))
        return 0
    if args.show:
        saved = json.loads(args.show.read_text())
        print(describe(saved))
        if saved.get("server"):
            print(server_table(saved["server"]))
        print(tables(saved["results"]))
        return 0
    mode = MODES["tiny" if args.tiny else "quick" if args.quick else "full"]
    if args.ns:
        mode = dataclasses.replace(mode, saturate_ns=tuple(int(n) for n in args.ns.split(",")))
    reps = args.reps or mode.reps
    windows = args.windows or mode.windows
    only = set(args.only.split(",")) if args.only else None
    scenarios = set(args.scenarios.split(",")) if args.scenarios else None
    known = discover()
    if only is not None and (unknown := only - set(known)):
        parser.error(f"unknown contender(s) {sorted(unknown)}; known: {sorted(known)}")
    out = args.out or (Path(tempfile.mkdtemp(prefix="lrpoll-bench-")) if args.tiny else RESULTS)
    jobs = plan(mode, only, scenarios, reps, windows)
    pin = hasattr(os, "sched_setaffinity") and {SERVER_CPU, CLIENT_CPU} <= set(
        os.sched_getaffinity(0)
    )
    signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.time()
    report: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode.name,
        "reps": reps,
        "windows": windows,
        "pinned": pin,
        "machine": machine(),
    }
    print(f"lrpoll benchmarks: {len(jobs)} figures; {describe(report)}", flush=True)
    interrupted = False
    try:
        with fast_server(pin) as (port, server):
            report["server_pid"] = server.pid
            if not args.no_server_check:
                report["server"] = measure_server(port, mode, pin)
                print(server_table(report["server"]), flush=True)
            _run_jobs(jobs, port, pin, mode.limit + 60)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the server and the contender are stopped
        interrupted = True
        print("\ninterrupted: the figures below are partial", flush=True)
    entries = [job.summary() for job in jobs if job.runs]
    add_ratios(entries)
    report |= {"results": entries, "elapsed_s": time.time() - started}
    report["machine"]["loadavg_end"] = os.getloadavg()
    print(tables(entries))
    out.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{mode.name}"
    text = json.dumps(report | {"interrupted": interrupted}, indent=1)
    if interrupted:
        (out / f"{name}-interrupted.json").write_text(text)
        print(f"\nwrote {out / f'{name}-interrupted.json'} (latest.json left as it was)")
        return 130
    (out / f"{name}.json").write_text(text)
    (out / "latest.json").write_text(text)
    print(f"\nwrote {out / f'{name}.json'} and latest.json in {report['elapsed_s']:.0f} s")
    return 1 if any(e["status"] == "error" for e in entries) else 0


def _run_jobs(jobs: list[Job], port: int, pin: bool, timeout: float) -> None:
    """Run every job's processes, repetitions outermost.

    Noise from other work on the machine then falls on every contender alike instead of on
    whichever ran while it lasted.
    """
    total = max(job.reps for job in jobs) if jobs else 0
    for rep in range(total):
        for number, job in enumerate(jobs, 1):
            if rep >= job.reps or any("unavailable" in run for run in job.runs):
                continue
            _server_request(port, "POST", "/_reset")
            began = time.monotonic()
            record = _run_process(job.command(port, pin), timeout)
            job.runs.append(record)
            state = "ok" if "samples" in record else record.get("error") or "unavailable"
            print(
                f"[run {rep + 1}/{total}, {number}/{len(jobs)}] {job.figure:<28} "
                f"{job.label:<18} {time.monotonic() - began:5.1f} s {state}",
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
