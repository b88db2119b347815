"""`FakeGoogleOperations`: a fake Google long-running-operations API (AIP-151) on loopback.

It runs inside the caller's event loop (aiohttp.web) like `FakeLROServer`, so tests on a fake
clock (looptime) stay deterministic: operations advance one tick per status read, never by
wall time. Routes, under `api_root` (default `/v1`):

| Route                                         | Answer                                       |
|-----------------------------------------------|----------------------------------------------|
| `POST /v1/projects/{p}/locations/{l}/exports` | 200 `Operation` `{p}/{l}/operations/op-<n>`   |
| `GET /v1/{name}`                              | advance it one tick; 200 `Operation`         |
| `POST /v1/{name}:cancel`                      | 200 `{}` and cancel per its script           |
| `DELETE /v1/{name}`                           | 200 `{}`: forget the record (not a cancel)   |
| `GET /v1/operations?filter&pageSize&pageToken` | ListOperations: advance each listed one tick |

The list answers `{"operations": [...], "nextPageToken"}`; its `filter` understands
`name="..."` terms joined by ` OR ` (AIP-160), and the page token is an offset. An operation
on the page is read as by its own `GET`: it advances one tick (the others do not).

`:cancel` takes an empty body or `{}` (CancelOperationRequest has no field but the name, which is
in the URL); any other body answers 400 INVALID_ARGUMENT.

An `Operation` is `{"name", "metadata": {"@type", "progressPercent"}, "done"}` plus, once done,
`response` (with `@type`) or `error` (a google.rpc.Status `{code, message, details}`; code 1 is
CANCELLED). Unknown operations answer 404 NOT_FOUND.

Error bodies follow `error_format`: `"wrapped"` as production Google sends them
(`{"error": {"code": <HTTP status>, "message", "status": "NOT_FOUND"}}`) or `"bare"` as the
Cloud Spanner emulator does (`{"code": 5, "message"}`, the google.rpc code).

`DELETE` only discards the record (AIP-151: "the client is no longer interested in the
operation result. It does not cancel the operation"): the fake moves it to `deleted`, where
it stays as it was, uncancelled; reading it afterwards answers 404 like any unknown name.

Every request first meets the injected faults (in the order they were added; `path_glob` is an
`fnmatch` pattern over the decoded path), then the bearer check, then its route, and is logged
in `requests` with credentials redacted.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

from aiohttp import web

from ._loopback import LoopbackServer, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["FakeGoogleOperations", "GoogleOperationRecord", "GoogleOperationScript"]

GoogleCancelMode: TypeAlias = Literal["accept", "ignore", "unsupported"]
"""How an operation answers `:cancel` (see `GoogleOperationScript.cancel`)."""

ErrorFormat: TypeAlias = Literal["wrapped", "bare"]
"""Production's `{"error": {...}}` or the emulator's bare google.rpc.Status."""

GoogleOperationState: TypeAlias = Literal["running", "succeeded", "failed", "cancelled"]
"""Where a fake operation stands; all but `running` are `done`."""

# Reference: google/rpc/code.proto (number and HTTP mapping of each canonical code).
_CODES: Final[dict[str, tuple[int, int]]] = {
    "CANCELLED": (1, 499),
    "INVALID_ARGUMENT": (3, 400),
    "NOT_FOUND": (5, 404),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "UNAUTHENTICATED": (16, 401),
}
_UNAUTHENTICATED: Final = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential."
)
_CANCELLED_MESSAGE: Final = "Operation was cancelled."
DEFAULT_PARENT: Final = "projects/test-project/locations/us-central1"
DEFAULT_METADATA_TYPE: Final = "type.googleapis.com/google.example.v1.ExportMetadata"
DEFAULT_RESPONSE_TYPE: Final = "type.googleapis.com/google.example.v1.ExportResponse"


@dataclass(frozen=True, kw_only=True)
class GoogleOperationScript:
    """What a fake Google operation does over its life: a small, immutable script.

    Tick `k` is the k-th status read (`GET {name}`); tick 0 is the creation answer.

    | tick           | `done` | `metadata.progressPercent`                 |
    |----------------|--------|--------------------------------------------|
    | 0 (creation)   | false  | 0                                          |
    | 1 .. polls     | false  | `progress[k-1]` (last repeats) or `100·k/(polls+1)` |
    | polls+1 ..     | true   | 100 (`response`) / last value (`error`)    |

    Attributes:
        polls: Status reads answered `done: false` before the one that answers done.
        outcome: `"succeeded"` (`response`), `"failed"` (`error`) or `"never"` (not done
            until cancelled).
        progress: Explicit percentages for the running reads; `None` means linear.
        report_progress: `False` leaves `progressPercent` out of the metadata (progress
            unknown).
        done_at_start: The creation answer is already done (as every operation of the
            Cloud Spanner emulator is); `polls` is then ignored.
        response: The `response` member; `None` means `{"@type": <response type>,
            "outputUriPrefix": "gs://fake-bucket/<id>"}`.
        error_code: The google.rpc code of a `"failed"` outcome (13 INTERNAL by default).
        error_message: Its message.
        error_details: Its `details` (typed `Any` objects, each with `@type`).
        cancel: `"accept"` (200 `{}`, then `done` with `error.code == 1` after
            `cancel_polls` reads), `"ignore"` (200 `{}`, the script goes on) or
            `"unsupported"` (501 UNIMPLEMENTED).
        cancel_polls: Reads answered `done: false` after an accepted cancel; 0 means the
            operation is cancelled at once.
        expire_after: When set, a done operation answers this many reads (the one that
            first shows it done included), then expires: 404 NOT_FOUND from then on.
    """

    polls: int = 3
    outcome: Literal["succeeded", "failed", "never"] = "succeeded"
    progress: Sequence[int] | None = None
    report_progress: bool = True
    done_at_start: bool = False
    response: Any = None
    error_code: int = 13
    error_message: str = "export failed"
    error_details: Sequence[Mapping[str, Any]] = ()
    cancel: GoogleCancelMode = "accept"
    cancel_polls: int = 0
    expire_after: int | None = None

    def __post_init__(self) -> None:
        """Validate the script.

        Raises:
            ValueError: Raised when a count is negative, a percent is outside 0..100, the
                error code is 0 (OK) or 1 (CANCELLED: use a cancel), or an operation that
                never ends is done at start.
        """
        if min(self.polls, self.cancel_polls) < 0 or (
            self.expire_after is not None and self.expire_after < 0
        ):
            raise ValueError("polls, cancel_polls and expire_after must be >= 0")
        if self.progress is not None:
            object.__setattr__(self, "progress", tuple(self.progress))
            if not self.progress or any(not 0 <= p <= 100 for p in self.progress):
                raise ValueError("progress must be a non-empty sequence of ints in 0..100")
        object.__setattr__(self, "error_details", tuple(self.error_details))
        if self.error_code in (0, 1):
            raise ValueError("error_code 0 is OK and 1 is CANCELLED: pick a failure code")
        if self.done_at_start and self.outcome == "never":
            raise ValueError("an operation that never ends cannot be done at start")

    @classmethod
    def success(cls, polls: int = 3, **kwargs: Any) -> GoogleOperationScript:
        """An operation that is running for `polls` reads, then done with a `response`."""
        return cls(polls=polls, outcome="succeeded", **kwargs)

    @classmethod
    def fail_at(
        cls, n: int, message: str = "export failed", code: int = 13, **kwargs: Any
    ) -> GoogleOperationScript:
        """An operation whose `n`-th read (n >= 1) shows it done with `error` `{code, message}`."""
        if n < 1:
            raise ValueError("fail_at needs n >= 1")
        return cls(polls=n - 1, outcome="failed", error_message=message, error_code=code, **kwargs)

    @classmethod
    def slow(cls, **kwargs: Any) -> GoogleOperationScript:
        """An operation that never finishes by itself (only a cancel ends it)."""
        return cls(**{"polls": 0, **kwargs, "outcome": "never"})

    @classmethod
    def instant(cls, **kwargs: Any) -> GoogleOperationScript:
        """An operation whose creation answer is already done, like the emulator's."""
        return cls(**{**kwargs, "done_at_start": True})

    @classmethod
    def cancel_async(cls, k: int = 2, **kwargs: Any) -> GoogleOperationScript:
        """A slow operation whose accepted cancel shows after `k` more reads."""
        return cls.slow(cancel="accept", cancel_polls=k, **kwargs)

    @classmethod
    def cancel_ignored(cls, polls: int = 3, **kwargs: Any) -> GoogleOperationScript:
        """An operation that answers `{}` to a cancel but still succeeds after `polls` reads."""
        return cls(polls=polls, cancel="ignore", **kwargs)

    @classmethod
    def cancel_unsupported(cls, **kwargs: Any) -> GoogleOperationScript:
        """A slow operation whose cancel answers 501 UNIMPLEMENTED."""
        return cls.slow(cancel="unsupported", **kwargs)

    def at_tick(self, tick: int) -> tuple[GoogleOperationState, int]:
        """Return the `(state, progress)` the script prescribes at `tick` (see the class docs)."""
        if tick <= 0 and not self.done_at_start:
            return "running", 0
        if self.done_at_start or (tick > self.polls and self.outcome != "never"):
            if self.outcome == "succeeded":
                return "succeeded", 100
            return "failed", self._progress(self.polls) if self.polls else 0
        return "running", self._progress(tick)

    def _progress(self, i: int) -> int:
        if self.progress is not None:
            return self.progress[min(i, len(self.progress)) - 1]
        return 100 * min(i, self.polls) // (self.polls + 1)


