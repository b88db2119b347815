"""The transport seam at runtime: body caps, hostile JSON, redirects (RELIABILITY C, D)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import TYPE_CHECKING

import anyio
import pytest
from aiohttp import web

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import LogCapture, doc, export_spec, now, poll_times

if TYPE_CHECKING:
    from tests.with_server.conftest import Serve

CAP = 64 * 1024
ONE_SHOT = lrpoll.ErrorBudget(max_consecutive=0)


class TestBodyCaps:
    """Bodies over `Limits.max_body` are refused before or while reading (D22-D24)."""

    async def test_content_length_over_the_cap_is_refused_without_reading(
        self, serve: Serve
    ) -> None:
        """D22: a 1 GB Content-Length fails at once, though the body never arrives."""
        release = asyncio.Event()

        async def huge(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.content_length = 10**9
            await resp.prepare(request)
            await release.wait()  # never sends the body: reading it would hang
            return resp

        base = await serve(web.get("/status", huge))
        limits = lrpoll.Limits(max_body=CAP)
        try:
            async with lrpoll.Scheduler(base_url=base, limits=limits) as scheduler:
                op = await scheduler.watch("/status", export_spec(errors=ONE_SHOT))
                with pytest.raises(lrpoll.ResponseTooLarge, match="Content-Length 1000000000"):
                    await op
                assert now() == 0.0
        finally:
            release.set()

    async def test_chunked_body_over_the_cap_is_cut_off(self, serve: Serve) -> None:
        """D23: an endless chunked body is read up to the cap, then the connection is dropped."""
        written: list[int] = []
        ended: list[str] = []
        done = asyncio.Event()

        async def endless(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            try:
                while sum(written) < 100 * 2**20:
                    await resp.write(b" " * 4096)
                    written.append(4096)
                ended.append("sent everything")
            except ConnectionError:
                ended.append("client went away")
            finally:
                done.set()
            return resp

        base = await serve(web.get("/status", endless))
        limits = lrpoll.Limits(max_body=CAP)
        async with lrpoll.Scheduler(base_url=base, limits=limits) as scheduler:
            op = await scheduler.watch("/status", export_spec(errors=ONE_SHOT))
            with pytest.raises(lrpoll.ResponseTooLarge, match="body is over the 65536-byte cap"):
                await op
        with anyio.fail_after(5):
            await done.wait()
        assert ended == ["client went away"]
        assert sum(written) < 100 * 2**20

    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    async def test_compression_bomb_is_cut_off_at_the_decompressed_cap(
        self, server: FakeLROServer, encoding: str
    ) -> None:
        """D24: a few KB on the wire inflating to 10 MB fails at the 64 KiB cap."""
        inflated = doc(pad="a" * 10_000_000)
        wire = gzip.compress(inflated) if encoding == "gzip" else zlib.compress(inflated)
        assert len(wire) < CAP < len(inflated)
        job = server.add_job(JobScript.slow())
        server.fail_next("*/status", status=200, body=wire, headers={"Content-Encoding": encoding})
        limits = lrpoll.Limits(max_body=CAP)
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(errors=ONE_SHOT))
            with pytest.raises(lrpoll.ResponseTooLarge, match="body is over the 65536-byte cap"):
                await op

    async def test_compressed_body_under_the_cap_is_read(self, server: FakeLROServer) -> None:
        """A gzip status document within the cap is decompressed and judged as usual."""
        job = server.add_job(JobScript.slow())
        wire = gzip.compress(doc("done", result="zipped"))
        server.fail_next("*/status", status=200, body=wire, headers={"Content-Encoding": "gzip"})
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            assert (
                await (await scheduler.watch(server.status_url(job.id), export_spec())) == "zipped"
            )

    @pytest.mark.parametrize("over", [0, 1])
    async def test_declared_length_at_the_cap_is_read_one_byte_more_is_not(
        self, server: FakeLROServer, over: int
    ) -> None:
        """A body whose Content-Length is exactly the cap is read in one go; one byte more fails."""
        job = server.add_job(JobScript.slow())
        body = doc("done", result="whole")
        body = body[:-1] + b" " * (CAP + over - len(body)) + b"}"
        assert len(body) == CAP + over
        server.fail_next("*/status", status=200, body=body)
        limits = lrpoll.Limits(max_body=CAP)
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(errors=ONE_SHOT))
            if over:
                with pytest.raises(lrpoll.ResponseTooLarge, match=f"Content-Length {CAP + 1}"):
                    await op
            else:
                assert await op == "whole"

    async def test_oversized_body_is_transient_within_the_budget(
        self, server: FakeLROServer
    ) -> None:
        """One oversized answer is retried like any transient fault; the next one is read."""
        job = server.add_job(JobScript.success(polls=0))
        server.fail_next("*/status", status=200, body=doc(pad="a" * 2 * CAP))
        limits = lrpoll.Limits(max_body=CAP)
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
            assert scheduler.statistics().errors_retried == 1


class TestHostileJson:
    """Status documents built to break parsers (D25-D30)."""

    async def _first_answer(self, server: FakeLROServer, body: bytes) -> lrpoll.Operation:
        job = server.add_job(JobScript.slow())
        server.fail_next("*/status", status=200, body=body, times=10)
        spec = export_spec(errors=lrpoll.ErrorBudget(max_consecutive=1))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec)
            with pytest.raises(lrpoll.LrpollError):
                await op
        return op

    async def test_deep_nesting_is_malformed_not_a_crash(self, server: FakeLROServer) -> None:
        """D25: `[[[...]]]` 100 000 deep is MalformedStatus; no RecursionError escapes."""
        op = await self._first_answer(server, b"[" * 100_000 + b"]" * 100_000)
        assert isinstance(op.error, lrpoll.MalformedStatus)
        assert "nested too deeply" in str(op.error)
        assert len(server.requests) == 2

    async def test_5000_digit_integer_is_malformed(self, server: FakeLROServer) -> None:
        """D27: a 5 000-digit integer is MalformedStatus, not a ValueError traceback."""
        op = await self._first_answer(
            server, b'{"status": "running", "progress": 1' + b"0" * 4999 + b"}"
        )
        assert isinstance(op.error, lrpoll.MalformedStatus)
        assert "4300 digits" in str(op.error)

    @pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
    async def test_non_finite_progress_is_unknown_and_polling_goes_on(
        self, server: FakeLROServer, logs: LogCapture, value: bytes
    ) -> None:
        """D26: progress NaN or infinite reads as unknown (None) with a warning; the op goes on."""
        job = server.add_job(JobScript.success(polls=1, progress=[40]))
        server.fail_next(
            "*/status", status=200, body=b'{"status": "running", "progress": ' + value + b"}"
        )
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            progress = [u.progress async for u in op.updates()]
            await op
        assert progress == [None, 40.0, 100.0]
        assert any("not a finite number" in w for w in logs.events())

    async def test_duplicate_keys_last_one_wins(self, server: FakeLROServer) -> None:
        """D30 (documented decision): with duplicate keys the last one wins, as in json.loads."""
        job = server.add_job(JobScript.slow())
        body = b'{"status": "running", "result": 1, "status": "done", "result": 2}'
        server.fail_next("*/status", status=200, body=body)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            assert await (await scheduler.watch(server.status_url(job.id), export_spec())) == 2

    async def test_lone_surrogate_in_the_error_message_stays_escaped(
        self, server: FakeLROServer, logs: LogCapture
    ) -> None:
        """D28: a lone surrogate in error.message is kept escaped and logging does not crash."""
        job = server.add_job(JobScript.slow())
        body = b'{"status": "failed", "error": {"message": "bad \\ud800 thing"}}'
        server.fail_next("*/status", status=200, body=body)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.OperationFailed) as info:
                await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert info.value.message == "bad \\ud800 thing"
        str(info.value).encode("utf-8")  # encodable: no lone surrogate left
        assert "operation ended" in logs.events()


class TestRedirects:
    """The transport follows redirects itself, under the same origin rules (C18-C20)."""

    async def test_same_origin_redirect_is_followed_with_credentials(self) -> None:
        """C18: a 302 to another path of the same origin is followed, credentials kept."""
        async with FakeLROServer(bearer="tok-1") as server:
            job = server.add_job(JobScript.success(polls=1))
            server.redirect_next(f"*/{job.id}/status", f"/api/exports/{job.id}")
            creds = {server.base_url: lrpoll.BearerToken("tok-1")}
            async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
                assert await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert [(r.path, r.status) for r in server.requests] == [
            (f"/api/exports/{job.id}/status", 302),
            (f"/api/exports/{job.id}", 200),
            (f"/api/exports/{job.id}/status", 200),
            (f"/api/exports/{job.id}/status", 200),
        ]
        assert all(r.headers.get("authorization") == "REDACTED" for r in server.requests)

    async def test_cross_origin_redirect_is_refused(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """C19: a 302 to an origin neither trusted nor allowed ends the op; nothing is sent."""
        job = server.add_job(JobScript.slow())
        target = other.add_job()
        server.redirect_next("*/status", other.status_url(target.id) + "?sig=s3cr3t")
        creds = {server.base_url: lrpoll.BearerToken("tok-1")}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec())
            with pytest.raises(lrpoll.UntrustedURL) as info:
                await op
        assert other.requests == []
        assert info.value.url == other.status_url(target.id) + "?sig=REDACTED"
        assert "s3cr3t" not in str(info.value)
        assert op.state == "error"

    async def test_cross_origin_redirect_to_an_allowed_origin_goes_anonymous(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """C19: with the target origin in allow_origins, the hop is sent without credentials."""
        job = server.add_job(JobScript.slow())
        target = other.add_job(JobScript.success(polls=0, result="there"))
        server.redirect_next("*/status", other.status_url(target.id))
        creds = {server.base_url: lrpoll.BearerToken("tok-1")}
        async with lrpoll.Scheduler(
            base_url=server.base_url, credentials=creds, allow_origins=[other.base_url]
        ) as scheduler:
            assert (
                await (await scheduler.watch(server.status_url(job.id), export_spec())) == "there"
            )
        assert server.requests[0].headers["authorization"] == "REDACTED"
        assert [r.status for r in other.requests] == [200]
        assert "authorization" not in other.requests[0].headers
        assert "cookie" not in other.requests[0].headers

    async def test_redirect_loop_names_the_chain(self, server: FakeLROServer) -> None:
        """C20: A -> B -> A raises TooManyRedirects naming each hop (token values redacted)."""
        job = server.add_job(JobScript.slow())
        status, peek = server.status_url(job.id), server.url(f"/api/exports/{job.id}")
        server.redirect_next("*/status", peek + "?sig=abc")
        server.redirect_next(f"/api/exports/{job.id}", status)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(status, export_spec())
            with pytest.raises(lrpoll.TooManyRedirects) as info:
                await op
        assert info.value.message == (f"redirect loop: {status} -> {peek}?sig=REDACTED -> {status}")
        assert len(server.requests) == 2
        assert op.state == "error"

    async def test_too_many_hops(self, server: FakeLROServer) -> None:
        """More hops than Limits.max_redirects raise TooManyRedirects with the chain."""
        job = server.add_job(JobScript.slow())
        for hop in range(3):
            server.redirect_next(f"/hop/{hop}", f"/hop/{hop + 1}")
        server.redirect_next("*/status", "/hop/0")
        limits = lrpoll.Limits(max_redirects=2)
        async with lrpoll.Scheduler(base_url=server.base_url, limits=limits) as scheduler:
            with pytest.raises(lrpoll.TooManyRedirects, match="more than 2 redirects"):
                await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert [r.path for r in server.requests] == [
            f"/api/exports/{job.id}/status",
            "/hop/0",
            "/hop/1",
        ]

    async def test_re_signed_url_is_not_a_loop(self, server: FakeLROServer) -> None:
        """Hops that differ only in a token-like query value are distinct URLs, not a loop."""
        job = server.add_job(JobScript.success(polls=0))
        status = server.status_url(job.id)
        server.redirect_next("*/status", status + "?sig=1")
        server.redirect_next("*/status", status + "?sig=2")
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(status, export_spec()))
        assert [r.raw_path.split("/")[-1] for r in server.requests] == [
            "status",
            "status?sig=1",
            "status?sig=2",
        ]

    async def test_redirect_is_per_request_not_a_new_status_url(
        self, server: FakeLROServer
    ) -> None:
        """After a followed redirect, the next poll goes to the status URL again."""
        job = server.add_job(JobScript.success(polls=1))
        server.redirect_next("*/status", f"/api/exports/{job.id}")
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert poll_times(server, "*/status") == [0.0, 1.0, 2.0]
