"""AZURE: azure-core's ``AsyncLROPoller`` driven by azure-mgmt-core's ``AsyncARMPolling``.

Each operation is what a generated async ARM SDK's ``begin_*`` method does: a ``POST`` start
through the SDK's pipeline (the policy list generated clients build, minus authentication:
request id, headers, user agent, proxy, content decode, resource-provider registration,
redirect, retry, custom hook, network trace logging, distributed tracing, sensitive header
cleanup, ARM HTTP logging) over :class:`AioHttpTransport` on one shared aiohttp session
(connector limit = slots), then ``await AsyncLROPoller(...)`` polling the
``Azure-AsyncOperation`` monitor until ``Succeeded``. One asyncio task per operation.

The polling interval is set explicitly (``AsyncARMPolling(timeout=interval)``) and the
server sends no ``Retry-After``: azure-core reads ``Retry-After: 0`` as absent and would
fall back to its 30 s default. Every operation costs one start request more than the
others (counted apart by the server as ``azure_start``, not as a poll).
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import aiohttp

from benchmarks.harness import TaskPerOperation, main

try:
    from azure.core import AsyncPipelineClient
    from azure.core.pipeline import policies
    from azure.core.pipeline.transport import AioHttpTransport
    from azure.core.polling import AsyncLROPoller
    from azure.core.rest import HttpRequest
    from azure.mgmt.core.policies import (
        ARMHttpLoggingPolicy,
        AsyncARMAutoResourceProviderRegistrationPolicy,
    )
    from azure.mgmt.core.polling.async_arm_polling import AsyncARMPolling
except ImportError as exc:  # the bench extra is not installed
    _MISSING: str | None = f"azure-core / azure-mgmt-core not importable: {exc}"
else:
    _MISSING = None

    class _StampingARMPolling(AsyncARMPolling):
        """``AsyncARMPolling`` that tells the server when each poll was due (lateness only).

        It records when azure-core's own delay should end and adds ``due=`` to the next
        status request; the polling logic is untouched.
        """

        _due: float | None = None

        async def _sleep(self, delay: float) -> None:
            self._due = time.time() + delay
            await super()._sleep(delay)

        async def request_status(self, status_link: str) -> Any:
            if self._due is not None:
                status_link += f"{'&' if '?' in status_link else '?'}due={self._due:.6f}"
            return await super().request_status(status_link)


def _no_result(pipeline_response: Any) -> None:
    """The deserialisation callback of a start that returns nothing."""


class Azure(TaskPerOperation):
    """azure-core AsyncLROPoller + azure-mgmt-core AsyncARMPolling, task per operation."""

    name: ClassVar[str] = "azure"
    description: ClassVar[str] = (
        "azure-core AsyncLROPoller + AsyncARMPolling (POST start, then poll)"
    )
    order: ClassVar[int] = 30

    _session: aiohttp.ClientSession
    _client: AsyncPipelineClient[Any, Any]

    @classmethod
    def unavailable(cls) -> str | None:
        """Say so when azure-core or azure-mgmt-core is missing."""
        return _MISSING

    async def open(self) -> None:
        """Build the pipeline a generated async ARM client builds (without credentials)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.workload.slots)
        )
        redirect = policies.AsyncRedirectPolicy()
        pipeline_policies = [
            policies.RequestIdPolicy(),
            policies.HeadersPolicy(),
            policies.UserAgentPolicy(sdk_moniker="mgmt-lrpoll-bench/0.0.0"),
            policies.ProxyPolicy(),
            policies.ContentDecodePolicy(),
            AsyncARMAutoResourceProviderRegistrationPolicy(),
            redirect,
            policies.AsyncRetryPolicy(),
            policies.CustomHookPolicy(),
            policies.NetworkTraceLoggingPolicy(),
            policies.DistributedTracingPolicy(),
            policies.SensitiveHeaderCleanupPolicy(),
            ARMHttpLoggingPolicy(),
        ]
        self._client = AsyncPipelineClient(
            base_url=self.workload.base_url,
            policies=pipeline_policies,
            transport=AioHttpTransport(session=self._session, session_owner=False),
        )
        self._polling = _StampingARMPolling if self.workload.stamp_due else AsyncARMPolling

    async def operate(self, index: int) -> None:
        """Start the operation, then await its poller."""
        workload = self.workload
        query = workload.query
        request = HttpRequest(
            "POST",
            f"{workload.base_url}/azure/start/{workload.op_id(index)}"
            + (f"?{query}" if query else ""),
        )
        # As generated clients do in ``_<operation>_initial``.
        initial = await self._client._pipeline.run(request, stream=False)
        if initial.http_response.status_code not in (200, 201, 202):
            raise RuntimeError(f"start answered {initial.http_response.status_code}")
        poller = AsyncLROPoller(
            self._client, initial, _no_result, self._polling(timeout=workload.interval)
        )
        await poller.result()

    async def close_clients(self) -> None:
        """Close the pipeline client and the session."""
        await self._client.close()
        await self._session.close()


CONTENDER = Azure

if __name__ == "__main__":
    main(CONTENDER)
