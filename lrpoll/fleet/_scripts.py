"""The fleet's Lua scripts: every change to the schedule is one of them, atomic, on Redis time.

Each script reads the clock with Redis ``TIME`` (milliseconds), never a worker's, so a
worker whose clock is off changes no due time and no lease. Each touches the keys of one
shard only (one hash tag, see `_keys`). The operation hash's ``sched`` field says where
an operation is: ``due`` (in the due set), ``leased`` (in the lease set, a poll in
flight), ``stopped`` or ``done`` (in neither). ``fence`` grows by one at every claim and
every reap: a completion carrying an older fence is refused (``STALE``).

Scripts are run by SHA (``EVALSHA``) in pipelines; a Redis that lost its script cache
(restarted) answers ``NOSCRIPT``, and `Scripts.run` loads them and runs those calls again
(a refused call changed nothing).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import NoScriptError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from redis.asyncio import Redis

    from ._keys import Keys

__all__ = ["CLAIMED_FIELDS", "Call", "Completion", "Scripts"]

#: Fields per operation in a claim's answer: id, fence, checkpoint, auth, cancel, spec digest.
CLAIMED_FIELDS: Final = 6

#: Fields per completion in the arguments of `complete` and `cycle` (see complete_one).
_COMPLETION_FIELDS: Final = 13
# Their byte lengths, ahead of each completion in `cycle`'s one string of completions.
_HEAD: Final = struct.Struct("<" + "I" * _COMPLETION_FIELDS)

_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: op, due, events, specs.
# ARGV: id, checkpoint, auth, delay_ms, state, sched, maxlen, spec digest|'', spec JSON|''.
# A checkpoint stored detached (without its spec) names its spec by digest: the spec is
# stored once per shard, in `specs`; '' stores the checkpoint whole (the first layout).
_ENROLL: Final = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local due = now + math.max(0, tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'ckpt', ARGV[2], 'auth', ARGV[3],
  'state', ARGV[5], 'sched', ARGV[6], 'fence', 0, 'owner', '', 'lease', 0,
  'enrolled', now, 'updated', now, 'cancel', '', 'stop', '0', 'progress', '')
if ARGV[8] ~= '' then
  redis.call('HSETNX', KEYS[4], ARGV[8], ARGV[9])
  redis.call('HSET', KEYS[1], 'spec', ARGV[8])
end
if ARGV[6] == 'due' then
  redis.call('HSET', KEYS[1], 'due', due)
  redis.call('ZADD', KEYS[2], due, ARGV[1])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*',
  'id', ARGV[1], 'kind', 'enrolled', 'state', ARGV[5], 'progress', '')
return 1
"""
)

