"""PollSpec and its parts: frozen, keyword-only, validated and compiled at construction.

A spec is plain data end to end: `PollSpec.to_json()` gives its declarative JSON form and
`PollSpec.from_json()` reads it back (a preset as ``{"preset": name, "params": {...}}``).
Credentials are never part of a spec: the scheduler adds them per trusted origin.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeGuard, TypeVar, get_args

from ._exceptions import SpecError
from ._expr import MAX_JSON_DEPTH, Choice, Expression, MessageTemplate, UrlTemplate, json_depth
from ._registry import PresetRef, decoder_names, discovery_names, resolve_preset
from ._secrets import is_credential_header, is_secret_header, is_secret_query

__all__ = [
    "OUTCOME_EXPRESSIONS",
    "Backoff",
    "Batch",
    "BodyError",
    "BodyErrorKind",
    "CancelResult",
    "CancelSpec",
    "ErrorBudget",
    "Messages",
    "PollSpec",
    "PresetRef",
    "StartRetry",
    "StatusRule",
    "View",
]

View = Literal["document", "response"]
"""What expressions see: the parsed body, or ``{"status", "headers", "body"}``."""

StatusRule = Literal["evaluate", "running", "succeeded", "failed", "cancelled", "gone", "transient"]
"""What an HTTP status code means for a spec: let the expressions decide, or a fixed outcome."""

BackoffKind = Literal["fixed", "linear", "exponential"]

StartRetry = Literal["idempotent", "any", "azure"]
"""Which failed start requests are sent again (see `PollSpec`): ``idempotent`` (GET,
HEAD, PUT, DELETE, OPTIONS, or any request with an ``Idempotency-Key``), ``any``, or
``azure`` (idempotent ones, plus POST and PATCH on 500, 503, 504, as azure-core's
default retry policy does). A fault before anything was sent is always retried."""

CancelResult = Literal["accepted", "already_finished", "not_found", "not_supported", "refused"]
"""What the answer to a cancel request means, before confirmation by polling."""

BodyErrorKind = Literal["auth", "gone", "transient", "failed", "error"]
"""What an error found in a body means (see `BodyError`)."""

_STATUS_RULES: Final = frozenset(get_args(StatusRule))
_BODY_ERROR_KINDS: Final = frozenset(get_args(BodyErrorKind))
_CANCEL_RESULTS: Final = frozenset(get_args(CancelResult))
_CANCEL_EXPRESSIONS: Final = ("not_supported", "already_finished", "refused", "accepted", "message")
_METHODS: Final = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_UNSET: Final = object()
_T = TypeVar("_T")


def _number(value: Any, name: str, *, low: float = 0.0, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"must be a finite number, not {value!r}", field=name)
    if value < low or (strict and value == low):
        raise SpecError(f"must be {'>' if strict else '>='} {low}, not {value!r}", field=name)
    return float(value)


def _whole(value: object, name: str, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"must be a whole number >= {low}, not {value!r}", field=name)
    return value


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_status_code(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _optional_number(value: Any, name: str, *, strict: bool = True) -> float | None:
    return None if value is None else _number(value, name, strict=strict)


def checked_headers(value: Mapping[str, str] | None, name: str) -> Mapping[str, str]:
    """``value`` as read-only headers, refusing credential names and control characters.

    Raises:
        SpecError: naming ``name``, for a credential header (they go to the Scheduler's
            ``credentials=``), a non-string, or a control character.
    """
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise SpecError("must be a mapping of header names to values", field=name)
    out: dict[str, str] = {}
    for key, val in value.items():
        if not (_is_str(key) and _is_str(val)):
            raise SpecError("header names and values must be strings", field=name)
        if is_credential_header(key):
            raise SpecError(
                f"{key} is a credential: give it to the Scheduler's credentials, not a spec",
                field=name,
            )
        if any(c in key + val for c in "\r\n\x00"):
            raise SpecError(f"control character in header {key!r}", field=name)
        out[key] = val
    return MappingProxyType(out)


def _strings(value: object, name: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(
        _is_str(k) and _is_str(v) for k, v in value.items()
    ):
        raise SpecError("must be a mapping of strings to strings", field=name)
    return MappingProxyType(dict(value))


def _fields(value: object, name: str) -> Mapping[str, str]:
    """Query parameters or form fields: `_strings`, refusing names like credentials.

    A spec lands in checkpoints and logs: ``token``, ``sig``, ``api_key``... belong to the
    Scheduler's credentials (`QueryParam`, `FormField`), attached per trusted origin.
    """
    fields = _strings(value, name)
    for key in fields:
        if is_secret_query(key) or is_secret_header(key):
            raise SpecError(
                f"{key!r} is named like a credential: give it to the Scheduler's credentials "
                "(QueryParam, FormField), not a spec",
                field=name,
            )
    return fields


def _json_body(value: Any, name: str) -> None:
    if value is not None and json_depth(value) > MAX_JSON_DEPTH:
        raise SpecError(f"is nested deeper than {MAX_JSON_DEPTH} levels", field=name)


def _method(value: Any, name: str) -> str:
    if not isinstance(value, str) or value.upper() not in _METHODS:
        raise SpecError(f"unknown HTTP method {value!r}", field=name)
    return value.upper()


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """How long to wait between polls.

    ``fixed``: always ``delay``. ``linear``: ``delay + step·k``. ``exponential``:
    ``delay·factor^k``; all capped at ``max_delay`` and floored at ``min_delay``, then
    scaled by jitter into ``[d·(1-jitter), d]`` (k = polls so far - 1). The scheduler
    also clips every delay to the time left before ``max_duration``.
    """

    kind: BackoffKind = "fixed"
    delay: float = 1.0
    step: float = 1.0
    factor: float = 2.0
    min_delay: float = 0.0
    max_delay: float = 60.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "linear", "exponential"):
            raise SpecError(f"unknown backoff kind {self.kind!r}", field="backoff.kind")
        _number(self.delay, "backoff.delay")
        _number(self.step, "backoff.step")
        _number(self.factor, "backoff.factor", low=1.0)
        _number(self.min_delay, "backoff.min_delay")
        _number(self.max_delay, "backoff.max_delay")
        if self.max_delay < self.min_delay:
            raise SpecError("max_delay is below min_delay", field="backoff.max_delay")
        if not 0.0 <= _number(self.jitter, "backoff.jitter") <= 1.0:
            raise SpecError("jitter is a fraction in [0, 1]", field="backoff.jitter")

    @classmethod
    def fixed(cls, delay: float, *, jitter: float = 0.0) -> Backoff:
        """The same delay every time."""
        return cls(kind="fixed", delay=delay, max_delay=max(delay, 0.0), jitter=jitter)

    @classmethod
    def linear(
        cls, delay: float, *, step: float = 1.0, max_delay: float = 60.0, jitter: float = 0.0
    ) -> Backoff:
        """``delay``, then ``step`` more after each poll, up to ``max_delay``."""
        return cls(kind="linear", delay=delay, step=step, max_delay=max_delay, jitter=jitter)

    @classmethod
    def exponential(
        cls,
        delay: float,
        *,
        factor: float = 2.0,
        max_delay: float = 60.0,
        jitter: float = 0.0,
    ) -> Backoff:
        """``delay``, multiplied by ``factor`` after each poll, up to ``max_delay``."""
        return cls(
            kind="exponential", delay=delay, factor=factor, max_delay=max_delay, jitter=jitter
        )


def _default_error_backoff() -> Backoff:
    return Backoff.exponential(1.0, factor=2.0, max_delay=30.0, jitter=1.0)


@dataclass(frozen=True, slots=True, init=False)
class ErrorBudget:
    """How many transient faults (5xx, 429, timeouts, resets, bad JSON) an operation absorbs.

    The budget is spent when ``max_consecutive`` faults in a row were seen, or when the
    operation has been failing for ``max_failing_time`` seconds; the next fault then ends
    the operation with the transport error that caused it. A good answer refills it.
    Retries wait as ``backoff`` says after the n-th fault in a row (by default
    ``1·2^(n-1)`` seconds capped at 30, with full jitter), or the server's Retry-After.
    ``backoff`` is a `Backoff`, the same type and formula as the polling interval.

    ``initial_delay=`` and ``max_delay=`` (the names before ``backoff``) still work for
    one release, with a `DeprecationWarning`: they set ``backoff.delay`` and
    ``backoff.max_delay``.

    Warning:
        ``max_consecutive=None`` and ``max_failing_time=None`` retry forever (until
        ``max_duration``, if any).
    """

    max_consecutive: int | None
    max_failing_time: float | None
    backoff: Backoff

    def __init__(
        self,
        *,
        max_consecutive: int | None = 5,
        max_failing_time: float | None = None,
        backoff: Backoff | Mapping[str, Any] | None = None,
        initial_delay: float | None = None,
        max_delay: float | None = None,
    ) -> None:
        if initial_delay is not None or max_delay is not None:
            warnings.warn(
                "ErrorBudget(initial_delay=, max_delay=) is deprecated: "
                "pass backoff=Backoff.exponential(delay, max_delay=...)",
                DeprecationWarning,
                stacklevel=2,
            )
        _set(self, "max_consecutive", max_consecutive)
        _set(self, "max_failing_time", max_failing_time)
        _set(self, "backoff", _error_backoff(backoff, initial_delay, max_delay))
        if self.max_consecutive is not None:
            _whole(self.max_consecutive, "errors.max_consecutive", low=0)
        _optional_number(self.max_failing_time, "errors.max_failing_time", strict=False)

    @classmethod
    def from_json(cls, data: Any) -> ErrorBudget:
        """The budget from its JSON object, ``backoff`` as an object.

        The keys written before ``backoff`` (``initial_delay``, ``max_delay``) still read,
        without a warning, so stored specs and checkpoints keep loading.

        Raises:
            SpecError: for a value that is not an object, an unknown key, or a bad value.
        """
        return _nested(cls, _legacy_errors(data), "errors")

    @property
    def initial_delay(self) -> float:
        """Deprecated: ``backoff.delay``."""
        warnings.warn(
            "ErrorBudget.initial_delay is deprecated: read backoff.delay",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.backoff.delay

    @property
    def max_delay(self) -> float:
        """Deprecated: ``backoff.max_delay``."""
        warnings.warn(
            "ErrorBudget.max_delay is deprecated: read backoff.max_delay",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.backoff.max_delay


def _error_backoff(
    backoff: Backoff | Mapping[str, Any] | None,
    initial_delay: float | None,
    max_delay: float | None,
) -> Backoff:
    if isinstance(backoff, Mapping):
        backoff = _nested(Backoff, backoff, "errors.backoff")
    if backoff is None:
        backoff = _default_error_backoff()
    elif not isinstance(backoff, Backoff):
        raise SpecError("must be a Backoff", field="errors.backoff")
    if initial_delay is None and max_delay is None:
        return backoff
    delay = (
        backoff.delay if initial_delay is None else _number(initial_delay, "errors.initial_delay")
    )
    top = backoff.max_delay if max_delay is None else _number(max_delay, "errors.max_delay")
    if top < backoff.min_delay:
        raise SpecError("max_delay is below min_delay", field="errors.max_delay")
    return dataclasses.replace(backoff, delay=delay, max_delay=top)


@dataclass(frozen=True, kw_only=True, slots=True)
class Messages:
    """Message templates for bots and UIs, over the template context.

    Placeholders are JMESPath over ``start``, ``start_headers``, ``last``, ``progress``,
    ``result``, ``error``, ``operation``, ``request_url``, ``status_url``. A placeholder
    that yields null means that update carries no message.
    """

    in_progress: str | None = None
    completed: str | None = None
    failed: str | None = None
    cancelled: str | None = None
    timed_out: str | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                MessageTemplate(value, field=f"messages.{f.name}")

    def compiled(self) -> dict[str, MessageTemplate]:
        """The templates that are set, compiled, by name."""
        return {
            f.name: MessageTemplate(getattr(self, f.name), field=f"messages.{f.name}")
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelSpec:
    """How to ask the server to cancel: carried as data, sent by ``op.cancel()``.

    ``url`` is a URL template over the template context (``{start.jobId}``,
    ``{+start.name}``, ``{+status_url}``). Give ``json`` or ``form`` (not both) for a
    body; credentials (a Bearer header, ArcGIS's ``token`` field) come from the
    scheduler's credential providers, never from here.

    What the answer means is data too. By default 2xx is ``accepted``; 400, 409 and
    412 ``already_finished``; 404 and 410 ``not_found``; 405 and 501
    ``not_supported``; anything else ``refused``. ``statuses`` overrides codes; the
    expressions ``not_supported``, ``already_finished``, ``refused`` and ``accepted``
    (JMESPath over ``{"status", "headers", "body"}`` of the answer and ``last``, the
    operation's last status document; first true wins) override both, for servers that
    answer 200 with an error body. An error the spec's ``body_error`` finds in the
    answer counts before ``statuses`` (see `lrpoll.BodyError`). ``message`` picks
    the server's words. After ``accepted``, ``op.cancel()`` keeps polling up to
    ``confirm_timeout`` seconds for the server to confirm.
    """

    url: str
    method: str = "POST"
    headers: Mapping[str, str] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    confirm_timeout: float = 60.0
    statuses: Mapping[int, CancelResult] | None = None
    accepted: str | None = None
    already_finished: str | None = None
    not_supported: str | None = None
    refused: str | None = None
    message: str | None = None

    def __post_init__(self) -> None:
        UrlTemplate(self.url, field="cancel.url")
        _set(self, "method", _method(self.method, "cancel.method"))
        _set(self, "headers", checked_headers(self.headers, "cancel.headers"))
        _set(self, "form", None if self.form is None else _fields(self.form, "cancel.form"))
        if self.json is not None and self.form is not None:
            raise SpecError("give json or form, not both", field="cancel.form")
        _json_body(self.json, "cancel.json")
        _number(self.confirm_timeout, "cancel.confirm_timeout")
        statuses: dict[int, CancelResult] = {}
        for code, result in (self.statuses or {}).items():
            raw: object = code  # JSON gives string keys
            number = int(raw) if isinstance(raw, str) and raw.isdigit() else raw
            if not _is_status_code(number):
                raise SpecError(f"{code!r} is not an HTTP status code", field="cancel.statuses")
            if not _is_str(result) or result not in _CANCEL_RESULTS:
                raise SpecError(
                    f"{result!r} for {code} is not one of {', '.join(sorted(_CANCEL_RESULTS))}",
                    field="cancel.statuses",
                )
            statuses[number] = result
        _set(self, "statuses", MappingProxyType(statuses))
        for name in _CANCEL_EXPRESSIONS:
            text = getattr(self, name)
            if text is not None:
                Expression(text, field=f"cancel.{name}")

    def expression(self, name: str) -> Expression | None:
        """The compiled outcome expression ``name`` (``"accepted"``, ...), if set."""
        text = getattr(self, name)
        return None if text is None else Expression(text, field=f"cancel.{name}")

    @property
    def url_template(self) -> UrlTemplate:
        """The compiled URL template."""
        return UrlTemplate(self.url, field="cancel.url")


@dataclass(frozen=True, kw_only=True, slots=True)
class BodyError:
    """How to find an error in an answer's body, and what its code means.

    For servers that answer errors with a 2xx status (ArcGIS's HTTP 200 with
    ``{"error": {"code": 498, "message": "Invalid token."}}``). ``when`` is JMESPath over
    the parsed body (whatever the spec's ``view``); where it is true, the answer is that
    error, not a status document: for polls, the start request, the result fetch and the
    cancel request alike. ``code`` and ``message`` pick the error's code (an integer, a
    decimal string, or any other string) and its text. It reads 2xx bodies (and those of
    codes ``status_rules`` maps to ``evaluate``); in an unnamed 4xx answer only a code
    ``codes`` lists counts (a real HTTP 498 with its envelope).

    ``codes`` says what a code means: ``"auth"`` (`AuthError`), ``"gone"``
    (`OperationGone`), ``"transient"`` (retried within the error budget, then
    `HTTPStatusError`), ``"failed"`` (`OperationFailed`) or ``"error"``
    (`HTTPStatusError`). A code not listed there is read like an HTTP status: 401 and
    403 ``auth``; 404 and 410 ``gone``; 408, 429 and 5xx ``transient``; anything else
    (a string code included) ``error``.
    """

    when: str
    code: str | None = None
    message: str | None = None
    codes: Mapping[int | str, BodyErrorKind] | None = None
    _compiled: Mapping[str, Expression] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled: dict[str, Expression] = {}
        for name in ("when", "code", "message"):
            text = getattr(self, name)
            if text is not None or name == "when":
                compiled[name] = Expression(text, field=f"body_error.{name}")
        _set(self, "_compiled", MappingProxyType(compiled))
        codes: dict[int | str, BodyErrorKind] = {}
        raw: object = self.codes
        if raw is not None and not isinstance(raw, Mapping):
            raise SpecError("must be a mapping of error codes to kinds", field="body_error.codes")
        for key, kind in (self.codes or {}).items():
            code = self.read_code(key)
            if code is None:
                raise SpecError(
                    f"{key!r} is not an error code (an integer or a string)",
                    field="body_error.codes",
                )
            if not _is_str(kind) or kind not in _BODY_ERROR_KINDS:
                raise SpecError(
                    f"{kind!r} for {key!r} is not one of {', '.join(sorted(_BODY_ERROR_KINDS))}",
                    field="body_error.codes",
                )
            codes[code] = kind
        _set(self, "codes", MappingProxyType(codes))

    def expression(self, name: str) -> Expression | None:
        """The compiled expression ``name`` (``"when"``, ``"code"``, ``"message"``), if set."""
        return self._compiled.get(name)

    @staticmethod
    def read_code(value: object) -> int | str | None:
        """An error code as ``codes`` keys it: integers, and decimal strings read as integers.

        Returns:
            The code, or None for anything that is not one (null, a boolean, a list, ...).
        """
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value:
            return int(value) if value.isascii() and value.isdigit() else value
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """How to read many operations' status with one list request (off unless a spec sets it).

    Due operations that share the origin, the request headers and the list URL are polled
    together: one ``GET`` of ``url`` (a URL template over the template context, resolved
    against the status URL) instead of one status request each. ``items`` (JMESPath over
    the list answer) gives the status documents; ``id`` (over one item) the id that
    ``key`` (over the operation's template context: ``last.name || start.name``) gives
    for the operation it belongs to. Each operation is then decided from its own item,
    as if its status request had answered it; one the list does not hold is polled at
    its own status URL.

    Paging: ``next_token`` (over the list answer) and ``token_param`` (Google's
    ``nextPageToken`` / ``pageToken``), or ``limit_param`` and ``offset_param`` with
    ``limit`` items a page (a short page is the last; ``more``, over the answer, says
    otherwise). ``filter_param`` with ``filter_item`` (a text holding ``{id}``, joined
    by ``filter_join``) asks for the polled operations only (``name="{id}"`` joined by
    `` OR ``), at most ``max_ids`` a request; ``{id}`` is inserted with backslashes and
    double quotes escaped. ``query`` adds fixed parameters. ``window`` seconds: operations due
    that soon are polled early with a list request that goes anyway.

    Raises:
        SpecError: at construction, naming the ``batch.`` field at fault.
    """

    url: str
    items: str
    id: str
    key: str
    query: Mapping[str, str] | None = None
    next_token: str | None = None
    token_param: str | None = None
    limit_param: str | None = None
    offset_param: str | None = None
    limit: int = 100
    more: str | None = None
    filter_param: str | None = None
    filter_item: str | None = None
    filter_join: str = " OR "
    max_ids: int = 100
    max_pages: int = 100
    window: float = 0.0
    _compiled: Mapping[str, Expression] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        UrlTemplate(self.url, field="batch.url")
        compiled: dict[str, Expression] = {}
        for name in ("items", "id", "key", "next_token", "more"):
            text = getattr(self, name)
            if text is not None or name in ("items", "id", "key"):
                compiled[name] = Expression(text, field=f"batch.{name}")
        _set(self, "_compiled", MappingProxyType(compiled))
        _set(self, "query", _fields(self.query, "batch.query"))
        if (self.next_token is None) != (self.token_param is None):
            raise SpecError("give next_token and token_param together", field="batch.token_param")
        if (self.limit_param is None) != (self.offset_param is None):
            raise SpecError(
                "give limit_param and offset_param together", field="batch.offset_param"
            )
        if self.token_param is not None and self.offset_param is not None:
            raise SpecError("page by token or by offset, not both", field="batch.offset_param")
        if (self.filter_param is None) != (self.filter_item is None):
            raise SpecError("give filter_param and filter_item together", field="batch.filter_item")
        if self.filter_item is not None and "{id}" not in self.filter_item:
            raise SpecError("must hold {id}", field="batch.filter_item")
        for name in ("token_param", "limit_param", "offset_param", "filter_param"):
            value = getattr(self, name)
            if value is not None and (not _is_str(value) or not value):
                raise SpecError("must be a non-empty query parameter name", field=f"batch.{name}")
        if not _is_str(self.filter_join):
            raise SpecError("must be a string", field="batch.filter_join")
        _whole(self.limit, "batch.limit", low=1)
        _whole(self.max_ids, "batch.max_ids", low=1)
        _whole(self.max_pages, "batch.max_pages", low=1)
        _number(self.window, "batch.window")

    def expression(self, name: str) -> Expression | None:
        """The compiled expression ``name`` (``"items"``, ``"id"``, ``"key"``, ...), if set."""
        return self._compiled.get(name)

    @property
    def url_template(self) -> UrlTemplate:
        """The compiled list URL template."""
        return UrlTemplate(self.url, field="batch.url")


#: The expressions that end an operation, in the order they are tried: the first that
#: holds decides (a document both failed and done is failed).
OUTCOME_EXPRESSIONS: Final = ("failed", "cancelled", "done")

_EXPRESSION_FIELDS: Final = (
    "done",
    "failed",
    "cancelled",
    "progress",
    "result",
    "error_message",
    "required",
)


@dataclass(frozen=True, kw_only=True)
class PollSpec:
    """Everything lrpoll needs to know to poll one kind of operation.

    Where the status lives: ``status_from`` names start-response headers to take the
    status URL from, in order of preference (``("azure-asyncoperation",
    "operation-location", "location")``); otherwise ``status_url``, a URL template
    (``"/api/exports/{start.jobId}/status"``, ``"{+request_url}"``). Headers named in
    ``status_url_updates`` on a poll response replace the status URL (a ``Location`` chain).

    What to send: ``request_headers`` go with every request of the operation (the start,
    each poll, the result fetch, the cancel); ``start_headers`` with the start request
    only (OData's ``Prefer: respond-async``); ``status_headers``, ``status_query`` and a
    ``status_json`` or ``status_form`` body with each poll. Where two name the same
    header, the one for that request (``start_headers``, ``status_headers``,
    ``cancel.headers``) wins over ``request_headers``. Headers are non-secret: a
    credential header (``Authorization``, ``Cookie``, ...) is refused, as credentials
    belong to the Scheduler's ``credentials=``.

    When to look: ``interval`` seconds, or a `Backoff`; a valid Retry-After (read from
    ``retry_after_headers``; names ending in ``-ms`` count milliseconds) replaces the
    computed delay, clamped to ``[min_interval, max_retry_after]``. ``max_duration``
    (seconds) and ``max_attempts`` end polling with `PollTimeout`; ``first_poll_jitter``
    spreads first polls of large batches over that many seconds.

    What it means: JMESPath expressions over the status document (``view="document"``) or
    over ``{"status": int, "headers": {lower-case: str}, "body": ...}``
    (``view="response"``). Precedence: ``failed``, then ``cancelled``, then ``done``; none
    of them true (or the fields missing) means still running. ``status_rules`` gives HTTP
    codes a fixed meaning (``{404: "cancelled"}``) or lets the expressions decide
    (``"evaluate"``). ``body_error`` (a `BodyError`) finds an error that comes in a 2xx
    body: such an answer is that error, never a status document.

    Where the result lives, when not in the status document: ``result_url`` is a URL
    template (over ``last``, ``start_headers``, ``request_url``, ...) fetched with GET
    once the operation is done; its body is the result. A template that yields null
    (``{+last.resourceLocation}`` with no such field) means no fetch. ``decoder`` names a
    registered body decoder for status bodies that are not JSON (OData's
    ``application/http``). ``discover`` names a registered discovery step that, given the
    start answer, returns the spec to poll with (Azure picks monitor, ``Location`` or
    resource polling from the headers it finds).

    Raises:
        SpecError: at construction, naming the field (and position) at fault.
    """

    # where
    status_url: str | None = None
    status_from: tuple[str, ...] = ()
    status_url_updates: tuple[str, ...] = ()
    status_method: str = "GET"
    request_headers: Mapping[str, str] | None = None
    start_headers: Mapping[str, str] | None = None
    status_headers: Mapping[str, str] | None = None
    status_query: Mapping[str, str] | None = None
    status_json: Any = None
    status_form: Mapping[str, str] | None = None
    decoder: str | None = None
    result_url: str | None = None
    discover: str | None = None
    # when
    interval: float | None = None
    backoff: Backoff | None = None
    min_interval: float = 1.0
    max_retry_after: float = 300.0
    retry_after_headers: tuple[str, ...] = ("retry-after",)
    max_duration: float | None = None
    max_attempts: int | None = None
    first_poll_jitter: float = 0.0
    start_retry: StartRetry = "idempotent"
    errors: ErrorBudget = field(default_factory=ErrorBudget)
    # what it means
    view: View = "document"
    done: str | None = None
    failed: str | None = None
    cancelled: str | None = None
    progress: str | None = None
    result: str | None = None
    error_message: str | None = None
    required: str | None = None
    status_rules: Mapping[int, StatusRule] | None = None
    body_error: BodyError | None = None
    messages: Messages = field(default_factory=Messages)
    cancel: CancelSpec | None = None
    batch: Batch | None = None
    # provenance
    name: str | None = None
    preset: PresetRef | None = field(default=None, compare=False)

    # compiled (not part of the data)
    _expressions: dict[str, Expression] = field(init=False, repr=False, compare=False)
    _outcomes: Choice | None = field(init=False, repr=False, compare=False)
    _status_template: UrlTemplate | None = field(init=False, repr=False, compare=False)
    _cancel_template: UrlTemplate | None = field(init=False, repr=False, compare=False)
    _result_template: UrlTemplate | None = field(init=False, repr=False, compare=False)
    _messages: Mapping[str, MessageTemplate] = field(init=False, repr=False, compare=False)
    _backoff: Backoff = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exprs: dict[str, Expression] = {}
        for name in _EXPRESSION_FIELDS:
            text = getattr(self, name)
            if text is not None:
                exprs[name] = Expression(text, field=name)
        _set(self, "_expressions", exprs)
        # Most specs compare one field with texts (status == 'done'): one lookup decides.
        ends = [(name, exprs[name]) for name in OUTCOME_EXPRESSIONS if name in exprs]
        _set(self, "_outcomes", Choice.of(ends))

        _set(self, "status_from", self._header_names(self.status_from, "status_from"))
        _set(
            self,
            "status_url_updates",
            self._header_names(self.status_url_updates, "status_url_updates"),
        )
        _set(
            self,
            "retry_after_headers",
            self._header_names(self.retry_after_headers, "retry_after_headers"),
        )
        if self.status_url is None and not self.status_from:
            raise SpecError(
                'say where the status lives: a status_url template ("{+request_url}" for '
                "the request URL itself) or start-response headers in status_from",
                field="status_url",
            )
        _set(
            self,
            "_status_template",
            None if self.status_url is None else UrlTemplate(self.status_url, field="status_url"),
        )
        _set(self, "status_method", _method(self.status_method, "status_method"))
        _set(self, "request_headers", checked_headers(self.request_headers, "request_headers"))
        _set(self, "start_headers", checked_headers(self.start_headers, "start_headers"))
        _set(self, "status_headers", checked_headers(self.status_headers, "status_headers"))
        _set(self, "status_query", _fields(self.status_query, "status_query"))
        _set(
            self,
            "status_form",
            None if self.status_form is None else _fields(self.status_form, "status_form"),
        )
        if self.status_json is not None and self.status_form is not None:
            raise SpecError("give status_json or status_form, not both", field="status_form")
        _json_body(self.status_json, "status_json")
        if self.discover is not None and self.discover not in discovery_names():
            raise SpecError(
                f"unknown discovery step {self.discover!r} (known: {', '.join(discovery_names())})",
                field="discover",
            )
        if self.decoder is not None and self.decoder not in decoder_names():
            raise SpecError(
                f"unknown decoder {self.decoder!r} (known: {', '.join(decoder_names())})",
                field="decoder",
            )
        _set(
            self,
            "_result_template",
            None if self.result_url is None else UrlTemplate(self.result_url, field="result_url"),
        )

        if self.interval is not None and self.backoff is not None:
            raise SpecError("give interval or backoff, not both", field="interval")
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise SpecError("must be a Backoff", field="backoff")
        backoff = self.backoff or Backoff.fixed(
            1.0 if self.interval is None else _number(self.interval, "interval")
        )
        _set(self, "_backoff", backoff)
        _number(self.min_interval, "min_interval")
        _number(self.max_retry_after, "max_retry_after")
        if self.max_retry_after < self.min_interval:
            raise SpecError("max_retry_after is below min_interval", field="max_retry_after")
        _optional_number(self.max_duration, "max_duration")
        if self.max_attempts is not None:
            _whole(self.max_attempts, "max_attempts", low=1)
        _number(self.first_poll_jitter, "first_poll_jitter")
        if self.start_retry not in ("idempotent", "any", "azure"):
            raise SpecError(
                f"must be 'idempotent', 'any' or 'azure', not {self.start_retry!r}",
                field="start_retry",
            )
        if not isinstance(self.errors, ErrorBudget):
            raise SpecError("must be an ErrorBudget", field="errors")

        if self.view not in ("document", "response"):
            raise SpecError(f"must be 'document' or 'response', not {self.view!r}", field="view")
        rules: dict[int, StatusRule] = {}
        for code, rule in (self.status_rules or {}).items():
            if not _is_status_code(code):
                raise SpecError(f"{code!r} is not an HTTP status code", field="status_rules")
            if not _is_str(rule) or rule not in _STATUS_RULES:
                raise SpecError(
                    f"{rule!r} for {code} is not one of {', '.join(sorted(_STATUS_RULES))}",
                    field="status_rules",
                )
            rules[code] = rule
        _set(self, "status_rules", MappingProxyType(rules))
        terminal_rule = any(r in ("succeeded", "failed", "cancelled") for r in rules.values())
        if not (self.done or self.failed or self.cancelled or terminal_rule):
            raise SpecError(
                "nothing would ever end polling: give done, failed or cancelled "
                "(or a status_rules entry with a terminal outcome)",
                field="done",
            )
        if self.body_error is not None and not isinstance(self.body_error, BodyError):
            raise SpecError("must be a BodyError", field="body_error")
        if not isinstance(self.messages, Messages):
            raise SpecError("must be a Messages", field="messages")
        _set(self, "_messages", MappingProxyType(self.messages.compiled()))
        if self.cancel is not None and not isinstance(self.cancel, CancelSpec):
            raise SpecError("must be a CancelSpec", field="cancel")
        _set(self, "_cancel_template", None if self.cancel is None else self.cancel.url_template)
        if self.batch is not None and not isinstance(self.batch, Batch):
            raise SpecError("must be a Batch", field="batch")

    @staticmethod
    def _header_names(value: Any, name: str) -> tuple[str, ...]:
        if isinstance(value, str) or not all(isinstance(v, str) and v for v in value):
            raise SpecError("must be a sequence of header names", field=name)
        return tuple(v.lower() for v in value)

    # -- compiled views, used by the core and the runtime ------------------------------

    @property
    def effective_backoff(self) -> Backoff:
        """The backoff in force (``interval`` read as a fixed backoff)."""
        return self._backoff

    def expression(self, name: str) -> Expression | None:
        """The compiled expression for ``name`` (``"done"``, ``"progress"``, ...), if set."""
        return self._expressions.get(name)

    @property
    def status_template(self) -> UrlTemplate | None:
        """The compiled ``status_url`` template."""
        return self._status_template

    @property
    def result_template(self) -> UrlTemplate | None:
        """The compiled ``result_url`` template."""
        return self._result_template

    @property
    def cancel_template(self) -> UrlTemplate | None:
        """The compiled cancel URL template."""
        return self._cancel_template

    def message_template(self, kind: str) -> MessageTemplate | None:
        """The compiled message template for ``kind`` (``"in_progress"``, ...), if set."""
        return self._messages.get(kind)

    def replace(self, **changes: Any) -> PollSpec:
        """A copy with ``changes`` applied, validated again.

        ``interval`` and ``backoff`` say the same thing: setting one clears the other
        unless both are given.
        """
        return dataclasses.replace(self, **_one_pacing(changes))

    # -- declarative JSON form ---------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The declarative JSON form (plain dicts, lists, strings and numbers)."""
        full = _spec_to_json(self)
        if self.preset is None:
            return full
        base = _spec_to_json(resolve_preset(self.preset.name, self.preset.params))
        overrides = {k: v for k, v in full.items() if base.get(k) != v}
        out: dict[str, Any] = {"preset": self.preset.name, "params": _plain(self.preset.params)}
        if overrides:
            out["overrides"] = overrides
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PollSpec:
        """Build a spec from its declarative JSON form.

        Raises:
            SpecError: for unknown keys, wrong types or invalid values.
        """
        if not isinstance(data, Mapping):
            raise SpecError("a spec's JSON form is an object", field="spec")
        if json_depth(data) > MAX_JSON_DEPTH:
            raise SpecError(f"is nested deeper than {MAX_JSON_DEPTH} levels", field="spec")
        if "preset" in data:
            unknown = set(data) - {"preset", "params", "overrides"}
            if unknown:
                raise SpecError(f"unknown keys {sorted(unknown)}", field="spec")
            params = data.get("params") or {}
            if not isinstance(params, Mapping):
                raise SpecError("params must be an object", field="params")
            spec: PollSpec = resolve_preset(str(data["preset"]), params)
            overrides = data.get("overrides") or {}
            if not isinstance(overrides, Mapping):
                raise SpecError("overrides must be an object", field="overrides")
            if overrides:
                merged = {**_spec_to_json(spec), **_one_pacing(overrides)}
                spec = dataclasses.replace(_spec_from_json(merged), preset=spec.preset)
            return spec
        return _spec_from_json(data)


_NESTED: Final[dict[str, type]] = {
    "backoff": Backoff,
    "errors": ErrorBudget,
    "messages": Messages,
    "cancel": CancelSpec,
    "body_error": BodyError,
    "batch": Batch,
}
_TUPLES: Final = ("status_from", "status_url_updates", "retry_after_headers")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _one_pacing(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes``, where an ``interval`` or ``backoff`` given alone clears the other."""
    out = dict(changes)
    for one, other in (("interval", "backoff"), ("backoff", "interval")):
        if out.get(one) is not None and other not in out:
            out[other] = None
    return out


def _json_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            g.name: _json_value(getattr(value, g.name))
            for g in dataclasses.fields(value)
            if g.init  # compiled parts (BodyError's expressions) are not data
        }
    return _plain(value)


def _spec_to_json(spec: PollSpec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(spec):
        if f.name.startswith("_") or f.name == "preset" or not f.init:
            continue
        out[f.name] = _json_value(getattr(spec, f.name))
    return out


def _nested(cls: type[_T], value: Any, name: str) -> _T:
    """``cls`` built from its JSON object, unknown keys and bad arguments as `SpecError`."""
    if not isinstance(value, Mapping):
        raise SpecError("must be an object", field=name)
    extra = set(value) - {g.name for g in dataclasses.fields(cls) if g.init}  # type: ignore[arg-type]
    if extra:
        raise SpecError(f"unknown keys {sorted(extra)}", field=name)
    try:
        return cls(**value)
    except TypeError as exc:
        raise SpecError(str(exc), field=name) from None


def _legacy_errors(value: Any) -> Any:
    """An ``errors`` object written before ``backoff`` (checkpoints keep such specs)."""
    if not isinstance(value, Mapping) or not {"initial_delay", "max_delay"} & set(value):
        return value
    value = dict(value)
    backoff = dict(value.get("backoff") or _json_value(_default_error_backoff()))
    if "initial_delay" in value:
        backoff["delay"] = _number(value.pop("initial_delay"), "errors.initial_delay")
    if "max_delay" in value:
        backoff["max_delay"] = _number(value.pop("max_delay"), "errors.max_delay")
    value["backoff"] = backoff
    return value


def _spec_from_json(data: Mapping[str, Any]) -> PollSpec:
    known = {f.name for f in dataclasses.fields(PollSpec) if f.init and f.name != "preset"}
    unknown = set(data) - known
    if unknown:
        raise SpecError(f"unknown keys {sorted(unknown)}", field="spec")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in _NESTED and value is not None:
            value = (
                ErrorBudget.from_json(value)
                if key == "errors"
                else _nested(_NESTED[key], value, key)
            )
        elif key in _TUPLES and value is not None:
            if not isinstance(value, list | tuple):
                raise SpecError("must be a list of header names", field=key)
            value = tuple(value)
        elif key == "status_rules" and value is not None:
            if not isinstance(value, Mapping):
                raise SpecError("must be an object", field=key)
            try:
                value = {int(k): v for k, v in value.items()}
            except ValueError:
                raise SpecError("keys must be HTTP status codes", field=key) from None
        kwargs[key] = value
    try:
        return PollSpec(**kwargs)
    except TypeError as exc:
        raise SpecError(str(exc), field="spec") from None
