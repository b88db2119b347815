"""The fleet's Lua scripts, one by one, against a real Redis on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

import lrpoll
from lrpoll._checkpoint import spec_digest
from lrpoll.fleet._keys import Keys
from lrpoll.fleet._scripts import CLAIMED_FIELDS, Completion, Scripts
from tests.helpers import export_spec

if TYPE_CHECKING:
    from redis.asyncio import Redis

SHARDS = 4


def checkpoint(op_id: str) -> str:
    """A running checkpoint of ``op_id`` (nothing is sent to its URL)."""
    return lrpoll.checkpoint_for(
        "http://127.0.0.1:9/api/exports/x/status", export_spec(), operation_id=op_id
    )


class Harness:
    """Scripts of one namespace, run one call at a time."""

    def __init__(self, redis: Redis, namespace: str) -> None:
        self.redis: Any = redis
        self.keys = Keys(namespace, SHARDS)
        self.scripts = Scripts(self.keys)

    async def run(self, call: Any) -> Any:
        return (await self.scripts.run(self.redis, [call]))[0]

    async def enroll(self, op_id: str) -> int:
        call = self.scripts.enroll(
            op_id, checkpoint(op_id), "default", state="running", sched="due"
        )
        return int(await self.run(call))

    async def claim_all(self, lease: float = 60.0) -> dict[str, int]:
        claimed = {}
        for p in range(SHARDS):
            answer = await self.run(self.scripts.claim(p, "w1", 100, lease))
            items = answer[2:]
            for i in range(0, len(items), CLAIMED_FIELDS):
                claimed[items[i]] = int(items[i + 1])
        return claimed

    async def reap_all(self) -> list[str]:
        out: list[str] = []
        for p in range(SHARDS):
            out += await self.run(self.scripts.reap(p))
        return out

    async def field(self, op_id: str, name: str) -> str | None:
        return await self.redis.hget(self.keys.op(op_id), name)  # type: ignore[no-any-return]

    async def in_due(self, op_id: str) -> bool:
        p = self.keys.shard(op_id)
        return await self.redis.zscore(self.keys.due(p), op_id) is not None

    async def in_leases(self, op_id: str) -> bool:
        p = self.keys.shard(op_id)
        return await self.redis.zscore(self.keys.leases(p), op_id) is not None

    async def events(self, op_id: str) -> list[str]:
        entries = await self.redis.xrange(self.keys.events(self.keys.shard(op_id)))
        return [fields["kind"] for _, fields in entries if fields["id"] == op_id]


@pytest.fixture(name="h")
def _h(redis: Redis, namespace: str) -> Harness:
    return Harness(redis, namespace)


class TestEnroll:
    async def test_idempotent(self, h: Harness) -> None:
        """Enrolling the same id three times leaves one operation, due once, one event."""
        assert [await h.enroll("a") for _ in range(3)] == [1, 0, 0]
        assert await h.in_due("a")
        assert await h.field("a", "fence") == "0"
        assert await h.events("a") == ["enrolled"]

    async def test_concurrent_enrolls_make_one(self, h: Harness, redis_url: str) -> None:
        """Concurrent enrolls of one id from separate connections add it once."""
        from redis.asyncio import Redis

        clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(3)]
        try:
            calls = [Harness(c, h.keys.namespace).enroll("same") for c in clients]
            assert sorted(await asyncio.gather(*calls)) == [0, 0, 1]
        finally:
            for c in clients:
                await c.aclose()

    async def test_spec_stored_once_per_shard(self, h: Harness) -> None:
        """Operations enrolled detached name their spec by digest; the shard keeps the spec's
        text once, and a claim hands the digest out with the checkpoint."""
        spec = export_spec()
        digest, text = spec_digest(spec)
        ops = [f"s{i}" for i in range(8)]
        for op in ops:
            call = h.scripts.enroll(
                op, checkpoint(op), "default", state="running", sched="due", spec=(digest, text)
            )
            assert await h.run(call) == 1
        shards = {h.keys.shard(op) for op in ops}
        for p in shards:
            assert await h.redis.hgetall(h.keys.specs(p)) == {digest: text}
        assert await h.field("s0", "spec") == digest
        p = h.keys.shard("s0")
        answer = await h.run(h.scripts.claim(p, "w1", 100, 60))
        items = answer[2:]
        assert {items[i + 5] for i in range(0, len(items), CLAIMED_FIELDS)} == {digest}

    async def test_whole_checkpoint_has_no_digest(self, h: Harness) -> None:
        """An operation enrolled in the first layout (its checkpoint whole) is claimed with
        an empty digest: its checkpoint holds its spec."""
        await h.enroll("w")
        answer = await h.run(h.scripts.claim(h.keys.shard("w"), "w1", 100, 60))
        assert answer[2:][5] == ""
        assert json.loads(answer[2:][2])["spec"]


class TestClaim:
    async def test_leases_due_operations_and_bumps_the_fence(self, h: Harness) -> None:
        """A claim moves due operations to the lease set, fence 1, with their checkpoint."""
        for op in ("a", "b"):
            await h.enroll(op)
        claimed = await h.claim_all()
        assert claimed == {"a": 1, "b": 1}
        assert await h.in_leases("a")
        assert not await h.in_due("a")
        assert await h.field("a", "sched") == "leased"
        assert await h.field("a", "owner") == "w1"
        assert await h.claim_all() == {}

    async def test_batch_is_bounded(self, h: Harness) -> None:
        """A claim takes at most n operations of its shard, and reports the next due time."""
        ops = [f"op{i}" for i in range(12)]
        for op in ops:
            await h.enroll(op)
        p = h.keys.shard(ops[0])
        in_shard = [op for op in ops if h.keys.shard(op) == p]
        answer = await h.run(h.scripts.claim(p, "w1", 1, 60))
        assert len(answer[2:]) == CLAIMED_FIELDS
        assert answer[1] >= 0 if len(in_shard) > 1 else answer[1] == -1

    async def test_not_yet_due_is_not_claimed(self, h: Harness) -> None:
        """An operation due in the future stays in the due set."""
        call = h.scripts.enroll(
            "later", checkpoint("later"), "default", state="running", sched="due", delay=60
        )
        await h.run(call)
        assert await h.claim_all() == {}
        assert await h.in_due("later")


class TestComplete:
    async def test_reschedules(self, h: Harness) -> None:
        """A completion with the claim's fence writes the state and puts it back in due."""
        await h.enroll("a")
        fence = (await h.claim_all())["a"]
        c = Completion("a", fence, "running", "due", checkpoint="{}", delay=30, progress="50.0")
        assert await h.run(h.scripts.complete(c, ttl=0)) == 1
        assert await h.in_due("a")
        assert not await h.in_leases("a")
        assert await h.field("a", "progress") == "50.0"
        assert await h.field("a", "ckpt") == "{}"
        assert await h.events("a") == ["enrolled", "progress"]

    async def test_retry_emits_its_fault_and_keeps_no_error(self, h: Harness) -> None:
        """A completion carrying a transient fault reschedules and emits a retry event with it."""
        await h.enroll("a")
        fence = (await h.claim_all())["a"]
        fault = json.dumps({"type": "RequestError", "message": "timed out"})
        c = Completion("a", fence, "running", "due", delay=0, error=fault)
        assert await h.run(h.scripts.complete(c, ttl=0)) == 1
        assert await h.in_due("a")
        assert await h.events("a") == ["enrolled", "retry"]
        entries = await h.redis.xrange(h.keys.events(h.keys.shard("a")))
        assert entries[-1][1]["error"] == fault
        assert await h.field("a", "error") is None

    async def test_stale_fence_is_refused(self, h: Harness) -> None:
        """A completion with an older fence is STALE and changes nothing."""
        await h.enroll("a")
        fence = (await h.claim_all(lease=0))["a"]
        assert await h.reap_all() == ["a"]
        new = (await h.claim_all())["a"]
        assert new == fence + 2
        old = Completion("a", fence, "succeeded", "done", result="1")
        assert await h.run(h.scripts.complete(old, ttl=0)) == 0
        assert await h.field("a", "sched") == "leased"
        assert await h.field("a", "result") is None

    async def test_terminal_expires_and_emits_done(self, h: Harness) -> None:
        """A terminal completion leaves both sets, keeps the result with a TTL, emits done."""
        await h.enroll("a")
        fence = (await h.claim_all())["a"]
        c = Completion("a", fence, "succeeded", "done", result=json.dumps({"n": 1}))
        assert await h.run(h.scripts.complete(c, ttl=3600)) == 1
        assert await h.field("a", "sched") == "done"
        assert not await h.in_due("a")
        assert not await h.in_leases("a")
        assert 0 < await h.redis.ttl(h.keys.op("a")) <= 3600
        assert (await h.events("a"))[-1] == "done"
        again = Completion("a", fence, "running", "due")
        assert await h.run(h.scripts.complete(again, ttl=0)) == 0  # exactly one accepted

    async def test_stop_while_leased_parks_at_completion(self, h: Harness) -> None:
        """A stop during a poll in flight takes effect when that poll completes."""
        await h.enroll("a")
        fence = (await h.claim_all())["a"]
        assert await h.run(h.scripts.stop("a")) == "leased"
        c = Completion("a", fence, "running", "due", delay=0)
        assert await h.run(h.scripts.complete(c, ttl=0)) == 1
        assert await h.field("a", "sched") == "stopped"
        assert not await h.in_due("a")
        assert await h.run(h.scripts.resume("a")) == "stopped"
        assert await h.in_due("a")