# The two steps a worker's loop takes on a shard, as functions the scripts share.
# complete_one: write one poll's outcome back, if its fence still holds the lease; 1, or
#   0 (STALE: the fence moved on, or the lease was reaped). A holds its fields from i on:
#   id, fence, checkpoint|'', state, kind (due|stopped|done), delay_ms, progress|''|keep,
#   status|'', result|'', error|'' (not done: a transient fault, a `retry` event), cancel|'',
#   message, attempts|''.
# claim_into: lease up to n due operations, appending {id, fence, checkpoint, auth,
#   cancel, spec digest|''} for each to out.
_STEPS: Final = """
local function complete_one(op, due, leases, events, stats, A, i, ttl, maxlen)
  local id, state, progress = A[i], A[i + 3], A[i + 6]
  local cur = redis.call('HMGET', op, 'fence', 'sched', 'stop', 'progress', 'state')
  if cur[1] ~= A[i + 1] or cur[2] ~= 'leased' then
    redis.call('HINCRBY', stats, 'stale', 1)
    return 0
  end
  redis.call('ZREM', leases, id)
  if progress == 'keep' then progress = cur[4] or '' end
  redis.call('HSET', op, 'owner', '', 'lease', 0, 'updated', now, 'state', state,
    'progress', progress, 'message', A[i + 11])
  if A[i + 2] ~= '' then redis.call('HSET', op, 'ckpt', A[i + 2]) end
  if A[i + 7] ~= '' then redis.call('HSET', op, 'status', A[i + 7]) end
  if A[i + 10] ~= '' then redis.call('HSET', op, 'cancel', A[i + 10]) end
  if A[i + 12] ~= '' then redis.call('HSET', op, 'attempts', A[i + 12]) end
  local kind = A[i + 4]
  if kind == 'done' then
    redis.call('HSET', op, 'sched', 'done', 'due', '', 'stop', '0',
      'result', A[i + 8], 'error', A[i + 9], 'ended', now)
    redis.call('ZREM', due, id)
    if tonumber(ttl) > 0 then redis.call('EXPIRE', op, ttl) end
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'id', id, 'kind', 'done',
      'state', state, 'progress', progress, 'error', string.sub(A[i + 9], 1, 512))
    return 1
  end
  if A[i + 9] ~= '' then
    -- A transient fault (timeout, reset, 5xx, 429): polled again, the error not kept.
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'id', id, 'kind', 'retry',
      'state', state, 'progress', progress, 'error', string.sub(A[i + 9], 1, 512))
  end
  if kind == 'stopped' or cur[3] == '1' then
    redis.call('HSET', op, 'sched', 'stopped', 'due', '', 'stop', '0')
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'id', id, 'kind', 'stopped',
      'state', state, 'progress', progress)
    return 1
  end
  local at = now + math.max(0, tonumber(A[i + 5]))
  redis.call('HSET', op, 'sched', 'due', 'due', at)
  redis.call('ZADD', due, at, id)
  if cur[4] ~= progress or cur[5] ~= state then
    redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'id', id, 'kind', 'progress',
      'state', state, 'progress', progress)
  end
  return 1
end

local function claim_into(out, due, leases, prefix, owner, n, lease_ms)
  if n <= 0 then return end
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, n)
  local lease = now + lease_ms
  for _, id in ipairs(ids) do
    redis.call('ZREM', due, id)
    local k = prefix .. ':op:' .. id
    local f = redis.call('HMGET', k, 'ckpt', 'auth', 'cancel', 'sched', 'spec')
    if f[4] == 'due' then
      local fence = redis.call('HINCRBY', k, 'fence', 1)
      redis.call('HSET', k, 'sched', 'leased', 'owner', owner, 'lease', lease)
      redis.call('ZADD', leases, lease, id)
      out[#out + 1] = id
      out[#out + 1] = fence
      out[#out + 1] = f[1]
      out[#out + 1] = f[2]
      out[#out + 1] = f[3] or ''
      out[#out + 1] = f[5] or ''
    end
  end
end

local function next_due(due)
  local nxt = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  if nxt[2] then return tonumber(nxt[2]) end
  return -1
end
"""

# KEYS: due, leases. ARGV: prefix, owner, n, lease_ms.
# Returns {now, next due or -1, id, fence, checkpoint, auth, cancel, spec digest|'', ...}.
_CLAIM: Final = (
    _NOW
    + _STEPS
    + """
local out = {now, -1}
claim_into(out, KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
out[2] = next_due(KEYS[1])
return out
"""
)

# KEYS: op, due, leases, events, stats. ARGV: ttl_s, maxlen, then complete_one's fields.
# Returns 1, or 0 (STALE).
_COMPLETE: Final = (
    _NOW
    + _STEPS
    + """
return complete_one(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV, 3, ARGV[1], ARGV[2])
"""
)

# A worker's turn on one shard: complete its finished polls there, then claim.
# KEYS: due, leases, events, stats. ARGV: prefix, owner, n, lease_ms, ttl_s, maxlen, then
# the completions in one string: for each, the byte lengths of complete_one's fields as
# FIELDS little-endian 32-bit integers, then the fields themselves. Returns {now, next
# due or -1, 1|0 for each completion, then claim's items}.
_CYCLE: Final = (
    _NOW
    + _STEPS
    + """
local out = {now, -1}
local blob, pos, j = ARGV[7] or '', 1, 3
while pos <= #blob do
  local n = {struct.unpack('HEAD', blob, pos)}
  pos = n[FIELDS + 1]
  local A = {}
  for k = 1, FIELDS do
    A[k] = string.sub(blob, pos, pos + n[k] - 1)
    pos = pos + n[k]
  end
  out[j] = complete_one(ARGV[1] .. ':op:' .. A[1], KEYS[1], KEYS[2], KEYS[3], KEYS[4],
    A, 1, ARGV[5], ARGV[6])
  j = j + 1
end
claim_into(out, KEYS[1], KEYS[2], ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
out[2] = next_due(KEYS[1])
return out
""".replace("FIELDS", str(_COMPLETION_FIELDS)).replace("HEAD", _HEAD.format)
)

