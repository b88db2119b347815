"""lrpoll: long-running HTTP operations on asyncio, declared once, polled by one scheduler.

The names a user of the scheduler needs live here; the modules behind them are private.
Two public modules hold the lower tiers: `lrpoll.core` (the sans-I/O decision core:
`decide`, `Observation` and the decisions) and `lrpoll.registry` (presets, decoders and
discovery steps by name). Their names were importable from here before; they still are
for one release, with a `DeprecationWarning`.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

from ._auth import BasicAuth, BearerToken, Credential, FormField, Header, QueryParam
from ._cancel import AbandonPolicy, CancelOutcome, CancelToken, OutcomeKind, cancel_step
from ._exceptions import (
    AuthError,
    CheckpointError,
    HTTPStatusError,
    LrpollError,
    MalformedStatus,
    OperationCancelled,
    OperationError,
    OperationFailed,
    OperationGone,
    PollingStopped,
    PollTimeout,
    RequestError,
    ResponseTooLarge,
    SpecError,
    TemplateError,
    TooManyRedirects,
    TransportError,
    UntrustedURL,
)
from ._expr import Expression, MessageTemplate, UrlTemplate
from ._lean import LeanSender
from ._loop import loop_factory, run
from ._operation import Callback, Operation, OperationState, Update
from ._public import claim
from ._scheduler import Scheduler, SchedulerStatistics
from ._sender import BodyTooLarge, Limits, RawRequest, RawResponse, Sender, SendFault
from ._spec import (
    Backoff,
    Batch,
    BodyError,
    BodyErrorKind,
    CancelResult,
    CancelSpec,
    ErrorBudget,
    Messages,
    PollSpec,
    StartRetry,
    StatusRule,
    View,
)
from ._specfile import SpecFormat, load_spec, loads_spec
from ._step import StepResult, checkpoint_for, step
from ._store import CheckpointStore, DirectoryStore
from ._transport import HttpClient, Transport

# isort: split
# Importing the presets registers them by name, so `PollSpec.from_json({"preset": ...})`
# and `resolve_preset` find the built-ins whenever lrpoll is imported. Last, as they sit
# beside the library: nothing above needs them.
from . import core as core
from . import presets as presets
from . import registry as registry

__all__ = [
    "AbandonPolicy",
    "AuthError",
    "Backoff",
    "BasicAuth",
    "Batch",
    "BearerToken",
    "BodyError",
    "BodyErrorKind",
    "BodyTooLarge",
    "Callback",
    "CancelOutcome",
    "CancelResult",
    "CancelSpec",
    "CancelToken",
    "CheckpointError",
    "CheckpointStore",
    "Credential",
    "DirectoryStore",
    "ErrorBudget",
    "Expression",
    "FormField",
    "HTTPStatusError",
    "Header",
    "HttpClient",
    "LeanSender",
    "Limits",
    "LrpollError",
    "MalformedStatus",
    "MessageTemplate",
    "Messages",
    "Operation",
    "OperationCancelled",
    "OperationError",
    "OperationFailed",
    "OperationGone",
    "OperationState",
    "OutcomeKind",
    "PollSpec",
    "PollTimeout",
    "PollingStopped",
    "QueryParam",
    "RawRequest",
    "RawResponse",
    "RequestError",
    "ResponseTooLarge",
    "Scheduler",
    "SchedulerStatistics",
    "SendFault",
    "Sender",
    "SpecError",
    "SpecFormat",
    "StartRetry",
    "StatusRule",
    "StepResult",
    "TemplateError",
    "TooManyRedirects",
    "Transport",
    "TransportError",
    "UntrustedURL",
    "Update",
    "UrlTemplate",
    "View",
    "cancel_step",
    "checkpoint_for",
    "load_spec",
    "loads_spec",
    "loop_factory",
    "run",
    "step",
]

__version__ = "0.1.0.dev0"

# Public names say "lrpoll" in reprs, tracebacks and docs; pickles find them here.
claim(globals(), __all__, __name__)

#: Names that moved to a lower-tier public module, still importable from here for one
#: release (with a DeprecationWarning): name → the module that holds it now.
_MOVED: Final[dict[str, str]] = {
    **dict.fromkeys(core.__all__, "lrpoll.core"),
    **dict.fromkeys(registry.__all__, "lrpoll.registry"),
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"lrpoll.{name} moved to {module}.{name}; the old name goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(core if module == "lrpoll.core" else registry, name)
