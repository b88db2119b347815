"""Helpers, hypothesis strategies and settings shared by the unit tests.

Settings are modest and derandomized so the unit suite runs in seconds and CI is stable.
"""

from __future__ import annotations

import string
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lrpoll import (
    Backoff,
    CancelSpec,
    ErrorBudget,
    LrpollError,
    MalformedStatus,
    Messages,
    PollSpec,
    RequestError,
    ResponseTooLarge,
)
from lrpoll.core import (
    Decision,
    Ended,
    Observation,
    Retry,
    Running,
    Succeeded,
)


def error_summary(error: LrpollError) -> tuple[Any, ...]:
    """What an error says: its type, text, and the attributes callers read."""
    return (
        type(error),
        str(error),
        error.operation_id,
        safe_repr(error.status),
        getattr(error, "http_status", None),
        getattr(error, "body_snippet", None),
    )


def safe_repr(value: Any) -> str:
    """``repr(value)``, or a marker for documents nested past the recursion limit."""
    try:
        return repr(value)
    except RecursionError:
        return f"<deep {type(value).__name__} at {id(value):#x}>"


def summarize(decision: Decision) -> tuple[Any, ...]:
    """A decision as a comparable tuple (errors compare by identity, NaN by nothing)."""
    if isinstance(decision, Running):
        return (
            Running,
            decision.delay,
            decision.progress,
            decision.message,
            decision.status_url,
            decision.warnings,
        )
    if isinstance(decision, Retry):
        return (Retry, decision.delay, error_summary(decision.error), decision.warnings)
    if isinstance(decision, Succeeded):
        return (
            Succeeded,
            safe_repr(decision.result),
            decision.progress,
            decision.message,
            decision.warnings,
        )
    return (
        Ended,
        decision.state,
        error_summary(decision.error),
        decision.message,
        decision.warnings,
    )


