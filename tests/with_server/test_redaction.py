"""Secrets never reach logs, exception text or reprs (RELIABILITY J60, in part)."""

from __future__ import annotations

import pickle
import uuid

import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import LogCapture, StackedCredential, doc, export_spec


def _secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


async def test_secrets_never_appear_in_logs_errors_or_reprs(
    other: FakeLROServer, logs: LogCapture
) -> None:
    """A Bearer token, a cookie, a `?token=` value and a query credential stay hidden."""
    bearer, cookie, query, param = (_secret(k) for k in ("bearer", "cookie", "query", "param"))
    texts: list[str] = []
    errors: list[lrpoll.LrpollError] = []

    def leaky_callback(op: lrpoll.Operation) -> None:
        raise ValueError(f"callback saw Bearer {bearer} and sid={cookie}")

    async with FakeLROServer(bearer=bearer) as server:
        creds: dict[str, lrpoll.Credential] = {
            server.base_url: StackedCredential(
                (lrpoll.BearerToken(bearer), lrpoll.Header("Cookie", f"sid={cookie}"))
            ),
            # A query credential under an innocent name: only its value gives it away.
            other.base_url: lrpoll.QueryParam("q", param),
        }
        ok = server.add_job(JobScript.success(polls=2, retry_after="soon"))
        failing = server.add_job(JobScript.fail_at(1, "export failed"))
        moving = server.add_job(JobScript.slow())
        dropped = other.add_job()
        server.fail_next(f"*/{ok.id}/status", times=1)
        server.fail_next(
            f"*/{moving.id}/status",
            status=200,
            body=doc(progress=float("nan")),
            headers={"Location": f"https://evil.example/s?token={query}"},
        )
        other.drop_connection_next(times=100)

        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op_ok = await scheduler.watch(
                server.status_url(ok.id) + f"?token={query}",
                export_spec(),
                on_status=leaky_callback,
            )
            op_failed = await scheduler.watch(server.status_url(failing.id), export_spec())
            op_moved = await scheduler.watch(
                server.status_url(moving.id), export_spec(status_url_updates=("location",))
            )
            op_dropped = await scheduler.watch(
                other.status_url(dropped.id),
                export_spec(errors=lrpoll.ErrorBudget(max_consecutive=1)),
            )
            await op_ok
            for op, kind in (
                (op_failed, lrpoll.OperationFailed),
                (op_moved, lrpoll.UntrustedURL),
                (op_dropped, lrpoll.RequestError),
            ):
                with pytest.raises(kind) as info:
                    await op
                errors.append(info.value)
            texts += [repr(scheduler), repr(scheduler.statistics()), repr(scheduler.transport)]
            texts += [repr(scheduler.transport.credentials)]
            for op in (op_ok, op_failed, op_moved, op_dropped):
                texts += [repr(op), repr(op.snapshot()), repr(op.spec)]

    # The secrets were really used on the wire...
    assert all(r.headers["authorization"] == "REDACTED" for r in server.requests)
    assert all(r.headers["cookie"] == "REDACTED" for r in server.requests)
    assert {r.query.get("token") for r in server.requests_to(f"*/{ok.id}/status")} == {query}
    assert other.requests[0].query == {"q": param}
    # ...and never shown anywhere else.
    for error in errors:
        texts += [str(error), repr(error), repr(vars(error)), repr(error.args)]
        assert param.encode() not in pickle.dumps(error)
    texts += [repr(cred) for cred in creds.values()]
    log_text = logs.text()
    texts.append(log_text)
    for text in texts:
        for secret in (bearer, cookie, query, param):
            assert secret not in text, (secret, text)
    # The log did see them, redacted: the callback's error and the bound status URL.
    # (the Cookie provider's secret is its whole value, "sid=...")
    assert "callback saw Bearer REDACTED and REDACTED" in log_text
    assert "?token=REDACTED" in log_text
    events = logs.events()
    assert {"poll", "operation ended"} <= set(events)
    assert any(e.startswith("hook on_status failed: ValueError(") for e in events)
    assert any(e.startswith("ignored invalid Retry-After") for e in events)
    assert "https://evil.example/s?token=REDACTED" in str(errors[1])


@pytest.mark.aiohttp_sender
async def test_query_credential_is_not_in_transport_errors(other: FakeLROServer) -> None:
    """A QueryParam credential added at send time is left out of RequestError's URL."""
    param = _secret("param")
    job = other.add_job()
    other.drop_connection_next(times=2)
    creds = {other.base_url: lrpoll.QueryParam("q", param)}
    async with lrpoll.Scheduler(base_url=other.base_url, credentials=creds) as scheduler:
        spec = export_spec(errors=lrpoll.ErrorBudget(max_consecutive=0))
        with pytest.raises(lrpoll.RequestError) as info:
            await (await scheduler.watch(other.status_url(job.id), spec))
    assert info.value.message == (
        f"request to {other.status_url(job.id)} failed: ServerDisconnectedError"
    )
    assert other.requests[0].query == {"q": param}


def test_credential_reprs_hide_their_secrets() -> None:
    """Every credential provider's repr omits its secret value."""
    secret = _secret("s")
    providers: list[lrpoll.Credential] = [
        lrpoll.BearerToken(secret),
        lrpoll.BearerToken(lambda: secret),
        lrpoll.BasicAuth("user", secret),
        lrpoll.Header("X-Api-Key", secret),
        lrpoll.QueryParam("token", secret),
        lrpoll.FormField("token", secret),
    ]
    for provider in providers:
        assert secret not in repr(provider)
        assert secret not in str(provider)
        assert secret in "".join(provider.secrets())
