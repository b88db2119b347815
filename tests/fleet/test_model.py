"""A hypothesis state machine drives the fleet's scripts against a real Redis.

Rules: enroll, claim (with a lease that holds or one already expired), complete with the
claim's fence or a stale one, reap, stop, resume, cancel. A plain-Python model says what
each script must answer; the invariants read Redis back after every step.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from redis.asyncio import Redis

from lrpoll.fleet._keys import Keys
from lrpoll.fleet._scripts import CLAIMED_FIELDS, Completion, Scripts

SHARDS = 3
IDS = st.sampled_from([f"op{i}" for i in range(5)])


@dataclass
class Model:
    """What the schedule should hold for one operation."""

    sched: str = "due"
    fence: int = 0
    stop: bool = False
    expired: bool = False
    cancel: str = ""


class ScriptsMachine(RuleBasedStateMachine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.redis = Redis.from_url(url, decode_responses=True)
        self.keys = Keys(f"m{uuid.uuid4().hex[:10]}", SHARDS)
        self.scripts = Scripts(self.keys)
        self.model: dict[str, Model] = {}
        self.seen_fence: dict[str, int] = {}

    def run(self, call: Any) -> Any:
        return self.loop.run_until_complete(self.scripts.run(self.redis, [call]))[0]

    def teardown(self) -> None:
        self.loop.run_until_complete(self.redis.aclose())
        self.loop.close()

    @rule(op=IDS)
    def enroll(self, op: str) -> None:
        call = self.scripts.enroll(op, "{}", "default", state="running", sched="due")
        assert self.run(call) == (0 if op in self.model else 1)
        self.model.setdefault(op, Model())

    @rule(expire=st.booleans())
    def claim(self, expire: bool) -> None:
        claimed: dict[str, int] = {}
        for p in range(SHARDS):
            items = self.run(self.scripts.claim(p, "w", 100, 0 if expire else 600))[2:]
            claimed.update(
                {items[i]: int(items[i + 1]) for i in range(0, len(items), CLAIMED_FIELDS)}
            )
        assert set(claimed) == {op for op, m in self.model.items() if m.sched == "due"}
        for op, fence in claimed.items():
            m = self.model[op]
            assert fence == m.fence + 1
            m.fence, m.sched, m.expired = fence, "leased", expire

    @rule(op=IDS, kind=st.sampled_from(["due", "stopped", "done"]), stale=st.booleans())
    def complete(self, op: str, kind: str, stale: bool) -> None:
        m = self.model.get(op)
        fence = (m.fence if m else 0) - (1 if stale else 0)
        c = Completion(op, fence, "succeeded" if kind == "done" else "running", kind)
        accepted = self.run(self.scripts.complete(c, ttl=0))
        valid = m is not None and m.sched == "leased" and not stale
        assert accepted == (1 if valid else 0)
        if valid:
            assert m is not None
            m.sched = (
                "done" if kind == "done" else "stopped" if kind == "stopped" or m.stop else "due"
            )
            m.stop = False

    @rule()
    def reap(self) -> None:
        reaped: list[str] = []
        for p in range(SHARDS):
            reaped += self.run(self.scripts.reap(p))
        expected = {op for op, m in self.model.items() if m.sched == "leased" and m.expired}
        assert sorted(reaped) == sorted(expected)
        for op in reaped:
            m = self.model[op]
            m.fence += 1
            m.sched = "stopped" if m.stop else "due"
            m.stop = False

    @rule(op=IDS)
    def stop(self, op: str) -> None:
        m = self.model.get(op)
        assert self.run(self.scripts.stop(op)) == (m.sched if m else "missing")
        if m and m.sched == "due":
            m.sched = "stopped"
        elif m and m.sched == "leased":
            m.stop = True

    @rule(op=IDS)
    def resume(self, op: str) -> None:
        m = self.model.get(op)
        assert self.run(self.scripts.resume(op)) == (m.sched if m else "missing")
        if m and m.sched == "stopped":
            m.sched = "due"
        if m and m.sched in ("due", "leased"):
            m.stop = False

    @rule(op=IDS)
    def cancel(self, op: str) -> None:
        m = self.model.get(op)
        answer = self.run(self.scripts.cancel(op))
        if m is None:
            assert answer == "missing"
        elif m.sched == "done":
            assert answer == "done"
        elif m.cancel:
            assert answer == m.cancel
        else:
            assert answer == "requested"
            m.cancel, m.stop = "requested", False
            if m.sched in ("due", "stopped"):
                m.sched = "due"

    @invariant()
    def schedule_matches(self) -> None:
        async def read() -> tuple[list[Any], set[str], set[str]]:
            async with self.redis.pipeline(transaction=False) as pipe:
                for op in self.model:
                    pipe.hmget(self.keys.op(op), ["sched", "fence"])
                for p in range(SHARDS):
                    pipe.zrange(self.keys.due(p), 0, -1)
                    pipe.zrange(self.keys.leases(p), 0, -1)
                answers = await pipe.execute()
            n = len(self.model)
            due = {op for z in answers[n::2] for op in z}
            leased = {op for z in answers[n + 1 :: 2] for op in z}
            return answers[:n], due, leased

        fields, due, leased = self.loop.run_until_complete(read())
        assert due <= self.model.keys()
        assert leased <= self.model.keys()
        assert not due & leased
        for (op, m), (sched, fence) in zip(self.model.items(), fields, strict=True):
            # Exactly one of due, leased, stopped, done; the hash agrees with the sets.
            assert sched == m.sched
            assert (op in due) == (sched == "due")
            assert (op in leased) == (sched == "leased")
            assert int(fence) == m.fence
            assert int(fence) >= self.seen_fence.get(op, 0)  # fences never go back
            self.seen_fence[op] = int(fence)


def test_scripts_keep_their_invariants(redis_url: str) -> None:
    """Any sequence of enroll / claim / complete (valid or stale) / expire / reap / stop /
    resume / cancel keeps each operation in exactly one of due, leased, stopped, done,
    with fences that only grow, and no terminal operation back in due."""

    class Machine(ScriptsMachine):
        def __init__(self) -> None:
            super().__init__(redis_url)

    # Typed in newer hypothesis releases, untyped in older ones: either is fine here.
    run_state_machine_as_test(  # type: ignore[no-untyped-call,unused-ignore]
        Machine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
