"""The sans-I/O decision core: one observation in, one decision out.

No sockets, no clock reads, no logging: the runtime hands in everything (the time the
response arrived, the elapsed time, the attempt number, a random value for jitter), so
the same observation always gives the same decision.

How an answer is classified (first matching row wins):

| observation                                   | class                                   |
|-----------------------------------------------|-----------------------------------------|
| transport fault (connect, timeout, reset, cap) | transient                               |
| body not parseable where its rule reads it:    | transient                               |
| ``evaluate`` (a 2xx's default) or an outcome   |                                         |
| an error ``spec.body_error`` finds in a body   | by its code (see `body_error`)          |
| the rule reads (``evaluate``, 2xx), or in a    |                                         |
| 4xx with a code ``codes`` lists                |                                         |
| status code named in ``spec.status_rules``     | that rule (``evaluate`` → expressions)  |
| 2xx                                            | expressions                             |
| 408, 429, 5xx                                  | transient                               |
| 401, 403                                       | `AuthError`                             |
| 404, 410                                       | `OperationGone`                         |
| anything else                                  | `HTTPStatusError` (with a body snippet) |

Expressions, in order (first true wins; a missing field is null, which is false):

| expression  | decision                                         |
|-------------|--------------------------------------------------|
| `required` false | transient: `MalformedStatus` (within the budget) |
| `failed`    | ended: `OperationFailed` (``error_message``)      |
| `cancelled` | ended: `OperationCancelled`                       |
| `done`      | succeeded (``result``, or the whole document)     |
| (none)      | running: progress, message, next delay            |

A transient answer retries after the error backoff (or the server's Retry-After) while the
budget lasts, then ends with the fault's error. A running answer past ``max_attempts``
or ``max_duration`` ends with `PollTimeout`.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import InitVar, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from ._exceptions import (
    AuthError,
    HTTPStatusError,
    LrpollError,
    MalformedStatus,
    OperationCancelled,
    OperationError,
    OperationFailed,
    OperationGone,
    PollTimeout,
    RequestError,
    with_context,
)
from ._expr import is_truthy, json_snippet
from ._json import resolve
from ._retry_after import backoff_delay, clamp, parse_retry_after
from ._spec import OUTCOME_EXPRESSIONS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._spec import BodyErrorKind, CancelResult, CancelSpec, PollSpec, StatusRule

__all__ = [
    "BodyFault",
    "Decision",
    "Ended",
    "Observation",
    "Retry",
    "Running",
    "Succeeded",
    "body_error",
    "cancel_outcome",
    "classify_cancel",
    "deadline",
    "decide",
    "first_delay",
    "header_ref",
    "past_deadline",
    "read_progress",
    "result_decision",
    "resume_delay",
    "retry_after",
    "start_decision",
    "start_error",
    "timed_out",
]

# Tuples, not `X | Y`: a union is built anew each time such an isinstance runs.
_NUMBER: Final = (int, float)

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


# Not frozen, as the decisions below are: the runtime builds one per poll, and a frozen
# dataclass's __init__ (object.__setattr__ per field) costs several times a plain one's
# for these 14 fields. Nothing changes one once built.
@dataclass(slots=True)
class Observation:
    """One answer to a status request, as the runtime saw it (read-only by convention).

    Attributes:
        http_status: the HTTP status, or None for a transport fault.
        headers: response headers, names lower-cased.
        body: the parsed body (None when empty).
        fault: a transport fault or an unparseable body, as the error to raise if the
            budget runs out (`RequestError`, `ResponseTooLarge`, `MalformedStatus`).
        snippet: the first bytes of the body, escaped, for error messages.
        received_at: wall-clock time of arrival (epoch seconds), for HTTP-date Retry-After.
        elapsed: seconds since the operation began, as the deadline counts them.
        attempt: status answers so far, this one included.
        errors: consecutive transient faults before this one.
        failing_for: seconds since the current run of faults began (0 when none).
        rand: a uniform random value in [0, 1) for jitter.
        last: the last status document the operation had before this answer (what
            errors from answers that are not status documents carry), or a
            `lrpoll._json.RawJSON` holding it as its text (parsed only if read).
        cancelling: a cancel was accepted and is being confirmed.
        sent: False when a fault happened before anything reached the server.
    """

    http_status: int | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    body: Any = None
    fault: LrpollError | None = None
    snippet: str = ""
    received_at: float = 0.0
    elapsed: float = 0.0
    attempt: int = 1
    errors: int = 0
    failing_for: float = 0.0
    rand: float = 0.5
    last: Any = None
    cancelling: bool = False
    sent: bool = True
    status: InitVar[int | None] = None

    def __post_init__(self, status: int | None) -> None:
        if status is not None:
            _renamed("Observation(status=)", "http_status=")
            object.__setattr__(self, "http_status", status)


def _renamed(old: str, new: str) -> None:
    # The one-release alias of a renamed name: works, and says what to write instead.
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=4)


def _observation_status(self: Observation) -> int | None:
    """Deprecated: ``http_status`` (``status`` names the status document elsewhere)."""
    _renamed("Observation.status", "http_status")
    return self.http_status


# Set after the class is built: the dataclass keeps ``status=`` as an init-only alias.
setattr(Observation, "status", property(_observation_status))  # noqa: B010


# Not frozen either: one per running poll (see Observation).
@dataclass(slots=True)
class Running:
    """Still running: poll again after ``delay`` seconds."""

    delay: float
    progress: float | None = None
    message: str | None = None
    status_url: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Retry:
    """A transient fault within the budget: poll again after ``delay`` seconds."""

    delay: float
    error: LrpollError
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Succeeded:
    """Done: ``result`` is what ``await op`` returns."""

    result: Any
    progress: float | None = None
    message: str | None = None
    warnings: tuple[str, ...] = ()


EndState = Literal["failed", "cancelled", "timed_out", "gone", "error"]


@dataclass(frozen=True, slots=True)
class Ended:
    """Ended without a result: ``await op`` raises ``error``."""

    state: EndState
    error: LrpollError
    message: str | None = None
    warnings: tuple[str, ...] = ()


Decision = Running | Retry | Succeeded | Ended


# -- progress ---------------------------------------------------------------------------

_DECIMAL: Final = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,15})?", re.ASCII)
# Whole percentages as shared floats: an idle operation keeps its progress, and most
# servers count in whole percent.
_PERCENTS: Final = tuple(float(n) for n in range(101))


def read_progress(value: Any) -> tuple[float | None, str | None]:
    """A percentage in [0, 100] from whatever the document holds, and a warning.

    None stays None (unknown, not 0). Numbers and ASCII decimal strings (``"40"``) are
    read; values outside [0, 100] are clamped with a warning; NaN, infinities, booleans
    and other text are reported and read as unknown. Never raises.
    """
    if value is None:
        return None, None
    if type(value) is int and 0 <= value <= 100:
        return _PERCENTS[value], None
    if isinstance(value, bool):
        return None, f"progress is a boolean ({value!r}), not a number"
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value):
            return None, f"progress {json_snippet(value, limit=40)} is not a number"
        value = float(value)
    if not isinstance(value, _NUMBER):
        return None, f"progress is {type(value).__name__}, not a number"
    try:
        number = float(value)
    except OverflowError:
        return None, "progress is too large a number"
    if not math.isfinite(number):
        return None, f"progress is {number}, not a finite number"
    if number < 0.0 or number > 100.0:
        return clamp(number, 0.0, 100.0), f"progress {number:g} is outside [0, 100]"
    return number, None


# -- timing -----------------------------------------------------------------------------


def _retry_after(spec: PollSpec, obs: Observation) -> tuple[float | None, str | None]:
    # Headers in the spec's order; an invalid one is reported and the next one tried.
    first_warning = None
    for name in spec.retry_after_headers:
        value = obs.headers.get(name)
        if value is None:
            continue
        delay, warning = parse_retry_after(
            value,
            received_at=obs.received_at,
            date=obs.headers.get("date"),
            age_present="age" in obs.headers,
            milliseconds=name.endswith("-ms"),
        )
        if delay is not None:
            return clamp(delay, spec.min_interval, spec.max_retry_after), first_warning
        first_warning = first_warning or warning
    return None, first_warning


def retry_after(spec: PollSpec, headers: Mapping[str, str], *, received_at: float) -> float | None:
    """The valid Retry-After an answer's headers carry (clamped), in seconds, or None."""
    if not any(name in headers for name in spec.retry_after_headers):
        return None
    return _retry_after(spec, Observation(headers=headers, received_at=received_at))[0]