@dataclass(eq=False, kw_only=True)
class GoogleOperationRecord:
    """One operation on a `FakeGoogleOperations` server, inspectable by tests.

    Attributes:
        name: The resource name (`projects/p/locations/l/operations/op-1`).
        script: The script it follows.
        created_at: Loop time of creation.
        request: The parsed body of the request that created it (None when added directly).
        metadata_type: The `@type` of its metadata.
        response_type: The `@type` of its default `response`.
        state: Where it stands.
        progress: The progress of the last answer.
        polls: Status reads answered so far (faulted or unauthorized requests excluded).
        done_reads: Status reads answered while done.
        cancel_requests: The body of each `:cancel` request that reached it.
        cancel_requested: Whether an accepted cancel is pending or done
            (`metadata.cancelRequested`).
    """

    name: str
    script: GoogleOperationScript
    created_at: float
    request: Any = None
    metadata_type: str = DEFAULT_METADATA_TYPE
    response_type: str = DEFAULT_RESPONSE_TYPE
    state: GoogleOperationState = "running"
    progress: int = 0
    polls: int = 0
    done_reads: int = 0
    cancel_requests: list[bytes] = field(default_factory=list)
    cancel_requested: bool = False
    _cancel_left: int | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        """Set the creation state (tick 0)."""
        self.state, self.progress = self.script.at_tick(0)

    @property
    def done(self) -> bool:
        """Whether the operation is done (succeeded, failed or cancelled)."""
        return self.state != "running"

    def advance(self) -> None:
        """Answer one status read: count it and move the operation one tick."""
        self.polls += 1
        if self.done:
            return
        if self._cancel_left is not None:
            if self._cancel_left == 0:
                self.state = "cancelled"
            else:
                self._cancel_left -= 1
            return
        self.state, self.progress = self.script.at_tick(self.polls)

    def request_cancel(self, body: bytes) -> Literal["accepted", "unsupported", "finished"]:
        """Record a cancel request and apply the script's `cancel` mode.

        Returns:
            `"finished"` when the operation is already done, `"unsupported"` when the
            script refuses cancels, else `"accepted"` (an ignored cancel is accepted too).
            A repeated cancel does not restart the countdown.
        """
        self.cancel_requests.append(body)
        if self.done:
            return "finished"
        mode = self.script.cancel
        if mode == "unsupported":
            return "unsupported"
        if mode == "ignore" or self.cancel_requested:
            return "accepted"
        self.cancel_requested = True
        if self.script.cancel_polls == 0:
            self.state = "cancelled"
        else:
            self._cancel_left = self.script.cancel_polls
        return "accepted"

    def document(self, *, omit_defaults: bool = False) -> dict[str, Any]:
        """Return the `Operation` as JSON.

        Args:
            omit_defaults: Leave out `"done": false` and a zero `progressPercent`, as
                proto3 JSON printers (and so most production APIs) do.
        """
        metadata: dict[str, Any] = {"@type": self.metadata_type}
        if self.script.report_progress and not (omit_defaults and self.progress == 0):
            metadata["progressPercent"] = self.progress
        if self.cancel_requested:
            metadata["cancelRequested"] = True
        doc: dict[str, Any] = {"name": self.name, "metadata": metadata}
        if self.done or not omit_defaults:
            doc["done"] = self.done
        if self.state == "succeeded":
            response = self.script.response
            if response is None:
                short = self.name.rsplit("/", 1)[-1]
                response = {
                    "@type": self.response_type,
                    "outputUriPrefix": f"gs://fake-bucket/{short}",
                }
            doc["response"] = response
        elif self.state == "failed":
            error: dict[str, Any] = {
                "code": self.script.error_code,
                "message": self.script.error_message,
            }
            if self.script.error_details or not omit_defaults:
                error["details"] = [dict(d) for d in self.script.error_details]
            doc["error"] = error
        elif self.state == "cancelled":
            doc["error"] = {"code": _CODES["CANCELLED"][0], "message": _CANCELLED_MESSAGE}
        return doc


