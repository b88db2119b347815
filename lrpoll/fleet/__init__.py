"""`lrpoll.fleet`: a durable schedule on Redis, polled by any number of workers.

`Fleet` enrolls operations (from a checkpoint, or a status URL and a spec) and follows
them; `Worker` processes claim the due ones, run the one per-operation step
(`lrpoll.step`) with the credentials of their auth profiles, and write the outcome back
under a fencing counter. Needs the ``fleet`` extra (``redis``). See docs/fleet.md.
"""

from .._public import claim
from ._client import DEFAULT_SHARDS, Fleet, FleetEvent, FleetOperation
from ._command import main
from ._worker import Worker, WorkerStatistics

__all__ = [
    "DEFAULT_SHARDS",
    "Fleet",
    "FleetEvent",
    "FleetOperation",
    "Worker",
    "WorkerStatistics",
    "main",
]

claim(globals(), __all__, __name__)
