"""Batched status through list endpoints (`lrpoll.Batch`), against the fake Google API.

The fake's ``GET /v1/operations`` advances each listed operation one tick, as its own
``GET`` does, so the same scripted jobs polled batched and unbatched must end the same way,
at the same instants, with far fewer requests batched.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import pytest

from lrpoll import BasicAuth, Batch, PollSpec, Scheduler, SpecError
from lrpoll.presets.google import google_operation
from lrpoll.presets.oracle import oracle_export
from lrpoll.testing import FakeOracleOTM, OracleScript
from lrpoll.testing.google import FakeGoogleOperations, GoogleOperationScript

if TYPE_CHECKING:
    from lrpoll import Operation

pytestmark = pytest.mark.anyio

EXPORTS = "/v1/projects/p/locations/l/exports"
LIST = "/v1/operations"
OPS = "/v1/projects/p/locations/l/operations/*"

SCRIPTS = [
    GoogleOperationScript(polls=2),
    GoogleOperationScript(polls=4),
    GoogleOperationScript.fail_at(3, "quota exceeded", code=8),
    GoogleOperationScript(polls=1, progress=(10, 60)),
    GoogleOperationScript(polls=5),
]


def outcome(op: Operation) -> tuple[Any, ...]:
    """What an operation ended with: state, result, error, attempts, progress."""
    error = None if op.error is None else (type(op.error).__name__, str(op.error))
    result = op.result() if op.state == "succeeded" else None
    return (op.state, result, error, op.attempts, op.progress)


async def run(
    batch: bool,
    *,
    page_size: int = 100,
    unlisted: int = 0,
    list_url: str | None = None,
    list_faults: int = 0,
    **params: Any,
) -> tuple[list[tuple[Any, ...]], FakeGoogleOperations]:
    """Start the scripted jobs on a fresh fake, batched or not, and wait for every one."""
    async with FakeGoogleOperations(list_page_size=page_size) as server:
        server.script_next(*SCRIPTS)
        if list_faults:
            server.fail_next(LIST, 400, times=list_faults)
        spec = google_operation(batch=batch, batch_window=0.0, **params)
        if list_url is not None and spec.batch is not None:
            spec = spec.replace(batch=dataclasses.replace(spec.batch, url=list_url))
        async with Scheduler(base_url=server.base_url) as scheduler:
            ops = [
                await scheduler.start("POST", EXPORTS, json={}, spec=spec, operation_id=f"job-{i}")
                for i in range(len(SCRIPTS))
            ]
            server.unlisted.update(list(server.operations)[:unlisted])
            async for _ in scheduler.as_completed(ops):
                pass
        return [outcome(op) for op in ops], server


async def test_same_outcomes_batched_and_unbatched() -> None:
    """The same jobs end with the same states, results, errors and attempts either way."""
    plain, plain_server = await run(False)
    batched, batch_server = await run(True)
    assert batched == plain
    assert plain_server.requests_to(LIST) == []
    polls = sum(o[3] for o in plain)
    assert len(plain_server.requests_to(OPS, "GET")) == polls
    assert batch_server.requests_to(OPS, "GET") == []
    lists = batch_server.requests_to(LIST, "GET")
    # The first polls go one by one, as each job's start answers; after that one list
    # request an instant reads every job due then.
    later = [r.time for r in lists[len(SCRIPTS) :]]
    assert len(later) == len(set(later)) > 0
    assert len(lists) < polls


async def test_same_instants() -> None:
    """Batched, each operation is read at the instants its own status reads would be."""
    _, plain_server = await run(False)
    _, batch_server = await run(True)
    plain_times = sorted({r.time for r in plain_server.requests_to(OPS, "GET")})
    batch_times = sorted({r.time for r in batch_server.requests_to(LIST, "GET")})
    # Each run has its own fake but one loop clock: compare instants since each began.
    assert [t - plain_server.requests[0].time for t in plain_times] == [
        t - batch_server.requests[0].time for t in batch_times
    ]


async def test_missing_items_fall_back_to_their_status_url() -> None:
    """An operation the list leaves out is polled at its own URL, with the same outcome."""
    plain, _ = await run(False)
    batched, server = await run(True, unlisted=2)
    assert batched == plain
    names = {r.path for r in server.requests_to(OPS, "GET")}
    assert len(names) == 2
    assert server.requests_to(LIST, "GET")


async def test_list_off_the_trusted_origins_is_never_sent() -> None:
    """A list URL on another origin is refused: every job is polled at its own URL."""
    plain, _ = await run(False)
    batched, server = await run(True, list_url="https://elsewhere.example/v1/operations")
    assert batched == plain
    assert server.requests_to(LIST) == []
    assert len(server.requests_to(OPS, "GET")) == sum(o[3] for o in plain)


async def test_unusable_list_answer_falls_back() -> None:
    """A 400 from the list is no job's answer: those jobs are polled at their own URLs."""
    plain, _ = await run(False)
    batched, server = await run(True, list_faults=3)
    assert batched == plain
    assert len(server.requests_to(OPS, "GET")) == 3