class TestCycle:
    async def test_completes_then_claims(self, h: Harness) -> None:
        """A worker's cycle on a shard writes its completions back (a stale one refused),
        then claims that shard's due operations, the one just completed among them."""
        a, b, c = [op for op in (f"c{i}" for i in range(200)) if h.keys.shard(op) == 0][:3]
        for op in (a, b, c):
            await h.enroll(op)
        fences = await h.claim_all()
        done = [
            Completion(a, fences[a], "running", "due", delay=0, progress="10.0"),
            Completion(b, fences[b] - 1, "running", "due", delay=0),
        ]
        answer = await h.run(h.scripts.cycle(0, "w2", 10, 60, done, ttl=0))
        assert answer[2:4] == [1, 0]
        items = answer[4:]
        assert [items[i] for i in range(0, len(items), CLAIMED_FIELDS)] == [a]
        assert await h.field(a, "owner") == "w2"
        assert await h.field(a, "fence") == str(fences[a] + 1)
        assert await h.field(a, "progress") == "10.0"
        assert await h.field(b, "owner") == "w1"  # refused: still leased to w1
        assert await h.redis.hget(h.keys.stats(0), "stale") == "1"
        assert answer[1] == -1  # nothing else due in the shard

    async def test_only_completes(self, h: Harness) -> None:
        """A cycle claiming nothing only writes back, and reports the shard's next due time."""
        op = next(op for op in (f"d{i}" for i in range(200)) if h.keys.shard(op) == 1)
        await h.enroll(op)
        fence = (await h.claim_all())[op]
        done = [Completion(op, fence, "running", "due", delay=30)]
        answer = await h.run(h.scripts.cycle(1, "w1", 0, 60, done, ttl=0))
        assert answer[2:] == [1]
        assert answer[1] >= answer[0] + 29_000
        assert await h.in_due(op)


