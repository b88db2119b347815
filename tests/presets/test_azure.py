"""The Azure long-running operations preset against `FakeAzure`, and next to azure-core.

Every async test runs on the looptime loop of ``tests/conftest.py``: `FakeAzure` advances
an operation one tick per status poll, so the instants in its request log are exact.
azure-core's poller sleeps with ``asyncio.sleep`` (its aiohttp transport), so it runs on
the same fake clock: the parity tests compare both pollers on identical fake flows.

``ROWS`` is the conformance table of ``docs/presets/azure.md``: each row is one flow
(header kind x method x initial status x final-state-via), backed by
``test_conformance[<id>]`` and ``test_parity_with_azure_core[<id>]``.
"""

from __future__ import annotations

import email.utils
import importlib
import itertools
import json
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio
import pytest
from azure.core import AsyncPipelineClient
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import AioHttpTransport
from azure.core.polling import AsyncLROPoller
from azure.core.polling.async_base_polling import AsyncLROBasePolling
from azure.core.polling.base_polling import (
    LocationPolling,
    OperationResourcePolling,
    StatusCheckPolling,
)
from azure.core.rest import HttpRequest

from lrpoll import (
    AuthError,
    BearerToken,
    HTTPStatusError,
    OperationCancelled,
    OperationFailed,
    PollSpec,
    Scheduler,
    SpecError,
)
from lrpoll.presets.azure import azure_lro, discover_mode
from lrpoll.registry import (
    preset_names,
)
from lrpoll.testing.azure import THINGS, AzureFlow, FakeAzure

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from lrpoll import Operation
    from lrpoll.testing import RequestRecord

pytestmark = pytest.mark.anyio

API = "2024-05-01"
OPS = "/operations/*"
LOCS = "/locations/*"
RESULTS = "/results/*"
THING = "{thing}"  # the row's resource, filled in per row

try:
    # azure-mgmt-core (not a test dependency) holds ARM's provisioningState poller.
    _arm: Any = importlib.import_module("azure.mgmt.core.polling.arm_polling")
except ImportError:  # pragma: no cover (depends on the environment)
    _arm = None


@pytest.fixture(name="azure")
async def _azure() -> AsyncIterator[FakeAzure]:
    """A started fake Azure service without api-version or auth requirements."""
    async with FakeAzure() as azure:
        yield azure


@pytest.fixture(name="scheduler")
async def _scheduler(azure: FakeAzure) -> AsyncIterator[Scheduler]:
    """A scheduler whose base URL is the fake Azure service."""
    async with Scheduler(base_url=azure.base_url) as scheduler:
        yield scheduler


def now() -> float:
    """The loop's (fake) clock."""
    return anyio.current_time()


def times(requests: list[RequestRecord]) -> list[float]:
    """Loop-time instants of ``requests``."""
    return [r.time for r in requests]


async def start(
    scheduler: Scheduler, azure: FakeAzure, name: str, method: str = "PUT", **params: Any
) -> Operation:
    """Start the flow registered for ``name`` with the azure preset (interval 1 s).

    ``max_duration`` bounds every operation (600 s of loop time) unless a test says otherwise.
    """
    params.setdefault("interval", 1.0)
    params.setdefault("max_duration", 600.0)
    return await scheduler.start(method, azure.resource_url(name), spec=azure_lro(**params))


async def outcome(op: Operation) -> Any:
    """``await op``, or the lrpoll error it raised."""
    try:
        return await op
    except (OperationFailed, OperationCancelled, HTTPStatusError) as exc:
        return exc


# -- the conformance table ---------------------------------------------------------------


ResultKind = Literal["resource", "result", "monitor", "none"]


@dataclass(frozen=True)
class Row:
    """One flow of the conformance table.

    Attributes:
        id: The row's name (also the fake resource's name).
        method: The start request's method.
        flow: What the fake does.
        via: ``final_state_via`` given to the preset (and to azure-core).
        mode: The mode discovery must pick.
        requests: Globs of the request paths after the start, in order.
        result: What the result is: the final resource, the POST result, the final status
            monitor, or nothing.
        core: Why azure-core ends with another result, when it does.
        core_requests: Why azure-core sends other requests (same result), when it does.
        arm: azure-core needs azure-mgmt-core's provisioningState poller for this flow.
    """

    id: str
    method: str
    flow: AzureFlow
    via: str | None
    mode: str
    requests: tuple[str, ...]
    result: ResultKind
    core: str | None = None
    core_requests: str | None = None
    arm: bool = False


def _n(glob: str, count: int = 3) -> tuple[str, ...]:
    return (glob,) * count


