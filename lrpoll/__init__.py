"""lrpoll: long-running HTTP operations on asyncio, declared once, polled by one scheduler.

The public names live here; the modules behind them are private.
"""

from __future__ import annotations

from ._auth import BasicAuth, BearerToken, Credential, FormField, Header, QueryParam
from ._cancel import AbandonPolicy, CancelOutcome, CancelToken, OutcomeKind
from ._core import (
    Decision,
    Ended,
    Observation,
    Retry,
    Running,
    Succeeded,
    decide,
    read_progress,
)
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
from ._loop import loop_factory, run
from ._operation import Callback, Operation, OperationState, Update
from ._registry import decoder, discovery, preset, preset_names, resolve_preset
from ._retry_after import parse_retry_after
from ._scheduler import Scheduler, SchedulerStatistics
from ._sender import BodyTooLarge, Limits, RawRequest, RawResponse, Sender, SendFault
from ._spec import (
    Backoff,
    CancelResult,
    CancelSpec,
    ErrorBudget,
    Messages,
    PollSpec,
    PresetRef,
    StartRetry,
    StatusRule,
    View,
)
from ._step import StepResult, checkpoint_for, step
from ._transport import Transport

# isort: split
# Importing the presets registers them by name, so `PollSpec.from_json({"preset": ...})`
# and `resolve_preset` find the built-ins whenever lrpoll is imported. Last, as they sit
# beside the library: nothing above needs them.
from . import presets as presets

__all__ = [
    "AbandonPolicy",
    "AuthError",
    "Backoff",
    "BasicAuth",
    "BearerToken",
    "BodyTooLarge",
    "Callback",
    "CancelOutcome",
    "CancelResult",
    "CancelSpec",
    "CancelToken",
    "CheckpointError",
    "Credential",
    "Decision",
    "Ended",
    "ErrorBudget",
    "Expression",
    "FormField",
    "HTTPStatusError",
    "Header",
    "Limits",
    "LrpollError",
    "MalformedStatus",
    "MessageTemplate",
    "Messages",
    "Observation",
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
    "PresetRef",
    "QueryParam",
    "RawRequest",
    "RawResponse",
    "RequestError",
    "ResponseTooLarge",
    "Retry",
    "Running",
    "Scheduler",
    "SchedulerStatistics",
    "SendFault",
    "Sender",
    "SpecError",
    "StartRetry",
    "StatusRule",
    "StepResult",
    "Succeeded",
    "TemplateError",
    "TooManyRedirects",
    "Transport",
    "TransportError",
    "UntrustedURL",
    "Update",
    "UrlTemplate",
    "View",
    "checkpoint_for",
    "decide",
    "decoder",
    "discovery",
    "loop_factory",
    "parse_retry_after",
    "preset",
    "preset_names",
    "read_progress",
    "resolve_preset",
    "run",
    "step",
]

__version__ = "0.1.0.dev0"
