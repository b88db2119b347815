"""``benchmarks/fleet.py`` runs end to end at tiny N, so the script cannot rot.

Checks the shape of its JSON only: keys present, numbers positive. Never a timing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench_smoke

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_fleet_benchmark_tiny() -> None:
    """The fleet benchmark prints the fleet and scheduler throughput and CPU per poll, round
    trips per poll and Redis bytes per enrolled operation."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not found on PATH: the fleet benchmark needs it")
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.fleet", "--tiny"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "scheduler_polls_per_s",
        "fleet_polls_per_s",
        "ratio",
        "scheduler_cpu_us_per_poll",
        "fleet_cpu_us_per_poll",
        "round_trips_per_poll",
        "redis_bytes_per_op",
        "checkpoint_bytes",
    ):
        assert result[key] > 0, key
    assert result["fleet_polls"] >= result["ops"] * result["polls_per_op"]