AAO: Final = "azure-asyncoperation"
OL: Final = "operation-location"
REPORT = {"report": "https://files.example/report-1.csv", "rows": 3}
ROWS = [
    # Azure-AsyncOperation (ARM status monitor)
    Row("aao-put-201", "PUT", AzureFlow(header=AAO, start_status=201), None, "monitor",
        (*_n(OPS), THING), "resource"),
    Row("aao-put-200-done-at-start", "PUT", AzureFlow(header=AAO, start_status=200,
        start_done=True), None, "monitor", (THING,), "resource"),
    Row("aao-patch-201", "PATCH", AzureFlow(header=AAO, start_status=201), None, "monitor",
        (*_n(OPS), THING), "resource"),
    Row("aao-put-201-fsv-aao", "PUT", AzureFlow(header=AAO, start_status=201),
        "azure-async-operation", "monitor", (*_n(OPS), THING), "resource"),
    Row("aao-put-201-resourceLocation", "PUT", AzureFlow(header=AAO, start_status=201,
        resource_location=True), None, "monitor", (*_n(OPS), RESULTS), "resource"),
    Row("aao-put-201-fsv-original-uri", "PUT", AzureFlow(header=AAO, start_status=201,
        resource_location=True), "original-uri", "monitor", (*_n(OPS), THING), "resource",
        core_requests="azure-core has no original-uri option: it GETs resourceLocation"),
    Row("aao-post-202-location", "POST", AzureFlow(header=AAO, location=True, result=REPORT),
        None, "monitor", (*_n(OPS), RESULTS), "result"),
    Row("aao-post-202-fsv-location", "POST", AzureFlow(header=AAO, location=True,
        result=REPORT), "location", "monitor", (*_n(OPS), RESULTS), "result"),
    Row("aao-post-202-fsv-aao", "POST", AzureFlow(header=AAO, location=True, result=REPORT),
        "azure-async-operation", "monitor", _n(OPS), "monitor"),
    Row("aao-post-202-resourceLocation", "POST", AzureFlow(header=AAO, resource_location=True,
        result=REPORT), None, "monitor", (*_n(OPS), RESULTS), "result"),
    Row("aao-post-202", "POST", AzureFlow(header=AAO), None, "monitor", _n(OPS), "monitor"),
    Row("aao-delete-202", "DELETE", AzureFlow(header=AAO), None, "monitor", _n(OPS),
        "monitor"),
    Row("aao-delete-204", "DELETE", AzureFlow(header=AAO, start_status=204), None, "monitor",
        _n(OPS), "monitor"),
    # Operation-Location (Azure.Core data-plane status monitor)
    Row("ol-post-202-fsv-ol", "POST", AzureFlow(header=OL, result=REPORT),
        "operation-location", "monitor", _n(OPS), "monitor"),
    Row("ol-post-200-done-at-start", "POST", AzureFlow(header=OL, start_status=200,
        start_done=True, result=REPORT), "operation-location", "monitor", (), "monitor"),
    Row("ol-put-201", "PUT", AzureFlow(header=OL, start_status=201), None, "monitor",
        (*_n(OPS), THING), "resource"),
    Row("ol-put-201-resourceLocation", "PUT", AzureFlow(header=OL, start_status=201,
        resource_location=True), "operation-location", "monitor", (*_n(OPS), RESULTS),
        "resource"),
    Row("ol-delete-202", "DELETE", AzureFlow(header=OL), None, "monitor", _n(OPS), "monitor"),
    Row("both-post-202", "POST", AzureFlow(header="both"), None, "monitor", _n(OPS),
        "monitor"),
    # Location (202, each with a new Location; then 200 with a body, or 204)
    Row("loc-put-202", "PUT", AzureFlow(header="location"), None, "location", _n(LOCS),
        "resource"),
    Row("loc-put-202-final-204", "PUT", AzureFlow(header="location", final_status=204), None,
        "location", (*_n(LOCS), THING), "resource",
        core="LocationPolling has no final GET: an empty last answer ends with None"),
    Row("loc-put-202-fsv-original-uri", "PUT", AzureFlow(header="location"), "original-uri",
        "location", (*_n(LOCS), THING), "resource",
        core_requests="azure-core has no original-uri option: no final GET after Location"),
    Row("loc-patch-202", "PATCH", AzureFlow(header="location"), None, "location", _n(LOCS),
        "resource"),
    Row("loc-post-202", "POST", AzureFlow(header="location", result=REPORT), None, "location",
        _n(LOCS), "result"),
    Row("loc-post-202-array", "POST", AzureFlow(header="location", result=[1, 2, 3]), None,
        "location", _n(LOCS), "result"),
    Row("loc-post-202-empty", "POST", AzureFlow(header="location"), None, "location",
        _n(LOCS), "none"),
    Row("loc-delete-202", "DELETE", AzureFlow(header="location"), None, "location", _n(LOCS),
        "none"),
    # No status header on PUT/PATCH: the resource's provisioningState
    Row("res-put-201", "PUT", AzureFlow(header="none", start_status=201), None, "resource",
        _n(THING), "resource", arm=True),
    Row("res-put-200-done-at-start", "PUT", AzureFlow(header="none", start_status=200,
        start_done=True), None, "resource", (), "resource"),
    Row("res-patch-202", "PATCH", AzureFlow(header="none", start_status=202), None,
        "resource", _n(THING), "resource", arm=True),
    Row("res-put-201-location", "PUT", AzureFlow(header="location", start_status=201), None,
        "resource", _n(THING), "resource",
        core="LocationPolling polls the 201's Location (the resource): its first 200 ends "
        "polling while provisioningState is still Creating"),
    # No status header on POST/DELETE: the start answer is the outcome
    Row("done-post-200", "POST", AzureFlow(header="none", start_status=200, result=REPORT),
        None, "done", (), "result"),
    Row("done-post-200-array", "POST", AzureFlow(header="none", start_status=200,
        result=[1, 2]), None, "done", (), "result"),
    Row("done-post-204", "POST", AzureFlow(header="none", start_status=204), None, "done", (),
        "none"),
    Row("done-post-202", "POST", AzureFlow(header="none", start_status=202), None, "done", (),
        "none"),
    Row("done-delete-204", "DELETE", AzureFlow(header="none", start_status=204), None, "done",
        (), "none"),
]  # fmt: skip


