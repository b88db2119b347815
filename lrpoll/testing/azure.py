"""`FakeAzure`: a fake Azure service with long-running operations, on loopback (aiohttp.web).

It serves every flow of the Azure LRO protocol (ARM and Azure.Core data plane) from
scripts (`AzureFlow`), inside the caller's event loop: an operation advances one tick per
status poll, never by the clock, so tests on a fake clock (looptime) see the same answers
at the same instants every run. Routes (``THINGS`` is
``/subscriptions/sub-1/resourceGroups/rg-1/providers/Fake.Compute/things``):

| Route                                  | Answer                                              |
|----------------------------------------|-----------------------------------------------------|
| ``PUT/PATCH/POST/DELETE THINGS/{name}``| start the flow registered for ``name``              |
| ``GET THINGS/{name}``                  | the resource (``properties.provisioningState``)     |
| ``GET /operations/{id}``               | the status monitor (ARM or Azure.Core shape)        |
| ``POST /operations/{id}:cancel``       | cancel (when the flow allows it)                    |
| ``DELETE /operations/{id}``            | the same cancel                                     |
| ``GET /locations/{id}/{hop}``          | ``Location`` polling: 202 + next ``Location``, then |
|                                        | 200 with the final body, 204, or a 4xx error        |
| ``GET /results/{id}``                  | the final result (``resourceLocation``, ``Location``|
|                                        | of monitor flows); 202 while running                |

How a flow starts (its ``kind``), by header and method:

| ``header``                          | start       | method       | kind     | polled URL   |
|-------------------------------------|-------------|--------------|----------|--------------|
| ``azure-asyncoperation``,           | any         | any          | monitor  | the monitor  |
| ``operation-location``, ``both``    |             |              |          |              |
| ``location``                        | 202         | any          | location | ``Location`` |
| ``location`` (names the resource)   | 200/201/204 | PUT, PATCH   | resource | the resource |
| ``none``                            | any         | PUT, PATCH   | resource | the resource |
| ``none``, ``location``              | any         | POST, DELETE | sync     | (none)       |

Tick ``k`` (the k-th status poll) answers running for ``k <= polls`` (``percentComplete``
``100*k//(polls+1)`` in ARM monitors), and the terminal ``outcome`` from ``k = polls+1``; a
flow with ``start_done`` is terminal from the start. URLs in ``Azure-AsyncOperation``,
``Operation-Location`` and the ``Location`` chain lack ``api-version`` (clients add it);
URLs meant for a final GET (``resourceLocation``, a monitor flow's ``Location``) carry it.
With ``api_version`` set, every route answers 400 ``MissingApiVersionParameter`` without it.
With ``bearer`` set, every route answers 401 ``AuthenticationFailed`` without the token.
Every request is logged in `requests` (credentials redacted).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from aiohttp import web

from ._loopback import LoopbackServer, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["THINGS", "AzureFlow", "AzureOperation", "FakeAzure", "FlowKind", "HeaderKind"]

HeaderKind: TypeAlias = Literal[
    "azure-asyncoperation", "operation-location", "both", "location", "none"
]
"""Which status header a flow's start answer carries (``both``: the two monitor headers)."""

FlowKind: TypeAlias = Literal["monitor", "location", "resource", "sync"]
"""How a started flow is followed (see the module docstring)."""

THINGS: Final = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Fake.Compute/things"
_UNSET: Final[Any] = object()
_DEFAULT_ERROR: Final = ("InternalServerError", "The operation failed: disk quota exceeded")
_RUNNING_STATE: Final = {"PUT": "Creating", "PATCH": "Updating", "DELETE": "Deleting"}


