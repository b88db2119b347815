"""Per-host pacing: a gate a 429 closes, and a token bucket that slows retries to a failing host.

Both only slow operations down; neither fails one. The caller (the scheduler, a fleet
worker) asks `hold` before sending a poll and tells `after_retry` what a transient
answer was; the per-operation step never sees the hosts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._urls import Origin

__all__ = ["HostPacing"]


@dataclass(slots=True)
class _Host:
    gate_until: float = 0.0
    release_at: float = 0.0
    tokens: float = 0.0
    refilled_at: float = 0.0


class HostPacing:
    """Gates and retry buckets per origin.

    Args:
        retry_rate: retries per second a failing host gets (token bucket).
        retry_burst: retries a failing host gets at once.
        gate_release_rate: polls per second a host gets when the gate a 429 closed
            reopens (the polls held at the gate leave at this rate).
    """

    def __init__(self, *, retry_rate: float, retry_burst: float, gate_release_rate: float) -> None:
        if gate_release_rate <= 0:
            raise ValueError("gate_release_rate must be above 0")
        self._retry_rate = retry_rate
        self._retry_burst = retry_burst
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
        self, origin: Origin | None, now: float, delay: float, *, throttled: bool
    ) -> float:
        """The delay before retrying a transient answer from ``origin``: at least ``delay``.

        A 429 (``throttled``) closes the host's gate until ``now + delay``; every retry
        spends a token of the host's bucket, and an empty bucket adds its refill time.
        """
        if origin is None:
            return delay
        host = self._hosts.get(origin)
        if host is None:
            host = self._hosts[origin] = _Host(tokens=self._retry_burst, refilled_at=now)
        if throttled:
            host.gate_until = max(host.gate_until, now + delay)
        host.tokens = min(
            self._retry_burst, host.tokens + (now - host.refilled_at) * self._retry_rate
        )
        host.refilled_at = now
        host.tokens -= 1.0
        wait = 0.0 if host.tokens >= 0 else -host.tokens / self._retry_rate
        return max(delay, wait)