def _clip_to_deadline(spec: PollSpec, delay: float, elapsed: float) -> float:
    if spec.max_duration is None:
        return delay
    return max(0.0, min(delay, spec.max_duration - elapsed))


def first_delay(spec: PollSpec, obs: Observation) -> tuple[float, tuple[str, ...]]:
    """Delay before the first poll: the start response's Retry-After, else none, plus jitter.

    Returns:
        ``(delay, warnings)``.
    """
    retry_after, warning = _retry_after(spec, obs)
    delay = retry_after if retry_after is not None else 0.0
    delay += spec.first_poll_jitter * clamp(obs.rand, 0.0, 1.0)
    return _clip_to_deadline(spec, delay, obs.elapsed), (warning,) if warning else ()


# -- errors in bodies -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BodyFault:
    """An error found in an answer's body by the spec's `BodyError`.

    Attributes:
        kind: what it means (``auth``, ``gone``, ``transient``, ``failed``, ``error``).
        code: the error's code, as `BodyError.read_code` reads it (None when absent).
        text: the server's words (``message``), or None.
    """

    kind: BodyErrorKind
    code: int | str | None
    text: str | None


def _body_kind(code: int | str | None) -> BodyErrorKind:
    # A code the spec does not list reads like the HTTP status it resembles.
    if not isinstance(code, int):
        return "error"
    if code in (401, 403):
        return "auth"
    if code in (404, 410):
        return "gone"
    if code in (408, 429) or 500 <= code <= 599:
        return "transient"
    return "error"


