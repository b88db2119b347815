"""examples/web_service.py killed mid-flight and restarted: every export resumes and finishes.

Real processes on real time: the fake upstream in one, the service in another (killed
with SIGKILL, so nothing is flushed on the way out), driven over HTTP from here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import lrpoll

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(lrpoll.__file__).resolve().parents[1]
UPSTREAM = """
import asyncio
from lrpoll.testing import FakeLROServer, JobScript

async def main():
    async with FakeLROServer(default_script=JobScript.success(polls=40)) as server:
        print(server.base_url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}


def _spawn(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.kill()  # SIGKILL: no shutdown, no flush
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _call(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.fixture(name="upstream")
def _upstream() -> Iterator[str]:
    proc, url = _spawn("-c", UPSTREAM)
    try:
        yield url
    finally:
        _kill(proc)


@pytest.mark.timeout(120)
def test_killed_service_resumes_every_export(upstream: str, tmp_path: Path) -> None:
    """Exports started before a SIGKILL are resumed from the store and finish after restart."""
    store = tmp_path / "store"
    script = str(ROOT / "examples" / "web_service.py")
    service, line = _spawn(script, "serve", upstream, str(store))
    try:
        base = line.removeprefix("listening on ") + "/exports"
        ids = [_call("POST", base, {"table": t})["id"] for t in ("a", "b", "c")]
        assert _call("GET", f"{base}/{ids[0]}?wait=0.3")["state"] == "running"
        cancelled = _call("DELETE", f"{base}/{ids[2]}")
        assert cancelled == {"kind": "cancelled", "state": "cancelled"}
    finally:
        _kill(service)
    # A write the SIGKILL cut short leaves its temporary file (.tmp-*.json), which loading
    # skips: the checkpoints are the three operations'.
    assert len([p for p in store.glob("*.json") if not p.name.startswith(".tmp-")]) == 3
    service, line = _spawn(script, "serve", upstream, str(store))
    try:
        base = line.removeprefix("listening on ") + "/exports"
        reports = [_call("GET", f"{base}/{op_id}?wait=20") for op_id in ids]
    finally:
        _kill(service)
    assert [r["state"] for r in reports] == ["succeeded", "succeeded", "cancelled"]
    assert reports[0]["result"] == {"url": "/downloads/job-1.csv"}
