"""The batched step: one list request reads the status of many due operations.

A spec with ``batch=`` (`lrpoll.Batch`) lets the runtime take the due operations that
share a batch key (the list URL, its origin, the request headers: credentials are per
origin) together. `advance_batch` sends the list request, page after page, each through
the `Transport` with its origin, credential and cap checks, and then decides each
operation from its own item exactly as `_step.advance` decides from a status answer
(`_step.conclude`: the same observation, the same core, the same record update).

What the list cannot tell falls back to the one per-operation step: an operation the
list does not hold (or whose id is unknown yet), a result still to fetch, a deadline
passed, a list URL off the trusted origins, or a list answer that is not a usable page
(a 4xx, a body over the cap or not JSON, items that are not a list). A transient list
answer (a network fault, 429, 5xx) is each operation's answer, so each spends its error
budget as its own poll would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yarl import URL

from ._core import past_deadline
from ._exceptions import RequestError, TemplateError, TooManyRedirects, UntrustedURL
from ._machine import POLLED
from ._step import _timed_out, advance, apply, conclude, headers_for
from ._transport import Answer
from ._urls import origin_of, resolve

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from ._record import OpRecord
    from ._spec import Batch
    from ._step import Advance
    from ._transport import Transport

__all__ = ["advance_batch", "batch_key", "operation_key"]


def batch_key(rec: OpRecord) -> Hashable | None:
    """What ``rec`` must share with others to be read by the same list request, or None.

    None when its spec has no ``batch``, a result is still to be fetched, or the list URL
    cannot be built from its context.
    """
    batch = rec.spec.batch
    if batch is None or rec.pending is not None:
        return None
    url = _list_url(rec, batch)
    if url is None:
        return None
    spec = rec.spec
    headers = headers_for(spec, spec.status_headers)
    return (origin_of(url), str(url), tuple(sorted((headers or {}).items())))


def operation_key(rec: OpRecord, batch: Batch) -> str | None:
    """The id the list's items give for ``rec`` (``batch.key`` over its context), or None."""
    expr = batch.expression("key")
    assert expr is not None
    value = expr.search(rec.context())
    return value if isinstance(value, str) and value else None


def _list_url(rec: OpRecord, batch: Batch) -> URL | None:
    try:
        ref = batch.url_template.fill(rec.context(last=False))
    except TemplateError:
        return None
    return resolve(URL(rec.url, encoded=True), ref)


def _escape(ident: str) -> str:
    return ident.replace("\\", "\\\\").replace('"', '\\"')


def _transient(answer: Answer) -> bool:
    # A network fault, 429 or 5xx would have met each operation's own poll too. A page
    # over the body cap or not JSON says nothing of the operations: they fall back.
    if answer.fault is not None:
        return isinstance(answer.fault, RequestError)
    status = answer.http_status
    return status is None or status == 429 or status >= 500


async def _read_pages(
    url: URL,
    wanted: set[str],
    batch: Batch,
    transport: Transport,
    headers: Any,
    found: dict[str, tuple[Any, Answer]],
) -> Answer | None:
    """Page through the list until every id in ``wanted`` is found or the pages end.

    Returns:
        None when the pages were read (``found`` holds the items), else the answer that
        stopped it (a transient fault, or a page that is not usable).
    """
    query = dict(batch.query or {})
    if batch.filter_param is not None and batch.filter_item is not None:
        query[batch.filter_param] = batch.filter_join.join(
            batch.filter_item.replace("{id}", _escape(i)) for i in sorted(wanted)
        )
    items_expr, id_expr = batch.expression("items"), batch.expression("id")
    assert items_expr is not None
    assert id_expr is not None
    token: str | None = None
    offset = 0
    for _page in range(batch.max_pages):
        page_query = dict(query)
        if token is not None and batch.token_param is not None:
            page_query[batch.token_param] = token
        if batch.limit_param is not None and batch.offset_param is not None:
            page_query[batch.limit_param] = str(batch.limit)
            page_query[batch.offset_param] = str(offset)
        answer = await transport.request("GET", url, headers=headers, query=page_query)
        if answer.fault is not None or not 200 <= (answer.http_status or 0) < 300:
            return answer
        items = items_expr.search(answer.body)
        if items is None:
            items = []
        if not isinstance(items, list):
            return answer
        for item in items:
            ident = id_expr.search(item)
            if isinstance(ident, str) and ident in wanted and ident not in found:
                found[ident] = (item, answer)
        if wanted <= found.keys():
            return None
        next_token = batch.expression("next_token")
        more = batch.expression("more")
        if next_token is not None:
            value = next_token.search(answer.body)
            if not isinstance(value, str) or not value:
                return None
            token = value
        elif batch.offset_param is not None:
            go_on = more.search(answer.body) if more is not None else len(items) >= batch.limit
            if not go_on or not items:
                return None
            offset += len(items)
        else:
            return None
    return None


