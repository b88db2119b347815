"""`benchmarks.instructions` workloads run end to end (without valgrind), so they cannot rot.

Each contender's child process does its requests against the fast server; the count of
requests the server saw must be what the workload says. Never a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from benchmarks.instructions import CONTENDERS
from benchmarks.run import fast_server

pytestmark = pytest.mark.bench_smoke

ROOT = Path(__file__).resolve().parents[2]
OPS, POLLS = 200, 2


def _served(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as answer:
        stats = json.loads(answer.read())
    return int(stats["requests"])


@pytest.mark.parametrize("name", CONTENDERS)
def test_child_sends_the_requests_it_counts(name: str) -> None:
    with fast_server(pin=False) as (port, _):
        child = ["--child", name, "--port", str(port), "--ops", str(OPS), "--polls", str(POLLS)]
        before = _served(port)
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.instructions", *child],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        # The stats request itself is counted too.
        assert _served(port) - before - 1 == OPS * POLLS
