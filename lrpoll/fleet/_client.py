"""`Fleet`: the client side of a fleet: enroll operations, read them, stop, resume, cancel."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from redis.asyncio import Redis

from .._checkpoint import dump, load, spec_digest, spec_from_text, spec_of, to_record
from .._machine import TERMINAL
from .._step import checkpoint_for
from ._keys import Keys
from ._scripts import Scripts

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

    from .._spec import PollSpec
    from ._scripts import Call

__all__ = ["DEFAULT_SHARDS", "Fleet", "FleetEvent", "FleetOperation", "check_shards"]

#: Shards of a namespace unless told otherwise (fixed once the namespace is in use).
DEFAULT_SHARDS: Final = 16
_ENROLL_BATCH: Final = 1000


@dataclass(frozen=True, slots=True)
class FleetOperation:
    """One enrolled operation, as read from Redis by `Fleet.get`.

    Attributes:
        id: the operation id.
        state: the operation state (``running``, ``cancelling``, ``succeeded``, ...).
        sched: where the schedule has it: ``due``, ``leased``, ``stopped`` or ``done``.
        fence: claims and reaps so far (a completion with an older one is refused).
        auth: the auth profile its worker uses.
        progress: percent done, or None.
        message: the latest rendered message, or None.
        status: the last status document (None when unknown or too large to keep).
        result: the result, once succeeded.
        error: ``{"type", "message"}`` once ended without a result.
        cancel: ``requested`` or ``sent`` once a cancel was asked for, else None.
        owner: the worker holding its lease, or None.
        lease_until: the lease's expiry (epoch seconds, Redis time), or None.
        due: when it is due (epoch seconds, Redis time), or None.
        checkpoint: its last checkpoint (the step's own format), stored detached (without
            its spec) unless it was enrolled in the first layout, spec inline: give
            ``spec`` with it to `lrpoll.step` or `Scheduler.resume`.
        spec: the spec it is polled with (None when the checkpoint holds it, or the
            fleet lost it).
    """

    id: str
    state: str
    sched: str
    fence: int
    auth: str
    progress: float | None
    message: str | None
    status: Any
    result: Any
    error: dict[str, Any] | None
    cancel: str | None
    owner: str | None
    lease_until: float | None
    due: float | None
    checkpoint: str
    spec: PollSpec | None = None

    @property
    def done(self) -> bool:
        """Whether the operation reached a terminal state."""
        return self.state in TERMINAL


@dataclass(frozen=True, slots=True)
class FleetEvent:
    """One event of the fleet's streams.

    Attributes:
        id: the operation.
        kind: ``enrolled``, ``progress`` (progress or state changed), ``stopped``,
            ``resumed``, ``cancel`` (requested), ``reaped`` (a lease expired), ``retry``
            (a request met a transient fault: polled again after its delay) or ``done``.
        state: the operation state then.
        progress: percent done then, or None.
        error: the error's JSON for a ``done`` event that ended without a result, and
            the fault of a ``retry`` event.
        stream_id: the event's id in its shard's stream.
    """

    id: str
    kind: str
    state: str
    progress: float | None
    error: str | None
    stream_id: str


def _number(text: str | None) -> float | None:
    return float(text) if text else None


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


async def check_shards(redis: Redis, keys: Keys) -> None:
    """Record the namespace's shard count, or check it against the one recorded.

    Raises:
        ValueError: when the namespace was set up with another shard count.
    """
    await redis.hsetnx(keys.meta, "shards", keys.shards)
    recorded = await redis.hget(keys.meta, "shards")
    if recorded is not None and int(recorded) != keys.shards:
        raise ValueError(
            f"fleet namespace {keys.namespace!r} has {int(recorded)} shards, not {keys.shards}"
        )


class Fleet:
    """The client of a fleet: enroll operations for the workers to poll, and follow them.

    Use it as ``async with Fleet(redis_url) as fleet:``. It never polls: `Worker`
    processes do, each holding the credentials of its auth profiles.

    Args:
        redis_url: the Redis server (``redis://host:port/db``).
        namespace: separates fleets sharing one Redis.
        shards: the namespace's shard count (every client and worker must agree).
        redis: a client to use instead of one made from ``redis_url`` (left open).
    """

    def __init__(
        self,
        redis_url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "default",
        shards: int = DEFAULT_SHARDS,
        redis: Redis | None = None,
    ) -> None:
        self.keys = Keys(namespace, shards)
        self.scripts = Scripts(self.keys)
        self._own = redis is None
        self.redis: Redis = (
            Redis.from_url(redis_url, decode_responses=True) if redis is None else redis
        )
        self._checked = False

    async def __aenter__(self) -> Fleet:
        try:
            await self._check()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the Redis client (unless it was given)."""
        if self._own:
            await self.redis.aclose()

    async def _check(self) -> None:
        if not self._checked:
            await check_shards(self.redis, self.keys)
            self._checked = True

    async def _one(self, call: Any) -> Any:
        await self._check()
        return (await self.scripts.run(self.redis, [call]))[0]

    async def now(self) -> float:
        """Redis's clock, in epoch seconds (the clock every due time and lease uses)."""
        seconds, micros = await self.redis.time()
        return float(seconds) + micros / 1e6

    async def enroll(
        self, checkpoint: str, *, auth: str = "default", key: bytes | None = None
    ) -> str:
        """Put an operation's checkpoint on the fleet's schedule; its id.

        Idempotent by the checkpoint's operation id: enrolling the same id again changes
        nothing. A running checkpoint is due at its own ``due`` time (at once when it has
        none or it is past); a stopped one is enrolled stopped (`resume` makes it due),
        with the time it had left before its deadline. The fleet stores the checkpoint
        without its spec, which it keeps once per shard (see docs/fleet.md).

        Args:
            checkpoint: from `lrpoll.checkpoint_for`, `Operation.checkpoint` or a step.
            auth: the workers' auth profile whose credentials and origins it uses.
            key: the key the checkpoint is signed with, if it is (the stored one is
                signed with it too).

        Raises:
            CheckpointError: for a checkpoint that does not load.
        """
        return (await self.enroll_many([checkpoint], auth=auth, key=key))[0]

    async def enroll_many(
        self, checkpoints: Iterable[str], *, auth: str = "default", key: bytes | None = None
    ) -> list[str]:
        """`enroll` each checkpoint, a thousand to a round trip; their ids, in order.

        Raises:
            CheckpointError: for a checkpoint that does not load (nothing is enrolled).
        """
        now = await self.now()
        calls = [self._enroll_call(c, auth, key, now) for c in checkpoints]
        await self._check()
        for k in range(0, len(calls), _ENROLL_BATCH):
            await self.scripts.run(self.redis, calls[k : k + _ENROLL_BATCH])
        return [str(call.args[0]) for call in calls]

    def _enroll_call(self, checkpoint: str, auth: str, key: bytes | None, now: float) -> Call:
        doc = load(checkpoint, key=key)
        spec = spec_of(doc)
        state = doc["state"]
        sched = "due" if state in ("running", "cancelling") else "stopped"
        if state in TERMINAL:
            sched = "done"
        # Stored detached, as a step writes it (the record's checkpoint, in this clock).
        at = time.time()
        rec = to_record(doc, spec, now=at, wall=at)
        rec.due = doc.get("due")
        if state == "stopped":
            # Stored in its running form, so that `resume` has the workers poll it; the
            # time it had left is kept (from now on, time stopped in the fleet counts).
            rec.transition("resume")
            rec.due = at
            state = "running"
        delay = 0.0
        if sched == "due" and doc.get("due") is not None:
            delay = max(0.0, doc["due"] - now)
        text = dump(rec, now=at, wall=at, key=key, detached=True)
        return self.scripts.enroll(
            doc["id"], text, auth, state=state, sched=sched, delay=delay, spec=spec_digest(spec)
        )

    async def enroll_url(
        self,
        status_url: str,
        spec: PollSpec,
        *,
        operation_id: str,
        auth: str = "default",
        start: Any = None,
        start_headers: Mapping[str, str] | None = None,
        request_url: str | None = None,
    ) -> str:
        """Enroll an operation to poll at ``status_url`` (a job already started); its id.

        The checkpoint is `lrpoll.checkpoint_for`'s, started at Redis's clock.
        """
        checkpoint = checkpoint_for(
            status_url,
            spec,
            operation_id=operation_id,
            start=start,
            start_headers=start_headers,
            request_url=request_url,
            now=await self.now(),
        )
        return await self.enroll(checkpoint, auth=auth)

    async def get(self, op_id: str) -> FleetOperation | None:
        """The operation as stored, or None (never enrolled, or its result expired)."""
        raw = cast("dict[str, str]", await self.redis.hgetall(self.keys.op(op_id)))
        if not raw:
            return None
        lease = _number(raw.get("lease"))
        spec = None
        digest = raw.get("spec")
        if digest:
            text = await self.redis.hget(self.keys.specs(self.keys.shard(op_id)), digest)
            spec = None if text is None else spec_from_text(text, digest)
        return FleetOperation(
            id=raw["id"],
            state=raw["state"],
            sched=raw["sched"],
            fence=int(raw["fence"]),
            auth=raw["auth"],
            progress=_number(raw.get("progress")),
            message=raw.get("message") or None,
            status=_json(raw.get("status")),
            result=_json(raw.get("result")),
            error=_json(raw.get("error")),
            cancel=raw.get("cancel") or None,
            owner=raw.get("owner") or None,
            lease_until=lease / 1000 if lease else None,
            due=float(raw["due"]) / 1000 if raw.get("due") else None,
            checkpoint=raw["ckpt"],
            spec=spec,
        )

    async def stop(self, op_id: str) -> str:
        """Stop polling an operation, client side (the server job goes on); resumable.

        A due operation stops at once; one whose poll is in flight stops when that poll
        completes. Returns where it was: ``due``, ``leased``, ``stopped``, ``done`` or
        ``missing``.
        """
        return str(await self._one(self.scripts.stop(op_id)))

    async def resume(self, op_id: str) -> str:
        """Resume a stopped operation: due at once. Returns where it was (see `stop`)."""
        return str(await self._one(self.scripts.resume(op_id)))

    async def cancel(self, op_id: str) -> str:
        """Ask the server to cancel the operation: a worker sends its spec's cancel request.

        The request is recorded once (concurrent callers share it) and the operation is
        due at once; the worker that claims it next sends the cancel request, then the
        operation is polled until the server confirms. Returns ``requested`` (or
        ``sent``, when a cancel was already asked for), ``done`` or ``missing``.

        Warning:
            Cancel is at least once: a worker that dies after sending the request but
            before recording it leaves it to the next worker, which sends it again.
        """
        return str(await self._one(self.scripts.cancel(op_id)))

    async def counts(self) -> dict[str, int]:
        """Operations due and leased, and completions refused as ``stale``, over all shards."""
        k = self.keys
        async with self.redis.pipeline(transaction=False) as pipe:
            for p in range(k.shards):
                pipe.zcard(k.due(p))
                pipe.zcard(k.leases(p))
                pipe.hget(k.stats(p), "stale")
            answers = await pipe.execute()
        return {
            "due": sum(answers[0::3]),
            "leased": sum(answers[1::3]),
            "stale": sum(int(a or 0) for a in answers[2::3]),
        }

    async def events(
        self, *, from_start: bool = False, block: float = 1.0
    ) -> AsyncIterator[FleetEvent]:
        """The fleet's events as they come, over every shard's stream (runs until cancelled).

        Args:
            from_start: begin with the oldest events kept, not only new ones.
            block: seconds each read waits for new events.
        """
        k = self.keys
        last: dict[Any, Any] = {}
        for p in range(k.shards):
            stream = k.events(p)
            newest: Any = [] if from_start else await self.redis.xrevrange(stream, count=1)
            last[stream] = newest[0][0] if newest else "0-0"
        while True:
            answer: Any = await self.redis.xread(
                last, count=1000, block=max(1, round(block * 1000))
            )
            for stream, entries in answer or ():
                for stream_id, fields in entries:
                    last[stream] = stream_id
                    yield FleetEvent(
                        id=fields["id"],
                        kind=fields["kind"],
                        state=fields.get("state", ""),
                        progress=_number(fields.get("progress")),
                        error=fields.get("error") or None,
                        stream_id=stream_id,
                    )