async def advance_batch(
    recs: list[OpRecord],
    transport: Transport,
    *,
    now: float,
    rand: Callable[[], float],
    clock: Callable[[], float],
) -> list[tuple[OpRecord, Advance | None]]:
    """Take one step of each of ``recs`` (one batch key): list requests, then each decision.

    Args:
        recs: due records that share a `batch_key` (running or cancelling).
        transport: sends the list requests (and fallback status requests).
        now: the time, in the caller's clock.
        rand: gives a uniform value in [0, 1) for each operation's jitter.
        clock: reads the caller's clock again once answers are in.

    Returns:
        Each record with what its step did, None where the record changed while the
        request was in flight (as `_step.advance`).
    """
    batch = recs[0].spec.batch
    assert batch is not None
    single: list[OpRecord] = []
    by_id: dict[str, list[OpRecord]] = {}
    for rec in recs:
        ident = None
        if rec.pending is None and not past_deadline(rec.spec, rec.started, now):
            ident = operation_key(rec, batch)
        if ident is None:
            single.append(rec)
        else:
            by_id.setdefault(ident, []).append(rec)
    out: list[tuple[OpRecord, Advance | None]] = []
    if by_id:
        first = next(iter(by_id.values()))[0]
        url = _list_url(first, batch)
        spec = first.spec
        headers = headers_for(spec, spec.status_headers)
        ids = sorted(by_id)
        size = batch.max_ids if batch.filter_param is not None else len(ids)
        found: dict[str, tuple[Any, Answer]] = {}
        failed: dict[str, Answer] = {}
        for begin in range(0, len(ids), size):
            chunk = set(ids[begin : begin + size])
            stop: Answer | None = None
            if url is None:
                continue  # no list URL: each falls back to its own status URL
            try:
                transport.check(url)
                stop = await _read_pages(url, chunk, batch, transport, headers, found)
            except (UntrustedURL, TooManyRedirects):
                stop = None  # not read: each falls back to its own status URL
            if stop is not None and _transient(stop):
                failed.update((i, stop) for i in chunk if i not in found)
        # One instant for the whole list: the operations stay due together next time.
        at = clock()
        for ident, group in by_id.items():
            for rec in group:
                item = found.get(ident)
                answer = failed.get(ident)
                if item is None and answer is None:
                    single.append(rec)
                    continue
                if rec.state not in POLLED or rec.due is not None:
                    out.append((rec, None))  # stopped or polled elsewhere meanwhile
                    continue
                if past_deadline(rec.spec, rec.started, at):
                    # As a status request cut off by the deadline: nothing is judged.
                    out.append((rec, apply(rec, _timed_out(rec, at), at, None, sent=True)))
                    continue
                if item is not None:
                    body, page = item
                    answer = Answer(page.http_status, page.headers, body, url=page.url)
                assert answer is not None
                out.append((rec, conclude(rec, answer, transport, now=at, rand=rand())))
    for rec in single:
        if rec.state not in POLLED or rec.due is not None:
            out.append((rec, None))
            continue
        out.append((rec, await advance(rec, transport, now=clock(), rand=rand(), clock=clock)))
    return out