async def test_list_page_not_json_falls_back() -> None:
    """A list page that is not JSON is no job's fault: the job is polled at its own URL."""
    async with FakeGoogleOperations() as server:
        server.script_next(GoogleOperationScript(polls=1))
        server.fail_next(LIST, 200, body=b"<html>maintenance</html>")
        spec = google_operation(batch=True, batch_window=0.0)
        async with Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, json={}, spec=spec)
            await op.wait()
            assert (op.state, op.errors, op.attempts) == ("succeeded", 0, 2)
    assert len(server.requests_to(OPS, "GET")) == 1


async def test_deadline_passed_while_listing() -> None:
    """Jobs that reach max_duration time out after the same polls batched as unbatched."""
    plain, _ = await run(False, max_duration=3.0)
    batched, _ = await run(True, max_duration=3.0)
    assert batched == plain
    assert "timed_out" in {o[0] for o in plain}


async def test_paging() -> None:
    """A list of two operations a page is followed by its page tokens; outcomes match."""
    plain, _ = await run(False)
    batched, server = await run(True, page_size=2)
    assert batched == plain
    tokens = [r.query.get("pageToken") for r in server.requests_to(LIST, "GET")]
    assert "2" in tokens
    assert "4" in tokens
    assert server.requests_to(OPS, "GET") == []


async def test_filter_names_the_polled_operations() -> None:
    """The list request's filter names every polled operation, joined by OR."""
    _, server = await run(True)
    filters = [r.query["filter"].split(" OR ") for r in server.requests_to(LIST, "GET")]
    assert max(map(len, filters)) == len(SCRIPTS)
    assert all(t.startswith('name="projects/') for terms in filters for t in terms)


async def test_transient_list_fault_is_each_operations_retry() -> None:
    """A 503 on the list is a transient fault of each operation, retried within its budget."""
    async with FakeGoogleOperations() as server:
        server.script_next(GoogleOperationScript(polls=1), GoogleOperationScript(polls=1))
        server.fail_next(LIST, 503)
        spec = google_operation(batch=True, batch_window=0.0)
        async with Scheduler(base_url=server.base_url) as scheduler:
            ops = [await scheduler.start("POST", EXPORTS, json={}, spec=spec) for _ in "ab"]
            for op in ops:
                await op.wait()
            assert [op.state for op in ops] == ["succeeded", "succeeded"]
            # The first list request held the first operation only (the second was not
            # started yet): it alone spent one fault of its budget.
            assert scheduler.statistics().errors_retried == 1
            assert [op.attempts for op in ops] == [3, 2]
    assert server.requests_to(OPS, "GET") == []


ORACLE = "/logisticsRestApi/data/v1"
ORACLE_SCRIPTS = [
    OracleScript.success(),
    OracleScript.fail_table(1, "ORA-01555: snapshot too old"),
    OracleScript.success(ticks_per_table=3),
    OracleScript.interrupt(0),
    OracleScript.success(ticks_per_table=1),
]


