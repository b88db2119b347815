"""The benchmark suite runs end to end at tiny N, so its scripts cannot rot.

Checks the shape of the result JSON only: keys present, numbers positive. Never a timing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.bench_smoke

ROOT = Path(__file__).resolve().parents[2]
RUNNER_TIMEOUT = 90.0

#: The peers every checkout measures; other contenders found in the report (lrpoll) are
#: checked by ``TestOtherContenders``.
PEERS = ("naive", "azure", "google")
SCENARIOS = ("saturate", "memory", "lateness", "drain")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(name="report", scope="module")
def _report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``benchmarks.run --tiny`` once; return its latest.json."""
    out = tmp_path_factory.mktemp("bench")
    cmd = [sys.executable, "-m", "benchmarks.run", "--tiny", "--out", str(out)]
    runner = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group: on timeout, stop it and its children by PID
    )
    try:
        output, _ = runner.communicate(timeout=RUNNER_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(runner.pid, signal.SIGKILL)
        output, _ = runner.communicate()
        pytest.fail(f"benchmarks.run --tiny took over {RUNNER_TIMEOUT} s:\n{output[-3000:]}")
    assert runner.returncode == 0, output[-3000:]
    files = sorted(p.name for p in out.iterdir())
    assert "latest.json" in files
    assert any(name.endswith("-tiny.json") for name in files), files
    report: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return report


def _entries(report: dict[str, Any], contender: str) -> dict[str, dict[str, Any]]:
    return {e["scenario"]: e for e in report["results"] if e["label"] == contender}


def _positive(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _check_figures(entries: dict[str, dict[str, Any]], contender: str) -> None:
    """Every scenario ran and its medians are well-formed numbers."""
    assert set(entries) == set(SCENARIOS), sorted(entries)
    for scenario, entry in entries.items():
        assert entry["status"] == "ok", f"{scenario}: {entry.get('reason')}"
        assert entry["median"]["errors"] == 0, scenario
    saturate = entries["saturate"]["median"]
    for key in ("polls_per_s", "ratio_to_ceil", "cpu_per_poll_us", "lag_samples"):
        assert _positive(saturate[key]), key
    for key in ("lag_p50_ms", "lag_p99_ms", "lag_max_ms"):
        assert _number(saturate[key]), key
    memory = entries["memory"]["median"]
    assert _positive(memory["traced_bytes_per_op"])
    assert _number(memory["rss_bytes_per_op"])
    assert _positive(memory["peak_rss_bytes_per_op"])
    lateness = entries["lateness"]["median"]
    assert _positive(lateness["late_samples"])
    for key in ("late_p50_ms", "late_p99_ms", "polls_per_s", "demand_per_s"):
        assert _number(lateness[key]), key
    drain = entries["drain"]["median"]
    assert _positive(drain["drain_s"])
    assert drain["polls_per_op"] == 3.0
    assert drain["starts_per_op"] == (1.0 if contender == "azure" else 0.0)


class TestRunner:
    """The runner's report as a whole."""

    def test_report_describes_the_run_and_the_machine(self, report: dict[str, Any]) -> None:
        """The report names its mode and describes the machine it ran on."""
        assert report["mode"] == "tiny"
        assert report["reps"] >= 1
        assert report["windows"] >= 1
        assert _positive(report["elapsed_s"])
        machine = report["machine"]
        assert _positive(machine["nproc"])
        assert isinstance(machine["cpu_model"], str)
        assert machine["python"].startswith("3.")

    def test_server_capacity_is_measured(self, report: dict[str, Any]) -> None:
        """The fast server's requests per second are measured and positive."""
        assert report["server"]
        for row in report["server"]:
            assert _positive(row["req_per_s"]), row

    def test_server_is_stopped(self, report: dict[str, Any]) -> None:
        """The runner stopped the server it started."""
        assert not _alive(report["server_pid"])

    def test_ceiling_runs_at_c10_and_c100(self, report: dict[str, Any]) -> None:
        """CEIL runs with 10 and 100 requesters; c=100 is the ratio's reference (1.0)."""
        rows = {e["label"]: e for e in report["results"] if e["figure"] == "ceiling"}
        assert set(rows) >= {"ceil c=10", "ceil c=100"}
        for row in rows.values():
            assert row["status"] == "ok", row.get("reason")
            assert _positive(row["median"]["polls_per_s"])
            assert _positive(row["median"]["cpu_per_poll_us"])
        assert rows["ceil c=100"]["median"]["ratio_to_ceil"] == 1.0

    def test_closed_loops_open_one_connection_per_requester(self, report: dict[str, Any]) -> None:
        """Every closed-loop row (CEIL, the transport alone) reuses its slots' connections."""
        rows = [e for e in report["results"] if e["figure"] == "ceiling" and e["status"] == "ok"]
        assert any(e["contender"] == "transport" for e in rows), [e["label"] for e in rows]
        for row in rows:
            assert row["median"]["connections"] == row["args"]["slots"], row["label"]
            assert _positive(row["median"]["ratio_to_ceil"]), row["label"]


@pytest.mark.parametrize("contender", PEERS)
def test_peer_figures(report: dict[str, Any], contender: str) -> None:
    """A peer's four figures are well-formed; skipped when its library is not installed."""
    entries = _entries(report, contender)
    unavailable = [e["reason"] for e in entries.values() if e["status"] == "unavailable"]
    if unavailable:
        pytest.skip(f"{contender}: {unavailable[0]} (pip install -e '.[bench]')")
    _check_figures(entries, contender)


def test_other_contenders_figures(report: dict[str, Any]) -> None:
    """Every other contender the runner discovered (lrpoll) has well-formed figures too."""
    others = {
        e["label"]
        for e in report["results"]
        if e["contender"] not in (*PEERS, "ceil")
        and e["loop"] == "asyncio"
        and e["figure"] != "ceiling"
    }
    if not others:
        pytest.skip("no contender besides CEIL and the peers")
    for contender in sorted(others):
        entries = _entries(report, contender)
        if any(e["status"] == "unavailable" for e in entries.values()):
            continue
        _check_figures(entries, contender)


@pytest.mark.anyio
async def test_batch_requests_figure() -> None:
    """benchmarks.batch_requests counts fewer requests per operation-poll batched, same ends."""
    from benchmarks.batch_requests import measure

    plain = await measure(30, 2, batch=False)
    batched = await measure(30, 2, batch=True)
    assert plain["states"] == batched["states"] == ["succeeded"]
    assert plain["operation_polls"] == batched["operation_polls"] == 90
    assert plain["requests_per_operation_poll"] == 1.0
    assert batched["status_requests"] == 0
    assert batched["requests_per_operation_poll"] < 0.5
