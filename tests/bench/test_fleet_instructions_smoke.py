"""`benchmarks.fleet_instructions`' worker process runs end to end (without valgrind).

The parent's enrolment and the child's drain against a real redis-server and the fast
server: the child must send exactly the polls it is counted for. Never a timing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from benchmarks.fleet import _start_redis, _stop
from benchmarks.fleet_instructions import _enroll
from benchmarks.run import fast_server

pytestmark = pytest.mark.bench_smoke

ROOT = Path(__file__).resolve().parents[2]
OPS, POLLS = 50, 2


@pytest.mark.timeout(120)
def test_worker_child_drains_what_it_is_counted_for() -> None:
    """The worker child sends one request per poll and reports no stale completion."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server not found on PATH: the fleet workload needs it")
    with tempfile.TemporaryDirectory() as workdir, fast_server(pin=False) as (port, _):
        redis, redis_url = _start_redis(workdir)
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(_enroll(redis_url, "smoke", base, "smoke", OPS, POLLS))
            child = ["--child", "--redis", redis_url, "--namespace", "smoke", "--base", base]
            child += ["--total", str(OPS * POLLS)]
            done = subprocess.run(
                [sys.executable, "-m", "benchmarks.fleet_instructions", *child],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=100,
                check=False,
            )
        finally:
            _stop(redis)
    assert done.returncode == 0, done.stderr[-2000:]
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    assert stats["sent"] == OPS * POLLS
    assert stats["stale"] == 0
    assert stats["requeued"] == 0