def body_error(spec: PollSpec, body: Any) -> BodyFault | None:
    """The error ``body`` holds by ``spec.body_error``, or None. Pure; never raises.

    ``when`` decides whether there is one; its code means (first matching row wins):

    | code                        | kind        | becomes                                |
    |-----------------------------|-------------|----------------------------------------|
    | listed in ``codes``         | that kind   | (below)                                |
    | 401, 403                    | ``auth``    | `AuthError`                            |
    | 404, 410                    | ``gone``    | `OperationGone` (cancelled after an    |
    |                             |             | accepted cancel)                       |
    | 408, 429, 500-599           | ``transient`` | retried within the error budget      |
    | anything else, or none      | ``error``   | `HTTPStatusError`                      |

    ``failed`` (only through ``codes``) ends with `OperationFailed`.
    """
    rule = spec.body_error
    if rule is None or body is None:
        return None
    when = rule.expression("when")
    if when is None or not is_truthy(when.search(body)):
        return None
    code_expr = rule.expression("code")
    code = rule.read_code(code_expr.search(body)) if code_expr is not None else None
    codes = rule.codes or {}
    kind = (codes.get(code) if code is not None else None) or _body_kind(code)
    message_expr = rule.expression("message")
    value = message_expr.search(body) if message_expr is not None else None
    text = None
    if value is not None and value != "":
        text = value if isinstance(value, str) else json_snippet(value)
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return BodyFault(kind, code, text)


def _reads_body(spec: PollSpec, code: int) -> bool | None:
    """Whether an error in the body of a ``code`` answer counts (`body_error`).

    True for bodies the expressions would judge (2xx, or a code ``status_rules`` maps
    to ``evaluate``). None for 4xx answers ``status_rules`` does not name: there the
    body counts only where ``codes`` lists its code (some servers send the body's code
    as the HTTP status too: ArcGIS's 498 and 499), and the status decides otherwise.
    """
    assert spec.status_rules is not None
    rule = spec.status_rules.get(code)
    if rule is not None:
        return rule == "evaluate"
    if 200 <= code < 300:
        return True
    return None if 400 <= code < 500 else False


def _body_fault(spec: PollSpec, obs: Observation) -> BodyFault | None:
    if spec.body_error is None or obs.fault is not None or obs.http_status is None:
        return None
    reads = _reads_body(spec, obs.http_status)
    if reads is False:
        return None
    found = body_error(spec, obs.body)
    if reads is None and found is not None and found.code not in (spec.body_error.codes or {}):
        return None
    return found


