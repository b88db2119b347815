"""The fake dialects by name, for ``lrpoll serve --dialect NAME`` and for people's own tests.

Each `Dialect` makes one fake server (not started) and, once it is up, prepares it and
says how to try it: curl lines and an ``lrpoll`` command. A new fake registers here with
one more `Dialect` in the table `dialects()` returns.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ._server import FakeLROServer
from .arcgis import FakeArcGIS
from .azure import FakeAzure
from .google import FakeGoogleOperations
from .odata import FakeOData
from .oracle import FakeOracleOTM
from .xmlui import FakeXmlui

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from ._loopback import LoopbackServer

__all__ = ["Dialect", "dialects", "shell_line"]


@dataclass(frozen=True, kw_only=True)
class Dialect:
    """One fake dialect: how to make its server and how to try it.

    Attributes:
        name: the name ``lrpoll serve --dialect`` takes.
        summary: one line saying what the fake serves.
        make: ``(host, port)`` to a fake server, not started yet.
        try_lines: called once the server is up: prepares it (registers a flow, ...)
            and returns the lines to try it with (curl, then ``lrpoll``).
    """

    name: str
    summary: str
    make: Callable[[str, int], LoopbackServer]
    try_lines: Callable[[Any], list[str]]


def _word(word: str) -> str:
    """One shell word; an expression with 'quotes' goes in double quotes, as people write it."""
    if "'" in word and not any(c in word for c in '"$`\\!'):
        return f'"{word}"'
    return shlex.quote(word)


def shell_line(*words: str) -> str:
    """``words`` as one shell command line (``shlex.join``, with readable expressions)."""
    return " ".join(_word(w) for w in words)


def _generic_lines(server: FakeLROServer) -> list[str]:
    create = server.url(server.prefix)
    job = server.url(f"{server.prefix}/job-1")
    return [
        shell_line("curl", "-si", "-X", "POST", create, "-H", "Content-Type: application/json",
                   "-d", "{}"),
        shell_line("curl", "-s", job + "/status"),
        shell_line("curl", "-s", "-X", "POST", job + "/cancel"),
        shell_line(
            "lrpoll", "start", "POST", create, "--body", "{}",
            "--status-url", server.prefix + "/{start.jobId}/status",
            "--done", "status == 'done'", "--failed", "status == 'failed'",
            "--cancelled", "status == 'cancelled'", "--progress", "progress",
            "--result", "result", "--error-message", "error.message",
            "--cancel-url", server.prefix + "/{start.jobId}/cancel",
        ),
    ]  # fmt: skip


def _google_lines(server: FakeGoogleOperations) -> list[str]:
    create = server.url("/v1/projects/p/locations/l/exports")
    name = server.url("/v1/projects/p/locations/l/operations/op-1")
    return [
        shell_line(
            "curl", "-s", "-X", "POST", create, "-H", "Content-Type: application/json", "-d", "{}"
        ),
        shell_line("curl", "-s", name),
        shell_line("curl", "-s", "-X", "POST", name + ":cancel"),
        shell_line("lrpoll", "start", "POST", create, "--body", "{}", "--preset", "google"),
    ]


def _azure_lines(server: FakeAzure) -> list[str]:
    things = [server.flow(f"thing-{n}") for n in range(1, 4)]
    return [
        shell_line("curl", "-si", "-X", "PUT", things[0], "-H", "Content-Type: application/json",
           "-d", "{}"),
        shell_line("curl", "-s", server.url("/operations/op-1")),
        shell_line("curl", "-s", "-X", "POST", server.url("/operations/op-1:cancel")),
        shell_line("lrpoll", "start", "PUT", things[1], "--body", "{}", "--preset", "azure"),
    ]  # fmt: skip


def _odata_lines(server: FakeOData) -> list[str]:
    create = server.url("/odata/Exports")
    return [
        shell_line("curl", "-si", "-X", "POST", create, "-H", "Prefer: respond-async", "-d", "{}"),
        "# then: curl -si <the Location it answered>   (DELETE it to cancel)",
        shell_line("lrpoll", "start", "POST", create, "--body", "{}", "--preset", "odata"),
    ]


def _xmlui_lines(server: FakeXmlui) -> list[str]:
    create = server.url("/api/exports")
    job = server.url("/api/exports/job-1")
    return [
        shell_line("curl", "-si", "-X", "POST", create, "-H", "Content-Type: application/json",
                   "-d", "{}"),
        shell_line("curl", "-s", job + "/status"),
        shell_line("curl", "-s", "-X", "POST", job + "/cancel"),
        shell_line(
            "lrpoll", "start", "POST", create, "--body", "{}", "--preset", "xmlui",
            "--param", "statusUrl=/api/exports/{$result.jobId}/status",
            "--param", "completionCondition={$statusData.status === 'done'}",
            "--param", "progressExtractor={$statusData.progress}",
            "--param", "pollingInterval=500",
        ),
    ]  # fmt: skip


def _arcgis_lines(server: FakeArcGIS) -> list[str]:
    task = server.task_url()
    path = task.removeprefix(server.base_url)
    return [
        shell_line("curl", "-s", "-X", "POST", task + "/submitJob", "-d", "f=json"),
        "# then: curl -s '" + task + "/jobs/<jobId>?f=json'   (.../cancel to cancel)",
        shell_line(
            "lrpoll", "start", "POST", task + "/submitJob?f=json",
            "--preset", "arcgis", "--param", "task_url=" + path,
        ),
    ]  # fmt: skip


def _oracle_lines(server: FakeOracleOTM) -> list[str]:
    root = server.url("/logisticsRestApi/data/v1")
    body = json.dumps(
        {
            "tables": {"items": [{"tableName": "SHIPMENT"}]},
            "targetSystem": {"targetURL": server.url("/objectstore/o/")},
        }
    )
    basic = base64.b64encode(f"{server.username}:{server.password}".encode()).decode()
    return [
        shell_line(
            "curl", "-si", "-u", f"{server.username}:{server.password}", "-X", "POST",
            root + "/exportRequests", "-H", "Prefer: respond-async",
            "-H", "Content-Type: application/json", "-d", body,
        ),
        shell_line("curl", "-s", "-u", f"{server.username}:{server.password}",
                   root + "/exportStatuses/303"),
        shell_line(
            "lrpoll", "start", "POST", root + "/exportRequests", "--body", body,
            "--preset", "oracle", "--header", f"Authorization: Basic {basic}",
        ),
    ]  # fmt: skip


_DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {
        d.name: d
        for d in (
            Dialect(
                name="arcgis",
                summary="FakeArcGIS: geoprocessing jobs (submitJob, jobs/{id}, cancel); no token",
                make=lambda host, port: FakeArcGIS(host=host, port=port, token_required=False),
                try_lines=_arcgis_lines,
            ),
            Dialect(
                name="generic",
                summary="FakeLROServer: export jobs; POST to start, GET .../status, .../cancel",
                make=lambda host, port: FakeLROServer(host=host, port=port),
                try_lines=_generic_lines,
            ),
            Dialect(
                name="google",
                summary="FakeGoogleOperations: AIP-151 Operations, GET /v1/{name}, :cancel",
                make=lambda host, port: FakeGoogleOperations(host=host, port=port),
                try_lines=_google_lines,
            ),
            Dialect(
                name="azure",
                summary="FakeAzure: Azure LRO headers (Azure-AsyncOperation, Location)",
                make=lambda host, port: FakeAzure(host=host, port=port),
                try_lines=_azure_lines,
            ),
            Dialect(
                name="odata",
                summary="FakeOData: OData 4.01 202 status monitors (Prefer: respond-async)",
                make=lambda host, port: FakeOData(host=host, port=port),
                try_lines=_odata_lines,
            ),
            Dialect(
                name="oracle",
                summary="FakeOracleOTM: Oracle OTM/GTM data exports (HTTP Basic, Prefer: async)",
                make=lambda host, port: FakeOracleOTM(host=host, port=port),
                try_lines=_oracle_lines,
            ),
            Dialect(
                name="xmlui",
                summary="FakeXmlui: the job API of XMLUI's APICall deferred-mode examples",
                make=lambda host, port: FakeXmlui(host=host, port=port),
                try_lines=_xmlui_lines,
            ),
        )
    }
)
# A new fake registers with one more `Dialect` above.


def dialects() -> Mapping[str, Dialect]:
    """Every fake dialect by name (``generic`` is `FakeLROServer`), read-only."""
    return _DIALECTS
