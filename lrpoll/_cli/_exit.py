"""Exit codes, and the one-line errors the command prints instead of a traceback."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Final

from .._exceptions import (
    CheckpointError,
    LrpollError,
    OperationCancelled,
    OperationFailed,
    PollingStopped,
    PollTimeout,
    SpecError,
)

if TYPE_CHECKING:
    from .._machine import OperationState

__all__ = ["EXIT_CODES_HELP", "CliError", "ExitCode", "code_for_error", "code_for_state"]


class ExitCode(enum.IntEnum):
    """What ``lrpoll watch``, ``start`` and ``resume`` exit with."""

    SUCCEEDED = 0
    FAILED = 1
    USAGE = 2
    TIMED_OUT = 3
    CANCELLED = 4
    STOPPED = 5
    TRANSPORT = 6


#: The exit codes as ``lrpoll --help`` and docs/cli.md list them.
EXIT_CODES_HELP: Final = """\
exit codes:
  0  succeeded
  1  failed: the server reported failure
  2  usage or spec error: a bad option, expression, spec or file
  3  timed out: --timeout (the spec's max_duration) or max_attempts was reached
  4  cancelled: the server reported the operation cancelled
  5  stopped: polling stopped on the client side (Ctrl-C); resumable
  6  transport or protocol error: unreachable, an HTTP error, a non-JSON status
With several operations (--from-file), the highest code of them all."""

_STATE_CODES: Final[dict[str, ExitCode]] = {
    "succeeded": ExitCode.SUCCEEDED,
    "failed": ExitCode.FAILED,
    "timed_out": ExitCode.TIMED_OUT,
    "cancelled": ExitCode.CANCELLED,
    "stopped": ExitCode.STOPPED,
}


def code_for_state(state: OperationState) -> ExitCode:
    """The exit code of an operation that ended (or stopped) in ``state``."""
    return _STATE_CODES.get(state, ExitCode.TRANSPORT)


def code_for_error(exc: BaseException) -> ExitCode:
    """The exit code for an exception that ends the command."""
    if isinstance(exc, CliError):
        return exc.code
    if isinstance(exc, SpecError | CheckpointError):
        return ExitCode.USAGE
    for kind, code in (
        (OperationFailed, ExitCode.FAILED),
        (PollTimeout, ExitCode.TIMED_OUT),
        (OperationCancelled, ExitCode.CANCELLED),
        (PollingStopped, ExitCode.STOPPED),
    ):
        if isinstance(exc, kind):
            return code
    return ExitCode.TRANSPORT


class CliError(LrpollError):
    """Raised for bad input the command refuses (a usage error unless ``code`` says other).

    Attributes:
        code: the exit code.
        detail: lines printed under the message (an expression and its caret).
    """

    def __init__(
        self, message: str, *, code: ExitCode = ExitCode.USAGE, detail: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail
