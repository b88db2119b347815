"""Hostile or broken servers: deep documents, userinfo URLs, echoed secrets (issue 17)."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import TYPE_CHECKING

import anyio
import pytest
from aiohttp import web

import lrpoll
from lrpoll._operation import record_of
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, doc, export_spec

if TYPE_CHECKING:
    from tests.helpers import LogCapture
    from tests.with_server.conftest import Serve


def _secret() -> str:
    return f"s3cr3t-{uuid.uuid4().hex}"


def _texts(exc: BaseException) -> list[str]:
    """Every text an exception shows: str, repr, args, message and body snippet.

    (``exc.status`` is the server's document as received: docs/security.md.)
    """
    out = [str(exc), repr(exc), *map(str, exc.args), str(getattr(exc, "message", ""))]
    out.append(str(getattr(exc, "body_snippet", "")))
    return out


class TestDeepDocuments:
    """Documents the transport parsed fine but that are too deep to copy."""

    async def test_checkpoint_of_a_950_deep_status_is_last_null(
        self, server: FakeLROServer
    ) -> None:
        """op.checkpoint() of a ~950-deep status document stores ``"last": null``, no crash."""
        deep = b"[" * 900 + b"]" * 900
        job = server.add_job(JobScript.slow())
        server.fail_next(f"*/{job.id}/status", status=200, body=deep)
        async with lrpoll.Scheduler(base_url=server.base_url, seed=1) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec=export_spec())
            await anyio.sleep(0.5)
            assert isinstance(op.status, list)
            saved = json.loads(op.checkpoint())
            assert saved["last"] is None
            op.stop()

    async def test_resume_of_a_spec_too_deep_is_a_checkpoint_error(
        self, server: FakeLROServer
    ) -> None:
        """A checkpoint whose spec holds a 5 000-deep expression is refused: CheckpointError."""
        job = server.add_job(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url, seed=1) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec=export_spec())
            saved = json.loads(op.checkpoint())
            op.stop()
            saved["id"] = "another-operation"  # not the one this scheduler holds stopped
            for deep in ("(" * 5000 + "a" + ")" * 5000, "||".join(["a"] * 20000), "!" * 3000):
                saved["spec"]["done"] = deep
                with pytest.raises(lrpoll.CheckpointError, match="spec"):
                    scheduler.resume(json.dumps(saved))
        assert server.requests_to(f"*/{job.id}/status") == []


class TestUserinfo:
    """URLs with ``user:password@`` from a server are refused before anything is sent."""

    async def test_status_url_with_userinfo_fails_the_operation(
        self, serve: Serve, server: FakeLROServer
    ) -> None:
        """A Location of ``http://u:p@trusted/...`` makes start() raise UntrustedURL; none sent."""
        job = server.add_job(JobScript.slow())
        trap = server.status_url(job.id).replace("http://", "http://u:p@")

        async def create(request: web.Request) -> web.Response:
            return web.json_response({}, status=202, headers={"Location": trap})

        base = await serve(web.post("/start", create))
        credentials = {
            base: lrpoll.BearerToken("t0ken-abc"),
            server.base_url: lrpoll.BearerToken("t0ken-abc"),
        }
        async with lrpoll.Scheduler(base_url=base, credentials=credentials) as scheduler:
            with pytest.raises(lrpoll.UntrustedURL, match="userinfo") as caught:
                await scheduler.start("POST", base + "/start", spec=export_spec())
        assert "u:p@" not in str(caught.value)
        assert server.requests_to(f"*/{job.id}/status") == []

    async def test_poll_moved_to_userinfo_url_ends_with_untrusted(
        self, server: FakeLROServer
    ) -> None:
        """A poll answer moving the status URL to ``http://u:p@trusted/`` ends UntrustedURL."""
        job = server.add_job(JobScript.slow())
        trap = server.status_url(job.id).replace("http://", "http://u:p@")
        server.fail_next(
            f"*/{job.id}/status", status=200, body=doc("running"), headers={"Location": trap}
        )
        creds = {server.base_url: lrpoll.BearerToken("t0ken-abc")}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            spec = export_spec(status_url_updates=("location",))
            op = await scheduler.watch(server.status_url(job.id), spec)
            with pytest.raises(lrpoll.UntrustedURL, match="userinfo") as caught:
                await op
        assert "u:p@" not in str(caught.value)
        assert len(server.requests_to(f"*/{job.id}/status")) == 1

    async def test_cancel_url_with_userinfo_is_refused(self, server: FakeLROServer) -> None:
        """A cancel URL with userinfo gives a ``refused`` outcome, not a raw ValueError."""
        cancel = lrpoll.CancelSpec(url="{+start.cancel}")
        spec = export_spec(cancel=cancel)

        async with lrpoll.Scheduler(
            base_url=server.base_url, credentials={server.base_url: lrpoll.BearerToken("t0ken-abc")}
        ) as scheduler:
            op = await scheduler.start("POST", server.url(EXPORTS), json={}, spec=spec)
            await anyio.sleep(1.5)
            job = next(iter(server.jobs.values()))
            rec = record_of(op)  # the start body is the fake's: give it a cancel link
            base = dict(rec.base or {})
            start = dict(base.get("start") or {})
            start["cancel"] = server.url(f"{EXPORTS}/{job.id}/cancel").replace(
                "http://", "http://u:p@"
            )
            base["start"] = start
            rec.base = base
            outcome = await op.cancel()
            assert (outcome.kind, outcome.sent) == ("refused", False)
            assert outcome.message is not None
            assert "userinfo" in outcome.message
            assert "u:p@" not in outcome.message
            op.stop()
        assert [r for r in server.requests if "cancel" in r.path] == []


class TestEchoedSecrets:
    """A server echoing the caller's token puts nothing secret in any exception."""

    async def test_error_body_echo_is_scrubbed(
        self, server: FakeLROServer, logs: LogCapture
    ) -> None:
        """A 400 echoing ``Bearer <token>`` and the bare token: str, repr, snippet clean."""
        token = _secret()
        job = server.add_job(JobScript.slow())
        body = json.dumps({"error": f"bad token Bearer {token}; raw {token}"}).encode()
        server.fail_next(f"*/{job.id}/status", status=400, body=body)
        creds = {server.base_url: lrpoll.BearerToken(token)}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec=export_spec())
            with pytest.raises(lrpoll.HTTPStatusError) as caught:
                await op
            checkpoint = op.checkpoint()
        for text in [*_texts(caught.value), checkpoint, logs.text()]:
            assert token not in text
        assert "REDACTED" in caught.value.body_snippet

    async def test_start_401_echo_is_scrubbed(self, serve: Serve) -> None:
        """A 401 on the start request that echoes the token shows REDACTED instead."""
        token = _secret()

        async def create(request: web.Request) -> web.Response:
            seen = request.headers.get("Authorization", "")
            return web.json_response({"error": f"token {seen} expired"}, status=401)

        base = await serve(web.post("/start", create))
        creds = {base: lrpoll.BearerToken(token)}
        async with lrpoll.Scheduler(base_url=base, credentials=creds) as scheduler:
            with pytest.raises(lrpoll.AuthError) as caught:
                await scheduler.start("POST", base + "/start", spec=export_spec())
        for text in _texts(caught.value):
            assert token not in text

    async def test_failure_message_echo_is_scrubbed(self, server: FakeLROServer) -> None:
        """OperationFailed's message (the server's error.message) hides an echoed secret."""
        token = _secret()
        job = server.add_job(JobScript.fail_at(1, f"export failed for key {token}"))
        creds = {server.base_url: lrpoll.Header("X-Api-Key", token)}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec=export_spec())
            with pytest.raises(lrpoll.OperationFailed) as caught:
                await op
            checkpoint = op.checkpoint()
        for text in [*_texts(caught.value), checkpoint]:
            assert token not in text
        assert "export failed for key REDACTED" in str(caught.value)

    async def test_refreshed_token_is_known_per_request(self, server: FakeLROServer) -> None:
        """A token minted by a callable provider after start-up is scrubbed when echoed."""
        counter = itertools.count(1)
        minted: list[str] = []

        def fresh() -> str:
            minted.append(f"fresh-{next(counter)}-{uuid.uuid4().hex}")
            return minted[-1]

        job = server.add_job(JobScript.slow())
        creds = {server.base_url: lrpoll.BearerToken(fresh)}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec=export_spec())
            await anyio.sleep(2.5)
            latest = minted[-1]
            # The server echoes the latest token without its "Bearer " prefix.
            body = json.dumps({"error": {"message": f"quota for {latest}"}}).encode()
            server.fail_next(f"*/{job.id}/status", status=403, body=body)
            with pytest.raises(lrpoll.AuthError) as caught:
                await op
        assert len(minted) >= 3
        for text in _texts(caught.value):
            assert latest not in text


async def test_progress_and_status_stay_usable(server: FakeLROServer) -> None:
    """Scrubbing exception texts leaves ordinary messages alone."""
    job = server.add_job(JobScript.slow())
    server.fail_next(
        f"*/{job.id}/status", status=200, body=doc("failed", error={"message": "disk full"})
    )
    async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        op = await scheduler.watch(server.status_url(job.id), spec=export_spec())
        with pytest.raises(lrpoll.OperationFailed, match=r"^disk full"):
            await op