def _body_exception(
    found: BodyFault, obs: Observation, what: str, operation_id: str | None
) -> LrpollError:
    """The exception an error in a body is (``what`` says which answer it was)."""
    code = obs.http_status or 0
    label = (
        "an error"
        if found.code is None
        else f"error {found.code}"
        if isinstance(found.code, int)
        else found.code
    )
    text = f"{what} reported {label} in a {code} answer"
    if found.text is not None:
        text += f": {found.text}"
    if found.kind == "failed":
        return OperationFailed(found.text or text, operation_id=operation_id, status=_document(obs))
    if found.kind == "gone":
        return OperationGone(
            f"{text} (the operation is gone)", operation_id=operation_id, status=resolve(obs.last)
        )
    cls = AuthError if found.kind == "auth" else HTTPStatusError
    # The body is an error, not a status document: the error carries the last one.
    return cls(
        text,
        http_status=code,
        body_snippet=obs.snippet or json_snippet(obs.body),
        operation_id=operation_id,
        status=resolve(obs.last),
    )


# -- decisions --------------------------------------------------------------------------


def _document(obs: Observation) -> Any:
    """The status document an answer leaves the operation with: its body, else the last."""
    return resolve(obs.last) if obs.body is None else obs.body


def _default_rule(code: int) -> StatusRule | type[HTTPStatusError]:
    if 200 <= code < 300:
        return "evaluate"
    if code == 408 or code == 429 or code >= 500:
        return "transient"
    if code in (401, 403):
        return AuthError
    if code in (404, 410):
        return "gone"
    return HTTPStatusError


def _view(spec: PollSpec, obs: Observation) -> Any:
    if spec.view == "response":
        return {"status": obs.http_status, "headers": dict(obs.headers), "body": obs.body}
    return obs.body


def _context(base: Mapping[str, Any] | None, obs: Observation, **extra: Any) -> dict[str, Any]:
    ctx = dict(base or {})
    ctx["last"] = obs.body
    ctx.update(extra)
    return ctx


def _render(
    spec: PollSpec, kind: str, base: Mapping[str, Any] | None, obs: Observation, **extra: Any
) -> str | None:
    template = spec.message_template(kind)
    if template is None:
        return None
    return template.render(_context(base, obs, **extra))


_ENDS: Final = {"failed": "failed", "cancelled": "cancelled", "done": "succeeded"}


def _outcome(spec: PollSpec, view: Any) -> str:
    """What the document says: the outcome of the first end expression that holds."""
    choice = spec._outcomes
    if choice is not None:
        name = choice.pick(view)
        return "running" if name is None else _ENDS[name]
    for name in OUTCOME_EXPRESSIONS:
        if is_truthy(_eval(spec, name, view)):
            return _ENDS[name]
    return "running"


def _eval(spec: PollSpec, name: str, view: Any) -> Any:
    expr = spec._expressions.get(name)  # the hot path: no accessor call
    return None if expr is None else expr.search(view)


def _error_text(spec: PollSpec, view: Any, fallback: str) -> str:
    value = _eval(spec, "error_message", view)
    if value is None:
        return fallback
    text = value if isinstance(value, str) else json_snippet(value)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _ended(
    spec: PollSpec,
    obs: Observation,
    state: EndState,
    error: LrpollError,
    base: Mapping[str, Any] | None,
    warnings: tuple[str, ...] = (),
) -> Ended:
    kind = {"failed": "failed", "cancelled": "cancelled", "timed_out": "timed_out"}.get(state)
    message = None
    if kind is not None:
        message = _render(spec, kind, base, obs, error=error.message)
    return Ended(state, error, message, warnings)


def timed_out(
    spec: PollSpec,
    obs: Observation,
    base: Mapping[str, Any] | None = None,
    *,
    operation_id: str | None = None,
    reason: str | None = None,
) -> Ended:
    """The `PollTimeout` ending, with the ``timed_out`` message rendered."""
    if reason is None:
        reason = (
            f"no terminal state within {spec.max_duration:g} s"
            if spec.max_duration
            else ("deadline reached")
        )
    document = _document(obs)
    ended = _ended(spec, obs, "timed_out", PollTimeout(reason), base)
    if document is not None:
        # The error says what the server last reported, so a condition that never
        # matched shows; the rendered message for people keeps the reason alone.
        reason += f"; last status: {json_snippet(document, limit=120)}"
    error = PollTimeout(reason, operation_id=operation_id, status=document)
    return Ended(ended.state, error, ended.message, ended.warnings)


