"""`FakeOracleOTM`: a fake Oracle OTM/GTM data-export service on loopback (aiohttp.web).

It follows PROTOCOLS.md §5.3 and runs inside the caller's event loop. Exports advance one
tick per status read (a single ``GET /exportStatuses/{id}``, or a page of the list that
holds it), never by the clock, so tests on a fake clock see the same answers at the same
instants every run. Routes, under ``/logisticsRestApi/data/v1``:

| Route                                            | Answer                                   |
|--------------------------------------------------|------------------------------------------|
| ``POST /exportRequests`` + ``Prefer:             | 202 + ``Location`` + the status document |
| respond-async``                                  | (``pending``)                            |
| ``POST /exportRequests`` without it              | 200 ``text/plain`` CSV (one table only)  |
| ``GET /exportStatuses/{id}``                     | 200, the status document; 404 unknown    |
| ``GET /exportStatuses?limit=&offset=``           | 200, a collection of status documents    |
| ``…&q=requestID eq 1 or requestID eq 2``         | the collection, of those exports only    |
| ``POST /custom-actions/cancel/exportRequests/{id}`` | 200 + ``cancelling`` (or 204); 400 when |
|                                                  | completed; 404 unknown; 400 with a body  |

Every route asks for HTTP Basic credentials (401 with ``WWW-Authenticate: Basic``
otherwise). Beside them, ``PUT``/``GET /objectstore/o/{name}`` is an unauthenticated
object store standing in for the caller's ``targetSystem``: an export whose
``targetSystem.targetURL`` points there has its parts written there, so a test downloads
them as a real client downloads from OCI Object Storage.

Progress model: an export is ``pending`` for ``pending_ticks`` ticks, then ``processing``;
its tables run one after another, each for ``ticks_per_table`` ticks, writing one part per
tick, then ``succeeded``. When every table has succeeded the export is ``succeeded`` and
``completed``. A cancel freezes the tables; the export reads ``cancelling`` for
``cancel_ticks`` ticks, then ``cancelled`` and ``completed``: tables that had succeeded keep
``succeeded``, the one in flight and those pending become ``cancelled``.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import hashlib
import hmac
import io
import json
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from aiohttp import web

from ._loopback import LoopbackServer, _Fault, _loopback

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    _Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__ = ["FakeOracleOTM", "OracleExport", "OracleScript", "OracleTable"]

API_ROOT = "/logisticsRestApi/data/v1"
_COLLECTION = "application/vnd.oracle.resource+json;type=collection"
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_FINISHED = frozenset({"succeeded", "failed", "cancelled", "interrupted"})

ScriptKind: TypeAlias = Literal["success", "fail_table", "interrupt", "slow"]
"""How a fake export ends: all tables succeeded, a table failed, interrupted, or never."""

Progress: TypeAlias = Literal[
    "pending",
    "processing",
    "succeeded",
    "failed",
    "interrupted",
    "cancelling",
    "cancelled",
    "unknown",
]
"""The values of ``progress`` (Oracle's ``exportStatuses`` schema)."""


@dataclass(frozen=True, kw_only=True)
class OracleScript:
    """What one export does.

    Attributes:
        kind: ``success``; ``fail_table`` (table ``table`` fails when it starts, with
            ``message`` as its ``detail``; the export is ``failed`` and ``completed``);
            ``interrupt`` (likewise, ``interrupted``); ``slow`` (the first table never
            finishes).
        table: the table (0-based) that fails or is interrupted.
        message: the failed table's ``detail``.
        ticks_per_table: ticks (and parts) per table; None takes the server's knob.
    """

    kind: ScriptKind = "success"
    table: int = 0
    message: str = "ORA-01555: snapshot too old"
    ticks_per_table: int | None = None

    def __post_init__(self) -> None:
        """Validate the script.

        Raises:
            ValueError: Raised for a negative table index or fewer than 1 tick per table.
        """
        if self.table < 0:
            raise ValueError("table must be >= 0")
        if self.ticks_per_table is not None and self.ticks_per_table < 1:
            raise ValueError("ticks_per_table must be >= 1")

    @classmethod
    def success(cls, ticks_per_table: int | None = None) -> OracleScript:
        """An export whose tables all succeed."""
        return cls(kind="success", ticks_per_table=ticks_per_table)

    @classmethod
    def fail_table(
        cls, table: int = 0, message: str = "ORA-01555: snapshot too old"
    ) -> OracleScript:
        """An export whose table ``table`` (0-based) fails with ``message``."""
        return cls(kind="fail_table", table=table, message=message)

    @classmethod
    def interrupt(cls, table: int = 0) -> OracleScript:
        """An export interrupted when table ``table`` (0-based) starts."""
        return cls(kind="interrupt", table=table, message="export interrupted")

    @classmethod
    def slow(cls) -> OracleScript:
        """An export whose first table never finishes."""
        return cls(kind="slow")


@dataclass(eq=False, kw_only=True)
class OracleTable:
    """One table (or business object) of an export.

    Attributes:
        item_id: ``itemID`` (1-based).
        name: ``itemName``: the table or resource name.
        progress: the table's own ``progress``.
        parts: the parts written so far: ``{"partName", "recordCount", "checksum"}``.
        started: the tick it started at, if it did.
        ended: the tick it ended at, if it did.
        detail: the failure message, if it failed.
    """

    item_id: int
    name: str
    progress: Progress = "pending"
    parts: list[dict[str, Any]] = field(default_factory=list)
    started: int | None = None
    ended: int | None = None
    detail: str | None = None


def _csv(table: str, tag: str, rows: int = 3) -> bytes:
    """A small CSV export of ``table``: a header row, then ``rows`` rows tagged ``tag``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f"{table}_GID", f"{table}_XID", "DOMAIN_NAME"])
    for row in range(rows):
        writer.writerow([f"GUEST.{tag}-{row}", f"{tag}-{row}", "GUEST"])
    return out.getvalue().encode()


def _stamp(tick: int) -> str:
    return (_EPOCH + dt.timedelta(seconds=tick)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(eq=False, kw_only=True)
class OracleExport:
    """One asynchronous export request on a `FakeOracleOTM`, inspectable by tests.

    Attributes:
        request_id: ``requestID``.
        tables: its tables, in order.
        script: what it does.
        ticks_per_table: ticks (and parts) per table.
        pending_ticks: ticks it stays ``pending``.
        external_ref: the request's ``externalRef``, echoed.
        target_url: the request's ``targetSystem.targetURL``.
        append_name: the request's ``targetSystem.appendName`` (default true).
        progress: the export's ``progress``.
        completed: the export's ``completed`` flag.
        tick: ticks so far (status reads, list pages included).
        polls: status reads answered (single and list).
        cancel_requests: cancel requests received.
        cancel_left: ticks left in ``cancelling``.
        ended: the tick it completed at, if it did.
    """

    request_id: int
    tables: list[OracleTable]
    script: OracleScript
    ticks_per_table: int
    pending_ticks: int
    external_ref: str | None = None
    target_url: str | None = None
    append_name: bool = True
    progress: Progress = "pending"
    completed: bool = False
    tick: int = 0
    polls: int = 0
    cancel_requests: int = 0
    cancel_left: int = 0
    ended: int | None = None

    def part_content(self, table: OracleTable, number: int) -> bytes:
        """The CSV bytes of part ``number`` (1-based) of ``table``."""
        return _csv(table.name, f"{self.request_id}-{table.item_id}-{number}")

    def _finish(self, progress: Progress) -> None:
        self.progress, self.completed, self.ended = progress, True, self.tick

    def advance(self, store: dict[str, bytes] | None = None, store_prefix: str = "") -> None:
        """Move the export one tick (a status read), writing new parts to ``store``."""
        self.polls += 1
        if self.completed:
            return
        self.tick += 1
        if self.progress == "cancelling":
            if self.cancel_left > 0:
                self.cancel_left -= 1
                return
            for table in self.tables:
                if table.progress not in _FINISHED:
                    table.progress, table.ended = "cancelled", self.tick
            self._finish("cancelled")
            return
        if self.tick <= self.pending_ticks:
            return
        self.progress = "processing"
        running = [(i, t) for i, t in enumerate(self.tables) if t.progress not in _FINISHED]
        if not running:
            self._finish("succeeded")
            return
        index, table = running[0]
        if table.started is None:
            table.started = self.tick
            if self.script.kind in ("fail_table", "interrupt") and index == self.script.table:
                state: Progress = "failed" if self.script.kind == "fail_table" else "interrupted"
                table.progress, table.ended, table.detail = state, self.tick, self.script.message
                for later in self.tables[index + 1 :]:
                    later.progress = "cancelled"
                self._finish(state)
                return
        table.progress = "processing"
        slow = self.script.kind == "slow"
        if not slow or len(table.parts) < self.ticks_per_table - 1:
            self._write_part(table, store, store_prefix)
        if len(table.parts) >= self.ticks_per_table and not slow:
            table.progress, table.ended = "succeeded", self.tick
            if all(t.progress == "succeeded" for t in self.tables):
                self._finish("succeeded")

    def _write_part(
        self, table: OracleTable, store: dict[str, bytes] | None, store_prefix: str
    ) -> None:
        number = len(table.parts) + 1
        content = self.part_content(table, number)
        name = f"DATA_{self.request_id}_{table.name}_{table.item_id}_{number}.csv"
        table.parts.append(
            {
                "partName": name,
                "recordCount": 3,
                "checksum": hashlib.md5(content, usedforsecurity=False).hexdigest(),
            }
        )
        target = self.target_url or ""
        if store is not None and store_prefix and target.startswith(store_prefix):
            key = target[len(store_prefix) :] + (name if self.append_name else "")
            store[key] = content

    def request_cancel(self, cancel_ticks: int) -> bool:
        """Start cancelling; False when the export has completed already."""
        self.cancel_requests += 1
        if self.completed:
            return False
        if self.progress != "cancelling":
            self.progress, self.cancel_left = "cancelling", cancel_ticks
        return True

    def document(self, base_url: str) -> dict[str, Any]:
        """The status document (PROTOCOLS.md §5.3, Oracle's "Cancel Request" example)."""
        items = []
        for table in self.tables:
            item: dict[str, Any] = {
                "itemID": table.item_id,
                "itemName": table.name,
                "progress": table.progress,
            }
            if table.started is not None:
                item["startTime"] = _stamp(table.started)
            if table.ended is not None:
                item["endTime"] = _stamp(table.ended)
            if table.parts:
                records = sum(p["recordCount"] for p in table.parts)
                item.update(totalResults=records, offset=0, totalRecordCount=records)
            if table.detail is not None:
                item["detail"] = table.detail
            item["parts"] = {"count": len(table.parts), "items": [dict(p) for p in table.parts]}
            items.append(item)
        body: dict[str, Any] = {"requestID": self.request_id}
        if self.external_ref is not None:
            body["externalRef"] = self.external_ref
        body["submitDate"] = _stamp(0)
        body["tables"] = {"items": items}
        doc: dict[str, Any] = {
            "completed": self.completed,
            "progress": self.progress,
            "context": "exportRequest",
            "startTime": {"value": _stamp(0)},
        }
        if self.ended is not None:
            doc["endTime"] = {"value": _stamp(self.ended)}
        doc["links"] = [
            {"rel": "canonical", "href": f"{base_url}{API_ROOT}/exportStatuses/{self.request_id}"}
        ]
        doc["result"] = {"body": body}
        return doc


def _problem(status: int, title: str, detail: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://tools.ietf.org/html/rfc9110#section-15.{5 if status < 500 else 6}",
        "title": title,
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    return body


def _prefers_async(request: web.Request) -> bool:
    prefer = request.headers.get("Prefer", "")
    return any(item.split(";")[0].strip().lower() == "respond-async" for item in prefer.split(","))


class FakeOracleOTM(LoopbackServer):
    """A fake Oracle OTM/GTM data-export service on 127.0.0.1 (PROTOCOLS.md §5.3).

    Knobs are attributes: set them before (or between) requests.

    ```python
    async with FakeOracleOTM(cancel_status=204) as server:
        server.script_next(OracleScript.fail_table(1, "ORA-00942"))
        ...  # POST server.url(server.api_root + "/exportRequests") with Basic auth
    ```

    Args:
        host: Loopback address to bind (``127.0.0.x``, ``::1`` or ``localhost``).
        port: Port to bind; 0 picks a free one.
        username: The Basic user name every route asks for.
        password: Its password.
        auth_required: False serves without credentials.
        expire_after_polls: The password expires (401 from then on) after this many
            authenticated status reads, a list read counting as one (server-wide); None:
            never. Setting `password` to a new value lets it in again.
        first_request_id: The ``requestID`` of the first export (then one more each).
        ticks_per_table: Ticks (and parts) each table takes.
        pending_ticks: Ticks an export stays ``pending``.
        cancel_status: 200 (the "Cancel Request" use case: 200 and ``cancelling``, 400
            once completed) or 204 (the "Cancel Export Request" operation reference:
            204 whatever the state, 404 unknown).
        cancel_ticks: Ticks an accepted cancel stays ``cancelling``.
        cancel_ignored: Accept cancels (200) but let the export run to ``succeeded``.
        cancel_unsupported: Answer cancels 501.
        async_on_target: Also export asynchronously, without ``Prefer: respond-async``,
            when the request names a ``targetSystem`` (the other reading of Oracle's
            "Asynchronous Export of Compressed Content" use case).
        shutdown_timeout: Seconds (loop time) `close()` waits for requests in flight.

    Raises:
        ValueError: Raised for a host that is not loopback or a knob out of range.

    Attributes:
        exports: Exports by request id, in creation order.
        objects: The object store: name → bytes.
        requests: Every request, in the order its answer was decided.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "otm-user",
        password: str = "otm-password",
        auth_required: bool = True,
        expire_after_polls: int | None = None,
        first_request_id: int = 303,
        ticks_per_table: int = 2,
        pending_ticks: int = 1,
        cancel_status: Literal[200, 204] = 200,
        cancel_ticks: int = 2,
        cancel_ignored: bool = False,
        cancel_unsupported: bool = False,
        async_on_target: bool = False,
        shutdown_timeout: float = 0.25,
    ) -> None:
        """Set the knobs; nothing is bound before `start`."""
        if ticks_per_table < 1 or pending_ticks < 0 or cancel_ticks < 0:
            raise ValueError("ticks_per_table must be >= 1; pending and cancel ticks >= 0")
        if cancel_status not in (200, 204):
            raise ValueError("cancel_status is 200 or 204")
        if expire_after_polls is not None and expire_after_polls < 0:
            raise ValueError("expire_after_polls must be >= 0")
        self.host = _loopback(host)
        self.username = username
        self.password = password
        self.auth_required = auth_required
        self.expire_after_polls = expire_after_polls
        self.expired: set[str] = set()
        self._authenticated_polls = 0
        self.ticks_per_table = ticks_per_table
        self.pending_ticks = pending_ticks
        self.cancel_status = cancel_status
        self.cancel_ticks = cancel_ticks
        self.cancel_ignored = cancel_ignored
        self.cancel_unsupported = cancel_unsupported
        self.async_on_target = async_on_target
        self.exports: dict[int, OracleExport] = {}
        self.objects: dict[str, bytes] = {}
        self.requests = []
        self._faults: list[_Fault] = []
        self._requested_port = port
        self._shutdown_timeout = shutdown_timeout
        self._scripts: deque[OracleScript] = deque()
        self._next_id = first_request_id

    api_root = API_ROOT
    """The API root path, ``/logisticsRestApi/data/v1``."""

    @property
    def api_url(self) -> str:
        """The absolute API root, ``<base_url>/logisticsRestApi/data/v1``."""
        return self.base_url + API_ROOT

    @property
    def object_store_url(self) -> str:
        """The object store prefix for ``targetSystem.targetURL``: ``<base_url>/objectstore/o/``."""
        return self.base_url + "/objectstore/o/"

    def status_url(self, request_id: int) -> str:
        """The absolute status URL of export ``request_id``."""
        return f"{self.api_url}/exportStatuses/{request_id}"

    def _app(self) -> web.Application:
        """The fake's application: its middleware and routes."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post(API_ROOT + "/exportRequests", self._create)
        app.router.add_get(API_ROOT + "/exportStatuses", self._list)
        app.router.add_get(API_ROOT + "/exportStatuses/{id}", self._status)
        app.router.add_post(API_ROOT + "/custom-actions/cancel/exportRequests/{id}", self._cancel)
        app.router.add_put("/objectstore/o/{name:.+}", self._put_object)
        app.router.add_get("/objectstore/o/{name:.+}", self._get_object)
        return app

    # -- knobs -------------------------------------------------------------------------------

    def script_next(self, *scripts: OracleScript) -> None:
        """Queue scripts for the next asynchronous exports, one per export, in order."""
        self._scripts.extend(scripts)

    def forget(self, request_id: int) -> None:
        """Drop export ``request_id`` as if it never existed: its routes answer 404.

        Raises:
            KeyError: Raised for an unknown request id.
        """
        del self.exports[request_id]

    def expire(self) -> None:
        """Let the current password expire now: 401 until `password` is set anew."""
        self.expired.add(self.password)

    def _count_poll(self) -> None:
        if self.auth_required and self.expire_after_polls is not None:
            self._authenticated_polls += 1
            if self._authenticated_polls >= self.expire_after_polls:
                self.expire()

    def _fault_body(self, status: int) -> Mapping[str, Any]:
        """`fail_next`'s default body: Oracle's error shape for `status`."""
        return _problem(status, "Service Unavailable" if status == 503 else "Error")

    # -- request pipeline --------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        if not self.auth_required or request.path.startswith("/objectstore/"):
            return True
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, colon, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self.password in self.expired:
            return False
        expected = f"{self.username}:{self.password}".encode()
        return bool(colon) and hmac.compare_digest(f"{user}:{password}".encode(), expected)

    async def _answer(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        injected = await self._injected(request)
        if injected is not None:
            return injected
        if not self._authorized(request):
            return web.json_response(
                _problem(401, "Unauthorized"),
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="logisticsRestApi"'},
            )
        return await handler(request)

    def _document(self, export: OracleExport) -> dict[str, Any]:
        return export.document(self.base_url)

    def _advance(self, export: OracleExport) -> None:
        export.advance(self.objects, self.object_store_url)

    def _export(self, request: web.Request) -> OracleExport | web.Response:
        raw = request.match_info["id"]
        export = self.exports.get(int(raw)) if raw.isdigit() else None
        if export is None:
            return web.json_response(
                _problem(404, "Not Found", f"Export Request {raw} not found"), status=404
            )
        return export

    # -- handlers ----------------------------------------------------------------------------

    @staticmethod
    def _bad_request(detail: str) -> web.Response:
        return web.json_response(_problem(400, "Bad Request", detail), status=400)

    @staticmethod
    def _items(body: Mapping[str, Any]) -> list[str] | str:
        """The table or resource names the request names, or what is wrong with it."""
        names: list[str] = []
        for group, key in (("tables", "tableName"), ("objects", "resourceName")):
            value = body.get(group)
            if value is None:
                continue
            items = value.get("items") if isinstance(value, dict) else None
            if not isinstance(items, list):
                return f"{group}.items must be a list"
            for i, item in enumerate(items):
                name = item.get(key) if isinstance(item, dict) else None
                if not isinstance(name, str) or not name:
                    return f"{group}.items[{i}].{key} is required"
                names.append(name)
        if not names:
            return "tables.items[].tableName or objects.items[].resourceName is required"
        return names

    async def _create(self, request: web.Request) -> web.StreamResponse:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return self._bad_request("the request body is not JSON")
        if not isinstance(body, dict):
            return self._bad_request("the request body must be a JSON object")
        names = self._items(body)
        if isinstance(names, str):
            return self._bad_request(names)
        target = body.get("targetSystem")
        asynchronous = _prefers_async(request) or (self.async_on_target and target is not None)
        if not asynchronous:
            if len(names) != 1:
                return self._bad_request("synchronous export supports a single table")
            rows = _csv(names[0], "sync")
            return web.Response(body=rows, content_type="text/plain", charset="utf-8")
        target_url = target.get("targetURL") if isinstance(target, dict) else None
        if not isinstance(target_url, str) or not target_url:
            return self._bad_request(
                "targetSystem.targetURL is required for an asynchronous export"
            )
        append = target.get("appendName", True) if isinstance(target, dict) else True
        script = self._scripts.popleft() if self._scripts else OracleScript()
        request_id, self._next_id = self._next_id, self._next_id + 1
        ref = body.get("externalRef")
        export = OracleExport(
            request_id=request_id,
            tables=[OracleTable(item_id=i + 1, name=n) for i, n in enumerate(names)],
            script=script,
            ticks_per_table=script.ticks_per_table or self.ticks_per_table,
            pending_ticks=self.pending_ticks,
            external_ref=ref if isinstance(ref, str) else None,
            target_url=target_url,
            append_name=append is not False,
        )
        self.exports[request_id] = export
        headers = {
            "Location": self.status_url(request_id),
            "Preference-Applied": "respond-async",
        }
        return web.json_response(self._document(export), status=202, headers=headers)

    async def _status(self, request: web.Request) -> web.StreamResponse:
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        self._advance(export)
        self._count_poll()
        return web.json_response(self._document(export))

    async def _list(self, request: web.Request) -> web.StreamResponse:
        values: dict[str, int] = {}
        for name, default in (("limit", 25), ("offset", 0)):
            raw = request.query.get(name, str(default))
            if not raw.isdigit():
                return self._bad_request(f"{name} must be a whole number, not {raw!r}")
            values[name] = int(raw)
        limit, offset = values["limit"], values["offset"]
        wanted: set[int] | None = None
        q = request.query.get("q", "").strip()
        if q:
            # Oracle REST's ``q`` filter; only ``requestID eq N`` terms joined by ``or``.
            wanted = set()
            for term in q.split(" or "):
                parts = term.split()
                if len(parts) != 3 or parts[:2] != ["requestID", "eq"] or not parts[2].isdigit():
                    return self._bad_request(f"unsupported q filter: {q!r}")
                wanted.add(int(parts[2]))
        ordered = [self.exports[k] for k in sorted(self.exports) if wanted is None or k in wanted]
        page = ordered[offset : offset + limit]
        for export in page:
            self._advance(export)
        self._count_poll()
        body = {
            "items": [self._document(e) for e in page],
            "count": len(page),
            "hasMore": offset + len(page) < len(ordered),
            "limit": limit,
            "offset": offset,
        }
        return web.json_response(body, content_type=_COLLECTION)

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        if await request.read():
            return self._bad_request("the cancel action has no message body")
        export = self._export(request)
        if isinstance(export, web.Response):
            return export
        if self.cancel_unsupported:
            export.cancel_requests += 1
            return web.json_response(_problem(501, "Not Implemented"), status=501)
        if self.cancel_ignored:
            export.cancel_requests += 1
            accepted = not export.completed
        else:
            accepted = export.request_cancel(self.cancel_ticks)
        if self.cancel_status == 204:
            # The operation reference lists only 204 and 404.
            return web.Response(status=204)
        if not accepted:
            detail = (
                f"Export Request {export.request_id} is in an invalid state for a "
                "cancellation request"
            )
            return self._bad_request(detail)
        return web.json_response(self._document(export))

    async def _put_object(self, request: web.Request) -> web.StreamResponse:
        self.objects[request.match_info["name"]] = await request.read()
        return web.Response(status=200)

    async def _get_object(self, request: web.Request) -> web.StreamResponse:
        content = self.objects.get(request.match_info["name"])
        if content is None:
            return web.json_response(_problem(404, "Not Found", "no such object"), status=404)
        return web.Response(body=content, content_type="text/csv")