# KEYS: op, leases. ARGV: id, fence, lease_ms. Returns the new expiry (ms), or 0 (STALE).
_EXTEND: Final = (
    _NOW
    + """
local cur = redis.call('HMGET', KEYS[1], 'fence', 'sched')
if cur[1] ~= ARGV[2] or cur[2] ~= 'leased' then return 0 end
local lease = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'lease', lease)
redis.call('ZADD', KEYS[2], lease, ARGV[1])
return lease
"""
)

# KEYS: due, leases, events. ARGV: prefix, limit, maxlen. Returns the ids requeued.
_REAP: Final = (
    _NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[2], id)
  local k = ARGV[1] .. ':op:' .. id
  local f = redis.call('HMGET', k, 'sched', 'stop', 'state', 'progress')
  if f[1] == 'leased' then
    redis.call('HINCRBY', k, 'fence', 1)
    redis.call('HSET', k, 'owner', '', 'lease', 0)
    if f[2] == '1' then
      redis.call('HSET', k, 'sched', 'stopped', 'due', '', 'stop', '0')
    else
      redis.call('HSET', k, 'sched', 'due', 'due', now)
      redis.call('ZADD', KEYS[1], now, id)
    end
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', id, 'kind', 'reaped',
      'state', f[3] or '', 'progress', f[4] or '')
    out[#out + 1] = id
  end
end
return out
"""
)

# KEYS: op, due, events. ARGV: id, maxlen. Returns where the operation was (or 'missing').
_STOP: Final = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'sched', 'state', 'progress')
if not f[1] then return 'missing' end
if f[1] == 'due' then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HSET', KEYS[1], 'sched', 'stopped', 'due', '', 'updated', now)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'id', ARGV[1], 'kind', 'stopped',
    'state', f[2], 'progress', f[3])
elseif f[1] == 'leased' then
  redis.call('HSET', KEYS[1], 'stop', '1')
end
return f[1]
"""
)

# KEYS: op, due, events. ARGV: id, maxlen. Returns where the operation was (or 'missing').
_RESUME: Final = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'sched', 'state', 'progress')
if not f[1] then return 'missing' end
if f[1] == 'stopped' then
  redis.call('HSET', KEYS[1], 'sched', 'due', 'due', now, 'stop', '0', 'updated', now)
  redis.call('ZADD', KEYS[2], now, ARGV[1])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'id', ARGV[1], 'kind', 'resumed',
    'state', f[2], 'progress', f[3])
elseif f[1] == 'leased' then
  redis.call('HSET', KEYS[1], 'stop', '0')
end
return f[1]
"""
)

# KEYS: op, due, events. ARGV: id, maxlen. Returns the cancel state, 'done' or 'missing'.
_CANCEL: Final = (
    _NOW
    + """
local f = redis.call('HMGET', KEYS[1], 'sched', 'cancel', 'state', 'progress')
if not f[1] then return 'missing' end
if f[1] == 'done' then return 'done' end
if f[2] == 'requested' or f[2] == 'sent' then return f[2] end
redis.call('HSET', KEYS[1], 'cancel', 'requested', 'stop', '0', 'updated', now)
if f[1] == 'due' or f[1] == 'stopped' then
  redis.call('HSET', KEYS[1], 'sched', 'due', 'due', now)
  redis.call('ZADD', KEYS[2], now, ARGV[1])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'id', ARGV[1], 'kind', 'cancel',
  'state', f[3], 'progress', f[4])
