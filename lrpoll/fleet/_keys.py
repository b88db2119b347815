"""The fleet's key layout in Redis: every key of one shard under one hash tag.

An operation lives in shard ``p = crc32(id) mod shards``; all keys of a shard share the
hash tag ``{lrpoll:<namespace>:<p>}``, so each script touches one Redis Cluster slot::

    {lrpoll:<ns>:<p>}:op:<id>   HASH   one operation (checkpoint, state, fence, lease, ...)
    {lrpoll:<ns>:<p>}:specs     HASH   spec digest -> the spec's canonical JSON (stored once)
    {lrpoll:<ns>:<p>}:due       ZSET   ids waiting for a poll, scored by due time (ms)
    {lrpoll:<ns>:<p>}:leases    ZSET   ids with a poll in flight, scored by lease expiry (ms)
    {lrpoll:<ns>:<p>}:events    STREAM progress, state and terminal events
    {lrpoll:<ns>:<p>}:stats     HASH   counters (``stale``: completions refused)
    lrpoll:<ns>:meta            HASH   the namespace's shard count (checked by every client)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True, slots=True)
class Keys:
    """The key names of one fleet namespace.

    Attributes:
        namespace: separates fleets sharing one Redis.
        shards: the number of shards (hash tags); fixed for the life of the namespace.
    """

    namespace: str
    shards: int

    def __post_init__(self) -> None:
        """Check the namespace and the shard count.

        Raises:
            ValueError: for a namespace holding braces or ``:``, or fewer than 1 shard.
        """
        if not self.namespace or any(c in self.namespace for c in "{}: "):
            raise ValueError("namespace must be non-empty, without braces, ':' or spaces")
        if not 1 <= self.shards <= 4096:
            raise ValueError("shards must be in 1..4096")

    @property
    def meta(self) -> str:
        """The namespace's settings hash."""
        return f"lrpoll:{self.namespace}:meta"

    def shard(self, op_id: str) -> int:
        """The shard of operation ``op_id``."""
        return zlib.crc32(op_id.encode()) % self.shards

    def prefix(self, shard: int) -> str:
        """The hash-tagged prefix of every key of ``shard``."""
        return f"{{lrpoll:{self.namespace}:{shard}}}"

    def op(self, op_id: str) -> str:
        """The hash of operation ``op_id``."""
        return f"{self.prefix(self.shard(op_id))}:op:{op_id}"

    def due(self, shard: int) -> str:
        """The due-time set of ``shard``."""
        return f"{self.prefix(shard)}:due"

    def leases(self, shard: int) -> str:
        """The lease set of ``shard``."""
        return f"{self.prefix(shard)}:leases"

    def events(self, shard: int) -> str:
        """The event stream of ``shard``."""
        return f"{self.prefix(shard)}:events"

    def specs(self, shard: int) -> str:
        """The specs of ``shard``'s operations, by digest."""
        return f"{self.prefix(shard)}:specs"

    def stats(self, shard: int) -> str:
        """The counters of ``shard``."""
        return f"{self.prefix(shard)}:stats"
