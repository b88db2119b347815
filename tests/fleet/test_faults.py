"""Worker processes die and stall; nothing is lost (RELIABILITY.md group K).

A fake export server process serves N jobs; four worker processes poll them through one
Redis. One worker is SIGKILLed while it holds leases; another is SIGSTOPped while the
fake sits on its poll, past its lease, then SIGCONTed: its completions are refused
(STALE). Every operation still ends with the state the fake knows, exactly once, no
lease is left, and each poll beyond what a job needed is explained: by a lapsed lease
(a ``reaped`` event), or by a poll that timed out and was retried within its lease (a
``retry`` event; the fake may have counted it). Only a lapsed lease explains a poll
that reached the fake after the fleet recorded the operation ended.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

import lrpoll
from lrpoll.fleet import Fleet
from tests.helpers import export_spec

from .fakeproc import wants_cancel
from .support import until, worktree_env

N = int(os.environ.get("LRPOLL_FLEET_FAULT_N", "500"))
SHARDS = 8
STALLED = "job-2"  # a job that succeeds: the fake holds its polls past a lease
ENDS = {"done": "succeeded", "failed": "failed", "cancelled": "cancelled"}
EXPLAINED = ("reaped", "retry", "done")  # the event kinds the assertions count


def spawn(*args: str) -> subprocess.Popen[bytes]:
    root = Path(lrpoll.__file__).parents[1]
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, env=worktree_env(), cwd=root
    )


def end(proc: subprocess.Popen[bytes]) -> bytes:
    """SIGTERM ``proc`` by its PID (SIGKILL after 20 s); its standard output."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        os.kill(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    return out or b""


@pytest.mark.slow
@pytest.mark.timeout(max(180, N // 10))
async def test_killed_and_stopped_workers_lose_nothing(
    redis_url: str, namespace: str, tmp_path: Path
) -> None:
    """SIGKILL one worker holding leases and SIGSTOP another past its lease: every
    operation ends as the fake says, no lease is left, and the stopped worker's
    completions come back STALE."""
    report = tmp_path / "jobs.json"
    stalls = [f"*/{STALLED}/status:1.5:3"]
    stalls += [f"*/job-{i}/status:1.0:1" for i in range(11, 80, 2)]
    fake = spawn(
        "-m", "tests.fleet.fakeproc", "--jobs", str(N), "--out", str(report),
        *[arg for s in stalls for arg in ("--stall", s)],
    )  # fmt: skip
    workers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        assert fake.stdout is not None
        line = await anyio.to_thread.run_sync(fake.stdout.readline)
        base_url = json.loads(line)["base_url"]
        for i in range(4):
            workers[f"w{i}"] = spawn(
                "-m", "lrpoll.fleet", "worker", "--redis", redis_url,
                "--namespace", namespace, "--shards", str(SHARDS), "--slots", "50",
                "--name", f"w{i}", "--trust", base_url,
                "--timeout", "2", "--lease-margin", "0.5", "--max-sleep", "0.1",
            )  # fmt: skip
        cancel = lrpoll.CancelSpec(url="/api/exports/{start.jobId}/cancel")
        spec = export_spec(interval=0.3, cancel=cancel)
        async with Fleet(redis_url, namespace=namespace, shards=SHARDS) as fleet:
            r: Any = fleet.redis  # redis-py's answers, untyped here
            ids = [f"job-{i}" for i in range(1, N + 1)]
            # The stalled job last: its stalled polls begin once every other job is in.
            for op_id in sorted(ids, key=lambda op_id: op_id == STALLED):
                url = f"{base_url}/api/exports/{op_id}/status"
                await fleet.enroll_url(url, spec, operation_id=op_id, start={"jobId": op_id})
            for i in range(1, N + 1):
                if wants_cancel(i):
                    await fleet.cancel(f"job-{i}")

            async def stalled_owner() -> tuple[str, int] | None:
                op = await fleet.get(STALLED)
                if op is None or op.sched != "leased" or op.owner is None:
                    return None
                return op.owner, op.fence

            stopped, fence = await until(stalled_owner)
            os.kill(workers[stopped].pid, signal.SIGSTOP)

            async def other_owner() -> str | None:
                for p in range(SHARDS):
                    for op_id in await r.zrange(fleet.keys.leases(p), 0, -1):
                        owner = await r.hget(fleet.keys.op(op_id), "owner")
                        if owner and owner != stopped and owner in workers:
                            return str(owner)
                return None

            killed = await until(other_owner)
            os.kill(workers[killed].pid, signal.SIGKILL)

            async def reclaimed() -> bool:
                op = await fleet.get(STALLED)
                return op is not None and op.fence >= fence + 2

            await until(reclaimed)  # its lease lapsed: reaped, claimed by another worker
            os.kill(workers[stopped].pid, signal.SIGCONT)

            async def stale() -> bool:
                return (await fleet.counts())["stale"] > 0

            await until(stale)

            async def all_done() -> bool:
                counts = await fleet.counts()
                return counts["due"] == 0 and counts["leased"] == 0

            await until(all_done, within=max(90, N / 20))
            ops = {op_id: await fleet.get(op_id) for op_id in ids}
            async with r.pipeline(transaction=False) as pipe:
                for op_id in ids:
                    pipe.hget(fleet.keys.op(op_id), "ended")
                ended = dict(zip(ids, await pipe.execute(), strict=True))  # Redis ms
            events: dict[str, Counter[str]] = {kind: Counter() for kind in EXPLAINED}
            for p in range(SHARDS):
                for _, fields in await r.xrange(fleet.keys.events(p)):
                    kind = fields["kind"]
                    if kind == "retry" and json.loads(fields["error"])["type"] != "RequestError":
                        kind = "retry (answered)"  # not a lost answer: explains nothing
                    if kind in events:
                        events[kind][fields["id"]] += 1
    finally:
        stats = [end(w) for name, w in workers.items()]
        end(fake)
    assert workers[killed].returncode == -signal.SIGKILL
    jobs = json.loads(report.read_text())
    reaped, retried, done = events["reaped"], events["retry"], events["done"]
    for i, op_id in enumerate(ids, start=1):
        op, job = ops[op_id], jobs[op_id]
        why = (op_id, job, {"reaped": reaped[op_id], "retried": retried[op_id]})
        assert op is not None, op_id
        assert op.done, op_id
        assert op.state == ENDS[job["state"]], (op_id, op.state, job)
        assert done[op_id] == 1, why  # exactly one completion ended it
        # Polls that reached the fake after the fleet recorded the end: a stale poller's
        # (its lease lapsed), never a retry's (a retried operation is not ended yet).
        end_s = int(ended[op_id]) / 1000 + 0.001  # Redis TIME, to the millisecond
        assert sum(t > end_s for t in job["polled_at"]) <= reaped[op_id], why
        if wants_cancel(i):
            assert 1 <= job["cancels"] <= 1 + reaped[op_id], why
        else:
            # Polling is at least once: a poll beyond the job's needs follows a lapsed
            # lease, or a poll whose answer the worker never took (timed out) retried.
            assert job["polls"] - job["needed"] <= reaped[op_id] + retried[op_id], why
    assert reaped[STALLED] >= 1
    assert len([s for s in stats if s.strip()]) == 3  # the killed worker wrote nothing