def expected(azure: FakeAzure, row: Row) -> Any:
    """The result ``row`` promises, read from the fake after the operation ended."""
    op = azure.operation(row.id)
    assert op is not None
    if row.result == "resource":
        return azure.resource(row.id)
    if row.result == "result":
        return row.flow.result
    if row.result == "monitor":
        return azure.status_monitor(op.id)
    return None


def paths_match(requests: list[RequestRecord], globs: tuple[str, ...], thing: str) -> bool:
    """Whether the request paths match ``globs`` one to one, in order."""
    wanted = [thing if g == THING else g for g in globs]
    return len(requests) == len(wanted) and all(
        fnmatchcase(r.path, g) for r, g in zip(requests, wanted, strict=True)
    )


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
async def test_conformance(azure: FakeAzure, scheduler: Scheduler, row: Row) -> None:
    """Each flow is discovered, polled and finished as its row of the table says."""
    params: dict[str, Any] = {"interval": 1.0, "max_duration": 600.0}
    if row.via is not None:
        params["final_state_via"] = row.via
    url = azure.flow(row.id, row.flow)
    op = await scheduler.start(row.method, url, spec=azure_lro(**params))
    result = await op
    assert op.spec.preset is not None
    assert op.spec.preset.params["mode"] == row.mode
    assert op.spec.preset.params["method"] == row.method
    after_start = azure.requests[1:]
    assert paths_match(after_start, row.requests, f"{THINGS}/{row.id}"), [
        r.path for r in after_start
    ]
    assert all(r.method == "GET" for r in after_start)
    assert result == expected(azure, row)
    assert PollSpec.from_json(json.loads(json.dumps(op.spec.to_json()))) == op.spec


# -- azure-core parity --------------------------------------------------------------------


def _deserialize(pipeline_response: Any) -> Any:
    """azure-core's deserialization callback: the JSON body (empty bodies never reach it)."""
    return pipeline_response.http_response.json()


def core_algorithms(options: dict[str, str] | None) -> list[Any]:
    """azure-core's LRO algorithms, ARM's and the data plane's, in ARM's order of preference."""
    algorithms: list[Any] = [
        OperationResourcePolling("azure-asyncoperation", lro_options=options),
        OperationResourcePolling("operation-location", lro_options=options),
        LocationPolling(),
    ]
    if _arm is not None:
        algorithms.append(_arm.BodyContentPolling())
    algorithms.append(StatusCheckPolling())
    return algorithms


async def run_azure_core(
    azure: FakeAzure, method: str, name: str, via: str | None = None, *, default_delay: float = 1.0
) -> Any:
    """Start ``name``'s flow and poll it with azure-core's AsyncLROPoller; its result.

    azure-core has no deadline of its own: 600 s of loop time bound it here.
    """
    options = {"final-state-via": via} if via else None
    with anyio.fail_after(600):
        return await _run_azure_core(azure, method, name, options, default_delay)


async def _run_azure_core(
    azure: FakeAzure,
    method: str,
    name: str,
    options: dict[str, str] | None,
    default_delay: float,
) -> Any:
    async with AsyncPipelineClient[Any, Any](
        azure.base_url, transport=AioHttpTransport()
    ) as client:
        request = HttpRequest(method, azure.resource_url(name))
        initial: Any = await client.send_request(request, _return_pipeline_response=True)
        polling: AsyncLROBasePolling[Any, Any, Any] = AsyncLROBasePolling(
            timeout=default_delay, lro_algorithms=core_algorithms(options), lro_options=options
        )
        poller = AsyncLROPoller[Any](client, initial, _deserialize, polling)
        return await poller.result()


def normalized(value: Any, azure: FakeAzure) -> Any:
    """``value`` with the fake's own origin replaced, to compare across two fakes."""
    return json.loads(json.dumps(value).replace(azure.base_url, "http://fake"))


def log(azure: FakeAzure) -> list[tuple[str, str, float]]:
    """Method, path and loop time since the first request, of every request ``azure`` got."""
    first = azure.requests[0].time
    return [(r.method, r.path, r.time - first) for r in azure.requests]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