UNIT = settings(
    max_examples=200,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Settings for every property test in the unit suite."""

# -- JSON documents ---------------------------------------------------------------------

KEYS = (
    "status",
    "done",
    "failed",
    "progress",
    "result",
    "error",
    "message",
    "items",
    "xs",
    "tags",
    "state",
    "n",
    "a",
    "b",
    "c",
    "p",
    "body",
    "headers",
    "location",
    "id",
)

json_keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))

# Lone surrogates ("\ud800") are in category Cs, which st.text() leaves out by default.
hostile_text = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(categories=["Cs", "Nd", "No", "Cc", "Zs"]), max_size=6),
    st.sampled_from(["done", "failed", "cancelled", "Succeeded", "", "40", "-5", "1e400"]),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    # Beyond float range: float(10**400) raises OverflowError. Kept well under
    # sys.get_int_max_str_digits() (a body json.loads accepted cannot hold more).
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)

json_docs = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(json_keys, children, max_size=5),
    ),
    max_leaves=20,
)


def nest(doc: Any, depth: int, as_dict: bool) -> Any:
    """``doc`` wrapped ``depth`` times in one-key objects or one-element lists."""
    for _ in range(depth):
        doc = {"status": doc} if as_dict else [doc]
    return doc


deep_docs = st.builds(nest, json_docs, st.sampled_from([50, 900, 3000]), st.booleans())

documents = st.one_of(json_docs, json_docs, json_docs, deep_docs)
"""Any JSON document, sometimes nested far past the recursion limit."""

# -- specs ------------------------------------------------------------------------------

EXPRESSIONS = (
    "status",
    "status == 'done'",
    "status != 'running'",
    "status == `true`",
    "done",
    "done == `true`",
    "failed",
    "error",
    "error.message",
    "a.b.c",
    "items[0].state",
    "items[?state == 'done'] | length(@) > `0`",
    "length(items) > `2`",
    "progress",
    "progress >= `100`",
    "percent(progress.done, progress.total)",
    "percent(a, b)",
    "ceil(p)",
    "floor(p)",
    "abs(p)",
    "avg(xs)",
    "sum(xs)",
    "max(xs)",
    "sort(xs)",
    "to_number(p)",
    "to_string(@)",
    "lower(status) == 'succeeded'",
    "upper(state)",
    "contains(tags, 'x')",
    "starts_with(status, 'Succ')",
    "join(', ', tags)",
    "max_by(items, &n)",
    "sort_by(items, &n)",
    "map(&n, items)",
    "keys(@)",
    "values(@)",
    "merge(@, `{}`)",
    "not_null(a, b, c)",
    "type(@) == 'object'",
    "reverse(status)",
    "*.status",
    "@",
    "`1`",
    "body.status",
    "status != `202`",
    "headers.location",
    'headers."retry-after"',
)

DONE_EXPRESSIONS = tuple(e for e in EXPRESSIONS if e not in ("@", "`1`", "keys(@)"))

optional_expr = st.one_of(st.none(), st.sampled_from(EXPRESSIONS))

status_codes = st.sampled_from(
    [200, 201, 202, 204, 301, 400, 401, 403, 404, 408, 409, 410, 418, 429, 500, 503, 599]
)
rules = st.sampled_from(
    ["evaluate", "running", "succeeded", "failed", "cancelled", "gone", "transient"]
)

finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False)
small = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)


@st.composite
def backoffs(draw: st.DrawFn) -> Backoff:
    """Any valid Backoff."""
    min_delay = draw(small)
    return Backoff(
        kind=draw(st.sampled_from(["fixed", "linear", "exponential"])),
        delay=draw(small),
        step=draw(small),
        factor=draw(st.one_of(st.floats(min_value=1.0, max_value=10.0), st.integers(1, 10))),
        min_delay=min_delay,
        max_delay=min_delay + draw(small),
        jitter=draw(st.floats(min_value=0.0, max_value=1.0)),
    )


error_budgets = st.builds(
    ErrorBudget,
    max_consecutive=st.one_of(st.none(), st.integers(0, 10)),
    max_failing_time=st.one_of(st.none(), small),
    backoff=st.builds(Backoff.exponential, small, max_delay=small, jitter=st.floats(0.0, 1.0)),
)

message_sources = st.sampled_from(
    [
        "Progress: {progress}%",
        "{last.status}",
        "Done: {result}",
        "Failed: {error}",
        "{{literal}} {operation}",
        "at {status_url}",
        "plain",
    ]
)
messages = st.builds(
    Messages,
    in_progress=st.one_of(st.none(), message_sources),
    completed=st.one_of(st.none(), message_sources),
    failed=st.one_of(st.none(), message_sources),
    cancelled=st.one_of(st.none(), message_sources),
    timed_out=st.one_of(st.none(), message_sources),
)

url_templates = st.sampled_from(
    [
        "/api/exports/{start.jobId}/status",
        "https://api.example.com/v1/{+start.name}",
        "{+request_url}",
        "/ops/{operation}?x={start.id}",
    ]
)
header_names = st.sampled_from(["Accept", "X-Trace", "api-version", "Prefer"])
header_values = st.text(alphabet=string.ascii_letters + string.digits + " -=;", max_size=10)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def cancel_specs(draw: st.DrawFn) -> CancelSpec:
    """Any valid CancelSpec."""
    body = draw(st.sampled_from(["none", "json", "form"]))
    return CancelSpec(
        url=draw(url_templates),
        method=draw(st.sampled_from(["POST", "DELETE", "put"])),
        headers=draw(st.dictionaries(header_names, header_values, max_size=2)),
        json=draw(json_values) if body == "json" else None,
        form=draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2))
        if body == "form"
        else None,
        confirm_timeout=draw(small),
    )


@st.composite
def poll_specs(draw: st.DrawFn) -> PollSpec:
    """Any valid PollSpec: random expressions from a pool, views, rules and budgets."""
    kwargs: dict[str, Any] = {}
    if draw(st.booleans()):
        kwargs["status_url"] = draw(url_templates)
    else:
        kwargs["status_from"] = tuple(
            draw(
                st.lists(
                    st.sampled_from(["Operation-Location", "Location", "azure-asyncoperation"]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            )
        )
    kwargs["status_url_updates"] = tuple(
        draw(st.lists(st.sampled_from(["location", "operation-location"]), unique=True))
    )
    kwargs["status_method"] = draw(st.sampled_from(["GET", "POST"]))
    kwargs["status_headers"] = draw(st.dictionaries(header_names, header_values, max_size=2))
    kwargs["status_query"] = draw(
        st.dictionaries(st.sampled_from(["api-version", "x"]), header_values, max_size=2)
    )
    if draw(st.booleans()):
        kwargs["status_json"] = draw(json_values)
    elif draw(st.booleans()):
        kwargs["status_form"] = draw(
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2)
        )
    if draw(st.booleans()):
        kwargs["backoff"] = draw(backoffs())
    else:
        kwargs["interval"] = draw(st.one_of(st.none(), small))
    min_interval = draw(small)
    kwargs["min_interval"] = min_interval
    kwargs["max_retry_after"] = min_interval + draw(finite)
    kwargs["retry_after_headers"] = tuple(
        draw(st.lists(st.sampled_from(["retry-after", "retry-after-ms"]), unique=True))
    )
    kwargs["max_duration"] = draw(
        st.one_of(st.none(), st.floats(min_value=0.001, max_value=1e5, allow_nan=False))
    )
    kwargs["max_attempts"] = draw(st.one_of(st.none(), st.integers(1, 50)))
    kwargs["first_poll_jitter"] = draw(small)
    kwargs["errors"] = draw(error_budgets)
    kwargs["view"] = draw(st.sampled_from(["document", "response"]))
    kwargs["done"] = draw(st.sampled_from(DONE_EXPRESSIONS))
    for name in ("failed", "cancelled", "progress", "result", "error_message"):
        kwargs[name] = draw(optional_expr)
    kwargs["status_rules"] = draw(st.dictionaries(status_codes, rules, max_size=3))
    kwargs["messages"] = draw(messages)
    kwargs["cancel"] = draw(st.one_of(st.none(), cancel_specs()))
    kwargs["name"] = draw(st.one_of(st.none(), st.text(max_size=10)))
    return PollSpec(**kwargs)


# -- observations -----------------------------------------------------------------------

RETRY_AFTER_VALUES = (
    "0",
    "5",
    "9999999999",
    "99999999999",
    "1e400",
    "inf",
    "-5",
    "5.5",
    "\u0661\u0662",
    "",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "Sun Nov  6 08:49:37 1994",
    "Fri, 01 Jan 2100 00:00:00 GMT",
)

response_headers = st.dictionaries(
    st.sampled_from(["retry-after", "retry-after-ms", "date", "age", "location", "etag"]),
    st.one_of(st.sampled_from(RETRY_AFTER_VALUES), st.text(max_size=12)),
    max_size=4,
)

faults = st.sampled_from(
    [
        None,
        None,
        None,
        RequestError("connection reset"),
        MalformedStatus("bad JSON"),
        ResponseTooLarge("body over the cap"),
    ]
)


@st.composite
def observations(draw: st.DrawFn) -> Observation:
    """Any observation: a status (or a transport fault), headers, a body and counters."""
    fault = draw(faults)
    status: int | None = draw(
        st.one_of(st.sampled_from([200, 202]), status_codes, st.integers(100, 599))
    )
    if fault is not None and draw(st.booleans()):
        status = None
    return Observation(
        http_status=status,
        headers=draw(response_headers),
        body=draw(documents),
        fault=fault,
        snippet=draw(st.text(max_size=20)),
        received_at=draw(st.floats(min_value=0.0, max_value=5e9, allow_nan=False)),
        elapsed=draw(st.floats(min_value=0.0, max_value=2e5, allow_nan=False)),
        attempt=draw(st.integers(1, 10**6)),
        errors=draw(st.one_of(st.integers(0, 6), st.integers(0, 10**4))),
        failing_for=draw(st.floats(min_value=0.0, max_value=1e6, allow_nan=False)),
        rand=draw(st.floats(min_value=0.0, max_value=1.0, exclude_max=True)),
    )


@st.composite
def decision_specs(draw: st.DrawFn) -> PollSpec:
    """A valid PollSpec varying only what ``decide`` reads (cheaper than `poll_specs`)."""
    kwargs: dict[str, Any] = {"status_url": "/api/exports/{start.jobId}/status"}
    if draw(st.booleans()):
        kwargs["backoff"] = draw(backoffs())
    else:
        kwargs["interval"] = draw(small)
    min_interval = draw(small)
    kwargs["min_interval"] = min_interval
    kwargs["max_retry_after"] = min_interval + draw(finite)
    kwargs["retry_after_headers"] = draw(
        st.sampled_from([(), ("retry-after",), ("retry-after-ms", "retry-after")])
    )
    kwargs["status_url_updates"] = draw(st.sampled_from([(), ("location",)]))
    kwargs["max_duration"] = draw(
        st.one_of(st.none(), st.floats(min_value=0.001, max_value=1e5, allow_nan=False))
    )
    kwargs["max_attempts"] = draw(st.one_of(st.none(), st.integers(1, 50)))
    kwargs["first_poll_jitter"] = draw(small)
    kwargs["errors"] = draw(error_budgets)
    kwargs["view"] = draw(st.sampled_from(["document", "response"]))
    kwargs["done"] = draw(st.sampled_from(DONE_EXPRESSIONS))
    for name in ("failed", "cancelled", "progress", "result", "error_message"):
        kwargs[name] = draw(optional_expr)
    kwargs["status_rules"] = draw(st.dictionaries(status_codes, rules, max_size=3))
    kwargs["messages"] = Messages(
        in_progress=draw(st.one_of(st.none(), message_sources)),
        completed=draw(st.one_of(st.none(), message_sources)),
        failed=draw(st.one_of(st.none(), message_sources)),
        timed_out=draw(st.one_of(st.none(), message_sources)),
    )
    return PollSpec(**kwargs)
