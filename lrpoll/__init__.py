"""lrpoll: long-running HTTP operations on asyncio, declared once, polled by one scheduler.

The public names live here; the modules behind them are private.
"""

from __future__ import annotations

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
from ._registry import preset, preset_names, resolve_preset
from ._retry_after import parse_retry_after
from ._spec import Backoff, CancelSpec, ErrorBudget, Messages, PollSpec, PresetRef

__all__ = [
    "AuthError",
    "Backoff",
    "CancelSpec",
    "CheckpointError",
    "Decision",
    "Ended",
    "ErrorBudget",
    "Expression",
    "HTTPStatusError",
    "LrpollError",
    "MalformedStatus",
    "MessageTemplate",
    "Messages",
    "Observation",
    "OperationCancelled",
    "OperationError",
    "OperationFailed",
    "OperationGone",
    "PollSpec",
    "PollTimeout",
    "PollingStopped",
    "PresetRef",
    "RequestError",
    "ResponseTooLarge",
    "Retry",
    "Running",
    "SpecError",
    "Succeeded",
    "TemplateError",
    "TooManyRedirects",
    "TransportError",
    "UntrustedURL",
    "UrlTemplate",
    "decide",
    "parse_retry_after",
    "preset",
    "preset_names",
    "read_progress",
    "resolve_preset",
]

__version__ = "0.1.0.dev0"