async def test_parity_with_azure_core(row: Row) -> None:
    """azure-core's poller gets lrpoll's result with the same requests at the same instants.

    Rows with ``core`` say why azure-core ends elsewhere; rows with ``core_requests`` why
    it sends other requests for the same result.
    """
    if row.arm and _arm is None:
        pytest.skip("azure-core alone has no provisioningState poller (azure-mgmt-core has)")
    params: dict[str, Any] = {"interval": 1.0, "max_duration": 600.0}
    if row.via is not None:
        params["final_state_via"] = row.via
    async with FakeAzure() as ours, FakeAzure() as theirs:
        ours.flow(row.id, row.flow)
        theirs.flow(row.id, row.flow)
        with anyio.fail_after(120):
            async with Scheduler(base_url=ours.base_url) as scheduler:
                op = await scheduler.start(
                    row.method, ours.resource_url(row.id), spec=azure_lro(**params)
                )
                mine = normalized(await op, ours)
            core = normalized(await run_azure_core(theirs, row.method, row.id, row.via), theirs)
    if row.core is None:
        assert core == mine
        if row.core_requests is None:
            assert log(theirs) == log(ours)
    else:
        assert core != mine, row.core
        assert mine == normalized(expected(ours, row), ours)


class TestAzureCoreDifferences:
    """What lrpoll does that azure-core 1.41's AsyncLROPoller does not, on the same flows."""

    @pytest.mark.parametrize(
        ("flow", "params", "state"),
        [
            (AzureFlow(header=AAO, outcome="Cancelled", polls=1), {}, "cancelled"),
            (AzureFlow(header=AAO, outcome="Completed", polls=1),
             {"succeeded": ["Succeeded", "Completed"]}, "succeeded"),
        ],
        ids=["Cancelled", "Completed"],
    )  # fmt: skip
    async def test_terminal_words_azure_core_never_ends_on(
        self,
        azure: FakeAzure,
        scheduler: Scheduler,
        flow: AzureFlow,
        params: dict[str, Any],
        state: str,
    ) -> None:
        """lrpoll ends on ``Cancelled``/``Completed``; azure-core still polls after 60 s."""
        azure.flow("mine", flow)
        azure.flow("theirs", flow)
        op = await start(scheduler, azure, "mine", "POST", **params)
        await outcome(op)
        assert op.state == state
        assert now() == 1.0
        began = now()
        with anyio.move_on_after(60) as scope:
            await run_azure_core(azure, "POST", "theirs")
        assert scope.cancelled_caught
        theirs = azure.operation("theirs")
        assert theirs is not None
        polls = azure.requests_to(f"/operations/{theirs.id}")
        assert len(polls) >= 59
        assert polls[-1].time - began >= 59

    async def test_retry_after_zero_is_not_the_default_interval(
        self, azure: FakeAzure, scheduler: Scheduler
    ) -> None:
        """``Retry-After: 0`` waits min_interval in lrpoll; azure-core falls back to 30 s."""
        flow = AzureFlow(header=AAO, polls=2, running_headers={"Retry-After": "0"})
        azure.flow("mine", flow)
        azure.flow("theirs", flow)
        await (await start(scheduler, azure, "mine", "POST", interval=5.0))
        mine = times(azure.requests_to("/operations/op-1"))
        assert [b - a for a, b in itertools.pairwise(mine)] == [1.0, 1.0]
        await run_azure_core(azure, "POST", "theirs", default_delay=30.0)
        theirs = times(azure.requests_to("/operations/op-2"))
        assert [b - a for a, b in itertools.pairwise(theirs)] == [30.0, 30.0]

    async def test_initial_retry_after_is_honoured(
        self, azure: FakeAzure, scheduler: Scheduler
    ) -> None:
        """The start answer's Retry-After delays lrpoll's first poll; azure-core polls at once."""
        flow = AzureFlow(header=AAO, polls=1, start_headers={"Retry-After": "5"})
        azure.flow("mine", flow)
        azure.flow("theirs", flow)
        began = now()
        await (await start(scheduler, azure, "mine", "POST"))
        assert times(azure.requests_to("/operations/op-1"))[0] - began == 5.0
        began = now()
        await run_azure_core(azure, "POST", "theirs")
        assert times(azure.requests_to("/operations/op-2"))[0] - began == 0.0

    @pytest.mark.parametrize(
        ("name", "method", "flow", "mine", "text"),
        [
            ("failed-resource", "PUT", AzureFlow(header="none", start_status=201,
             outcome="Failed"), OperationFailed, "provisioningState Failed"),
            ("failed-no-error", "POST", AzureFlow(header=AAO, outcome="Failed", error=()),
             OperationFailed, "status Failed"),
            ("canceled", "POST", AzureFlow(header=AAO, outcome="Canceled"), OperationCancelled,
             "status Canceled"),
        ],
        ids=["resource-Failed", "monitor-Failed-without-error", "monitor-Canceled"],
    )  # fmt: skip
    async def test_endings_without_an_error_object(
        self,
        azure: FakeAzure,
        scheduler: Scheduler,
        name: str,
        method: str,
        flow: AzureFlow,
        mine: type[Exception],
        text: str,
    ) -> None:
        """Without an ``error`` object lrpoll names the state; azure-core, the HTTP reason."""
        if flow.header == "none" and _arm is None:
            pytest.skip("azure-core alone has no provisioningState poller")
        azure.flow(name, flow)
        ended = await outcome(await start(scheduler, azure, name, method))
        assert type(ended) is mine
        assert text in str(ended)
        with pytest.raises(HttpResponseError) as info:
            await run_azure_core(azure, method, name)
        assert "Operation returned an invalid status 'OK'" in str(info.value)

    async def test_error_objects_reach_both(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """With an ``error`` object, both surface the server's code and message (1.41)."""
        flow = AzureFlow(header=AAO, outcome="Failed", error=("Conflict", "The disk is busy"))
        azure.flow("e", flow)
        ended = await outcome(await start(scheduler, azure, "e", "POST"))
        assert isinstance(ended, OperationFailed)
        assert ended.message == "Conflict: The disk is busy"
        with pytest.raises(HttpResponseError) as info:
            await run_azure_core(azure, "POST", "e")
        assert "The disk is busy" in str(info.value)


# -- outcomes -----------------------------------------------------------------------------


class TestFailure:
    """A failed operation raises OperationFailed with the server's own words."""

    @pytest.mark.parametrize(
        ("header", "method", "status"),
        [(AAO, "PUT", 201), (OL, "POST", 202), ("location", "POST", 202)],
        ids=["azure-asyncoperation", "operation-location", "location"],
    )
    async def test_error_code_and_message(
        self, azure: FakeAzure, scheduler: Scheduler, header: Any, method: str, status: int
    ) -> None:
        """``error.code: error.message`` from the monitor (or the failed Location answer)."""
        error = ("QuotaExceeded", "Operation results in exceeding quota limits")
        azure.flow("f", header=header, start_status=status, outcome="Failed", error=error)
        op = await start(scheduler, azure, "f", method)
        with pytest.raises(OperationFailed) as info:
            await op
        assert info.value.message == "QuotaExceeded: Operation results in exceeding quota limits"
        assert info.value.status["error"]["code"] == "QuotaExceeded"  # the failing document
        assert op.state == "failed"
        assert not azure.requests_to(RESULTS)  # no final GET after a failure
        assert not azure.requests_to(f"{THINGS}/f", "GET")

    @pytest.mark.parametrize("status", [400, 409, 412, 422])
    async def test_location_failure_statuses(
        self, azure: FakeAzure, scheduler: Scheduler, status: int
    ) -> None:
        """A Location chain that ends in 400/409/412/422 is the operation's failure."""
        azure.flow("f", header="location", outcome="Failed", failure_status=status)
        with pytest.raises(OperationFailed, match="InternalServerError: The operation failed"):
            await (await start(scheduler, azure, "f", "POST"))

    async def test_resource_failed(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """A provisioningState of Failed fails the operation, naming the state."""
        azure.flow("r", header="none", start_status=201, outcome="Failed")
        with pytest.raises(OperationFailed, match="provisioningState Failed"):
            await (await start(scheduler, azure, "r", "PUT"))


class TestCancelled:
    """Both spellings of a cancelled operation raise OperationCancelled."""

    @pytest.mark.parametrize("spelling", ["Canceled", "Cancelled", "CANCELED"])
    @pytest.mark.parametrize(
        ("header", "method", "status"),
        [(AAO, "POST", 202), (OL, "POST", 202), ("none", "PUT", 201)],
        ids=["azure-asyncoperation", "operation-location", "provisioningState"],
    )
    async def test_spellings(
        self,
        azure: FakeAzure,
        scheduler: Scheduler,
        spelling: str,
        header: Any,
        method: str,
        status: int,
    ) -> None:
        """``Canceled`` and ``Cancelled``, any case, end in OperationCancelled."""
        azure.flow("c", header=header, start_status=status, outcome=spelling)
        op = await start(scheduler, azure, "c", method)
        with pytest.raises(OperationCancelled):
            await op
        assert op.state == "cancelled"


class TestTerminalSets:
    """The terminal states are data: configurable, case-insensitive."""

    async def test_custom_success_word(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """``succeeded=["Succeeded", "Completed"]`` ends on ``Completed``."""
        azure.flow("x", header=OL, outcome="Completed")
        op = await start(scheduler, azure, "x", "POST", succeeded=["Succeeded", "Completed"])
        assert (await op)["status"] == "Completed"

    async def test_case_insensitive(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """``SUCCEEDED`` is ``Succeeded``."""
        azure.flow("x", header=AAO, outcome="SUCCEEDED")
        assert (await (await start(scheduler, azure, "x", "POST")))["status"] == "SUCCEEDED"

    async def test_custom_failure_word(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """``failed=["Failed", "Faulted"]`` fails on ``faulted``."""
        azure.flow("x", header=AAO, outcome="faulted", error=("Faulted", "bad disk"))
        with pytest.raises(OperationFailed, match="Faulted: bad disk"):
            await (await start(scheduler, azure, "x", "POST", failed=["Failed", "Faulted"]))

    async def test_anything_else_is_running(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """``Cancelling``, ``NotStarted``, ``Running`` and unknown words are all running."""
        azure.flow("x", header=OL, polls=3, running=("NotStarted", "Cancelling", "Mystery"),
                   outcome="Cancelled")  # fmt: skip
        op = await start(scheduler, azure, "x", "POST")
        with pytest.raises(OperationCancelled):
            await op
        assert len(azure.requests_to(OPS)) == 4

    @pytest.mark.parametrize(
        "params",
        [
            {"method": "GET"},
            {"final_state_via": "final-state-schema"},
            {"mode": "polling"},
            {"succeeded": []},
            {"succeeded": "Succeeded"},
            {"failed": ["Fail'ed"]},
            {"cancelled": ["Succeeded"]},
            {"api_version": ""},
        ],
    )
    def test_bad_parameters(self, params: dict[str, Any]) -> None:
        """Bad parameters fail when the spec is built, naming the parameter."""
        with pytest.raises(SpecError):
            azure_lro(**params)


# -- timing -------------------------------------------------------------------------------


def http_date(epoch: float) -> str:
    """An IMF-fixdate."""
    return email.utils.formatdate(epoch, usegmt=True)


DATE = 1_700_000_000


class TestRetryAfter:
    """Retry-After in its Azure forms, on the start answer and on running answers."""

    @pytest.mark.parametrize(
        ("start_headers", "running_headers", "min_interval", "want"),
        [
            ({"Retry-After": "3"}, {}, 1.0, [3.0, 4.0, 5.0]),
            ({"retry-after-ms": "2500"}, {}, 1.0, [2.5, 3.5, 4.5]),
            ({"x-ms-retry-after-ms": "1500"}, {}, 1.0, [1.5, 2.5, 3.5]),
            ({"Date": http_date(DATE), "Retry-After": http_date(DATE + 4)}, {}, 1.0,
             [4.0, 5.0, 6.0]),
            ({}, {"Retry-After": "3"}, 1.0, [0.0, 3.0, 6.0]),
            ({}, {"Date": http_date(DATE), "Retry-After": http_date(DATE + 4)}, 1.0,
             [0.0, 4.0, 8.0]),
            ({}, {"retry-after-ms": "1500"}, 1.0, [0.0, 1.5, 3.0]),
            ({}, {"x-ms-retry-after-ms": "2500"}, 1.0, [0.0, 2.5, 5.0]),
            ({}, {"retry-after-ms": "250"}, 0.25, [0.0, 0.25, 0.5]),
            ({}, {"retry-after-ms": "250"}, 1.0, [0.0, 1.0, 2.0]),
            ({}, {"retry-after-ms": "1500", "Retry-After": "7"}, 1.0, [0.0, 1.5, 3.0]),
            ({}, {"Retry-After": "0"}, 1.0, [0.0, 1.0, 2.0]),
        ],
        ids=[
            "start-seconds", "start-ms", "start-x-ms", "start-date", "seconds", "date", "ms",
            "x-ms", "ms-below-1s", "ms-clamped-to-min_interval", "ms-before-seconds", "zero",
        ],
    )  # fmt: skip
    async def test_poll_instants(
        self,
        azure: FakeAzure,
        scheduler: Scheduler,
        start_headers: dict[str, str],
        running_headers: dict[str, str],
        min_interval: float,
        want: list[float],
    ) -> None:
        """Polls go out at the instants the headers ask for (loop time, from the request log)."""
        azure.flow("t", header=AAO, polls=2, start_headers=start_headers,
                   running_headers=running_headers)  # fmt: skip
        began = now()
        await (await start(scheduler, azure, "t", "POST", interval=1.0, min_interval=min_interval))
        assert [t - began for t in times(azure.requests_to(OPS))] == want

    @pytest.mark.parametrize(
        ("header", "method", "status", "glob"),
        [("location", "POST", 202, LOCS), ("none", "PUT", 201, f"{THINGS}/t")],
        ids=["location", "resource"],
    )
    async def test_other_modes(
        self,
        azure: FakeAzure,
        scheduler: Scheduler,
        header: Any,
        method: str,
        status: int,
        glob: str,
    ) -> None:
        """Location and resource polling honour Retry-After too, the start's included."""
        azure.flow("t", header=header, start_status=status, polls=2,
                   start_headers={"Retry-After": "2"},
                   running_headers={"Retry-After": "3"})  # fmt: skip
        began = now()
        await (await start(scheduler, azure, "t", method))
        assert [t - began for t in times(azure.requests_to(glob, "GET"))] == [2.0, 5.0, 8.0]


class TestProgress:
    """``percentComplete`` is the progress."""

    async def test_updates(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """Each running monitor answer gives its percentComplete; success gives 100."""
        azure.flow("p", header=AAO, polls=2)
        op = await start(scheduler, azure, "p", "POST")
        seen = [(u.state, u.progress) async for u in op.updates()]
        assert seen == [("running", 33.0), ("running", 66.0), ("succeeded", 100.0)]


# -- api-version, auth --------------------------------------------------------------------


class TestApiVersion:
    """``api_version`` is added to every polled URL."""

    @pytest.mark.parametrize(
        ("header", "method", "status"),
        [(AAO, "PUT", 201), (OL, "POST", 202), ("location", "POST", 202),
         ("none", "PUT", 201)],
        ids=["azure-asyncoperation", "operation-location", "location", "resource"],
    )  # fmt: skip
    async def test_added(self, header: Any, method: str, status: int) -> None:
        """Every request carries ``api-version``; the result arrives."""
        async with FakeAzure(api_version=API) as azure, Scheduler(base_url=azure.base_url) as s:
            azure.flow("v", header=header, start_status=status, result=REPORT)
            op = await s.start(
                method,
                azure.resource_url("v") + f"?api-version={API}",
                spec=azure_lro(api_version=API, interval=1.0),
            )
            await op
        assert len(azure.requests) >= 4
        assert all(r.query.get("api-version") == API for r in azure.requests)
        assert all(r.status in (200, 201, 202, 204) for r in azure.requests)

    async def test_missing(self) -> None:
        """Without it the monitor answers 400 and the error says why."""
        async with FakeAzure(api_version=API) as azure, Scheduler(base_url=azure.base_url) as s:
            azure.flow("v", header=OL)
            op = await s.start(
                "POST", azure.resource_url("v") + f"?api-version={API}", spec=azure_lro()
            )
            with pytest.raises(HTTPStatusError, match="MissingApiVersionParameter"):
                await op


class TestAuth:
    """Bearer credentials from the scheduler; Azure's 401 body in the error."""

    async def test_without_credentials(self) -> None:
        """The start request's 401 raises AuthError with ``AuthenticationFailed``."""
        async with FakeAzure(bearer="t0k3n") as azure, Scheduler(base_url=azure.base_url) as s:
            azure.flow("a", header=AAO)
            with pytest.raises(AuthError, match="AuthenticationFailed"):
                await s.start("PUT", azure.resource_url("a"), spec=azure_lro())

    async def test_with_credentials_and_expiry(self) -> None:
        """A BearerToken is sent (and logged redacted); a rejected token ends in AuthError."""
        token = ["t0k3n"]
        async with (
            FakeAzure(bearer="t0k3n") as azure,
            Scheduler(
                base_url=azure.base_url, credentials={azure.base_url: BearerToken(lambda: token[0])}
            ) as s,
        ):
            azure.flow("a", header=AAO, polls=1)
            assert await (await s.start("POST", azure.resource_url("a"), spec=azure_lro()))
            assert all(r.headers["authorization"] == "REDACTED" for r in azure.requests)
            azure.flow("b", header=AAO, polls=3)
            op = await s.start("POST", azure.resource_url("b"), spec=azure_lro(interval=1.0))
            azure.bearer = "rotated"
            with pytest.raises(AuthError, match="AuthenticationFailed"):
                await op
        assert "t0k3n" not in repr(azure.requests)


# -- specs as data, checkpoints, cancel -----------------------------------------------------


class TestSpecsAreData:
    """Discovered specs are the preset with ``mode``: serialisable and resumable."""

    @pytest.mark.parametrize(
        ("start_answer", "mode"),
        [
            ({"method": "PUT", "status": 201, "headers": {"azure-asyncoperation": "u"}},
             "monitor"),
            ({"method": "POST", "status": 202, "headers": {"operation-location": "u"}},
             "monitor"),
            ({"method": "POST", "status": 202, "headers": {"location": "u"}}, "location"),
            ({"method": "PUT", "status": 201, "headers": {"location": "u"}}, "resource"),
            ({"method": "PATCH", "status": 200, "headers": {}}, "resource"),
            ({"method": "POST", "status": 200, "headers": {"location": "u"}}, "done"),
            ({"method": "DELETE", "status": 202, "headers": {}}, "done"),
        ],
    )  # fmt: skip
    def test_discover_mode(self, start_answer: dict[str, Any], mode: str) -> None:
        """The module docstring's decision table."""
        assert discover_mode(start_answer) == mode

    async def test_both_monitor_headers_prefer_azure_asyncoperation(
        self, azure: FakeAzure, scheduler: Scheduler
    ) -> None:
        """With both monitor headers, the Azure-AsyncOperation URL is polled."""
        elsewhere = azure.url("/operations/elsewhere")
        azure.flow("x", header="both", start_headers={"Operation-Location": elsewhere})
        await (await start(scheduler, azure, "x", "POST"))
        assert {r.path for r in azure.requests_to(OPS)} == {"/operations/op-1"}

    @pytest.mark.parametrize(
        ("outcome", "ended"), [("Succeeded", "succeeded"), ("Failed", "failed")]
    )
    async def test_terminal_start_answer_ends_without_polling(
        self, azure: FakeAzure, scheduler: Scheduler, outcome: str, ended: str
    ) -> None:
        """A PATCH answered 200 with a terminal provisioningState ends there, although
        the answer also names an Azure-AsyncOperation monitor: nothing is polled."""
        body = {"id": "x", "properties": {"provisioningState": outcome}}
        azure.flow("t", header=AAO, start_status=200, start_body=body)
        op = await start(scheduler, azure, "t", "PATCH")
        assert op.state == ended
        assert azure.requests_to(OPS) == []
        if ended == "succeeded":
            assert (await op)["properties"]["provisioningState"] == "Succeeded"

    async def test_overrides_survive_discovery(
        self, azure: FakeAzure, scheduler: Scheduler
    ) -> None:
        """A field replaced on the preset's spec stays replaced after discovery."""
        azure.flow("o", header=AAO)
        spec = azure_lro(interval=1.0).replace(max_attempts=50)
        op = await scheduler.start("POST", azure.resource_url("o"), spec=spec)
        await op
        assert op.spec.max_attempts == 50
        form = op.spec.to_json()
        assert form["params"]["mode"] == "monitor"
        assert form["overrides"] == {"max_attempts": 50}
        assert PollSpec.from_json(form) == op.spec

    async def test_checkpoint_and_resume(self, azure: FakeAzure) -> None:
        """A monitor-mode operation resumes from its checkpoint in another scheduler."""
        azure.flow("cp", header=AAO, start_status=201, polls=5)
        async with Scheduler(base_url=azure.base_url) as first:
            op = await first.start("PUT", azure.resource_url("cp"), spec=azure_lro(interval=1.0))
            await anyio.sleep(2.5)
            checkpoint = op.checkpoint()
            op.stop()
        assert len(azure.requests_to(OPS)) == 3
        assert json.loads(checkpoint)["spec"] == op.spec.to_json()
        async with Scheduler(base_url=azure.base_url) as second:
            resumed = second.resume(checkpoint)
            result = await resumed
        assert resumed.spec == op.spec
        assert result == azure.resource("cp")
        assert len(azure.requests_to(OPS)) == 6
        assert azure.requests[-1].path == f"{THINGS}/cp"


class TestCancel:
    """Services with a cancel endpoint: cancelled on the server, confirmed by polling."""

    @pytest.mark.parametrize(
        ("header", "cancel_url", "cancel_method", "glob"),
        [
            (OL, "/operations/{last.id}:cancel", "POST", "/operations/op-1:cancel"),
            (AAO, "{+status_url}", "DELETE", "/operations/op-1"),
        ],
        ids=["post-cancel", "delete-monitor"],
    )
    async def test_cancel(
        self,
        azure: FakeAzure,
        scheduler: Scheduler,
        header: Any,
        cancel_url: str,
        cancel_method: str,
        glob: str,
    ) -> None:
        """``op.cancel()`` sends the cancel; the next poll's ``Canceled`` confirms it."""
        azure.flow("c", header=header, polls=10, cancellable=True)
        op = await start(
            scheduler, azure, "c", "POST", cancel_url=cancel_url, cancel_method=cancel_method
        )
        await anyio.sleep(1.5)
        result = await op.cancel()
        assert result.kind == "cancelled"
        with pytest.raises(OperationCancelled):
            await op
        assert len(azure.requests_to(glob, cancel_method)) == 1

    async def test_not_supported(self, azure: FakeAzure, scheduler: Scheduler) -> None:
        """A 405 reads as not supported; the operation goes on and succeeds."""
        azure.flow("c", header=OL, polls=3)
        op = await start(scheduler, azure, "c", "POST", cancel_url="{+status_url}",
                         cancel_method="DELETE")  # fmt: skip
        await anyio.sleep(1.5)
        assert (await op.cancel()).kind == "not_supported"
        assert (await op)["status"] == "Succeeded"


def test_registered() -> None:
    """The preset and its discovery step are registered by name."""
    assert "azure" in preset_names()
    spec = PollSpec.from_json({"preset": "azure", "params": {"mode": "location"}})
    assert spec.view == "response"
    assert azure_lro().discover == "azure.lro"
    assert azure_lro(mode="monitor").discover is None


def test_rows_cover_every_mode_and_initial_status() -> None:
    """The conformance table covers each mode, method, header kind and start status."""
    assert {r.mode for r in ROWS} == {"monitor", "location", "resource", "done"}
    assert {r.method for r in ROWS} == {"PUT", "PATCH", "POST", "DELETE"}
    assert {r.flow.header for r in ROWS} == {AAO, OL, "both", "location", "none"}
    assert {r.flow.start_status for r in ROWS} == {200, 201, 202, 204}
    assert {r.via for r in ROWS} == {
        None,
        "azure-async-operation",
        "location",
        "original-uri",
        "operation-location",
    }
