"""Presets: functions returning a `PollSpec` for protocols everybody meets.

Each preset is registered by name, so a spec it returns serialises as
``{"preset": name, "params": {...}}`` and resolves again in another process.
"""

from __future__ import annotations

from .azure import azure_lro
from .google import google_operation, google_operation_url
from .odata import ODataAsyncPoller, odata_async, respond_async_headers, start_odata_async

__all__ = [
    "ODataAsyncPoller",
    "azure_lro",
    "google_operation",
    "google_operation_url",
    "odata_async",
    "respond_async_headers",
    "start_odata_async",
]