def _transient(
    spec: PollSpec,
    obs: Observation,
    error: LrpollError,
    base: Mapping[str, Any] | None,
    operation_id: str | None,
) -> Decision:
    budget = spec.errors
    spent = (budget.max_consecutive is not None and obs.errors >= budget.max_consecutive) or (
        budget.max_failing_time is not None and obs.failing_for >= budget.max_failing_time
    )
    if spent:
        return Ended(
            "error", with_context(error, operation_id=operation_id, status=resolve(obs.last))
        )
    if spec.max_duration is not None and obs.elapsed >= spec.max_duration:
        return timed_out(spec, obs, base, operation_id=operation_id)
    retry_after, warning = _retry_after(spec, obs)
    if retry_after is None:
        # The polling interval's formula; the default budget's full jitter keeps a failing
        # fleet from retrying in step.
        delay = backoff_delay(budget.backoff, obs.errors + 1, obs.rand)
        delay = max(delay, min(spec.min_interval, budget.backoff.max_delay))
    else:
        delay = retry_after
    return Retry(_clip_to_deadline(spec, delay, obs.elapsed), error, (warning,) if warning else ())


def _gone(obs: Observation, gone: LrpollError, why: str, operation_id: str | None) -> Ended:
    if obs.cancelling:
        # Reference: AIP-151, OData §9.1.3: a cancelled operation may vanish, so a
        # 404/410 right after an accepted cancel is the server confirming it.
        confirmed = OperationCancelled(
            f"cancelled: {why} after the cancel was accepted",
            operation_id=operation_id,
            status=resolve(obs.last),
        )
        return Ended("cancelled", confirmed)
    return Ended("gone", gone)


def _body_decision(
    spec: PollSpec,
    obs: Observation,
    found: BodyFault,
    base: Mapping[str, Any] | None,
    operation_id: str | None,
) -> Decision:
    """What an error in a status answer's body decides (see `body_error`)."""
    error = _body_exception(found, obs, "the server", operation_id)
    if found.kind == "transient":
        return _transient(spec, obs, error, base, operation_id)
    if found.kind == "gone":
        return _gone(obs, error, error.message, operation_id)
    if found.kind == "failed":
        return _ended(spec, obs, "failed", error, base)
    return Ended("error", error)


def decide(
    spec: PollSpec,
    obs: Observation,
    base: Mapping[str, Any] | None = None,
    *,
    operation_id: str | None = None,
) -> Decision:
    """Turn one status answer into a decision. Pure and deterministic; never raises.

    Args:
        spec: the compiled spec.
        obs: the answer and the operation's counters.
        base: the template context that does not change per poll (``start``,
            ``start_headers``, ``operation``, ``request_url``, ``status_url``), for messages.
        operation_id: attached to the errors the decision carries.
    """
    try:
        return _decide(spec, obs, base, operation_id)
    except RecursionError:
        error = MalformedStatus(
            "status document nested too deeply", operation_id=operation_id, status=resolve(obs.last)
        )
        return Ended("error", error)


