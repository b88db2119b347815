"""The start request: sent (and sent again when safe), judged, and turned into a record.

`start_operation` is what `Scheduler.start` does once its arguments are checked: the
core judges each start answer (`_core.start_decision`, `_core.decide`); this module
only sends, waits and hands the new record to the runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
from yarl import URL

from ._core import (
    Ended,
    Observation,
    Succeeded,
    decide,
    first_delay,
    header_ref,
    start_decision,
)
from ._exceptions import AuthError, MalformedStatus, SpecError, TemplateError
from ._record import OpRecord
from ._registry import get_discovery
from ._runtime import with_credential_hint
from ._step import apply, headers_for, observation
from ._step import status_url as checked_url
from ._urls import origin_of, redact_url, resolve

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._operation import Operation
    from ._record import Hooks
    from ._runtime import Runtime
    from ._spec import PollSpec
    from ._transport import Answer

__all__ = [
    "absolute_url",
    "start_operation",
    "watch_operation",
    "with_request_headers",
]


async def start_operation(
    runtime: Runtime,
    method: str,
    target: URL,
    *,
    spec: PollSpec,
    op_id: str,
    json: Any = None,
    form: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    hooks: Hooks | None = None,
    token: Any = None,
    abandon: Any = None,
    retry_start: bool = False,
) -> Operation:
    """Send the start request, then adopt and schedule the operation it started.

    Raises:
        UntrustedURL, TransportError, TemplateError: as `Scheduler.start` says.
        MalformedStatus: when a 2xx start answer is not JSON and the status URL needs it.
    """
    transport = runtime.transport
    method = method.upper()
    sent_headers = headers_for(spec, spec.start_headers, headers)
    idempotent = retry_start or any(k.lower() == "idempotency-key" for k in sent_headers or {})
    errors, failing_since = 0, None
    while True:
        answer = await transport.request(
            method, target, headers=sent_headers, query=params, json_body=json, form=form
        )
        now = runtime.time()
        obs = observation(
            answer,
            rand=runtime.rand(),
            errors=errors,
            failing_for=0.0 if failing_since is None else now - failing_since,
        )
        verdict = start_decision(
            spec, obs, method=method, idempotent=idempotent, operation_id=op_id
        )
        if verdict is None:
            break
        if isinstance(verdict, Ended):
            error = verdict.error
            if isinstance(error, AuthError) and error.http_status in (401, 403):
                error = with_credential_hint(error, transport, target)
            raise error
        errors += 1
        failing_since = now if failing_since is None else failing_since
        await anyio.sleep(
            runtime.pacing.after_retry(
                origin_of(target), now, verdict.delay, throttled=answer.http_status == 429
            )
        )
    request_url = answer.url or target
    if spec.discover is not None:
        start_view = {
            "method": method,
            "request_url": str(request_url),
            "status": answer.http_status,
            "headers": dict(answer.headers),
            "body": answer.body,
        }
        spec = get_discovery(spec.discover)(spec, start_view)
    base = {
        "start": answer.body,
        "start_headers": dict(answer.headers),
        "request_url": str(request_url),
        "operation": op_id,
    }
    decision = decide(spec, obs, base, operation_id=op_id)
    terminal = isinstance(decision, Succeeded | Ended)
    status_ref = header_ref(spec.status_from, answer.headers)
    if status_ref is None and spec.status_template is not None:
        try:
            status_ref = spec.status_template.fill(base)
        except TemplateError:
            if answer.fault is not None:
                raise _unreadable(answer, op_id) from None
            if not terminal:
                raise
    where = request_url
    if status_ref is not None:
        where = checked_url(transport, resolve(request_url, status_ref), spec.status_query)
    rec = OpRecord(spec, op_id, str(where), now, base)
    op = runtime.adopt(rec, hooks=hooks, token=token, abandon=abandon)
    if isinstance(decision, Succeeded) and spec.result_template is not None:
        # Done at once; the result comes from its own request, the step's.
        rec.keep_last(answer.body, answer.raw)
        rec.pending = decision
        runtime.begin(rec, now)
        await runtime.poll_now(rec)
        return op
    if terminal:
        runtime.after(rec, apply(rec, decision, now, answer))
        return op
    delay, warnings = first_delay(spec, obs)
    for warning in warnings:
        runtime.logger(rec).warning(warning)
    runtime.begin(rec, now + delay)
    return op


def _unreadable(answer: Answer, op_id: str) -> MalformedStatus:
    """A 2xx start answer that is not JSON (a login page): say so, not the template."""
    kind = answer.headers.get("content-type", "no content type")
    return MalformedStatus(
        f"start answer {answer.http_status} is not JSON ({kind}): {answer.snippet}",
        operation_id=op_id,
    )


def watch_operation(
    runtime: Runtime,
    status_url: URL,
    *,
    spec: PollSpec,
    op_id: str,
    hooks: Hooks | None = None,
    token: Any = None,
    abandon: Any = None,
) -> Operation:
    """Adopt an operation that already exists, by its status URL; its first poll is due now.

    Raises:
        UntrustedURL: when the status URL lies off the allowed origins.
    """
    url = checked_url(runtime.transport, status_url, spec.status_query)
    now = runtime.time()
    rec = OpRecord(spec, op_id, str(url), now)
    op = runtime.adopt(rec, hooks=hooks, token=token, abandon=abandon)
    delay, _ = first_delay(spec, Observation(rand=runtime.rand()))
    runtime.begin(rec, now + delay)
    return op


def with_request_headers(spec: PollSpec, headers: Mapping[str, str] | None) -> PollSpec:
    """``spec`` with ``headers`` over its ``request_headers`` (validated by the spec)."""
    if not headers:
        return spec
    return spec.replace(request_headers={**(spec.request_headers or {}), **headers})


def absolute_url(base: URL | None, url: str) -> URL:
    """``url`` resolved against ``base``.

    Raises:
        SpecError: for a relative URL without a base, with the fix.
    """
    ref = URL(url, encoded=True) if "%" in url else URL(url)
    if ref.is_absolute():
        return ref
    if base is None:
        raise SpecError(
            f"relative URL {redact_url(url)!r} needs Scheduler(base_url='https://...') to"
            " resolve against; or give an absolute URL",
            field="url",
        )
    return base.join(ref)