class TestExtend:
    async def test_extend_holds_only_with_the_fence(self, h: Harness) -> None:
        """Extend moves a held lease's expiry; with a stale fence it is refused."""
        await h.enroll("a")
        fence = (await h.claim_all(lease=0))["a"]
        assert await h.run(h.scripts.extend("a", fence, 60)) > 0
        assert await h.reap_all() == []  # extended: not expired
        assert await h.run(h.scripts.extend("a", fence - 1, 60)) == 0


class TestReap:
    async def test_expired_lease_back_to_due(self, h: Harness) -> None:
        """An expired lease is put back in due once, with a new fence."""
        await h.enroll("a")
        fence = (await h.claim_all(lease=0))["a"]
        assert await h.reap_all() == ["a"]
        assert await h.reap_all() == []
        assert await h.in_due("a")
        assert int(await h.field("a", "fence") or 0) == fence + 1

    async def test_concurrent_reapers_requeue_once(self, h: Harness, redis_url: str) -> None:
        """Reapers on every worker at once requeue each expired lease exactly once."""
        from redis.asyncio import Redis

        ops = [f"op{i}" for i in range(20)]
        for op in ops:
            await h.enroll(op)
        await h.claim_all(lease=0)
        clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(4)]
        try:
            reaped = await asyncio.gather(
                *(Harness(c, h.keys.namespace).reap_all() for c in clients)
            )
        finally:
            for c in clients:
                await c.aclose()
        flat = [op for batch in reaped for op in batch]
        assert sorted(flat) == sorted(ops)
        assert {await h.field(op, "fence") for op in ops} == {"2"}


class TestStopResumeCancel:
    async def test_stop_due_then_resume(self, h: Harness) -> None:
        """Stop takes a due operation off the schedule; resume makes it due at once."""
        await h.enroll("a")
        assert await h.run(h.scripts.stop("a")) == "due"
        assert await h.field("a", "sched") == "stopped"
        assert await h.claim_all() == {}
        assert await h.run(h.scripts.resume("a")) == "stopped"
        assert "a" in await h.claim_all()

    async def test_cancel_recorded_once(self, h: Harness) -> None:
        """Two cancels make one cancel request record; a stopped operation becomes due."""
        await h.enroll("a")
        await h.run(h.scripts.stop("a"))
        first, second = await asyncio.gather(
            h.run(h.scripts.cancel("a")), h.run(h.scripts.cancel("a"))
        )
        assert (first, second) == ("requested", "requested")
        assert await h.field("a", "cancel") == "requested"
        assert (await h.events("a")).count("cancel") == 1
        assert await h.in_due("a")

    async def test_missing(self, h: Harness) -> None:
        """Stop, resume and cancel of an unknown id say so."""
        for name in ("stop", "resume", "cancel"):
            assert await h.run(getattr(h.scripts, name)("nope")) == "missing"