def _decide(
    spec: PollSpec, obs: Observation, base: Mapping[str, Any] | None, operation_id: str | None
) -> Decision:
    if obs.fault is not None and obs.http_status is None:
        return _transient(spec, obs, obs.fault, base, operation_id)
    code = obs.http_status if obs.http_status is not None else 0
    rule: StatusRule | type[HTTPStatusError] = spec.status_rules.get(code) or _default_rule(code)  # type: ignore[union-attr]
    if obs.fault is not None and rule in (
        "evaluate",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    ):
        return _transient(spec, obs, obs.fault, base, operation_id)
    # Checked here, not only inside: this is the per-poll path, and most specs have none.
    found = _body_fault(spec, obs) if spec.body_error is not None else None
    if found is not None:
        return _body_decision(spec, obs, found, base, operation_id)
    if isinstance(rule, type):
        cls = rule
        name = "authentication failed" if cls is AuthError else "unexpected HTTP status"
        error = cls(
            f"{name}: {code}" + (f": {obs.snippet}" if obs.snippet else ""),
            http_status=code,
            body_snippet=obs.snippet,
            operation_id=operation_id,
            status=resolve(obs.last),  # an error page is not a status document
        )
        return Ended("error", error)
    if rule == "transient":
        error = HTTPStatusError(
            f"server answered {code}" + (f": {obs.snippet}" if obs.snippet else ""),
            http_status=code,
            body_snippet=obs.snippet,
            operation_id=operation_id,
            status=obs.body,
        )
        return _transient(spec, obs, error, base, operation_id)
    if rule == "gone":
        gone = OperationGone(
            f"the status URL answered {code}: the operation expired or never existed",
            operation_id=operation_id,
            status=resolve(obs.last),
        )
        return _gone(obs, gone, f"the status URL answered {code}", operation_id)

    view = _view(spec, obs)
    outcome: str
    if rule == "evaluate":
        required = spec._expressions.get("required")
        if required is not None and not is_truthy(required.search(view)):
            malformed = MalformedStatus(
                f"status document lacks what the spec requires ({required.source}): "
                + json_snippet(obs.body, limit=120),
                operation_id=operation_id,
                status=resolve(obs.last),
            )
            return _transient(spec, obs, malformed, base, operation_id)
        outcome = _outcome(spec, view)
    else:
        outcome = rule

    progress, warning = read_progress(_eval(spec, "progress", view))
    warnings: tuple[str, ...] = (warning,) if warning else ()

    if outcome == "failed":
        text = _error_text(spec, view, "the server reported the operation failed")
        failed: OperationError = OperationFailed(
            text, operation_id=operation_id, status=_document(obs)
        )
        return _ended(spec, obs, "failed", failed, base, warnings)
    if outcome == "cancelled":
        text = _error_text(spec, view, "the server reported the operation cancelled")
        cancelled = OperationCancelled(text, operation_id=operation_id, status=_document(obs))
        return _ended(spec, obs, "cancelled", cancelled, base, warnings)
    if outcome == "succeeded":
        result = _eval(spec, "result", view) if spec.expression("result") else obs.body
        message = _render(spec, "completed", base, obs, progress=progress, result=result)
        return Succeeded(result, progress, message, warnings)

    # running
    if spec.max_attempts is not None and obs.attempt >= spec.max_attempts:
        return timed_out(
            spec,
            obs,
            base,
            operation_id=operation_id,
            reason=f"no terminal state after {spec.max_attempts} polls",
        )
    if spec.max_duration is not None and obs.elapsed >= spec.max_duration:
        return timed_out(spec, obs, base, operation_id=operation_id)
    retry_after, ra_warning = _retry_after(spec, obs)
    if ra_warning:
        warnings += (ra_warning,)
    delay = (
        retry_after
        if retry_after is not None
        else backoff_delay(spec._backoff, obs.attempt, obs.rand)
    )
    new_url = header_ref(spec.status_url_updates, obs.headers)
    message = _render(spec, "in_progress", base, obs, progress=progress) if spec._messages else None
    return Running(
        _clip_to_deadline(spec, delay, obs.elapsed), progress, message, new_url, warnings
    )


_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
# 501 and 505 say the server will never do it: not worth a second try.
_NEVER_RETRIED: Final = frozenset({501, 505})