@dataclass(frozen=True, kw_only=True)
class AzureFlow:
    """What one fake Azure long-running operation does: a small, immutable script.

    Attributes:
        header: The status header of the start answer (`HeaderKind`).
        start_status: Status of the start answer (200, 201, 202 or 204).
        polls: Status polls answered running before the terminal answer.
        outcome: The terminal status word (``Succeeded``, ``Failed``, ``Canceled``,
            ``Cancelled``, ``Completed``, ...). ``Failed``, ``Canceled`` and ``Cancelled``
            (any case) end a ``Location`` chain with ``failure_status``; any other word
            ends it successfully (and gives the result).
        error: ``(code, message)`` of the error object; None gives a ``Failed`` outcome a
            default one; ``()`` means no error object at all.
        running: Status words while running; the k-th poll shows ``running[k-1]`` (the last
            repeats). None: ``InProgress`` (ARM monitor), ``NotStarted`` then ``Running``
            (Azure.Core monitor), ``Creating``/``Updating``/``Deleting`` (resources).
        result: The result of a POST (any JSON; None means an empty body); the monitor's
            ``result`` member for Azure.Core monitors.
        properties: Extra ``properties`` of the resource a PUT/PATCH builds.
        resource_location: Monitor flows: a successful monitor names
            ``resourceLocation`` (``/results/{id}``).
        location: Monitor flows: the start answer also sends ``Location: /results/{id}``.
        start_done: The operation is finished when created; the start body shows it.
        start_body: The start answer's body, replacing the default one.
        final_status: Status of a successful ``Location`` chain's last answer (None: 200
            with a body, 204 without).
        failure_status: Status of a failed ``Location`` chain's last answer.
        same_location: The ``Location`` chain keeps one URL instead of a new one per 202.
        start_headers: Extra headers on the start answer (``Retry-After``, ...).
        running_headers: Extra headers on every running status answer.
        cancellable: ``POST /operations/{id}:cancel`` (or ``DELETE``) is accepted; the next
            poll shows ``cancel_spelling``. Otherwise it answers 405.
        cancel_spelling: The status word a cancelled operation shows.
    """

    header: HeaderKind = "azure-asyncoperation"
    start_status: int = 202
    polls: int = 2
    outcome: str = "Succeeded"
    error: tuple[str, str] | tuple[()] | None = None
    running: tuple[str, ...] | None = None
    result: Any = None
    properties: Mapping[str, Any] | None = None
    resource_location: bool = False
    location: bool = False
    start_done: bool = False
    start_body: Any = _UNSET
    final_status: int | None = None
    failure_status: int = 400
    same_location: bool = False
    start_headers: Mapping[str, str] = field(default_factory=dict)
    running_headers: Mapping[str, str] = field(default_factory=dict)
    cancellable: bool = False
    cancel_spelling: str = "Canceled"

    def __post_init__(self) -> None:
        """Check the knobs."""
        if self.start_status not in (200, 201, 202, 204):
            raise ValueError("start_status must be 200, 201, 202 or 204")
        if self.polls < 0:
            raise ValueError("polls must be >= 0")

    @property
    def failing(self) -> bool:
        """Whether the outcome is a failure (``Failed``, any case)."""
        return self.outcome.lower() == "failed"

    @property
    def successful(self) -> bool:
        """Whether the outcome is neither ``Failed`` nor ``Canceled``/``Cancelled``."""
        return self.outcome.lower() not in ("failed", "canceled", "cancelled")

    def kind(self, method: str) -> FlowKind:
        """How a start of this flow with ``method`` is followed."""
        if self.header in ("azure-asyncoperation", "operation-location", "both"):
            return "monitor"
        if self.header == "location" and self.start_status == 202:
            return "location"
        return "resource" if method in ("PUT", "PATCH") else "sync"