async def run_oracle(
    batch: bool, *, limit: int | None = None
) -> tuple[list[tuple[Any, ...]], FakeOracleOTM]:
    """The Oracle jobs on a fresh fake, batched or not (``limit`` items a page)."""
    async with FakeOracleOTM() as server:
        server.script_next(*ORACLE_SCRIPTS)
        spec = oracle_export(interval=1.0, batch=batch, batch_window=0.0)
        if limit is not None and spec.batch is not None:
            spec = spec.replace(batch=dataclasses.replace(spec.batch, limit=limit))
        credentials = {server.base_url: BasicAuth("otm-user", "otm-password")}
        async with Scheduler(base_url=server.base_url, credentials=credentials) as scheduler:
            body = {
                "tables": {"items": [{"tableName": t} for t in ("A", "B")]},
                "targetSystem": {
                    "targetURL": server.object_store_url,
                    "appendName": True,
                    "httpMethod": "PUT",
                },
            }
            ops = [
                await scheduler.start(
                    "POST", ORACLE + "/exportRequests", json=body, spec=spec, operation_id=f"x{i}"
                )
                for i in range(len(ORACLE_SCRIPTS))
            ]
            async for _ in scheduler.as_completed(ops):
                pass
        return [outcome(op) for op in ops], server


class TestOracle:
    """The Oracle preset's ``batch=True``: the exportStatuses collection, ``q`` on ids."""

    async def test_same_outcomes_batched_and_unbatched(self) -> None:
        """The same exports end the same way, read through the collection only."""
        plain, plain_server = await run_oracle(False)
        batched, server = await run_oracle(True)
        assert batched == plain
        assert {o[0] for o in plain} == {"succeeded", "failed"}
        assert server.requests_to(ORACLE + "/exportStatuses/*", "GET") == []
        lists = server.requests_to(ORACLE + "/exportStatuses", "GET")
        singles = plain_server.requests_to(ORACLE + "/exportStatuses/*", "GET")
        assert len(lists) < len(singles)
        assert all(r.query["q"].startswith("requestID eq ") for r in lists)

    async def test_limit_offset_paging(self) -> None:
        """Two exports a page: the collection is read on through offsets, same outcomes."""
        plain, _ = await run_oracle(False)
        batched, server = await run_oracle(True, limit=2)
        assert batched == plain
        offsets = {r.query["offset"] for r in server.requests_to(ORACLE + "/exportStatuses")}
        assert {"0", "2", "4"} <= offsets


class TestBatchSpec:
    """`Batch` as data: validated at construction, round-tripped through JSON."""

    def test_json_round_trip(self) -> None:
        """A spec with a batch reads back equal from its JSON form, preset or not."""
        spec = google_operation(batch=True)
        assert PollSpec.from_json(spec.to_json()) == spec
        plain = PollSpec(
            status_url="{+request_url}",
            done="done",
            batch=Batch(
                url="/exportStatuses",
                items="items",
                id="id",
                key="last.id",
                limit_param="limit",
                offset_param="offset",
                limit=50,
            ),
        )
        data = plain.to_json()
        assert data["batch"]["limit"] == 50
        assert PollSpec.from_json(data) == plain

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"items": "items[?"}, "batch.items"),
            ({"next_token": "next"}, "batch.token_param"),
            ({"limit_param": "limit"}, "batch.offset_param"),
            ({"filter_param": "filter"}, "batch.filter_item"),
            ({"filter_param": "f", "filter_item": "name"}, "batch.filter_item"),
            ({"max_ids": 0}, "batch.max_ids"),
            ({"window": -1}, "batch.window"),
            ({"query": {"api_key": "x"}}, "batch.query"),
        ],
    )
    def test_refused(self, changes: dict[str, Any], field: str) -> None:
        """A bad batch is refused at construction, naming its field."""
        base: dict[str, Any] = {"url": "/ops", "items": "items", "id": "id", "key": "last.id"}
        with pytest.raises(SpecError) as info:
            Batch(**{**base, **changes})
        assert info.value.field == field

    def test_off_by_default(self) -> None:
        """Presets and specs have no batch unless asked."""
        assert google_operation().batch is None
        assert PollSpec(status_url="{+request_url}", done="done").batch is None
