"""`LeanSender` over TLS: certificates verified, host names checked, never skipped.

The certificates come from trustme (a throwaway CA); the server is aiohttp's, on
127.0.0.1, with that CA's certificate for ``localhost`` and ``127.0.0.1``.
"""

from __future__ import annotations

import ssl
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
import trustme
from aiohttp import web
from yarl import URL

import lrpoll

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(name="ca", scope="module")
def _ca() -> trustme.CA:
    return trustme.CA()


@asynccontextmanager
async def serve_tls(ca: trustme.CA, *names: str) -> AsyncIterator[str]:
    """An https server with ``ca``'s certificate for ``names``, answering ``GET /status``."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(server_ctx)

    async def status(request: web.Request) -> web.Response:
        return web.json_response({"status": "done", "path": request.path})

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(name="tls_base")
async def _tls_base(ca: trustme.CA) -> AsyncIterator[str]:
    async with serve_tls(ca, "localhost", "127.0.0.1") as base:
        yield base


def _client_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ca.configure_trust(ctx)
    return ctx


def _get(url: str) -> lrpoll.RawRequest:
    return lrpoll.RawRequest("GET", URL(url, encoded=True), {})


async def test_verified_server_answers(tls_base: str, ca: trustme.CA) -> None:
    """With the CA trusted, a request over TLS reads its answer; the connection is kept."""
    sender = lrpoll.LeanSender(ssl_context=_client_ctx(ca))
    try:
        for _ in range(3):
            response = await sender.send(_get(f"{tls_base}/status"))
            assert response.http_status == 200
            assert b'"done"' in response.body
        assert sender.opened == 1
    finally:
        await sender.aclose()


async def test_unknown_ca_is_refused(tls_base: str) -> None:
    """The system's CAs do not know the throwaway CA: nothing is read, nothing sent."""
    sender = lrpoll.LeanSender()
    try:
        with pytest.raises(lrpoll.SendFault) as info:
            await sender.send(_get(f"{tls_base}/status"))
        assert info.value.sent is False
        assert info.value.kind == "SSLCertVerificationError"
    finally:
        await sender.aclose()


async def test_host_name_is_checked(ca: trustme.CA) -> None:
    """A certificate of the trusted CA for another name is refused."""
    sender = lrpoll.LeanSender(ssl_context=_client_ctx(ca))
    try:
        async with serve_tls(ca, "example.org") as base:
            with pytest.raises(lrpoll.SendFault) as info:
                await sender.send(_get(f"{base}/status"))
        assert info.value.kind == "SSLCertVerificationError"  # not valid for 127.0.0.1
        assert info.value.sent is False
    finally:
        await sender.aclose()
