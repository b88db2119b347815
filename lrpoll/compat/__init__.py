"""Conveniences in the shape of other SDKs' pollers, built on the public API.

Each module mirrors one SDK's poller over an `lrpoll.Operation`, for code ported from
that SDK: `lrpoll.compat.odata` gives traverse's (Go) OData ``AsyncPoller``. They use
only what ``import lrpoll`` and `lrpoll.presets` offer, so they are examples of the
public API as much as shortcuts.
"""

from __future__ import annotations

from .odata import ODataAsyncPoller, ProgressCallback, start_odata_async

__all__ = ["ODataAsyncPoller", "ProgressCallback", "start_odata_async"]
