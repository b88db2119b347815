"""Presets: functions returning a `PollSpec` for protocols everybody meets.

Each preset is registered by name when this package is imported (``import lrpoll``
does), so a spec it returns serialises as ``{"preset": name, "params": {...}}`` and
resolves again in another process. Presets are data: their modules import only the spec,
expression, registry and exception modules, never the runtime.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

from .arcgis import arcgis_job, arcgis_job_url
from .azure import azure_lro
from .google import google_operation, google_operation_url
from .odata import odata_async, respond_async_headers
from .oracle import oracle_export, oracle_status_url
from .xmlui import xmlui_apicall, xmlui_from_attributes, xmlui_from_xml

__all__ = [
    "arcgis_job",
    "arcgis_job_url",
    "azure_lro",
    "google_operation",
    "google_operation_url",
    "odata_async",
    "oracle_export",
    "oracle_status_url",
    "respond_async_headers",
    "xmlui_apicall",
    "xmlui_from_attributes",
    "xmlui_from_xml",
]

# They drive the runtime, which presets must not, so they moved; kept here for one release.
_MOVED_TO_COMPAT: Final = frozenset({"ODataAsyncPoller", "ProgressCallback", "start_odata_async"})


def __getattr__(name: str) -> Any:
    """The names that moved to `lrpoll.compat.odata`, with a `DeprecationWarning`.

    Raises:
        AttributeError: for any other name.
    """
    if name in _MOVED_TO_COMPAT:
        warnings.warn(
            f"lrpoll.presets.{name} moved to lrpoll.compat.odata; import it from there "
            "(the old name goes in the next release)",
            DeprecationWarning,
            stacklevel=2,
        )
        # Imported here, never at import time: the presets stay apart from the runtime.
        from ..compat import odata

        return getattr(odata, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
