"""The exceptions lrpoll raises, in one tree.

```
LrpollError                      root of everything lrpoll raises
├── SpecError (ValueError)       a spec, expression or template is invalid (at construction)
├── CheckpointError (ValueError) a checkpoint cannot be loaded (version, type, size, signature)
├── UntrustedURL                 a URL is off the trusted origins, or of a refused scheme
├── TemplateError                a template placeholder yields no usable value at fill time
├── OperationError               an operation ended without a result
│   ├── OperationFailed          the server reported failure (the spec's `failed`)
│   ├── OperationCancelled       the server reported cancellation (the spec's `cancelled`)
│   ├── PollTimeout              `max_duration` or `max_attempts` was reached
│   ├── PollingStopped           polling was stopped on the client side (`op.stop()`)
│   └── OperationGone            the status URL answered 404/410 (expired or unknown)
└── TransportError               the status could not be read
    ├── RequestError             connect error, timeout, reset (after the error budget)
    ├── HTTPStatusError          an HTTP status the spec gives no meaning (4xx, or 5xx after budget)
    │   └── AuthError            401 or 403
    ├── ResponseTooLarge         the body passed the size cap (before or after decompression)
    ├── MalformedStatus          the body is not a usable document (bad JSON, too deep, ...)
    └── TooManyRedirects         more redirect hops than allowed, or a loop
```

Every exception carries the operation id and the last status document where one is
known (`operation_id`, `status`), pickles, and never holds a credential.
"""

from __future__ import annotations

import warnings
from typing import Any, TypeVar

__all__ = [
    "AuthError",
    "CheckpointError",
    "HTTPStatusError",
    "LrpollError",
    "MalformedStatus",
    "OperationCancelled",
    "OperationError",
    "OperationFailed",
    "OperationGone",
    "PollTimeout",
    "PollingStopped",
    "RequestError",
    "ResponseTooLarge",
    "SpecError",
    "TemplateError",
    "TooManyRedirects",
    "TransportError",
    "UntrustedURL",
]