def start_decision(
    spec: PollSpec,
    obs: Observation,
    *,
    method: str,
    idempotent: bool = False,
    operation_id: str | None = None,
) -> Retry | Ended | None:
    """What a start answer means for the start request: go on (None), send again, or fail.

    | answer                                  | sent again when                         |
    |-----------------------------------------|-----------------------------------------|
    | a fault before anything was sent        | always                                  |
    | 408, 429, 5xx but 501/505, or a fault   | the method is idempotent (GET, HEAD,    |
    | after sending (timeout, reset)          | PUT, DELETE, OPTIONS), ``idempotent``   |
    |                                         | (an ``Idempotency-Key``, or the caller  |
    |                                         | says so), ``start_retry="any"``; or     |
    |                                         | ``"azure"`` and POST/PATCH on 500, 503, |
    |                                         | 504 (azure-core's default policy)       |
    | anything else that is an error          | never                                   |

    Retries spend the operation's error budget (``spec.errors``) with its backoff and
    honour Retry-After, as poll retries do; a spent budget ends with the last error.
    """
    error = start_error(spec, obs, operation_id=operation_id)
    if error is None:
        return None
    code = obs.http_status
    found = _body_fault(spec, obs)
    if found is not None:
        retryable = found.kind == "transient" and _may_repeat(spec, method, idempotent, None)
    elif code is None:
        retryable = not obs.sent or _may_repeat(spec, method, idempotent, None)
    elif code == 408 or code == 429 or (code >= 500 and code not in _NEVER_RETRIED):
        retryable = _may_repeat(spec, method, idempotent, code)
    else:
        retryable = False
    if not retryable:
        return Ended("error", error)
    decision = _transient(spec, obs, error, None, operation_id)
    return decision if isinstance(decision, Retry | Ended) else Ended("error", error)


def _may_repeat(spec: PollSpec, method: str, idempotent: bool, code: int | None) -> bool:
    if idempotent or method in _IDEMPOTENT or spec.start_retry == "any":
        return True
    return spec.start_retry == "azure" and method in ("POST", "PATCH") and code in (500, 503, 504)


def start_error(
    spec: PollSpec, obs: Observation, *, operation_id: str | None = None
) -> LrpollError | None:
    """The error a start answer is, or None when polling may begin.

    A transport fault, a status that is neither 2xx nor named in
    ``spec.status_rules``, or an error ``spec.body_error`` finds in the body, is an
    error; `start_decision` says whether to send again.
    """
    if obs.http_status is None:
        return obs.fault or RequestError("start request failed", operation_id=operation_id)
    found = _body_fault(spec, obs)
    if found is not None:
        return _body_exception(found, obs, "the server", operation_id)
    code = obs.http_status
    if 200 <= code < 300 or code in spec.status_rules:  # type: ignore[operator]
        return None
    cls = AuthError if code in (401, 403) else HTTPStatusError
    return cls(
        f"start request answered {code}" + (f": {obs.snippet}" if obs.snippet else ""),
        http_status=code,
        body_snippet=obs.snippet,
        operation_id=operation_id,
        status=obs.body,
    )


# -- where the status lives, and the deadline ------------------------------------------


def header_ref(names: tuple[str, ...], headers: Mapping[str, str]) -> str | None:
    """The first non-empty header among ``names`` (lower case), in their order, or None.

    One rule for both places a status URL comes from headers: the start answer
    (``spec.status_from``) and a poll answer that moves the status (``status_url_updates``).
    """
    for name in names:
        value = headers.get(name)
        if value:
            return value
    return None


def deadline(spec: PollSpec, started: float) -> float | None:
    """When polling must end (``started + max_duration``), in the caller's clock, or None."""
    return None if spec.max_duration is None else started + spec.max_duration


def past_deadline(spec: PollSpec, started: float, now: float) -> bool:
    """Whether ``now`` is at or past the operation's deadline."""
    return spec.max_duration is not None and now - started >= spec.max_duration


def resume_delay(spec: PollSpec, rand: float) -> float:
    """Delay before the first poll of a resumed operation: spread over one interval.

    Many operations resumed at once (a restarted worker) would otherwise poll together.
    """
    return spec.effective_backoff.delay * clamp(rand, 0.0, 1.0)


# -- the result fetch -------------------------------------------------------------------


def result_decision(
    spec: PollSpec,
    obs: Observation,
    done: Succeeded,
    *,
    shown_url: str,
    operation_id: str | None = None,
) -> Decision:
    """Judge the answer to the result fetch (``spec.result_url``) of a done operation.

    A 2xx (or a code ``status_rules`` names) gives the result: its body, unless
    ``spec.body_error`` finds an error in it. A transient fault or status (connect
    error, timeout, 408, 429, 5xx, unparseable body, a transient body error) retries
    within the operation's error budget like any poll; anything else ends the
    operation with the error, saying it was the result fetch.
    """
    code = obs.http_status
    found = _body_fault(spec, obs)
    transient = (
        obs.fault is not None
        or (code is not None and (code == 408 or code == 429 or code >= 500))
        or (found is not None and found.kind == "transient")
    )
    if transient:
        cause = obs.fault or (
            _body_exception(found, obs, "the server", operation_id)
            if found is not None
            else _http_error(obs, "result fetch answered")
        )
        decision = _transient(spec, obs, cause, None, operation_id)
        if isinstance(decision, Ended):
            return _result_error(decision.error, shown_url)
        return decision
    error = start_error(spec, obs, operation_id=operation_id)
    if error is not None:
        return _result_error(error, shown_url)
    return Succeeded(obs.body, done.progress, done.message, done.warnings)


