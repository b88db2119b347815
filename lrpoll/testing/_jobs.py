"""Job scripts and the job state machine behind `FakeLROServer` (pure: no I/O, no clock reads).

A job is driven by *ticks*. Poll-based jobs (the default) take one tick per status poll; a job
whose script sets `seconds` derives its tick from the loop time the server passes in, so a test
on a fake clock sees the same states at the same instants every run.

Tick `k` (the k-th status poll) answers, for a script with `q = queued_polls` and `n = polls`:

| tick          | state                                     | progress                      |
|---------------|-------------------------------------------|-------------------------------|
| 0 (creation)  | `queued`                                  | 0                             |
| 1 .. q        | `queued`                                  | 0                             |
| q+1 .. q+n    | `running`                                 | `progress[i]` or `100*i/(n+1)`|
| q+n+1 ..      | `done` / `failed` (`never`: stays running) | 100 / last running value      |

A cancel request freezes the progress and overrides the script according to `cancel`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["CancelMode", "CancelReply", "FakeJob", "JobScript", "JobState"]

JobState: TypeAlias = Literal["queued", "running", "done", "failed", "cancelling", "cancelled"]
"""The states a fake job reports in its `status` field."""

CancelMode: TypeAlias = Literal["immediate", "async", "ignored", "unsupported"]
"""How a job answers a cancel request (see `JobScript.cancel`)."""

CancelReply: TypeAlias = Literal["cancelled", "cancelling", "unsupported", "finished"]
"""What a cancel request did to a job; the server maps it to an HTTP answer."""

TERMINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})

_MESSAGES: dict[str, str] = {
    "queued": "Export queued",
    "running": "Export in progress",
    "done": "Export completed",
    "cancelling": "Export cancelling",
    "cancelled": "Export cancelled",
}


@dataclass(frozen=True, kw_only=True)
class JobScript:
    """What a fake job does over its life: a small, immutable script.

    Attributes:
        polls: Status polls answered `running` before the terminal state; the terminal answer
            is the next poll.
        outcome: How the job ends: `"succeeded"` (`done` with `result`), `"failed"` (`failed`
            with `error`), or `"never"` (stays `running` forever).
        progress: Explicit percent for each running poll (the last value repeats); `None`
            means linear, `100 * i // (polls + 1)` for the i-th running poll.
        result: The `result` member of the `done` document; `None` means
            `{"url": "/downloads/<jobId>.csv"}`.
        fail_code: The `error.code` of the `failed` document.
        fail_message: The `error.message` (and `message`) of the `failed` document.
        queued_polls: Status polls answered `queued` before the job starts running.
        seconds: When set, the job's ticks come from loop time instead of polls: its
            `queued_polls + polls` non-terminal ticks are spread evenly over `seconds`
            from its creation, and it is terminal from `seconds` on.
        retry_after: Raw `Retry-After` value sent with every non-terminal status answer
            (never validated, so tests can send hostile values).
        start_retry_after: Raw `Retry-After` value sent with the creation answer.
        cancel: How a cancel request is answered: `"immediate"` (cancelled at once),
            `"async"` (`cancelling` for `cancel_polls` polls, then `cancelled`), `"ignored"`
            (accepted, but the script goes on), `"unsupported"` (refused).
        cancel_polls: Status polls answered `cancelling` after an `"async"` cancel.
        finished_status: HTTP status for a cancel of a finished job (400 or 409).
        unsupported_status: HTTP status for an `"unsupported"` cancel (501 or 405).
    """

    polls: int = 3
    outcome: Literal["succeeded", "failed", "never"] = "succeeded"
    progress: Sequence[int] | None = None
    result: Any = None
    fail_code: str = "ExportFailed"
    fail_message: str = "export failed"
    queued_polls: int = 0
    seconds: float | None = None
    retry_after: str | None = None
    start_retry_after: str | None = None
    cancel: CancelMode = "immediate"
    cancel_polls: int = 2
    finished_status: Literal[400, 409] = 400
    unsupported_status: Literal[501, 405] = 501

    def __post_init__(self) -> None:
        """Validate the script.

        Raises:
            ValueError: Raised when a count is negative, a percent is outside 0..100, or
                `seconds` is not positive or has no non-terminal tick to spread.
        """
        if min(self.polls, self.queued_polls, self.cancel_polls) < 0:
            raise ValueError("polls, queued_polls and cancel_polls must be >= 0")
        if self.progress is not None:
            object.__setattr__(self, "progress", tuple(self.progress))
            if not self.progress or any(not 0 <= p <= 100 for p in self.progress):
                raise ValueError("progress must be a non-empty sequence of ints in 0..100")
        if self.seconds is not None and (
            not self.seconds > 0 or self.polls + self.queued_polls == 0
        ):
            raise ValueError("seconds must be > 0 and needs polls + queued_polls >= 1")

    @classmethod
    def success(cls, polls: int = 3, **kwargs: Any) -> JobScript:
        """A job that runs for `polls` status polls, then answers `done`."""
        return cls(polls=polls, outcome="succeeded", **kwargs)

    @classmethod
    def fail_at(cls, n: int, message: str = "export failed", **kwargs: Any) -> JobScript:
        """A job whose `n`-th status poll (n >= 1) answers `failed` with `message`."""
        if n < 1:
            raise ValueError("fail_at needs n >= 1")
        return cls(polls=n - 1, outcome="failed", fail_message=message, **kwargs)

    @classmethod
    def slow(cls, **kwargs: Any) -> JobScript:
        """A job that never finishes (stays `running` at progress 0 unless told otherwise)."""
        return cls(**{"polls": 0, **kwargs, "outcome": "never"})

    @classmethod
    def timed(cls, seconds: float, polls: int = 3, **kwargs: Any) -> JobScript:
        """A job that finishes `seconds` of loop time after its creation."""
        return cls(seconds=seconds, polls=polls, **kwargs)

    @classmethod
    def cancel_async(cls, k: int = 2, **kwargs: Any) -> JobScript:
        """A slow job whose cancel answers `cancelling` for `k` polls, then `cancelled`."""
        return cls.slow(cancel="async", cancel_polls=k, **kwargs)

    @classmethod
    def cancel_ignored(cls, polls: int = 3, **kwargs: Any) -> JobScript:
        """A job that accepts a cancel but still succeeds after `polls` polls."""
        return cls(polls=polls, cancel="ignored", **kwargs)

    @classmethod
    def cancel_unsupported(cls, status: Literal[501, 405] = 501, **kwargs: Any) -> JobScript:
        """A slow job that refuses cancel requests with `status` (501 or 405)."""
        return cls.slow(cancel="unsupported", unsupported_status=status, **kwargs)

    def at_tick(self, tick: int) -> tuple[JobState, int]:
        """Return the `(state, progress)` the script prescribes at `tick` (see module docs)."""
        running = tick - self.queued_polls
        if running <= 0:
            return "queued", 0
        if running <= self.polls or self.outcome == "never":
            return "running", self._running_progress(min(running, self.polls))
        if self.outcome == "succeeded":
            return "done", 100
        return "failed", self._running_progress(self.polls) if self.polls else 0

    def tick_at(self, elapsed: float) -> int:
        """Return the tick a time-based script (`seconds` set) has reached after `elapsed`."""
        assert self.seconds is not None
        steps = self.queued_polls + self.polls
        if elapsed >= self.seconds:
            return steps + 1
        return 1 + int(max(elapsed, 0.0) * steps / self.seconds)

    def _running_progress(self, i: int) -> int:
        if self.progress is not None:
            return self.progress[min(max(i, 1), len(self.progress)) - 1]
        return 100 * i // (self.polls + 1)


@dataclass(eq=False, kw_only=True)
class FakeJob:
    """One job on a fake server, inspectable by tests.

    Attributes:
        id: The job id (`job-<n>` unless given).
        script: The script the job follows.
        created_at: Loop time of creation.
        state: The state of the last answer (`queued` before the first poll).
        progress: The progress of the last answer.
        polls: Status polls answered so far (faulted or unauthorized requests excluded).
        cancel_requests: The body of each cancel request (`b""` for `DELETE` or no body).
    """

    id: str
    script: JobScript
    created_at: float
    state: JobState = "queued"
    progress: int = 0
    polls: int = 0
    cancel_requests: list[bytes] = field(default_factory=list)
    _cancelling_left: int = field(default=0, init=False, repr=False)

    @property
    def finished(self) -> bool:
        """Whether the job is in a terminal state (`done`, `failed` or `cancelled`)."""
        return self.state in TERMINAL_STATES

    def refresh(self, now: float) -> None:
        """Bring a time-based job up to loop time `now` without counting a poll."""
        if self.script.seconds is not None and self.state not in ("cancelling", "cancelled"):
            self.state, self.progress = self.script.at_tick(
                self.script.tick_at(now - self.created_at)
            )

    def advance(self, now: float) -> None:
        """Answer one status poll at loop time `now`: count it and move the job one tick."""
        self.polls += 1
        if self.state == "cancelling":
            if self._cancelling_left == 0:
                self.state = "cancelled"
            else:
                self._cancelling_left -= 1
        elif self.state == "cancelled":
            pass
        elif self.script.seconds is not None:
            self.refresh(now)
        else:
            self.state, self.progress = self.script.at_tick(self.polls)

    def request_cancel(self, body: bytes = b"") -> CancelReply:
        """Record a cancel request and apply the script's `cancel` mode.

        Returns:
            `"finished"` when the job is already terminal, `"unsupported"` when the script
            refuses cancels, else the state now reported (`"cancelled"` or `"cancelling"`;
            an ignored cancel also answers `"cancelling"`). A repeated cancel of a
            `cancelling` job answers `"cancelling"` and does not restart the countdown.
        """
        self.cancel_requests.append(body)
        if self.finished:
            return "finished"
        mode = self.script.cancel
        if mode == "unsupported":
            return "unsupported"
        if mode == "ignored" or self.state == "cancelling":
            return "cancelling"
        if mode == "immediate":
            self.state = "cancelled"
            return "cancelled"
        self.state, self._cancelling_left = "cancelling", self.script.cancel_polls
        return "cancelling"

    def document(self) -> dict[str, Any]:
        """Return the status document for the current state."""
        doc: dict[str, Any] = {"jobId": self.id, "status": self.state, "progress": self.progress}
        if self.state == "failed":
            doc["message"] = self.script.fail_message
            doc["error"] = {"code": self.script.fail_code, "message": self.script.fail_message}
        else:
            doc["message"] = _MESSAGES[self.state]
        if self.state == "done":
            result = self.script.result
            doc["result"] = {"url": f"/downloads/{self.id}.csv"} if result is None else result
        return doc