@dataclass
class AzureOperation:
    """One started flow, as the fake server tracks it.

    Attributes:
        id: ``op-<n>``.
        name: The resource name it was started on.
        method: The start request's method.
        flow: Its script.
        kind: How it is followed (`FlowKind`).
        ticks: Status polls answered so far.
        hop: The ``Location`` hop last handed out.
        cancel_requested: A cancel was accepted; the next poll ends it.
        ended: The terminal status word, once it has ended.
        cancelled: Whether it ended by a cancel.
        created_at: Loop time of the start request.
    """

    id: str
    name: str
    method: str
    flow: AzureFlow
    kind: FlowKind
    ticks: int = 0
    hop: int = 1
    cancel_requested: bool = False
    ended: str | None = None
    cancelled: bool = False
    created_at: float = 0.0

    def __post_init__(self) -> None:
        """A flow done at start (or a synchronous one) is terminal from creation."""
        if self.flow.start_done or self.kind == "sync":
            self.ended = self.flow.outcome

    @property
    def finished(self) -> bool:
        """Whether the operation is in its terminal state."""
        return self.ended is not None

    @property
    def succeeded(self) -> bool:
        """Whether it ended with an outcome that is neither a failure nor a cancel."""
        return self.finished and not self.cancelled and self.flow.successful

    @property
    def status(self) -> str:
        """The status word now: a running word, or the terminal one."""
        if self.ended is not None:
            return self.ended
        words = self.flow.running or self._default_running()
        return words[min(max(self.ticks - 1, 0), len(words) - 1)]

    def _default_running(self) -> tuple[str, ...]:
        if self.kind == "monitor":
            if self.flow.header == "operation-location":
                return ("NotStarted", "Running")
            return ("InProgress",)
        return (_RUNNING_STATE.get(self.method, "Accepted"),)

    @property
    def progress(self) -> int:
        """``percentComplete``: ``100*k//(polls+1)`` at tick k, 100 once succeeded."""
        if self.succeeded:
            return 100
        return 100 * min(self.ticks, self.flow.polls) // (self.flow.polls + 1)

    def tick(self) -> None:
        """Count one status poll; the poll after an accepted cancel ends it cancelled."""
        if self.ended is not None:
            return
        self.ticks += 1
        if self.cancel_requested:
            self.ended, self.cancelled = self.flow.cancel_spelling, True
        elif self.ticks > self.flow.polls:
            self.ended = self.flow.outcome