def _result_error(error: LrpollError, shown_url: str) -> Ended:
    message = f"fetching the result from {shown_url}: {error.message}"
    return Ended("error", with_context(error, message=message))


def _http_error(obs: Observation, what: str) -> HTTPStatusError:
    return HTTPStatusError(
        f"{what} {obs.http_status}" + (f": {obs.snippet}" if obs.snippet else ""),
        http_status=obs.http_status or 0,
        body_snippet=obs.snippet,
        status=resolve(obs.last),
    )


# -- cancel -----------------------------------------------------------------------------

_CANCEL_DEFAULTS: Final[Mapping[int, CancelResult]] = MappingProxyType(
    {
        400: "already_finished",
        409: "already_finished",
        412: "already_finished",
        404: "not_found",
        410: "not_found",
        405: "not_supported",
        501: "not_supported",
    }
)
_CANCEL_EXPRESSION_ORDER: Final = ("not_supported", "already_finished", "refused", "accepted")


def classify_cancel(
    spec: CancelSpec,
    status: int | None,
    headers: Mapping[str, str],
    body: Any,
    *,
    poll_spec: PollSpec | None = None,
    last: Any = None,
) -> tuple[CancelResult, str | None]:
    """What the server's answer to a cancel request means, and the server's message.

    Expressions first (in the order not_supported, already_finished, refused, accepted,
    over ``{"status", "headers", "body", "last"}``: ``last`` is the operation's last
    status document), then an error ``poll_spec.body_error`` finds in the body (``auth``
    and ``failed`` refused, ``gone`` not_found, others read by their code as if it were
    the HTTP status), then ``spec.statuses``, then the defaults (2xx accepted; 400, 409, 412
    already_finished; 404, 410 not_found; 405, 501 not_supported; else refused). Pure;
    never raises.
    """
    view = {"status": status, "headers": dict(headers), "body": body, "last": last}
    found = None
    if poll_spec is not None and status is not None:
        found = _body_fault(poll_spec, Observation(http_status=status, body=body))
    message_expr = spec.expression("message")
    message = message_expr.search(view) if message_expr is not None else None
    if message is None and found is not None:
        message = found.text
    if message is None and isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else body.get("message")
    if message is not None and not isinstance(message, str):
        message = json_snippet(message)
    for name in _CANCEL_EXPRESSION_ORDER:
        expr = spec.expression(name)
        if expr is not None and is_truthy(expr.search(view)):
            return name, message
    if status is None:
        return "refused", message
    if found is not None:
        if found.kind == "gone":
            return "not_found", message
        if found.kind not in ("error", "transient") or not isinstance(found.code, int):
            return "refused", message
        status = found.code
    assert spec.statuses is not None
    result = spec.statuses.get(status) or _CANCEL_DEFAULTS.get(status)
    if result is None:
        result = "accepted" if 200 <= status < 300 else "refused"
    return result, message


def cancel_outcome(sent: CancelResult, state: str, *, ended: bool) -> str:
    """How a whole cancel ended, from what the cancel answer meant and where the operation is.

    | operation after confirming | cancel answer      | outcome                      |
    |----------------------------|--------------------|------------------------------|
    | ended ``cancelled``        | any                | ``cancelled``                |
    | ended otherwise            | ``accepted``       | ``finished_anyway``          |
    | ended otherwise            | ``already_finished``| ``already_finished``        |
    | ended otherwise            | another            | that one                     |
    | not ended                  | ``accepted``       | ``unconfirmed``              |
    | not ended                  | another            | that one                     |
    """
    if ended:
        if state == "cancelled":
            return "cancelled"
        return "finished_anyway" if sent == "accepted" else sent
    return "unconfirmed" if sent == "accepted" else sent
