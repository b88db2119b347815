"""`LeanSender` over TLS (certificates verified, host names checked) and on uvloop.

The certificates come from trustme (a throwaway CA); the server is aiohttp's, on
127.0.0.1, with that CA's certificate for ``localhost`` and ``127.0.0.1``. The uvloop
test runs its own loop (``lrpoll.run(speed=True)``), not the suite's looptime loop.
"""

from __future__ import annotations

import asyncio
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


def test_lean_scheduler_on_uvloop() -> None:
    """``http="lean"`` on uvloop (``lrpoll.run(speed=True)``): jobs end as scripted over
    uvloop's own transports, on one kept connection, and a TLS request is verified."""
    pytest.importorskip("uvloop")
    from lrpoll.testing import FakeLROServer, JobScript

    spec = lrpoll.PollSpec(
        status_url="{+request_url}", interval=0.01, min_interval=0, done="status == 'done'"
    )
    ca = trustme.CA()

    async def main() -> tuple[str, list[str], int, int]:
        loop = type(asyncio.get_running_loop()).__module__
        async with FakeLROServer() as server:
            jobs = [server.add_job(JobScript.success(polls=2)) for _ in range(5)]
            async with lrpoll.Scheduler(base_url=server.base_url, http="lean") as scheduler:
                ops = [await scheduler.watch(server.status_url(j.id), spec) for j in jobs]
                states: list[str] = []
                for op in ops:
                    await op
                    states.append(op.state)
                sender = scheduler.transport.sender
                assert isinstance(sender, lrpoll.LeanSender)
                opened = sender.opened
        tls = lrpoll.LeanSender(ssl_context=_client_ctx(ca))
        try:
            async with serve_tls(ca, "127.0.0.1") as base:
                status = (await tls.send(_get(f"{base}/status"))).http_status
        finally:
            await tls.aclose()
        return loop, states, opened, status

    loop, states, opened, status = lrpoll.run(main(), speed=True)
    assert loop.startswith("uvloop")
    assert states == ["succeeded"] * 5
    assert opened <= 5
    assert status == 200