class FakeAzure(LoopbackServer):
    """A fake Azure service on 127.0.0.1 for tests, demos and examples.

    ```python
    async with FakeAzure(api_version="2024-05-01") as azure:
        url = azure.flow("vm1", AzureFlow(header="azure-asyncoperation", polls=2))
        ...  # PUT url + "?api-version=2024-05-01", then poll Azure-AsyncOperation
    ```

    Args:
        host: Loopback address to bind.
        port: Port to bind; 0 picks a free one.
        api_version: When set, every route requires ``?api-version=`` (any value).
        bearer: When set, every route requires ``Authorization: Bearer <bearer>``.
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.

    Raises:
        ValueError: Raised when ``host`` is not a loopback address.

    Attributes:
        flows: The flow registered per resource name.
        operations: Started operations by id, in start order.
        requests: Every request, in the order its answer was decided.
        api_version: The required ``api-version``, if any.
        bearer: The accepted bearer token, if any.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_version: str | None = None,
        bearer: str | None = None,
        shutdown_timeout: float = 0.25,
    ) -> None:
        """Configure the server; `start()` (or ``async with``) binds it."""
        self.host = _loopback(host)
        self.api_version = api_version
        self.bearer = bearer
        self.flows: dict[str, AzureFlow] = {}
        self.operations: dict[str, AzureOperation] = {}
        self.requests = []
        self._by_name: dict[str, AzureOperation] = {}
        self._deleted: set[str] = set()
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._next_id = 1
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        return self._check(request) or await handler(request)

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        thing = THINGS + "/{name}"
        for method in ("PUT", "PATCH", "POST", "DELETE"):
            app.router.add_route(method, thing, self._start)
        app.router.add_get(thing, self._resource)
        app.router.add_post("/operations/{id:[^/:]+}:cancel", self._cancel)
        app.router.add_get("/operations/{id}", self._monitor)
        app.router.add_delete("/operations/{id}", self._cancel)
        app.router.add_get("/locations/{id}/{hop}", self._location)
        app.router.add_get("/results/{id}", self._result)
        return app

    def resource_url(self, name: str) -> str:
        """The absolute URL of resource ``name`` (without ``api-version``)."""
        return self.url(f"{THINGS}/{name}")

    # -- flows -------------------------------------------------------------------------------

    def flow(self, name: str, flow: AzureFlow | None = None, /, **fields: Any) -> str:
        """Register the flow that starts on resource ``name``; returns its absolute URL.

        Give an `AzureFlow`, or its fields as keywords. A later start on the same name
        begins a new operation of the same flow (and resets the resource).

        Raises:
            ValueError: Raised when ``name`` is empty or holds ``/``, or for a bad flow.
        """
        if not name or "/" in name:
            raise ValueError(f"resource name {name!r} is invalid")
        self.flows[name] = flow if flow is not None else AzureFlow(**fields)
        self._deleted.discard(name)
        return self.resource_url(name)

    def operation(self, name: str) -> AzureOperation | None:
        """The operation last started on resource ``name``."""
        return self._by_name.get(name)

    def status_monitor(self, op_id: str) -> dict[str, Any]:
        """The status monitor document of operation ``op_id`` now (without a tick).

        Raises:
            KeyError: Raised when there is no such operation.
        """
        return self._monitor_doc(self.operations[op_id])

    def resource(self, name: str) -> dict[str, Any]:
        """The resource document of ``name`` now (without a tick)."""
        return self._resource_doc(name, self._by_name.get(name))

    # -- documents ---------------------------------------------------------------------------

    def _versioned(self, path: str) -> str:
        url = self.url(path)
        return f"{url}?api-version={self.api_version}" if self.api_version else url

    def _resource_doc(self, name: str, op: AzureOperation | None) -> dict[str, Any]:
        flow = self.flows.get(name) or AzureFlow()
        if op is None:
            state = "Succeeded"
        elif op.kind == "resource" or op.finished:
            state = op.status
        else:
            state = _RUNNING_STATE.get(op.method, "Accepted")
        properties = {"provisioningState": state, **(flow.properties or {})}
        return {
            "id": f"{THINGS}/{name}",
            "name": name,
            "type": "Fake.Compute/things",
            "properties": properties,
        }

    def _error_of(self, op: AzureOperation) -> dict[str, str] | None:
        error = op.flow.error
        if error is None and op.flow.failing:
            error = _DEFAULT_ERROR
        if not error:
            return None
        code, message = error
        return {"code": code, "message": message}

    def _monitor_doc(self, op: AzureOperation) -> dict[str, Any]:
        doc: dict[str, Any]
        if op.flow.header == "operation-location":
            doc = {"id": op.id, "status": op.status}
        else:
            doc = {
                "id": f"/operations/{op.id}",
                "name": op.id,
                "status": op.status,
                "percentComplete": op.progress,
            }
        if op.finished:
            error = self._error_of(op)
            if error is not None and (op.flow.error or not op.succeeded):
                doc["error"] = error
            if op.succeeded:
                if op.flow.result is not None:
                    doc["result"] = op.flow.result
                if op.flow.resource_location:
                    doc["resourceLocation"] = self._versioned(f"/results/{op.id}")
        return doc

    def _final_body(self, op: AzureOperation) -> Any:
        """What the operation produced: the resource (PUT/PATCH) or the POST result."""
        if op.method in ("PUT", "PATCH"):
            return self._resource_doc(op.name, op)
        if op.method == "POST":
            return op.flow.result
        return None

    def _start_body(self, op: AzureOperation) -> Any:
        flow = op.flow
        if flow.start_body is not _UNSET:
            return flow.start_body
        if flow.start_status in (202, 204):
            return None
        if op.kind == "monitor" and flow.start_done:
            return self._monitor_doc(op)
        if op.method in ("PUT", "PATCH"):
            return self._resource_doc(op.name, op)
        if op.kind == "sync" and op.method == "POST":
            return flow.result
        return None

    # -- request pipeline --------------------------------------------------------------------

    def _check(self, request: web.Request) -> web.Response | None:
        if self.bearer is not None and (
            request.headers.get("Authorization") != f"Bearer {self.bearer}"
        ):
            return _json(
                401,
                _error_body(
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or invalid.",
                ),
                {"WWW-Authenticate": 'Bearer authorization_uri="https://login.example"'},
            )
        if self.api_version is not None and not request.query.get("api-version"):
            return _json(
                400,
                _error_body(
                    "MissingApiVersionParameter",
                    "The api-version query parameter (?api-version=) is required for all requests.",
                ),
            )
        return None

    def _op(self, request: web.Request) -> AzureOperation | None:
        return self.operations.get(request.match_info["id"])

    # -- handlers ----------------------------------------------------------------------------

    async def _start(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        flow = self.flows.get(name)
        if flow is None:
            return _json(404, _error_body("ResourceNotFound", f"no flow registered for {name}"))
        op_id, self._next_id = f"op-{self._next_id}", self._next_id + 1
        method = request.method
        op = AzureOperation(
            id=op_id,
            name=name,
            method=method,
            flow=flow,
            kind=flow.kind(method),
            created_at=asyncio.get_running_loop().time(),
        )
        self.operations[op_id] = op
        self._by_name[name] = op
        self._deleted.discard(name)
        if method == "DELETE" and op.finished and op.succeeded:
            self._deleted.add(name)
        headers: dict[str, str] = {}
        monitor = self.url(f"/operations/{op_id}")
        if flow.header in ("azure-asyncoperation", "both"):
            headers["Azure-AsyncOperation"] = monitor
        if flow.header in ("operation-location", "both"):
            headers["Operation-Location"] = monitor
        if op.kind == "monitor" and flow.location:
            headers["Location"] = self._versioned(f"/results/{op_id}")
        elif op.kind == "location":
            headers["Location"] = self.url(f"/locations/{op_id}/1")
        elif flow.header == "location":
            headers["Location"] = self._versioned(f"{THINGS}/{name}")
        headers.update(flow.start_headers)
        return _json(flow.start_status, self._start_body(op), headers)

    async def _resource(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        op = self._by_name.get(name)
        if name in self._deleted or name not in self.flows:
            return _json(404, _error_body("ResourceNotFound", f"resource {name} not found"))
        headers: dict[str, str] = {}
        if op is not None and op.kind == "resource":
            op.tick()
            if op.method == "DELETE" and op.succeeded:
                self._deleted.add(name)
                return _json(404, _error_body("ResourceNotFound", f"resource {name} not found"))
            if not op.finished:
                headers.update(op.flow.running_headers)
        elif op is not None and op.method == "DELETE" and op.succeeded:
            self._deleted.add(name)
            return _json(404, _error_body("ResourceNotFound", f"resource {name} not found"))
        return _json(200, self._resource_doc(name, op), headers)

    async def _monitor(self, request: web.Request) -> web.StreamResponse:
        op = self._op(request)
        if op is None:
            return _json(404, _error_body("NotFound", "operation not found"))
        op.tick()
        if op.method == "DELETE" and op.succeeded:
            self._deleted.add(op.name)
        headers = {} if op.finished else dict(op.flow.running_headers)
        return _json(200, self._monitor_doc(op), headers)

    async def _location(self, request: web.Request) -> web.StreamResponse:
        op = self._op(request)
        if op is None:
            return _json(404, _error_body("NotFound", "operation not found"))
        op.tick()
        if not op.finished:
            if not op.flow.same_location:
                op.hop += 1
            headers = {"Location": self.url(f"/locations/{op.id}/{op.hop}")}
            headers.update(op.flow.running_headers)
            return _json(202, None, headers)
        if not op.succeeded:
            error = self._error_of(op)
            return _json(op.flow.failure_status, None if error is None else {"error": error})
        if op.method == "DELETE":
            self._deleted.add(op.name)
        body = self._final_body(op)
        status = op.flow.final_status or (200 if body is not None else 204)
        return _json(status, body if status != 204 else None)

    async def _result(self, request: web.Request) -> web.StreamResponse:
        op = self._op(request)
        if op is None:
            return _json(404, _error_body("NotFound", "operation not found"))
        if not op.finished:
            return _json(202, None, {"Location": self._versioned(f"/results/{op.id}")})
        body = self._final_body(op)
        return _json(200 if body is not None else 204, body)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        op = self._op(request)
        if op is None:
            return _json(404, _error_body("NotFound", "operation not found"))
        if op.finished:
            return _json(409, _error_body("Conflict", f"operation {op.id} already finished"))
        if not op.flow.cancellable:
            return _json(
                405, _error_body("OperationNotAllowed", "this operation cannot be cancelled")
            )
        op.cancel_requested = True
        return _json(202, self._monitor_doc(op))


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.json_response(body, status=status, headers=headers)
