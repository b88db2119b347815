"""The operation states and the one table of their transitions (h11's ``_state.py`` is the model).

Everything that moves an operation from one state to another is an event in
`TRANSITIONS`; the runtime looks its next state up in one line and never sets a state
any other way. A pair that is not in the table is a bug in lrpoll, not a user error:
`next_state` raises `InvalidTransition` for it.

```text
                    start / watch / resume
   pending ─────────────────────────────────────▶ running ◀──────────┐
      │  terminal start answer                    │  ▲  │            │ cancel_unconfirmed
      ▼                                           │  │  │ cancel_accepted
  succeeded, failed, cancelled,      stop ┌───────┘  │  ▼            │
  timed_out, gone, error ◀── end ──┐      ▼   resume │  cancelling ──┘
                                   │    stopped ─────┘      │
                                   └────────────────────────┘ end
```

What an answer means (which ending, and that a 404/410 right after an accepted cancel
is the ending ``cancelled``) is the decision core's rule; this table only says where each
event leads.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Final, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "POLLED",
    "TERMINAL",
    "TRANSITIONS",
    "Ending",
    "Event",
    "InvalidTransition",
    "OperationState",
    "next_state",
]

Ending = Literal["succeeded", "failed", "cancelled", "timed_out", "gone", "error"]
"""The terminal states, each also the event that leads to it."""

OperationState = Literal["pending", "running", "cancelling", "stopped", Ending]
"""Where an operation stands. ``running`` and ``cancelling`` (a cancel was accepted,
confirmation pending) are polled; ``stopped`` is client-side and resumable; the rest are
terminal."""

Event = Literal["poll", "stop", "resume", "cancel_accepted", "cancel_unconfirmed", Ending]
"""What happens to an operation: polling begins (``poll``), the client stops or resumes it,
the server accepts a cancel (or does not confirm it in time), or an ending decision."""

TERMINAL: Final[frozenset[OperationState]] = frozenset(get_args(Ending))
#: States whose operations are polled.
POLLED: Final[frozenset[OperationState]] = frozenset({"running", "cancelling"})

_ENDINGS: Final[dict[Event, OperationState]] = {end: end for end in get_args(Ending)}

#: (state, event) → next state. Terminal states have no way out.
TRANSITIONS: Final[Mapping[OperationState, Mapping[Event, OperationState]]] = MappingProxyType(
    {
        "pending": MappingProxyType({"poll": "running", "stop": "stopped", **_ENDINGS}),
        "running": MappingProxyType(
            {"stop": "stopped", "cancel_accepted": "cancelling", **_ENDINGS}
        ),
        "cancelling": MappingProxyType(
            {"stop": "stopped", "cancel_unconfirmed": "running", **_ENDINGS}
        ),
        "stopped": MappingProxyType(
            {
                "resume": "running",
                # A cancel accepted while stopped is confirmed by polling again.
                "cancel_accepted": "cancelling",
                # A stopped checkpoint can record how the operation ended elsewhere.
                **_ENDINGS,
            }
        ),
        **{state: MappingProxyType({}) for state in sorted(TERMINAL)},
    }
)


class InvalidTransition(RuntimeError):
    """Raised when the runtime asks for a transition the table does not hold (a bug)."""


def next_state(state: OperationState, event: Event) -> OperationState:
    """The state after ``event`` happens in ``state``.

    Raises:
        InvalidTransition: when the table has no such transition.
    """
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise InvalidTransition(f"no transition from {state!r} on {event!r}") from None