return 'requested'
"""
)

_SOURCES: Final = {
    "enroll": _ENROLL,
    "claim": _CLAIM,
    "complete": _COMPLETE,
    "cycle": _CYCLE,
    "extend": _EXTEND,
    "reap": _REAP,
    "stop": _STOP,
    "resume": _RESUME,
    "cancel": _CANCEL,
}


@dataclass(frozen=True, slots=True)
class Call:
    """One script call, ready to go into a pipeline."""

    script: str
    keys: tuple[str, ...]
    args: tuple[str | bytes | int | float, ...]


# Not frozen: one per poll (see `_sender.RawRequest`); nobody changes one.
@dataclass(slots=True)
class Completion:
    """What a worker writes back after one step of a leased operation.

    Attributes:
        op_id: the operation.
        fence: the fence its claim returned.
        state: the operation state after the step.
        kind: ``due`` (poll again after ``delay``), ``stopped`` or ``done``.
        checkpoint: the next checkpoint ('' keeps the stored one).
        delay: seconds until the next poll.
        progress: percent done ('' when unknown, ``keep`` to keep the stored one).
        status: the last status document, truncated JSON ('' keeps the stored one).
        result: the result as JSON, once succeeded.
        error: the error as JSON (type and message), once ended without a result; for a
            step that met a transient fault, that fault (a ``retry`` event, not kept).
        cancel: the new cancel state ('' keeps it).
        message: the latest rendered message.
        attempts: status answers so far ('' keeps the stored count).
    """

    op_id: str
    fence: int
    state: str
    kind: str
    checkpoint: str = ""
    delay: float = 0.0
    progress: str = "keep"
    status: str = ""
    result: str = ""
    error: str = ""
    cancel: str = ""
    message: str = ""
    attempts: str = ""


def _fields(c: Completion) -> tuple[bytes, ...]:
    """A completion's fields, in complete_one's order, encoded as redis-py would encode them.

    Bytes go through redis-py's encoder at once: a str or an int takes it a chain of type
    checks per argument (13 per completion), a measurable part of a fleet poll's CPU.
    """
    return (
        c.op_id.encode(),
        b"%d" % c.fence,
        c.checkpoint.encode(),
        c.state.encode(),
        c.kind.encode(),
        b"%d" % max(0, round(c.delay * 1000)),
        c.progress.encode(),
        c.status.encode(),
        c.result.encode(),
        c.error.encode(),
        c.cancel.encode(),
        c.message.encode(),
        c.attempts.encode(),
    )


class Scripts:
    """The fleet's scripts for one namespace: calls to pipeline, and `run` to send them.

    Attributes:
        keys: the namespace's key layout.
        round_trips: pipelines sent so far (each one round trip to Redis).
    """

    def __init__(self, keys: Keys, *, maxlen: int = 100_000) -> None:
        self.keys = keys
        self.maxlen = maxlen
        self.round_trips = 0
        self._sha = {n: hashlib.sha1(s.encode()).hexdigest() for n, s in _SOURCES.items()}

    def enroll(
        self,
        op_id: str,
        checkpoint: str,
        auth: str,
        *,
        state: str,
        sched: str,
        delay: float = 0,
        spec: tuple[str, str] | None = None,
    ) -> Call:
        """Add an operation unless one with this id exists (1 added, 0 already there).

        ``spec`` is the digest and canonical JSON of the spec of a detached
        ``checkpoint`` (`lrpoll._checkpoint.spec_digest`); None stores it whole.
        """
        k, p = self.keys, self.keys.shard(op_id)
        keys = (k.op(op_id), k.due(p), k.events(p), k.specs(p))
        digest, text = spec or ("", "")
        args = (op_id, checkpoint, auth, round(delay * 1000), state, sched, self.maxlen)
        return Call("enroll", keys, (*args, digest, text))

    def claim(self, shard: int, owner: str, n: int, lease: float) -> Call:
        """Lease up to ``n`` due operations of ``shard`` for ``lease`` seconds."""
        k = self.keys
        keys = (k.due(shard), k.leases(shard))
        return Call("claim", keys, (k.prefix(shard), owner, n, max(0, round(lease * 1000))))

    def complete(self, c: Completion, *, ttl: int) -> Call:
        """Write one step's outcome back, if ``c.fence`` still holds the lease (1), else 0."""
        k, p = self.keys, self.keys.shard(c.op_id)
        keys = (k.op(c.op_id), k.due(p), k.leases(p), k.events(p), k.stats(p))
        return Call("complete", keys, (ttl, self.maxlen, *_fields(c)))

    def cycle(
        self,
        shard: int,
        owner: str,
        n: int,
        lease: float,
        completions: Sequence[Completion],
        *,
        ttl: int,
    ) -> Call:
        """A worker's turn on ``shard``: `complete` its ``completions``, then `claim` ``n``.

        One script: the completions (each of an operation of that shard) are written back
        first, then up to ``n`` due operations are leased. Its answer: ``[now, next due
        or -1, 1 or 0 for each completion, then claim's items]``.
        """
        k = self.keys
        keys = (k.due(shard), k.leases(shard), k.events(shard), k.stats(shard))
        head = (k.prefix(shard), owner, n, max(0, round(lease * 1000)), ttl, self.maxlen)
        if not completions:
            return Call("cycle", keys, head)
        # One argument for all: redis-py packs each argument in Python (type checks and
        # an encode apiece), 13 a completion otherwise.
        parts = []
        for c in completions:
            fields = _fields(c)
            parts.append(_HEAD.pack(*map(len, fields)))
            parts += fields
        return Call("cycle", keys, (*head, b"".join(parts)))

    def extend(self, op_id: str, fence: int, lease: float) -> Call:
        """Extend a held lease to ``lease`` seconds from now (the new expiry in ms, or 0)."""
        k, p = self.keys, self.keys.shard(op_id)
        return Call("extend", (k.op(op_id), k.leases(p)), (op_id, fence, round(lease * 1000)))

    def reap(self, shard: int, limit: int = 1000) -> Call:
        """Put the expired leases of ``shard`` back in the due set; the ids requeued."""
        k = self.keys
        keys = (k.due(shard), k.leases(shard), k.events(shard))
        return Call("reap", keys, (k.prefix(shard), limit, self.maxlen))

    def _op_call(self, name: str, op_id: str) -> Call:
        k, p = self.keys, self.keys.shard(op_id)
        return Call(name, (k.op(op_id), k.due(p), k.events(p)), (op_id, self.maxlen))

    def stop(self, op_id: str) -> Call:
        """Stop polling an operation (at once when due; after its poll when leased)."""
        return self._op_call("stop", op_id)

    def resume(self, op_id: str) -> Call:
        """Resume a stopped operation: due at once."""
        return self._op_call("resume", op_id)

    def cancel(self, op_id: str) -> Call:
        """Ask for the operation's cancel request: recorded once, due at once."""
        return self._op_call("cancel", op_id)

    async def load(self, redis: Redis) -> None:
        """Load every script into Redis's script cache."""
        async with redis.pipeline(transaction=False) as pipe:
            for source in _SOURCES.values():
                pipe.script_load(source)
            await pipe.execute()
        self.round_trips += 1

    async def run(self, redis: Redis, calls: Sequence[Call]) -> list[Any]:
        """Send ``calls`` in one pipeline; their answers, in order.

        Raises:
            redis.exceptions.RedisError: for a connection fault or a script error.
        """
        if not calls:
            return []
        answers = await self._send(redis, calls)
        missing = [i for i, a in enumerate(answers) if isinstance(a, NoScriptError)]
        if missing:
            # A restarted Redis lost its script cache: a refused call did nothing.
            await self.load(redis)
            again = await self._send(redis, [calls[i] for i in missing])
            for i, answer in zip(missing, again, strict=True):
                answers[i] = answer
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers

    async def _send(self, redis: Redis, calls: Sequence[Call]) -> list[Any]:
        async with redis.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.evalsha(self._sha[call.script], len(call.keys), *call.keys, *call.args)
            self.round_trips += 1
            return list(await pipe.execute(raise_on_error=False))
