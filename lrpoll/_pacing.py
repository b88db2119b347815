"""Per-host pacing: a gate a 429 closes, and a token bucket that slows retries to a failing host.

Both only slow operations down; neither fails one. The caller (the scheduler, a fleet
worker) asks `hold` before sending a poll, tells `after_retry` what a transient answer
was and `after_success` what a good one was; the per-operation step never sees the hosts.

The retry bucket refills with time (``retry_rate`` per second) and with good answers
(``retry_refill`` tokens each), as the AWS SDKs' retry quota and gRPC's retry throttling
do: during an outage, retries leave at the bucket's rate; once the host answers again,
each good answer lets a deferred retry go at once (the one deferred furthest out), so the
operations held back by the outage drain in a few round trips instead of at the outage
rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._urls import Origin

__all__ = ["HostPacing"]


@dataclass(slots=True)
class _Host:
    gate_until: float = 0.0
    release_at: float = 0.0
    tokens: float = 0.0
    refilled_at: float = 0.0
    credit: float = 0.0  # good answers' refill not spent yet (below one whole token)
    # Retries the bucket deferred past their own delay: key -> (own due, slot), oldest
    # first. The newest has the furthest slot (slots follow the bucket's debt).
    deferred: dict[Any, tuple[float, float]] = field(default_factory=dict)


class HostPacing:
    """Gates and retry buckets per origin.

    Args:
        retry_rate: retries per second a failing host gets (token bucket).
        retry_burst: retries a failing host gets at once.
        gate_release_rate: polls per second a host gets when the gate a 429 closed
            reopens (the polls held at the gate leave at this rate).
        retry_refill: tokens each good answer from a host puts back in its bucket.
    """

    def __init__(
        self,
        *,
        retry_rate: float,
        retry_burst: float,
        gate_release_rate: float,
        retry_refill: float = 1.0,
    ) -> None:
        if gate_release_rate <= 0:
            raise ValueError("gate_release_rate must be above 0")
        if not retry_refill >= 0:
            raise ValueError("retry_refill must be 0 or more")
        self._retry_rate = retry_rate
        self._retry_burst = retry_burst
        self._retry_refill = retry_refill
        self._release_gap = 1.0 / gate_release_rate
        self._hosts: dict[Origin, _Host] = {}

    @property
    def active(self) -> bool:
        """Whether any host has failed yet (until then, nothing is paced)."""
        return bool(self._hosts)

    def hold(self, origin: Origin | None, now: float) -> float | None:
        """When a poll to ``origin`` may leave, if its gate is closed at ``now``; else None.

        Polls held at a gate leave one ``1 / gate_release_rate`` apart when it reopens,
        instead of all at once (a herd would earn the next 429).
        """
        host = self._hosts.get(origin) if origin is not None else None
        if host is None or host.gate_until <= now:
            return None
        due = max(host.gate_until, host.release_at)
        host.release_at = due + self._release_gap
        return due

    def after_retry(
        self,
        origin: Origin | None,
        now: float,
        delay: float,
        *,
        throttled: bool,
        key: Any = None,
    ) -> float:
        """The delay before retrying a transient answer from ``origin``: at least ``delay``.

        A 429 (``throttled``) closes the host's gate until ``now + delay``; every retry
        spends a token of the host's bucket, and an empty bucket adds its refill time.
        A retry given a ``key`` (the operation) and deferred by the bucket may be let go
        earlier by `after_success`.
        """
        if origin is None:
            return delay
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = _Host(tokens=self._retry_burst, refilled_at=now)
        if throttled:
            host.gate_until = max(host.gate_until, now + delay)
        self._refill(host, now)
        host.tokens -= 1.0
        wait = 0.0 if host.tokens >= 0 else -host.tokens / self._retry_rate
        if key is not None:
            host.deferred.pop(key, None)
            if wait > delay:
                host.deferred[key] = (now + delay, now + wait)
        return max(delay, wait)

    def after_success(
        self, origin: Origin | None, now: float, key: Any = None
    ) -> list[tuple[Any, float]]:
        """A good answer from ``origin``: refill its bucket; deferred retries that may go now.

        Each good answer adds ``retry_refill`` tokens. While retries are deferred, each
        whole token lets the one deferred furthest out go, and frees its slot in the
        bucket: the caller reschedules each returned ``(key, due)`` (``due`` is ``now``, or
        the retry's own delay if that ends later). With nothing deferred, the tokens
        refill the bucket up to ``retry_burst``. ``key`` is the operation that answered
        (no longer deferred).
        """
        host = self._hosts.get(origin) if origin is not None else None
        if host is None:
            return []
        deferred = host.deferred
        if key is not None and deferred:
            deferred.pop(key, None)
        self._refill(host, now)
        if not deferred:
            host.tokens = min(self._retry_burst, host.tokens + self._retry_refill)
            return []
        host.credit += self._retry_refill
        released: list[tuple[Any, float]] = []
        while host.credit >= 1.0 and deferred:
            item, (own, slot) = deferred.popitem()
            if slot <= now:
                continue  # its slot came: it went (or ended) by itself
            host.credit -= 1.0
            host.tokens += 1.0  # its slot is free
            released.append((item, max(now, own)))
        return released

    def _refill(self, host: _Host, now: float) -> None:
        host.tokens = min(
            self._retry_burst, host.tokens + (now - host.refilled_at) * self._retry_rate
        )
        host.refilled_at = now
