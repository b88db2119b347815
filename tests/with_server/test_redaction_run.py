"""A suite-wide redaction run: one unique secret of each kind through every path (RELIABILITY J60).

One run sends a unique Bearer token, a cookie and a ``?token=`` credential, and polls
status URLs the server signs with ``?sig=``, through the paths the rest of the suite
covers one by one: success, failure, transient faults, a 4xx that echoes the token, a
redirect, an off-origin URL, a cancel, stop, checkpoint and resume, `lrpoll.step`. It
captures the log at DEBUG, every exception's str and repr, every handle's, update's and
spec's repr, every checkpoint and cancel outcome: the caller's secrets never appear, and
``REDACTED`` does. The server's ``?sig=`` stays in checkpoints (resume needs it) and is
hidden everywhere else.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING

import anyio

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, StackedCredential, export_spec

if TYPE_CHECKING:
    from lrpoll.testing import FakeJob
    from tests.helpers import LogCapture


def _unique(kind: str) -> str:
    return f"{kind}{uuid.uuid4().hex}"


async def test_unique_secrets_never_appear(server: FakeLROServer, logs: LogCapture) -> None:
    """J60: Authorization, cookie, ?token= and ?sig= values appear nowhere they must not."""
    bearer, cookie, token, sig = (_unique(k) for k in ("bearer", "cookie", "token", "sig"))
    texts: list[str] = []
    checkpoints: list[str] = []
    creds: dict[str, lrpoll.Credential] = {
        server.base_url: StackedCredential(
            (
                lrpoll.BearerToken(lambda: bearer),
                lrpoll.Header("Cookie", f"session={cookie}"),
                lrpoll.QueryParam("token", token),
            )
        )
    }
    cancel = lrpoll.CancelSpec(url=EXPORTS + "/{start.jobId}/cancel", confirm_timeout=5)
    spec = export_spec(cancel=cancel, errors=lrpoll.ErrorBudget(max_consecutive=2))

    def signed(job: FakeJob) -> str:
        return server.status_url(job.id) + f"?sig={sig}&page=1"

    def show(*things: object) -> None:
        texts.extend(repr(t) for t in things)
        texts.extend(str(t) for t in things)

    async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds, seed=2) as scheduler:
        ok = server.add_job(JobScript.success(polls=2))
        failing = server.add_job(JobScript.fail_at(1, f"denied for Bearer {bearer}"))
        echo = server.add_job(JobScript.slow())
        moved = server.add_job(JobScript.slow())
        stopped = server.add_job(JobScript.slow())
        server.fail_next(f"*/{ok.id}/status", times=1)
        body = json.dumps({"error": f"bad token {token}, cookie session={cookie}"}).encode()
        server.fail_next(f"*/{echo.id}/status", status=400, body=body)
        server.redirect_next(f"*/{moved.id}/status", f"http://evil.example/x?sig={sig}")
        ops = {
            "ok": await scheduler.watch(signed(ok), spec),
            "failing": await scheduler.watch(signed(failing), spec),
            "echo": await scheduler.watch(signed(echo), spec),
            "moved": await scheduler.watch(signed(moved), spec),
            "stopped": await scheduler.watch(signed(stopped), spec),
        }
        started = await scheduler.start("POST", EXPORTS, json={}, spec=spec)
        await anyio.sleep(1.5)
        checkpoints.append(ops["stopped"].checkpoint())
        ops["stopped"].stop()
        outcome = await started.cancel()
        show(outcome)
        for name, op in ops.items():
            show(op, op.snapshot(), op.spec)
            if name != "stopped":
                try:
                    await op
                except lrpoll.LrpollError as exc:
                    show(exc, *exc.args, getattr(exc, "body_snippet", ""))
            checkpoints.append(op.checkpoint())
        # As another operation: this scheduler still holds the stopped one.
        resumed = scheduler.resume(checkpoints[0].replace(ops["stopped"].id, "resumed-op"))
        await anyio.sleep(1.5)
        show(resumed, resumed.snapshot())
        checkpoints.append(resumed.checkpoint())
        resumed.stop()
        show(scheduler, scheduler.statistics(), scheduler.transport)

    async with lrpoll.Transport.open(server.base_url, credentials=creds) as transport:
        result = await lrpoll.step(checkpoints[0], transport=transport, now=time.time())
        show(result)
        if result.checkpoint is not None:
            checkpoints.append(result.checkpoint)

    # The secrets went out on the wire (the fake's log redacts them)...
    assert server.requests_to(f"*/{ok.id}/status")[-1].query["token"] == token
    # ...and are nowhere else.
    log_text = logs.text()
    for text in [*texts, log_text]:
        for secret in (bearer, cookie, token, sig):
            assert secret not in text, (secret, text[:300])
    for text in checkpoints:
        for secret in (bearer, cookie, token):
            assert secret not in text
    assert "REDACTED" in log_text
    assert any("REDACTED" in t for t in texts)
    # The signed status URL the server handed out is kept for resume.
    assert sig in checkpoints[0]
    assert any(r.query.get("sig") == sig for r in server.requests)
