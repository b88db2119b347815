"""The per-operation step: send at most one request, observe, decide, advance the record.

Every poll goes through `advance`, whoever runs it: the in-process scheduler from its
timer heap, `lrpoll.step` over a checkpoint in a plain loop, a fleet worker. The rules
are the core's; this module only moves one operation's record through them:

1. at or past the deadline: end with `PollTimeout`, nothing sent;
2. a done answer waiting for its result (``spec.result_url``): fetch it (the step's one
   request), retried within the error budget like any poll;
3. otherwise: the status request, bounded by the deadline while in flight, then
   `_core.decide` and the state the machine's table gives.

Per-host pacing (429 gates, retry buckets), hooks and subscribers stay with the caller,
fed by the `Advance` this returns.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from yarl import URL

from ._checkpoint import Recent, document, dump, encode, load, spec_of, to_record
from ._core import (
    Ended,
    Observation,
    Retry,
    Running,
    Succeeded,
    deadline,
    decide,
    past_deadline,
    result_decision,
    retry_after,
    timed_out,
)
from ._exceptions import (
    LrpollError,
    MalformedStatus,
    TemplateError,
    TooManyRedirects,
    UntrustedURL,
    with_context,
)
from ._machine import POLLED
from ._record import OpRecord
from ._registry import get_decoder
from ._urls import origin_of, redact_url, resolve

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    from ._core import Decision
    from ._spec import CancelResult, PollSpec
    from ._transport import Answer, Transport

__all__ = [
    "Advance",
    "StepResult",
    "advance",
    "apply",
    "checkpoint_for",
    "conclude",
    "headers_for",
    "observation",
    "status_url",
    "step",
    "step_recent",
]


# Not frozen: one per poll on the hot path (see `_sender.RawRequest`); read once.
@dataclass(slots=True)
class Advance:
    """What one step did to a record.

    Attributes:
        decision: what was decided, or None when there is nothing to announce yet (a
            done answer whose result is fetched by the next step).
        due: when the next step is due (the caller's clock), or None once ended.
        sent: whether a request went out.
        throttled: the answer was a 429 (the caller closes the host's gate).
        progressed: the progress changed.
        retry_after: the answer's valid Retry-After, clamped, in seconds, or None.
    """

    decision: Decision | None
    due: float | None
    sent: bool = False
    throttled: bool = False
    progressed: bool = False
    retry_after: float | None = None


def status_url(transport: Transport, url: URL, query: Mapping[str, str] | None) -> URL:
    """``url`` checked against the trust policy, with the spec's status query added.

    Raises:
        UntrustedURL: when ``url`` lies off the allowed origins.
    """
    transport.check(url)
    return url.update_query(dict(query)) if query else url


def headers_for(spec: PollSpec, *layers: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """The headers of one request: ``spec.request_headers``, then each layer over them.

    Every request of an operation (start, poll, result fetch, cancel) carries the spec's
    ``request_headers``; the request's own headers win where a name is in both.
    """
    base = spec.request_headers
    if not base:
        if len(layers) == 1:
            return layers[0]
        out: dict[str, str] = {}
    else:
        out = dict(base)
    for layer in layers:
        if layer:
            out.update(layer)
    return out


def _decode(name: str, answer: Answer) -> None:
    """Turn a text body into a status document with the named decoder, in place."""
    if answer.body is None or answer.fault is not None:
        return
    try:
        answer.body = get_decoder(name)(answer.body, answer.headers)
    except (ValueError, RecursionError) as exc:
        answer.body = None
        answer.fault = MalformedStatus(f"status body could not be decoded ({name}): {exc}")


def _base(rec: OpRecord) -> dict[str, Any] | None:
    # Messages need the template context; build it only for specs that have some.
    return rec.context(last=False) if rec.spec._messages else None


def observation(
    answer: Answer,
    *,
    rand: float,
    elapsed: float = 0.0,
    attempt: int = 0,
    errors: int = 0,
    failing_for: float = 0.0,
    last: Any = None,
    cancelling: bool = False,
) -> Observation:
    """What the core sees of one answer, with the operation's counters."""
    return Observation(
        http_status=answer.http_status,
        headers=answer.headers,
        body=answer.body,
        fault=answer.fault,
        snippet=answer.snippet,
        received_at=time.time(),
        elapsed=elapsed,
        attempt=attempt,
        errors=errors,
        failing_for=failing_for,
        rand=rand,
        last=last,
        cancelling=cancelling,
        sent=answer.sent,
    )


def _observation(
    rec: OpRecord, answer: Answer, now: float, rand: float, *, attempt: int
) -> Observation:
    # `observation` with the record's counters, its fields in order (once per poll).
    return Observation(
        answer.http_status,
        answer.headers,
        answer.body,
        answer.fault,
        answer.snippet,
        time.time(),
        now - rec.started,
        attempt,
        rec.errors,
        _failing_for(rec, now),
        rand,
        rec.kept_last,
        rec.state == "cancelling",
        answer.sent,
    )


def _failing_for(rec: OpRecord, now: float) -> float:
    # How long the current run of faults has lasted (none without errors: a poll skips
    # the extras where the run's start is kept).
    since = rec.failing_since if rec.errors else None
    return 0.0 if since is None else now - since


def _timed_out(rec: OpRecord, now: float) -> Ended:
    """The `PollTimeout` ending of ``rec`` at its deadline (no answer judged)."""
    obs = Observation(elapsed=now - rec.started, last=rec.kept_last)
    return timed_out(rec.spec, obs, _base(rec), operation_id=rec.op_id)


def _request_status(rec: OpRecord, transport: Transport) -> Coroutine[Any, Any, Answer]:
    # The transport's coroutine itself, awaited by `advance`: a coroutine of our own
    # around it would be one more frame for every resumption inside aiohttp.
    spec = rec.spec
    return transport.request(
        spec.status_method,
        URL(rec.url, encoded=True),
        headers=headers_for(spec, spec.status_headers),
        json_body=spec.status_json,
        form=spec.status_form,
        parse=spec.decoder is None,
    )


async def advance(
    rec: OpRecord,
    transport: Transport,
    *,
    now: float,
    rand: float,
    clock: Callable[[], float],
) -> Advance | None:
    """Take one step of ``rec``: at most one request, then the decision applied to it.

    Args:
        rec: the operation's record (running or cancelling).
        transport: sends the request, with lrpoll's origin and credential checks.
        now: the time, in the caller's clock (that of ``rec.started``).
        rand: a uniform value in [0, 1) for jitter.
        clock: reads the caller's clock again once the answer is in.

    Returns:
        What was done, or None when the record changed while the request was in flight
        (stopped, or polled by another step): its answer is then ignored.
    """
    spec = rec.spec
    if past_deadline(spec, rec.started, now):
        return apply(rec, _timed_out(rec, now), now, None)
    try:
        if rec.pending is not None:
            return await _fetch_result(rec, rec.pending, transport, now, rand, clock)
        end = deadline(spec, rec.started)
        if end is None:
            answer: Answer | None = await _request_status(rec, transport)
        else:
            answer = None
            # The deadline holds even while the server sits on a poll.
            with anyio.move_on_after(end - now):
                answer = await _request_status(rec, transport)
        if answer is not None and spec.decoder is not None:
            _decode(spec.decoder, answer)
    except (UntrustedURL, TooManyRedirects) as exc:
        if rec.state not in POLLED:
            return None
        return apply(rec, Ended("error", with_context(exc, operation_id=rec.op_id)), now, None)
    except Exception as exc:  # noqa: BLE001 (a bug here must not kill the caller's workers)
        if rec.state not in POLLED:
            return None
        error = LrpollError(f"internal error while polling: {exc!r}", operation_id=rec.op_id)
        return apply(rec, Ended("error", error), now, None, sent=True)
    if rec.state not in POLLED or rec.due is not None:
        return None  # stopped (or polled by poll_once) while in flight: ignore this answer
    now = clock()
    if answer is None:  # the deadline passed while the poll was in flight
        return apply(rec, _timed_out(rec, now), now, None, sent=True)
    return conclude(rec, answer, transport, now=now, rand=rand)


def conclude(
    rec: OpRecord, answer: Answer, transport: Transport, *, now: float, rand: float
) -> Advance:
    """Decide ``rec`` from its status ``answer`` and apply the decision: the step's second half.

    What `advance` does once the status request answered; a batched step (`lrpoll._batch`)
    calls it with each operation's own item of a list answer as ``answer.body``.
    """
    spec = rec.spec
    rec.attempts += 1
    obs = _observation(rec, answer, now, rand, attempt=rec.attempts)
    decision: Decision = decide(spec, obs, _base(rec), operation_id=rec.op_id)
    if isinstance(decision, Running) and decision.status_url:
        # The answer moved the status (a Location chain): the new URL is checked too.
        try:
            moved = resolve(URL(rec.url, encoded=True), decision.status_url)
            rec.url = str(status_url(transport, moved, spec.status_query))
        except UntrustedURL as exc:
            decision = Ended("error", with_context(exc, operation_id=rec.op_id))
    if isinstance(decision, Succeeded) and spec.result_template is not None:
        # Done: the result is fetched by the next step, at once.
        rec.errors, rec.failing_since = 0, None
        rec.keep_last(answer.body, answer.raw)
        rec.pending = decision
        return Advance(None, now, sent=True)
    return apply(rec, decision, now, answer, sent=True)


async def _fetch_result(
    rec: OpRecord,
    done: Succeeded,
    transport: Transport,
    now: float,
    rand: float,
    clock: Callable[[], float],
) -> Advance | None:
    """GET ``spec.result_url`` of a done operation: its body is the result."""
    template = rec.spec.result_template
    assert template is not None
    ctx = rec.context()
    ctx["result"] = done.result
    try:
        ref = template.fill(ctx)
    except TemplateError as exc:
        if exc.null:  # nothing to fetch: the status document holds the result
            return apply(rec, done, now, None)
        return apply(rec, Ended("error", with_context(exc, operation_id=rec.op_id)), now, None)
    url = resolve(URL(ctx["request_url"], encoded=True), ref)
    answer = await transport.request("GET", url, headers=headers_for(rec.spec))
    if rec.state not in POLLED or rec.due is not None:
        return None
    now = clock()
    obs = _observation(rec, answer, now, rand, attempt=rec.attempts)
    decision = result_decision(
        rec.spec, obs, done, shown_url=redact_url(url), operation_id=rec.op_id
    )
    return apply(rec, decision, now, None, sent=True)


def apply(
    rec: OpRecord,
    decision: Decision,
    now: float,
    answer: Answer | None,
    *,
    sent: bool = False,
) -> Advance:
    """Apply ``decision`` to ``rec`` (through the machine's table); what the caller must know.

    ``answer`` is the status answer the decision judged, or None (a deadline, a result
    fetch, a refused URL): only a status answer replaces the last status document.
    """
    body, raw = (None, None) if answer is None else (answer.body, answer.raw)
    if isinstance(decision, Running):
        if rec.errors:
            rec.errors, rec.failing_since = 0, None
        progressed = decision.progress != rec.progress
        rec.keep_last(body, raw)
        rec.progress = decision.progress
        if decision.message is not None:
            rec.message = decision.message
        return Advance(decision, now + decision.delay, sent, progressed=progressed)
    if isinstance(decision, Retry):
        rec.errors += 1
        if rec.failing_since is None:
            rec.failing_since = now
        throttled = answer is not None and answer.http_status == 429
        hint = None
        if answer is not None and answer.headers:
            hint = retry_after(rec.spec, answer.headers, received_at=time.time())
        return Advance(decision, now + decision.delay, sent, throttled=throttled, retry_after=hint)
    rec.pending = None
    if isinstance(decision, Succeeded):
        rec.errors = 0
        progressed = decision.progress != rec.progress
        if answer is not None:
            rec.keep_last(body, raw)
        rec.progress = decision.progress
        rec.result = decision.result
        if decision.message is not None:
            rec.message = decision.message
        rec.transition("succeeded")
        return Advance(decision, None, sent, progressed=progressed)
    # An error or 404 body (an error page) is not a status document: the core's error
    # carries the last one, and the record keeps it.
    if decision.state not in ("error", "gone") and body is not None:
        rec.keep_last(body, raw)
    rec.error = decision.error
    if decision.message is not None:
        rec.message = decision.message
    rec.transition(decision.state)
    return Advance(decision, None, sent)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What `step` did to one operation.

    Attributes:
        decision: what the step decided (`Running`, `Retry`, `Succeeded`, `Ended`), or
            None when there was nothing to do (a stopped or ended checkpoint) or nothing
            to announce yet (a done answer whose result the next step fetches).
        checkpoint: the next checkpoint to save and step again; None once the
            operation ended (``decision`` then holds the result or the error).
        due: when the next step is due, in epoch seconds (None once ended or stopped).
        sent: whether a request went out.
        throttled: the host answered 429: hold every operation of that host until
            ``due`` (per-host pacing is the caller's).
        retry_after: the answer's valid Retry-After in seconds (clamped), or None.
        cancel: what the cancel request got back (``accepted``, ``refused``, ...), from
            `lrpoll.cancel_step` only; None otherwise.
        document: ``checkpoint`` as a parsed JSON object, when `step` polled (None
            otherwise): read its fields (``state``, ``progress``, ``last``) without
            parsing the checkpoint again. Read it only: it shares its ``spec``
            with other steps' documents.
    """

    decision: Decision | None
    # Left out of the repr: it holds the status URL as the server signed it (?sig=).
    checkpoint: str | None = field(repr=False)
    due: float | None
    sent: bool = False
    throttled: bool = False
    retry_after: float | None = None
    cancel: CancelResult | None = None
    document: Mapping[str, Any] | None = field(default=None, repr=False)  # as checkpoint

    @property
    def ended(self) -> bool:
        """Whether the operation has ended (there is no next checkpoint)."""
        return self.checkpoint is None


async def step(
    checkpoint: str | bytes,
    *,
    transport: Transport,
    now: float | None = None,
    rand: float | None = None,
    spec: PollSpec | None = None,
) -> StepResult:
    """Take one step of the operation a checkpoint describes: the per-operation step itself.

    The same step the `Scheduler` runs from its timer heap, for callers that keep the
    schedule elsewhere (a job queue, a database, a fleet of workers): load the
    checkpoint, send at most one request (a poll, a result fetch, or a cancel
    confirmation), decide, and return the next checkpoint with its due time. Nothing
    the checkpoint must not hold is in it: credentials, the trust policy and the
    checkpoint signing key come with ``transport`` (`Transport.open`).

    Args:
        checkpoint: from `Operation.checkpoint` or a previous step.
        transport: sends the request, with lrpoll's checks and credentials.
        now: the epoch time to step at (default: the wall clock); a running
            checkpoint's deadline is absolute, so a ``now`` past it times out.
        rand: a uniform value in [0, 1) for jitter (default: random).
        spec: the spec to poll with instead of the checkpoint's; required for a
            checkpoint saved without its spec (detached, as a fleet stores them), whose
            digest it must match. The next checkpoint is detached when this one is.

    Raises:
        CheckpointError: for a bad checkpoint or signature, or a detached checkpoint
            without its spec.
        UntrustedURL: when its status URL lies off the transport's origins.
    """
    return await step_recent(checkpoint, transport=transport, now=now, rand=rand, spec=spec)


async def step_recent(
    checkpoint: str | bytes,
    *,
    transport: Transport,
    now: float | None = None,
    rand: float | None = None,
    spec: PollSpec | None = None,
    recent: Recent | None = None,
) -> StepResult:
    """`step`, loading through ``recent`` and keeping the next checkpoint there.

    For a caller that reads back the checkpoints it wrote (a fleet worker that claims an
    operation it polled last): such a checkpoint is not parsed and checked again.
    """
    key = transport.checkpoint_key
    doc = load(checkpoint, key=key) if recent is None else recent.load(checkpoint, key=key)
    detached = "spec_digest" in doc
    spec = spec_of(doc, spec)
    transport.check(URL(doc["status_url"], encoded=True))
    at = time.time() if now is None else now
    rec = to_record(doc, spec, now=at, wall=at)
    if rec.state not in POLLED:  # stopped or ended: nothing to send
        text = None if rec.done else dump(rec, now=at, wall=at, key=key, detached=detached)
        return StepResult(None, text, None)

    def clock() -> float:
        return at if now is not None else time.time()

    jitter = random.random() if rand is None else rand
    adv = await advance(rec, transport, now=at, rand=jitter, clock=clock)
    assert adv is not None  # nothing else holds this record
    if rec.done:
        return StepResult(adv.decision, None, None, adv.sent, adv.throttled, adv.retry_after)
    rec.due = adv.due
    later = clock()
    doc = document(rec, now=later, wall=later, key=key, detached=detached)
    text = encode(doc)
    if recent is not None:
        recent.keep(text, doc, key=key)
    return StepResult(
        adv.decision, text, adv.due, adv.sent, adv.throttled, adv.retry_after, None, doc
    )


def checkpoint_for(
    status_url: str,
    spec: PollSpec,
    *,
    operation_id: str = "op-1",
    start: Any = None,
    start_headers: Mapping[str, str] | None = None,
    request_url: str | None = None,
    now: float | None = None,
    key: bytes | None = None,
) -> str:
    """The first checkpoint of an operation to poll at ``status_url``, due at once.

    What `step` starts from when no scheduler made the operation: the status URL of a
    job already started (from your own start request, or handed over by another
    system), the spec, and the start answer's body and headers where the spec's
    templates read them (``{start.jobId}`` in a cancel URL). Nothing is sent.

    Args:
        status_url: the absolute status URL.
        spec: the spec to poll with.
        operation_id: the id checkpoints and errors carry.
        start: the start answer's body, for templates.
        start_headers: the start answer's headers, for templates.
        request_url: the start request's URL (default: ``status_url``).
        now: the epoch time polling begins (default: the wall clock); the deadline
            counts from it.
        key: signs the checkpoint (the transport's ``checkpoint_key``).

    Raises:
        ValueError: when ``status_url`` is not an absolute http(s) URL.
    """
    if origin_of(status_url) is None:
        raise ValueError(f"status_url must be an absolute http(s) URL: {redact_url(status_url)}")
    at = time.time() if now is None else now
    base = {
        "start": start,
        "start_headers": {k.lower(): v for k, v in (start_headers or {}).items()},
        "request_url": request_url or status_url,
        "operation": operation_id,
    }
    rec = OpRecord(spec, operation_id, str(URL(status_url)), at, base)
    rec.state = "running"
    rec.due = at
    return dump(rec, now=at, wall=at, key=key)