class LrpollError(Exception):
    """Root of every exception lrpoll raises.

    Attributes:
        message: the human-readable explanation.
        operation_id: the operation concerned, when there is one.
        status: the last status document seen for that operation, when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        operation_id: str | None = None,
        status: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation_id = operation_id
        self.status = status

    def __str__(self) -> str:
        if self.operation_id is not None:
            return f"{self.message} (operation {self.operation_id})"
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        return (rebuild, (type(self), self.message, dict(self.__dict__)))


E = TypeVar("E", bound="LrpollError")


def rebuild(cls: type[LrpollError], message: str, state: dict[str, Any]) -> LrpollError:
    """An exception of ``cls`` with ``message`` and its attributes ``state``, built whole.

    How pickling, `with_context` and checkpoints make exceptions without calling each
    class's own ``__init__`` (whose arguments differ).
    """
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


_KEEP: Any = object()


def with_context(
    exc: E,
    *,
    operation_id: str | None = _KEEP,
    status: Any = _KEEP,
    message: str | None = None,
) -> E:
    """A new exception like ``exc`` with the operation, last status or message filled in.

    Exceptions are built complete and never changed afterwards: where the runtime learns
    more (the operation a transport fault belongs to, the last status document), it makes
    a new one, so ``str()``, ``args`` and pickling always agree.
    """
    state = dict(exc.__dict__)
    if operation_id is not _KEEP:
        state["operation_id"] = operation_id
    if status is not _KEEP:
        state["status"] = status
    text = exc.message if message is None else message
    state["message"] = text
    new: E = rebuild(type(exc), exc.args[0] if message is None and exc.args else text, state)  # type: ignore[assignment]
    new.__cause__, new.__context__ = exc.__cause__, exc.__context__
    return new


class SpecError(LrpollError, ValueError):
    """Raised when a spec is built with an invalid field, expression or template.

    Attributes:
        field: the spec field at fault (``"done"``, ``"status_url"``, ``"cancel.url"``, ...).
        position: the character offset in that field's text, when known.
        file: the spec file (or source) it was read from, for `load_spec`; else None.
    """

    def __init__(
        self, message: str, *, field: str, position: int | None = None, file: str | None = None
    ) -> None:
        where = field if position is None else f"{field} at position {position}"
        if file is not None:
            where = f"{file}: {where}" if where else file
        super().__init__(f"{where}: {message}")
        self.field = field
        self.position = position
        self.file = file


class CheckpointError(LrpollError, ValueError):
    """Raised when a checkpoint is refused: unknown version, wrong shape, size or signature."""


class UntrustedURL(LrpollError):
    """Raised when a URL lies off the trusted origins, or uses a refused scheme.

    Nothing is sent to such a URL. The URL in the message has its query redacted.
    """

    def __init__(self, message: str, *, url: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.url = url


class TemplateError(LrpollError):
    """Raised when a URL template placeholder yields null, a list, an object or a refused value.

    Attributes:
        null: True when the placeholder yielded null (a value not known yet).
    """

    def __init__(self, message: str, *, null: bool = False, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.null = null


class OperationError(LrpollError):
    """Raised when an operation ends without a result; the base of the terminal outcomes."""


class OperationFailed(OperationError):
    """Raised when the server reports the operation failed (the spec's ``failed`` holds).

    The message is the server's (the spec's ``error_message``) where it gives one.
    """


class OperationCancelled(OperationError):
    """Raised when the server reports the operation cancelled (the spec's ``cancelled`` holds)."""


class PollTimeout(OperationError):
    """Raised at the deadline (``max_duration``) or after ``max_attempts`` polls.

    The server job may still be running: polling stopped on the client side only.
    """


class PollingStopped(OperationError):
    """Raised to a task awaiting an operation whose polling was stopped with ``op.stop()``."""


class OperationGone(OperationError):
    """Raised when the status URL answers 404 or 410 and the spec gives that no other meaning.

    Also when a spec's ``body_error`` finds a ``gone`` error in an answer's body.
    """


class TransportError(LrpollError):
    """Raised when the status could not be read, once the operation's error budget is spent."""


class RequestError(TransportError):
    """Raised for connect errors, timeouts and resets, once the error budget is spent."""


class HTTPStatusError(TransportError):
    """Raised for an HTTP status the spec gives no meaning.

    Attributes:
        http_status: the HTTP status (``status`` is the last status document, as on
            every lrpoll exception).
        body_snippet: the first bytes of the body, escaped.

    ``status_code`` (the name before ``http_status``) still works for one release, as a
    keyword and as an attribute, with a `DeprecationWarning`.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        body_snippet: str = "",
        status_code: int | None = None,
        **kwargs: Any,
    ) -> None:
        if status_code is not None:
            warnings.warn(
                "HTTPStatusError(status_code=) is deprecated: pass http_status=",
                DeprecationWarning,
                stacklevel=2,
            )
            http_status = status_code if http_status is None else http_status
        if http_status is None:
            raise TypeError("HTTPStatusError needs http_status")
        super().__init__(message, **kwargs)
        self.http_status = http_status
        self.body_snippet = body_snippet

    @property
    def status_code(self) -> int:
        """Deprecated: ``http_status``."""
        warnings.warn(
            "HTTPStatusError.status_code is deprecated: read http_status",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.http_status


class AuthError(HTTPStatusError):
    """Raised when the server answers 401 or 403, or reports an auth error in its body.

    A body error (a spec's ``body_error``: ArcGIS's 498/499 in an HTTP 200) keeps the real
    HTTP status in ``http_status`` and names the body's code in the message.
    """


class ResponseTooLarge(TransportError):
    """Raised when a body passes the size cap, before or after decompression."""


class MalformedStatus(TransportError):
    """Raised when a status body is not a usable document (bad JSON, too deep, huge numbers)."""


class TooManyRedirects(TransportError):
    """Raised after more redirect hops than allowed, or on a redirect loop."""
