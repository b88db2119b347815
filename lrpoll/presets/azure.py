"""Azure long-running operations: ARM and Azure.Core data-plane LROs, as one preset.

`azure_lro` returns a `PollSpec` whose discovery step (``"azure.lro"``) reads the start
answer and picks how to poll, then returns the same preset with that choice among its
parameters (``mode``), so the spec stays plain data for checkpoints:

| start answer                                       | method      | mode       |
|----------------------------------------------------|-------------|------------|
| ``Azure-AsyncOperation`` or ``Operation-Location`` | any         | `monitor`  |
| 202 with ``Location``                              | any         | `location` |
| no header, or ``Location`` on a 200/201/204        | PUT, PATCH  | `resource` |
| no header, or ``Location`` on a 200/201/204        | POST, DELETE| `done`     |

- ``monitor``: GET the status monitor (``Azure-AsyncOperation`` preferred when both headers
  are sent); its ``status`` decides (anything outside the terminal sets is running),
  ``percentComplete`` is the progress, ``error.code: error.message`` the failure text.
- ``location``: GET the ``Location`` URL; 202 is running (each 202 may name a new
  ``Location``), any other 2xx is done and its body is the result; 400/409/412/422 are the
  operation's failure, with the body's ``error`` as the message.
- ``resource``: GET the request URL itself; ``properties.provisioningState`` decides (a
  200/204 without one is done, a 201/202 without one is running).
- ``done``: the start answer is the outcome; nothing is polled.

Where the result comes from, once done (``final-state-via``, else the defaults):

| mode       | result                                                                      |
|------------|-----------------------------------------------------------------------------|
| `monitor`  | ``location``: GET the start's ``Location`` if sent; ``azure-async-operation`` |
|            | / ``operation-location`` on POST: the final status monitor; otherwise GET   |
|            | ``resourceLocation`` from the monitor, else the request URL (PUT, PATCH,    |
|            | ``original-uri``) or the start's ``Location`` (POST); else the final status |
|            | monitor (``result_path`` picks a field of it, such as ``result``)           |
| `location` | the final answer's body; GET the request URL for ``original-uri``, and for  |
|            | PUT/PATCH when that body is empty (204)                                     |
| `resource` | the final resource; GET the request URL again when that body is empty       |
| `done`     | the start body; GET ``Location`` for ``location`` (and for POST when the    |
|            | body is empty), the request URL for ``original-uri``                        |

References: Azure REST API guidelines, "Long-running operations" (status monitor states,
``Operation-Location``, ``resourceLocation``); ARM RPC "Asynchronous operations"
(``Azure-AsyncOperation``, ``Location`` with 202, ``provisioningState``); AutoRest
``x-ms-long-running-operation-options`` (``final-state-via``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from .._exceptions import SpecError
from .._registry import discovery, preset
from .._spec import CancelSpec, PollSpec, StatusRule
from ._params import error_budget

__all__ = ["Mode", "azure_lro", "discover_mode"]

Mode = Literal["monitor", "location", "resource", "done"]
"""How an Azure operation is polled (the ``mode`` parameter; see the module docstring)."""

_MODES: Final = ("monitor", "location", "resource", "done")
_FINAL_STATE_VIA: Final = (
    "azure-async-operation",
    "location",
    "original-uri",
    "operation-location",
)
_METHODS: Final = ("PUT", "PATCH", "POST", "DELETE")
_STATE_NAME: Final = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}", re.ASCII)
# The millisecond headers first: they are the more precise ones. (azure-core for Python
# reads Retry-After first; the two orders differ only if a service sends both, unequal.)
_RETRY_AFTER: Final = ("retry-after-ms", "x-ms-retry-after-ms", "retry-after")
# ARM RPC "Asynchronous operations": a failed operation polled through Location answers
# with an error status and an error body. 4xx codes that describe the request are the
# operation's failure; 5xx stays transient (retried within the error budget).
_LOCATION_FAILURES: Final[Mapping[int, StatusRule]] = {
    400: "failed",
    409: "failed",
    412: "failed",
    422: "failed",
}
_NULL: Final = "`null`"


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)


def _states(value: object, name: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise SpecError("must be a non-empty list of status names", field=f"params.{name}")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _STATE_NAME.fullmatch(item):
            raise SpecError(
                f"{item!r} is not a status name (a letter, then letters, digits, '_', '.', '-')",
                field=f"params.{name}",
            )
        if item.lower() not in out:
            out.append(item.lower())
    return tuple(out)


def _in(states: tuple[str, ...], path: str) -> str:
    """JMESPath: ``path`` (case-insensitively) is one of ``states``; false when missing."""
    # The names are checked against _STATE_NAME, so the JSON literal needs no escaping.
    literal = json.dumps(list(states), separators=(",", ":"))
    return f"contains(`{literal}`, lower({path} || ''))"


def _error_text(error: str, fallback: str) -> str:
    """JMESPath: ``code: message`` of an Azure error object, else ``fallback``."""
    parts = f"[{error}.code, {error}.message][?@ != {_NULL}]"
    return f"join(': ', map(&to_string(@), {parts})) || {fallback}"


def _choose(*values: str | None) -> str | None:
    """A ``{+a || b}`` URL template over the first expressions that are given."""
    given = [v for v in values if v]
    return "{+" + " || ".join(given) + "}" if given else None


def _when_empty(expression: str) -> str:
    """``expression`` when the final body is empty (null), else null (no fetch)."""
    return f"last == {_NULL} && {expression} || {_NULL}"


def _monitor_result_url(method: str, via: str | None) -> str | None:
    # Mirrors azure-core's OperationResourcePolling.get_final_get_url (1.41), except that
    # an explicit original-uri always means the request URL.
    if via == "original-uri":
        return "{+request_url}"
    location = "start_headers.location" if via == "location" else None
    if via in ("azure-async-operation", "operation-location") and method == "POST":
        return _choose(location)
    fallback = None
    if method in ("PUT", "PATCH"):
        fallback = "request_url"
    elif method == "POST":
        fallback = "start_headers.location"
    return _choose(location, "last.resourceLocation", fallback)


def _location_result_url(method: str, via: str | None) -> str | None:
    if via == "original-uri":
        return "{+request_url}"
    if method in ("PUT", "PATCH"):
        return _choose(_when_empty("request_url"))
    return None


def _resource_result_url(method: str, via: str | None) -> str | None:
    if via == "location":
        return "{+start_headers.location}"
    return _choose(_when_empty("request_url"))


def _done_result_url(method: str, via: str | None) -> str | None:
    if via == "original-uri":
        return "{+request_url}"
    if via == "location":
        return "{+start_headers.location}"
    if method == "POST":
        return _choose(_when_empty("start_headers.location"))
    if method in ("PUT", "PATCH"):
        return _choose(_when_empty("request_url"))
    return None


@preset("azure")
def azure_lro(
    *,
    method: str = "PUT",
    final_state_via: str | None = None,
    api_version: str | None = None,
    mode: str | None = None,
    succeeded: Sequence[str] = ("Succeeded",),
    failed: Sequence[str] = ("Failed",),
    cancelled: Sequence[str] = ("Canceled", "Cancelled"),
    interval: float = 2.0,
    min_interval: float = 1.0,
    max_retry_after: float = 300.0,
    max_duration: float | None = None,
    result_path: str | None = None,
    cancel_url: str | None = None,
    cancel_method: str = "POST",
    cancel_confirm_timeout: float = 60.0,
    request_headers: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
) -> PollSpec:
    """A spec for an Azure long-running operation (ARM or Azure.Core data plane).

    Give it to `Scheduler.start`: the discovery step reads the start answer's headers and
    status and returns this preset again with ``mode`` (and ``method``, the request's own)
    filled in. To attach to a status URL with `Scheduler.watch`, give ``mode`` yourself.

    Args:
        method: the start request's method (`Scheduler.start` fills in the real one).
        final_state_via: where the final result lives, as AutoRest's
            ``x-ms-long-running-operation-options`` says: ``"azure-async-operation"``,
            ``"location"``, ``"original-uri"`` or ``"operation-location"``; None for the
            defaults (see the module docstring).
        api_version: added as ``api-version`` to every URL polled (data-plane
            ``Operation-Location`` URLs often lack it). Not added to the final GET.
        mode: ``"monitor"``, ``"location"``, ``"resource"`` or ``"done"``; None lets the
            discovery step choose from the start answer.
        succeeded: status values that mean success (case-insensitive).
        failed: status values that mean failure (case-insensitive).
        cancelled: status values that mean cancellation (case-insensitive; both Azure
            spellings by default).
        interval: seconds between polls when the server sends no Retry-After.
        min_interval: lower bound of a Retry-After (``Retry-After: 0`` waits this long).
        max_retry_after: upper bound of a Retry-After.
        max_duration: seconds before polling ends with `PollTimeout` (None: no limit).
        result_path: JMESPath picking the result out of the final status monitor when no
            final GET applies (``"result"`` for Azure.Core's status monitor).
        cancel_url: URL template of the service's cancel request, if it has one
            (``"/operations/{last.id}:cancel"``, ``"{+status_url}"`` with ``DELETE``).
        cancel_method: the cancel request's method.
        cancel_confirm_timeout: seconds `Operation.cancel` waits for ``Canceled``.
        request_headers: non-secret headers for every request of the operation (the
            spec's ``request_headers``, such as ``x-ms-correlation-request-id``);
            credentials belong to the Scheduler.
        errors: keyword arguments for `ErrorBudget` (``{"max_consecutive": 8,
            "max_failing_time": 120}``); None keeps the default budget.

    Returns:
        The spec (tagged with this preset and its parameters).

    Raises:
        SpecError: for an unknown method, mode or ``final_state_via``, a bad status name,
            a status named in two terminal sets, a bad ``errors`` (naming
            ``params.errors``), or any invalid spec field (a credential in
            ``request_headers``).
    """
    # Parameters may come from JSON: check their types, not only their values.
    raw: object = method
    verb = raw.upper() if isinstance(raw, str) else raw
    if verb not in _METHODS:
        raise SpecError(f"must be one of {', '.join(_METHODS)}, not {method!r}", field="method")
    raw = final_state_via
    via = raw.lower() if isinstance(raw, str) else raw
    if via is not None and via not in _FINAL_STATE_VIA:
        raise SpecError(
            f"must be one of {', '.join(_FINAL_STATE_VIA)}, not {final_state_via!r}",
            field="final_state_via",
        )
    if mode is not None and mode not in _MODES:
        raise SpecError(f"must be one of {', '.join(_MODES)}, not {mode!r}", field="mode")
    ok, bad, gone = (
        _states(succeeded, "succeeded"),
        _states(failed, "failed"),
        _states(cancelled, "cancelled"),
    )
    overlap = (set(ok) & set(bad)) | (set(ok) & set(gone)) | (set(bad) & set(gone))
    if overlap:
        raise SpecError(
            f"{', '.join(sorted(overlap))} is in two terminal sets", field="params.succeeded"
        )
    if api_version is not None and not _is_text(api_version):
        raise SpecError("must be a non-empty string", field="api_version")

    common: dict[str, Any] = {
        "request_headers": request_headers,
        "errors": error_budget(errors),
        "interval": interval,
        "min_interval": min_interval,
        "max_retry_after": max_retry_after,
        "max_duration": max_duration,
        "retry_after_headers": _RETRY_AFTER,
        "status_query": {"api-version": api_version} if api_version else None,
        "cancel": None
        if cancel_url is None
        else CancelSpec(
            url=cancel_url, method=cancel_method, confirm_timeout=cancel_confirm_timeout
        ),
        "name": f"azure:{mode or 'discover'}",
        # azure-core's default RetryPolicy: idempotent methods, and POST/PATCH on 500/503/504.
        "start_retry": "azure",
    }
    if mode == "location":
        return PollSpec(
            status_from=("location",),
            status_url_updates=("location",),
            view="response",
            done="status != `202`",
            status_rules=_LOCATION_FAILURES,
            error_message=_error_text("body.error", _NULL),
            result="body",
            result_url=_location_result_url(verb, via),
            **common,
        )
    if mode == "resource":
        state = "body.properties.provisioningState"
        return PollSpec(
            status_url="{+request_url}",
            view="response",
            # ARM (azure-mgmt-core's BodyContentPolling): no provisioningState on a 200/204
            # means done; on a 201/202, still running.
            done=f"{_in(ok, state)} || ({state} == {_NULL} && "
            "(status == `200` || status == `204`))",
            failed=_in(bad, state),
            cancelled=_in(gone, state),
            error_message=_error_text(
                "(body.error || body.properties.error)",
                f"join('', ['provisioningState ', to_string({state})])",
            ),
            result="body",
            result_url=_resource_result_url(verb, via),
            **common,
        )
    if mode == "done":
        return PollSpec(
            status_url="{+request_url}",
            view="response",
            done="`true`",
            result="body",
            result_url=_done_result_url(verb, via),
            **common,
        )
    # "monitor", and the spec discovery starts from.
    return PollSpec(
        status_from=("azure-asyncoperation", "operation-location"),
        # A monitor answer without `status` breaks the protocol: MalformedStatus, retried
        # within the budget, never "still running" (it would poll forever at interval 0).
        required="status",
        done=_in(ok, "status"),
        failed=_in(bad, "status"),
        cancelled=_in(gone, "status"),
        progress="percentComplete",
        error_message=_error_text("error", "join('', ['status ', to_string(status)])"),
        result=result_path,
        result_url=_monitor_result_url(verb, via),
        discover="azure.lro" if mode is None else None,
        **common,
    )


_TERMINAL_STATES: Final = ("Succeeded", "Failed", "Canceled", "Cancelled")


def discover_mode(start: Mapping[str, Any], terminal: Sequence[str] = _TERMINAL_STATES) -> Mode:
    """The polling mode for a start answer (``{"method", "status", "headers", ...}``).

    Reference: ARM RPC "Asynchronous operations": a 200/201 whose
    ``properties.provisioningState`` is already terminal is the final answer, whatever
    monitor headers come with it (read as the resource: nothing is polled); otherwise use
    ``Azure-AsyncOperation`` when sent, else ``Location`` (a status monitor only on 202:
    on 200/201 it names the resource).
    """
    headers: Mapping[str, str] = start.get("headers") or {}
    body = start.get("body")
    properties = body.get("properties") if isinstance(body, dict) else None
    state = properties.get("provisioningState") if isinstance(properties, dict) else None
    if start.get("status") in (200, 201) and isinstance(state, str) and state in terminal:
        return "resource"
    if headers.get("azure-asyncoperation") or headers.get("operation-location"):
        return "monitor"
    if headers.get("location") and start.get("status") == 202:
        return "location"
    if str(start.get("method", "")).upper() in ("PUT", "PATCH"):
        return "resource"
    return "done"


@discovery("azure.lro")
def _discover(spec: PollSpec, start: Mapping[str, Any]) -> PollSpec:
    """Return the azure preset with the mode the start answer calls for.

    Overrides made on the spec (``spec.replace(...)``) carry over.

    Raises:
        SpecError: when ``spec`` does not come from the azure preset.
    """
    if spec.preset is None or spec.preset.name != "azure":
        raise SpecError(
            "the azure.lro discovery step needs a spec from azure_lro()", field="discover"
        )
    data = spec.to_json()
    params = dict(spec.preset.params)
    terminal = [
        *params.get("succeeded", ("Succeeded",)),
        *params.get("failed", ("Failed",)),
        *params.get("cancelled", ("Canceled", "Cancelled")),
    ]
    params["mode"] = discover_mode(start, terminal)
    verb = str(start.get("method", "")).upper()
    if verb in _METHODS:
        params["method"] = verb
    data["params"] = params
    return PollSpec.from_json(data)
