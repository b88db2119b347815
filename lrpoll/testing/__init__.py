"""Test doubles for lrpoll and for code built on it: fake long-running-operation servers.

`FakeLROServer` serves a generic "export job" API on loopback inside the caller's event loop;
`JobScript` says what each job does. The pytest fixture `fake_lro_server` lives in
`lrpoll.testing.pytest_plugin` (enable it with `pytest_plugins = ["lrpoll.testing.pytest_plugin"]`).

The lrpoll library never imports this package.
"""

from ._dialects import Dialect, dialects
from ._jobs import CancelMode, FakeJob, JobScript, JobState
from ._loopback import LoopbackServer
from ._server import FakeLROServer, RequestRecord
from .arcgis import ArcGISJob, ArcGISScript, FakeArcGIS
from .azure import AzureFlow, AzureOperation, FakeAzure
from .google import FakeGoogleOperations, GoogleOperationRecord, GoogleOperationScript
from .odata import FakeOData, ODataJob, ODataScript
from .oracle import FakeOracleOTM, OracleExport, OracleScript, OracleTable
from .xmlui import FakeXmlui, XmluiJob, XmluiScript

__all__ = [
    "ArcGISJob",
    "ArcGISScript",
    "AzureFlow",
    "AzureOperation",
    "CancelMode",
    "Dialect",
    "FakeArcGIS",
    "FakeAzure",
    "FakeGoogleOperations",
    "FakeJob",
    "FakeLROServer",
    "FakeOData",
    "FakeOracleOTM",
    "FakeXmlui",
    "GoogleOperationRecord",
    "GoogleOperationScript",
    "JobScript",
    "JobState",
    "LoopbackServer",
    "ODataJob",
    "ODataScript",
    "OracleExport",
    "OracleScript",
    "OracleTable",
    "RequestRecord",
    "XmluiJob",
    "XmluiScript",
    "dialects",
]
