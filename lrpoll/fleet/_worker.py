"""`Worker`: claims due operations, runs the one per-operation step, completes them.

A worker never holds an operation between polls. One loop sends, in one pipeline (one
round trip), a `cycle` script per shard (the completions of the polls that finished
there, then claims for its share of the free slots) and, every ``reap_every`` seconds, a
reap of expired leases (on every worker: no leader); each claimed operation is stepped by
`lrpoll.step` (or `lrpoll.cancel_step` for a cancel asked for) in one of the worker's
slot tasks, with the transport of its auth profile and its spec, compiled once per
digest. Then it sleeps until the next due time it saw (at most ``max_sleep``, jittered)
or until a poll finishes.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .._cancel import cancel_step
from .._checkpoint import Recent, last_json, spec_from_text
from .._core import Ended, Retry, Succeeded
from .._exceptions import CheckpointError, LrpollError, SpecError, UntrustedURL
from .._log import get_logger
from .._sender import Limits
from .._step import step_recent
from .._transport import HttpClient, Transport, check_http
from ._client import DEFAULT_SHARDS, check_shards
from ._keys import Keys
from ._scripts import CLAIMED_FIELDS, Completion, Scripts

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .._auth import Credential
    from .._spec import PollSpec
    from .._step import StepResult
    from ._scripts import Call

__all__ = ["Worker", "WorkerStatistics"]

#: The largest last status document kept in an operation's hash (JSON characters).
STATUS_MAX: Final = 4096
_REDIS_FAULTS: Final = (RedisConnectionError, RedisTimeoutError, OSError)
_SPECS_KEPT: Final = 1024  # compiled specs a worker keeps, by digest
_RECENT_KEPT: Final = 4096  # checkpoints a worker wrote last, with their documents


@dataclass(slots=True)
class WorkerStatistics:
    """What a worker has done so far.

    Attributes:
        claimed: operations claimed (one per step taken).
        sent: requests sent (polls, result fetches, cancel requests).
        cancels: cancel requests sent.
        completed: completions Redis accepted.
        stale: completions Redis refused (``STALE``: the lease had lapsed and moved on).
        reaped: expired leases this worker put back in the due set.
        requeued: operations claimed ahead of a free slot that waited so long for one
            that their lease might lapse during the poll: given back unpolled, due at
            once.
        round_trips: pipelines sent to Redis.
        redis_faults: pipelines that failed on a connection fault (and were retried).
    """

    claimed: int = 0
    sent: int = 0
    cancels: int = 0
    completed: int = 0
    stale: int = 0
    reaped: int = 0
    requeued: int = 0
    round_trips: int = 0
    redis_faults: int = 0


@dataclass(slots=True)  # not frozen: one per poll (see `_scripts.Completion`)
class _Claimed:
    id: str
    fence: int
    checkpoint: str
    auth: str
    cancel: str
    spec: str  # the digest of a detached checkpoint's spec; '' when the checkpoint holds it
    at: float  # when the pipeline that claimed it was sent (time.monotonic): its lease began later


def _error_json(error: LrpollError) -> str:
    return json.dumps({"type": type(error).__name__, "message": error.message})


def _progress(value: Any) -> str:
    return "" if value is None else repr(float(value))


def _state_of(checkpoint: str) -> str:
    try:
        return str(json.loads(checkpoint)["state"])
    except (ValueError, KeyError, TypeError):
        return "error"


class Worker:
    """A fleet worker: polls the operations of one namespace that are due, with its profiles.

    Declare its auth profiles with `auth`, then ``await worker.run()`` (until cancelled).
    Any number of workers may run on one namespace, in any number of processes.

    Args:
        redis_url: the Redis server.
        namespace: the fleet namespace (as given to `Fleet`).
        shards: the namespace's shard count (as given to `Fleet`).
        slots: polls in flight at most (it claims up to half as many more ahead, so
            that a slot whose poll ends starts the next one at once).
        name: this worker's name in leases (default: a random one).
        limits: transport limits; ``limits.timeout`` bounds each request, and so the lease.
        lease_margin: seconds a lease lasts beyond the request timeout.
        max_sleep: the longest the loop sleeps (the longest before it sees new work
            enrolled by others).
        reap_every: seconds between reaps of expired leases (default: a quarter of the
            lease, at least ``max_sleep``).
        result_ttl: seconds an ended operation stays readable (0: forever).
        release_delay: seconds before an operation whose auth profile this worker lacks
            is due again (for a worker that has it).
        redis: a client to use instead of one made from ``redis_url`` (left open).
        http: the sender of each profile's transport: ``"aiohttp"`` or ``"lean"`` (see
            `lrpoll.Scheduler`).
    """

    def __init__(
        self,
        redis_url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "default",
        shards: int = DEFAULT_SHARDS,
        slots: int = 100,
        name: str | None = None,
        limits: Limits | None = None,
        lease_margin: float = 5.0,
        max_sleep: float = 1.0,
        reap_every: float | None = None,
        result_ttl: int = 7 * 24 * 3600,
        release_delay: float = 5.0,
        redis: Redis | None = None,
        http: HttpClient = "aiohttp",
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        check_http(http)
        self.http: HttpClient = http
        self.keys = Keys(namespace, shards)
        self.scripts = Scripts(self.keys)
        self.slots = slots
        self.name = name or f"worker-{uuid.uuid4().hex[:12]}"
        self.limits = limits or Limits()
        self.lease = self.limits.timeout + lease_margin
        self.max_sleep = max_sleep
        # Reaping finds leases lapsed for at least this long past their expiry: a quarter
        # of a lease is soon enough, and keeps the loop's pipelines short.
        self.reap_every = max(max_sleep, self.lease / 4) if reap_every is None else reap_every
        self.result_ttl = result_ttl
        self.release_delay = release_delay
        self.statistics = WorkerStatistics()
        self._redis_url = redis_url
        self._redis = redis
        self._profiles: dict[str, dict[str, Any]] = {}
        self._transports: dict[str, Transport] = {}
        self._done: list[Completion] = []
        self._specs: dict[str, PollSpec] = {}
        # The checkpoints this worker wrote last: claimed back unchanged (no other worker
        # polled the operation meanwhile), one is not parsed and checked again.
        self._recent = Recent(_RECENT_KEPT)
        self._fetching: dict[str, anyio.Event] = {}
        self._inflight = 0  # claimed and not yet written back: polling, or queued for a slot
        # Claimed beyond the free slots, so that a slot whose poll ends takes the next
        # operation at once instead of waiting for the loop's next round trip to Redis.
        self._ahead = max(1, slots // 2)
        # A claimed operation that waited longer than this for a slot is given back
        # unpolled: its poll (up to limits.timeout) could outlast its lease.
        self._wait_max = lease_margin / 2
        self._wake = anyio.Event()
        self._offset = 0.0  # Redis time minus this process's wall clock
        self._closing = False
        self._log = get_logger(worker=self.name)

    def auth(
        self,
        profile: str,
        credentials: Mapping[str, Credential] | None = None,
        *,
        trusted_origins: Iterable[str] = (),
        allow_origins: Iterable[str] | Literal["any"] = (),
        headers: Mapping[str, str] | None = None,
        checkpoint_key: bytes | None = None,
    ) -> None:
        """Declare the auth profile ``profile``: credentials by trusted origin, as a Scheduler's.

        An operation enrolled with this profile is polled with these credentials, only
        at these origins: a status URL off them ends the operation with `UntrustedURL`
        before anything is sent, as `Scheduler.resume` refuses it.

        Args:
            profile: the name operations are enrolled with (``Fleet.enroll(auth=)``).
            credentials: a provider per trusted origin (``{"https://api.example":
                BearerToken(...)}``).
            trusted_origins: more origins that get the credentials.
            allow_origins: origins polled without credentials (or ``"any"``).
            headers: non-secret headers for every request.
            checkpoint_key: the key the profile's checkpoints are signed with.
        """
        self._profiles[profile] = {
            "credentials": credentials,
            "trusted_origins": tuple(trusted_origins),
            "allow_origins": allow_origins if allow_origins == "any" else tuple(allow_origins),
            "headers": headers,
            "checkpoint_key": checkpoint_key,
        }

    def close(self) -> None:
        """Ask `run` to return: claim nothing more, finish the polls in flight, write them back."""
        self._closing = True
        self._wake.set()

    def _now(self) -> float:
        """Redis's clock, as this process estimates it (epoch seconds)."""
        return time.time() + self._offset

    async def run(self) -> None:
        """Poll until cancelled: claim, step, complete.

        `close` makes it return once the polls in flight are written back. Cancelled,
        it abandons them: their leases lapse and other workers poll those operations
        again.

        Raises:
            ValueError: when the namespace has another shard count.
            redis.exceptions.ConnectionError: when Redis cannot be reached at start.
        """
        async with AsyncExitStack() as stack:
            redis = self._redis
            if redis is None:
                redis = Redis.from_url(self._redis_url, decode_responses=True)
                stack.push_async_callback(redis.aclose)
            for profile, settings in self._profiles.items():
                transport = Transport.open(limits=self.limits, http=self.http, **settings)
                stack.push_async_callback(transport.aclose)
                self._transports[profile] = transport
            await check_shards(redis, self.keys)
            await self.scripts.load(redis)
            claimed: asyncio.Queue[_Claimed] = asyncio.Queue()
            async with anyio.create_task_group() as tg:
                # One task per slot, for the worker's life: a task per claimed operation
                # cost more than the queue's hand-over.
                for _ in range(self.slots):
                    tg.start_soon(self._slot, redis, claimed)
                await self._loop(redis, claimed)
                tg.cancel_scope.cancel()  # the slots, idle now

    def _cycles(self, batch: list[Completion], free: int, turn: int) -> list[tuple[Call, int, int]]:
        """One `cycle` per shard with completions or claims: (call, claimed at most, completed)."""
        shards = self.keys.shards
        want: dict[int, int] = {}
        for i in range(min(free, shards)):
            want[(turn + i) % shards] = free // shards + (1 if i < free % shards else 0)
        done: dict[int, list[Completion]] = {}
        for c in batch:
            done.setdefault(self.keys.shard(c.op_id), []).append(c)
        out = []
        for p in want.keys() | done.keys():
            mine, n = done.get(p, []), want.get(p, 0)
            call = self.scripts.cycle(p, self.name, n, self.lease, mine, ttl=self.result_ttl)
            out.append((call, n, len(mine)))
        return out

    async def _slot(self, redis: Redis, claimed: asyncio.Queue[_Claimed]) -> None:
        while True:
            await self._poll(redis, await claimed.get())

    async def _loop(self, redis: Redis, claimed: asyncio.Queue[_Claimed]) -> None:
        next_reap = 0.0
        turn = 0
        backoff = 0.05
        while not (self._closing and not self._inflight and not self._done):
            batch, self._done = self._done, []
            free = 0 if self._closing else self.slots + self._ahead - self._inflight
            cycles = self._cycles(batch, free, turn)
            turn += 1
            calls = [call for call, _, _ in cycles]
            reap = time.monotonic() >= next_reap
            if reap:
                calls += [self.scripts.reap(p) for p in range(self.keys.shards)]
            before = self.scripts.round_trips
            # Claims are dated from the send, not from the answer: a worker paused in between
            # (a stalled loop, SIGSTOP) counts the pause against the leases Redis began.
            sent_at = time.monotonic()
            try:
                answers = await self.scripts.run(redis, calls)
            except _REDIS_FAULTS as exc:
                # Redis is away (restarting?): keep the completions, try again.
                self.statistics.round_trips += self.scripts.round_trips - before
                self.statistics.redis_faults += 1
                self._done = batch + self._done
                self._log.warning("redis unreachable", error=repr(exc))
                await anyio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, self.max_sleep)
                continue
            self.statistics.round_trips += self.scripts.round_trips - before
            backoff = 0.05
            stats = self.statistics
            if reap:
                next_reap = time.monotonic() + self.reap_every
                stats.reaped += sum(len(a) for a in answers[len(cycles) :])
            next_due = math.inf
            now_ms = None
            for answer, (_, n, k) in zip(answers, cycles, strict=False):
                now_ms, nxt = answer[0], answer[1]
                accepted = sum(answer[2 : 2 + k])
                stats.completed += accepted
                stats.stale += k - accepted
                items = answer[2 + k :]
                for i in range(0, len(items), CLAIMED_FIELDS):
                    op_id, fence, checkpoint, auth, cancel, spec = items[i : i + CLAIMED_FIELDS]
                    item = _Claimed(op_id, int(fence), checkpoint, auth, cancel, spec, sent_at)
                    self._inflight += 1
                    stats.claimed += 1
                    claimed.put_nowait(item)
                if n and len(items) // CLAIMED_FIELDS >= n:
                    next_due = now_ms  # there may be more due now
                elif nxt >= 0:
                    next_due = min(next_due, nxt)
            wait = self.max_sleep
            if now_ms is not None:
                self._offset = now_ms / 1000 - time.time()
                if self._inflight < self.slots + self._ahead and next_due < math.inf:
                    wait = min(wait, max(0.0, (next_due - now_ms) / 1000))
            wait *= 0.9 + 0.1 * random.random()  # spread workers that woke together
            self._wake = anyio.Event()
            if not self._done and wait > 0:
                with anyio.move_on_after(wait):
                    await self._wake.wait()

    async def _spec(self, redis: Redis, item: _Claimed) -> PollSpec:
        """The compiled spec of a detached checkpoint, fetched once per digest.

        Raises:
            CheckpointError: when the fleet holds no such spec (it was deleted), or
                holds another text under its digest.
        """
        digest = item.spec
        known = self._specs.get(digest)
        while known is None and digest in self._fetching:
            # Another poll is fetching it (one round trip per digest); if that fails, so
            # that the entry is gone and nothing was kept, this poll fetches it itself.
            await self._fetching[digest].wait()
            known = self._specs.get(digest)
        if known is not None:
            return known
        self._fetching[digest] = fetched = anyio.Event()
        try:
            shard = self.keys.shard(item.id)
            text = await redis.hget(self.keys.specs(shard), digest)
            self.statistics.round_trips += 1
            if text is None:
                raise CheckpointError(
                    f"the fleet holds no spec {digest} (shard {shard}): deleted from Redis?"
                )
            spec = spec_from_text(text, digest)
            if len(self._specs) >= _SPECS_KEPT:
                self._specs.pop(next(iter(self._specs)))  # the oldest
            self._specs[digest] = spec
            return spec
        finally:
            del self._fetching[digest]
            fetched.set()

    async def _poll(self, redis: Redis, item: _Claimed) -> None:
        try:
            completion = await self._step(redis, item)
        except Exception as exc:  # noqa: BLE001 (one operation's fault must not stop the worker)
            self._log.error("step failed", operation=item.id, error=repr(exc))
            completion = Completion(
                item.id,
                item.fence,
                _state_of(item.checkpoint),
                "due",
                delay=self.release_delay,
            )
        finally:
            self._inflight -= 1
        self._done.append(completion)
        self._wake.set()

    async def _step(self, redis: Redis, item: _Claimed) -> Completion:
        if time.monotonic() - item.at > self._wait_max:
            self.statistics.requeued += 1
            return Completion(item.id, item.fence, _state_of(item.checkpoint), "due")
        transport = self._transports.get(item.auth)
        if transport is None:
            self._log.warning("no such auth profile here", operation=item.id, profile=item.auth)
            state = _state_of(item.checkpoint)
            return Completion(item.id, item.fence, state, "due", delay=self.release_delay)
        cancel = ""
        try:
            spec = await self._spec(redis, item) if item.spec else None
            now = self._now()
            if item.cancel == "requested":
                try:
                    result = await cancel_step(
                        item.checkpoint, transport=transport, now=now, spec=spec
                    )
                except SpecError:
                    # No cancel request in the spec: as in a Scheduler, the operation stops.
                    state = _state_of(item.checkpoint)
                    return Completion(item.id, item.fence, state, "stopped", cancel="unsupported")
                cancel = "sent"
                self.statistics.cancels += result.sent
            else:
                result = await step_recent(
                    item.checkpoint, transport=transport, now=now, spec=spec, recent=self._recent
                )
        except (UntrustedURL, CheckpointError) as exc:
            return Completion(item.id, item.fence, "error", "done", error=_error_json(exc))
        self.statistics.sent += result.sent
        return self._completion(item, result, now, cancel)

    def _completion(
        self, item: _Claimed, result: StepResult, now: float, cancel: str
    ) -> Completion:
        decision = result.decision
        if result.checkpoint is None:
            if isinstance(decision, Succeeded):
                return Completion(
                    item.id,
                    item.fence,
                    "succeeded",
                    "done",
                    progress=_progress(decision.progress),
                    result=json.dumps(decision.result, default=str),
                    message=decision.message or "",
                    cancel=cancel,
                )
            if isinstance(decision, Ended):
                return Completion(
                    item.id,
                    item.fence,
                    decision.state,
                    "done",
                    error=_error_json(decision.error),
                    message=decision.message or "",
                    cancel=cancel,
                )
            state = _state_of(item.checkpoint)  # it had ended already
            return Completion(item.id, item.fence, state, "done", cancel=cancel)
        doc = result.document  # the step's own, when it polled: no second parse
        if doc is None:
            doc = json.loads(result.checkpoint)
        status = last_json(doc)
        return Completion(
            item.id,
            item.fence,
            doc["state"],
            "stopped" if result.due is None else "due",
            checkpoint=result.checkpoint,
            delay=0.0 if result.due is None else result.due - now,
            progress=_progress(doc.get("progress")),
            status=status if len(status) <= STATUS_MAX else "null",
            cancel=cancel,
            message=doc.get("message") or "",
            attempts=str(doc.get("attempts", "")),
            # A transient fault: the fleet records it as a `retry` event.
            error=_error_json(decision.error) if isinstance(decision, Retry) else "",
        )