class FakeGoogleOperations(LoopbackServer):
    """A fake Google API with long-running operations, on 127.0.0.1, for tests and examples.

    Use it as an async context manager (or call `start()` / `close()`) inside the event loop
    that runs the client:

    ```python
    async with FakeGoogleOperations() as server:
        server.script_next(GoogleOperationScript.fail_at(2, "quota exceeded", code=8))
        ...  # POST server.url("/v1/projects/p/locations/l/exports"), then GET /v1/{name}
    ```

    Args:
        host: Loopback address to bind (`127.0.0.x`, `::1` or `localhost`).
        port: Port to bind; 0 picks a free one.
        api_root: Path prefix of every route (`/v1`).
        default_script: Script of operations created when no `script_next` is queued.
        error_format: `"wrapped"` (production) or `"bare"` (the Spanner emulator) error
            bodies.
        omit_defaults: Omit `"done": false` and a zero `progressPercent`, as proto3 JSON
            printers do.
        bearer: When set, every route requires `Authorization: Bearer <bearer>` and
            answers 401 UNAUTHENTICATED otherwise.
        cancel_done: How `:cancel` of a done operation answers: `"ok"` (200 `{}`, a no-op)
            or `"failed_precondition"` (400 FAILED_PRECONDITION).
        delete_supported: `False` makes `DELETE` answer 501 UNIMPLEMENTED (as the emulator
            does).
        metadata_type: The `@type` of created operations' metadata.
        response_type: The `@type` of their default `response`.
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.
        list_page_size: The largest (and default) `pageSize` of `GET {api_root}/operations`.

    Raises:
        ValueError: Raised when `host` is not a loopback address or a knob is out of range.

    Attributes:
        operations: Live operations by name, in creation order.
        deleted: Operations removed by `DELETE`, as they were (not cancelled).
        expired: Operations removed by expiry (`expire()` or `expire_after`).
        requests: Every request, in the order its answer was decided.
        unlisted: Names `GET {api_root}/operations` leaves out (a list that lags behind
            its operations); their own `GET` still answers.
        list_page_size: The largest (and default) page of the list.
        default_script: Script of operations created when no `script_next` is queued.
        error_format: The shape of error bodies.
        omit_defaults: Whether defaults are left out of `Operation` documents.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_root: str = "/v1",
        default_script: GoogleOperationScript | None = None,
        error_format: ErrorFormat = "wrapped",
        omit_defaults: bool = False,
        bearer: str | None = None,
        cancel_done: Literal["ok", "failed_precondition"] = "ok",
        delete_supported: bool = True,
        metadata_type: str = DEFAULT_METADATA_TYPE,
        response_type: str = DEFAULT_RESPONSE_TYPE,
        shutdown_timeout: float = 0.25,
        list_page_size: int = 100,
    ) -> None:
        """Configure the server; nothing is bound before `start()`."""
        if not api_root.startswith("/") or api_root.endswith("/"):
            raise ValueError("api_root must start with '/' and not end with '/'")
        if error_format not in ("wrapped", "bare"):
            raise ValueError("error_format must be 'wrapped' or 'bare'")
        if cancel_done not in ("ok", "failed_precondition"):
            raise ValueError("cancel_done must be 'ok' or 'failed_precondition'")
        self.host = _loopback(host)
        self.api_root = api_root
        self.default_script = GoogleOperationScript() if default_script is None else default_script
        self.error_format: ErrorFormat = error_format
        self.omit_defaults = omit_defaults
        self.cancel_done = cancel_done
        self.delete_supported = delete_supported
        self.metadata_type = metadata_type
        self.response_type = response_type
        self.list_page_size = list_page_size
        self.unlisted: set[str] = set()
        self.operations: dict[str, GoogleOperationRecord] = {}
        self.deleted: dict[str, GoogleOperationRecord] = {}
        self.expired: dict[str, GoogleOperationRecord] = {}
        self.requests = []
        self._bearer = bearer
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._scripts: deque[GoogleOperationScript] = deque()
        self._faults = []
        self._next_id = 1
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        root = self.api_root
        app.router.add_post(root + "/projects/{project}/locations/{location}/exports", self._create)
        app.router.add_post(root + "/{name:.+}:cancel", self._cancel)
        app.router.add_get(root + "/operations", self._list)
        app.router.add_get(root + "/{name:.+}", self._get)
        app.router.add_delete(root + "/{name:.+}", self._delete)
        return app

    def operation_url(self, name: str) -> str:
        """Return the absolute status URL of the operation `name` (`GET {api_root}/{name}`)."""
        return self.url(f"{self.api_root}/{name}")

    def exports_url(self, parent: str = DEFAULT_PARENT) -> str:
        """Return the absolute URL that creates an operation under `parent` (`POST`)."""
        return self.url(f"{self.api_root}/{parent}/exports")

    @property
    def bearer(self) -> str | None:
        """The accepted bearer token (None: no authentication); assignable."""
        return self._bearer

    @bearer.setter
    def bearer(self, token: str | None) -> None:
        self._bearer = token

    # -- operations --------------------------------------------------------------------------

    def script_next(self, *scripts: GoogleOperationScript) -> None:
        """Queue scripts for the next created operations, one per operation, in order."""
        self._scripts.extend(scripts)

    def add_operation(
        self,
        script: GoogleOperationScript | None = None,
        *,
        name: str | None = None,
        parent: str = DEFAULT_PARENT,
        request: Any = None,
    ) -> GoogleOperationRecord:
        """Create an operation without a request (to attach to one that already exists).

        Args:
            script: Its script; `None` takes the next queued script or the default.
            name: Its full resource name (`operations/123` is fine); `None` picks
                `{parent}/operations/op-<n>`.
            parent: The parent of a generated name.
            request: Recorded as the creating request's body.

        Returns:
            The new operation, also in `operations`.

        Raises:
            ValueError: Raised when `name` is taken, empty, or has empty, `.` or `..`
                segments.
        """
        if name is not None:
            segments = name.split("/")
            if name in self.operations or any(s in ("", ".", "..") for s in segments):
                raise ValueError(f"operation name {name!r} is taken or invalid")
        while name is None or name in self.operations:
            name, self._next_id = f"{parent}/operations/op-{self._next_id}", self._next_id + 1
        if script is None:
            script = self._scripts.popleft() if self._scripts else self.default_script
        record = GoogleOperationRecord(
            name=name,
            script=script,
            created_at=asyncio.get_running_loop().time(),
            request=request,
            metadata_type=self.metadata_type,
            response_type=self.response_type,
        )
        self.operations[name] = record
        return record

    def expire(self, name: str) -> GoogleOperationRecord:
        """Expire the operation `name` now: it answers 404 NOT_FOUND from then on.

        Raises:
            KeyError: Raised when no live operation has that name.
        """
        record = self.operations.pop(name)
        self.expired[name] = record
        return record

    def error_body(self, status: str, message: str | None = None) -> dict[str, Any]:
        """Return the error body this server sends for the canonical code `status`.

        `("NOT_FOUND", "x")` gives `{"error": {"code": 404, "message": "x", "status":
        "NOT_FOUND"}}` when wrapped and `{"code": 5, "message": "x"}` when bare; a bare body
        without `message` is what the emulator sends for UNIMPLEMENTED (`{"code": 12}`).

        Raises:
            KeyError: Raised for a code name the fake does not know.
        """
        number, http_status = _CODES[status]
        if self.error_format == "bare":
            bare: dict[str, Any] = {"code": number}
            if message is not None:
                bare["message"] = message
            return bare
        return {"error": {"code": http_status, "message": message or status, "status": status}}

    # -- fault injection ---------------------------------------------------------------------

    def _fault_body(self, status: int) -> Mapping[str, Any]:
        """`fail_next`'s default body: this server's UNAVAILABLE error."""
        return self.error_body("UNAVAILABLE", "The service is currently unavailable.")

    # -- request pipeline --------------------------------------------------------------------

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        injected = await self._injected(request)
        if injected is not None:
            return injected
        if self._bearer is not None and (
            request.headers.get("Authorization") != f"Bearer {self._bearer}"
        ):
            challenge = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
            return self._error("UNAUTHENTICATED", _UNAUTHENTICATED, challenge)
        return await handler(request)

    def _error(
        self, status: str, message: str | None, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        return web.json_response(
            self.error_body(status, message), status=_CODES[status][1], headers=headers
        )

    def _not_found(self, name: str) -> web.Response:
        return self._error("NOT_FOUND", f"Operation not found: {name}")

    # -- handlers ----------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        payload: Any = None
        if raw.strip():
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = None
            if not isinstance(payload, dict):
                return self._error("INVALID_ARGUMENT", "Invalid JSON payload received.")
        match = request.match_info
        parent = f"projects/{match['project']}/locations/{match['location']}"
        record = self.add_operation(parent=parent, request=payload)
        return web.json_response(record.document(omit_defaults=self.omit_defaults))

    def _read(self, record: GoogleOperationRecord) -> dict[str, Any] | None:
        """One status read of ``record``: advance it a tick; None once it expired."""
        record.advance()
        expire_after = record.script.expire_after
        if record.done and expire_after is not None and record.done_reads >= expire_after:
            self.expire(record.name)
            return None
        if record.done:
            record.done_reads += 1
        return record.document(omit_defaults=self.omit_defaults)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        record = self.operations.get(name)
        doc = None if record is None else self._read(record)
        if doc is None:
            return self._not_found(name)
        return web.json_response(doc)

    async def _list(self, request: web.Request) -> web.StreamResponse:
        # Reference: operations.proto, ListOperations; AIP-160 filters, AIP-158 paging.
        # Only ``name="..."`` terms joined by ``OR`` are understood here.
        query = request.query
        names: set[str] | None = None
        text = query.get("filter", "").strip()
        if text:
            names = set()
            for term in text.split(" OR "):
                term = term.strip()
                if not (term.startswith('name="') and term.endswith('"') and len(term) > 7):
                    return self._error("INVALID_ARGUMENT", f"Invalid filter: {text}")
                names.add(term[6:-1].replace('\\"', '"').replace("\\\\", "\\"))
        try:
            size = int(query.get("pageSize") or self.list_page_size)
            start = int(query.get("pageToken") or 0)
        except ValueError:
            return self._error("INVALID_ARGUMENT", "Invalid page token or size.")
        size = max(1, min(size, self.list_page_size))
        matching = [
            r
            for n, r in self.operations.items()
            if (names is None or n in names) and n not in self.unlisted
        ]
        page = matching[start : start + size]
        docs = [doc for doc in map(self._read, page) if doc is not None]
        body: dict[str, Any] = {"operations": docs}
        if start + size < len(matching):
            body["nextPageToken"] = str(start + size)
        return web.json_response(body)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        raw = await request.read()
        # Reference: operations.proto, CancelOperation: the request body carries no field
        # besides the name in the URL, so only an empty body or `{}` is valid.
        if raw.strip():
            try:
                payload = json.loads(raw)
            except ValueError:
                return self._error("INVALID_ARGUMENT", "Invalid JSON payload received.")
            if payload != {}:
                unknown = next(iter(payload), "?") if isinstance(payload, dict) else "?"
                return self._error(
                    "INVALID_ARGUMENT",
                    f'Invalid JSON payload received. Unknown name "{unknown}": Cannot find field.',
                )
        record = self.operations.get(name)
        if record is None:
            return self._not_found(name)
        match record.request_cancel(raw):
            case "unsupported":
                return self._error("UNIMPLEMENTED", "Operation cancellation is not supported.")
            case "finished" if self.cancel_done == "failed_precondition":
                return self._error("FAILED_PRECONDITION", f"Operation {name} is already done.")
            case _:
                return web.json_response({})

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not self.delete_supported:
            return self._error("UNIMPLEMENTED", "Operation deletion is not supported.")
        record = self.operations.pop(name, None)
        if record is None:
            return self._not_found(name)
        # AIP-151: DeleteOperation "does not cancel the operation": the record goes, the
        # job (as far as this fake models one) stays as it was.
        self.deleted[name] = record
        return web.json_response({})
