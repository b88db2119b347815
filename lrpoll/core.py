"""The sans-I/O decision core: one observation in, one decision out.

`decide` turns what the runtime saw of one status answer (an `Observation`) into what
happens next (`Running`, `Retry`, `Succeeded` or `Ended`), by the precedence written in
docs/architecture.md. It reads no clock, opens no socket and logs nothing: test a spec
against documents here, without a server. The scheduler, `lrpoll.step` and the fleet
worker all decide through it.
"""

from __future__ import annotations

from ._core import Decision, Ended, Observation, Retry, Running, Succeeded, decide, read_progress
from ._public import claim
from ._retry_after import parse_retry_after

__all__ = [
    "Decision",
    "Ended",
    "Observation",
    "Retry",
    "Running",
    "Succeeded",
    "decide",
    "parse_retry_after",
    "read_progress",
]

claim(globals(), __all__, __name__)
