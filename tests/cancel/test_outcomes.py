"""op.cancel(): one request, confirmed by polling, and the CancelOutcome kind for each answer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from lrpoll import (
    CancelOutcome,
    CancelSpec,
    CancelToken,
    OperationCancelled,
    OperationState,
    Scheduler,
    SpecError,
)
from lrpoll._core import classify_cancel
from lrpoll.testing import JobScript

from .support import CANCEL, PREFIX, cancels, make_spec, now, polls, start

if TYPE_CHECKING:
    from lrpoll import Operation
    from lrpoll.testing import FakeLROServer

ARCGIS_ERROR = b'{"status":"error","messages":["Unable to cancel job"],"code":500}'


async def collect_states(op: Operation, into: list[OperationState]) -> None:
    """Append the state of every update of ``op`` to ``into``."""
    into.extend([update.state async for update in op.updates()])


class TestKinds:
    """Each of the fake's cancel knobs gives its CancelOutcome kind."""

    async def test_immediate(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """A job cancelled at once ends ``cancelled`` after one confirming poll."""
        op, job = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(2.5)
        outcome = await op.cancel()
        assert outcome == CancelOutcome(
            "cancelled", op.id, "cancelled", http_status=200, message=None, sent=True
        )
        assert outcome.confirmed
        assert op.state == "cancelled"
        assert job.state == "cancelled"
        assert len(cancels(server, job)) == 1
        with pytest.raises(OperationCancelled):
            await op

    async def test_async_passes_through_cancelling(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """An asynchronous cancel shows ``cancelling`` for k polls, then ends ``cancelled``."""
        op, job = await start(scheduler, server, JobScript.cancel_async(3))
        states: list[OperationState] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(collect_states, op, states)
            await anyio.sleep(2.5)
            before = len(polls(server, job))
            sent_at = now()
            outcome = await op.cancel()
        assert outcome.kind == "cancelled"
        assert outcome.http_status == 202
        assert states[-4:] == ["cancelling", "cancelling", "cancelling", "cancelled"]
        assert "running" in states
        # k polls answered "cancelling", then one "cancelled", one interval apart.
        assert len(polls(server, job)) - before == 4
        assert now() == pytest.approx(sent_at + 3.5)
        with pytest.raises(OperationCancelled):
            await op

    async def test_ignored_finishes_anyway(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A cancel the server accepts but ignores ends ``finished_anyway`` with the result."""
        op, job = await start(scheduler, server, JobScript.cancel_ignored(polls=5))
        await anyio.sleep(2.5)
        outcome = await op.cancel()
        assert outcome.kind == "finished_anyway"
        assert outcome.state == "succeeded"
        assert outcome.sent
        assert await op == {"url": f"/downloads/{job.id}.csv"}

    @pytest.mark.parametrize("status", [501, 405])
    async def test_not_supported(
        self, scheduler: Scheduler, server: FakeLROServer, status: int
    ) -> None:
        """501 and 405 give ``not_supported``; the operation goes on polling."""
        op, job = await start(scheduler, server, JobScript.cancel_unsupported(status))  # type: ignore[arg-type]
        await anyio.sleep(1.5)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.state) == (
            "not_supported",
            status,
            "running",
        )
        assert outcome.message == "cancel is not supported"
        before = len(polls(server, job))
        await anyio.sleep(3)
        assert len(polls(server, job)) == before + 3
        assert len(cancels(server, job)) == 1

    @pytest.mark.parametrize("status", [400, 409])
    async def test_already_finished_between_polls(
        self, scheduler: Scheduler, server: FakeLROServer, status: int
    ) -> None:
        """400/409 while the op still looks running: ``already_finished``, result one poll away."""
        script = JobScript.timed(3.5, finished_status=status)
        op, job = await start(scheduler, server, script)
        await anyio.sleep(3.7)  # the job ended at 3.5 s; the next poll is due at 4 s
        assert op.state == "running"
        sent_at = now()
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.sent) == (
            "already_finished",
            status,
            True,
        )
        assert outcome.message == "job is already done"
        # The op looks at once instead of waiting for its next poll.
        assert await op == {"url": f"/downloads/{job.id}.csv"}
        assert polls(server, job)[-1].time == pytest.approx(sent_at)

    async def test_done_operation_sends_nothing(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A finished operation answers ``already_finished`` without sending a request."""
        op, _ = await start(scheduler, server, JobScript.success(polls=1))
        result = await op
        outcome = await op.cancel()
        assert outcome == CancelOutcome(
            "already_finished",
            op.id,
            "succeeded",
            message="the operation had already ended",
            sent=False,
        )
        assert cancels(server) == []
        assert op.result() == result

    async def test_not_found(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """A 404 from the cancel route gives ``not_found``."""
        op, job = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(1.5)
        server.jobs.pop(job.id)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("not_found", 404)
        assert outcome.message == "job not found"
        assert len(cancels(server, job)) == 1

    async def test_refused_off_origin(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """A cancel URL off the trusted origins is never sent; the message says why."""
        spec = make_spec(cancel=CancelSpec(url="http://127.0.0.2:9/cancel/{start.jobId}"))
        op, _ = await start(scheduler, server, JobScript.slow(), spec=spec)
        await anyio.sleep(1.5)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent, outcome.http_status) == ("refused", False, None)
        assert outcome.message is not None
        assert outcome.message.startswith("cancel not sent:")
        assert "not on a trusted origin" in outcome.message
        assert outcome.state == "running"
        assert [r.path for r in server.requests if "cancel" in r.path] == []

    async def test_refused_transport_fault(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A cancel request that gets no answer (connection dropped) is ``refused``."""
        op, job = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(1.5)
        server.drop_connection_next(f"{PREFIX}/*/cancel")
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent, outcome.http_status) == ("refused", True, None)
        assert outcome.message is not None
        assert "failed" in outcome.message
        assert op.state == "running"
        assert job.cancel_requests == []  # the server dropped it before the route

    async def test_unconfirmed(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """Accepted but not confirmed within ``confirm_timeout``: ``unconfirmed``, still polled."""
        spec = make_spec(cancel=CancelSpec(url=CANCEL.url, confirm_timeout=3))
        op, job = await start(scheduler, server, JobScript.cancel_async(50), spec=spec)
        await anyio.sleep(1.5)
        sent_at = now()
        outcome = await op.cancel()
        assert now() == pytest.approx(sent_at + 3)
        assert (outcome.kind, outcome.http_status, outcome.state) == ("unconfirmed", 202, "running")
        assert not outcome.confirmed
        # Polling goes on; the server confirms in the end.
        with pytest.raises(OperationCancelled):
            await op
        assert len(cancels(server, job)) == 1


class TestRequest:
    """The cancel request: sent once, with the spec's method, URL and body."""

    @pytest.mark.parametrize(
        ("cancel", "method", "path", "content_type", "body"),
        [
            pytest.param(
                CancelSpec(url=CANCEL.url, json={"reason": "user"}, headers={"X-Reason": "user"}),
                "POST",
                "/cancel",
                "application/json",
                {"reason": "user"},
                id="json",
            ),
            pytest.param(
                CancelSpec(url=CANCEL.url, form={"reason": "user", "force": "1"}),
                "POST",
                "/cancel",
                "application/x-www-form-urlencoded",
                "reason=user&force=1",
                id="form",
            ),
            pytest.param(
                CancelSpec(url=PREFIX + "/{start.jobId}", method="DELETE"),
                "DELETE",
                "",
                None,
                "",
                id="no-body",
            ),
        ],
    )
    async def test_method_url_body(
        self,
        scheduler: Scheduler,
        server: FakeLROServer,
        cancel: CancelSpec,
        method: str,
        path: str,
        content_type: str | None,
        body: Any,
    ) -> None:
        """The request goes out once with the spec's method, URL, headers and body."""
        op, job = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=cancel))
        await anyio.sleep(1.5)
        assert (await op.cancel()).kind == "cancelled"
        [request] = cancels(server, job)
        assert request.method == method
        assert request.raw_path == f"{PREFIX}/{job.id}{path}"
        assert request.headers.get("content-type", "").split(";")[0] == (content_type or "")
        if isinstance(body, dict):
            assert request.json() == body
        else:
            assert request.body.decode() == body
        if cancel.headers:
            assert request.headers["x-reason"] == "user"

    async def test_concurrent_callers_share_one_request(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """Five tasks calling cancel() at once send one request and get equal outcomes."""
        op, job = await start(scheduler, server, JobScript.cancel_async(2))
        await anyio.sleep(1.5)
        outcomes: list[CancelOutcome] = []

        async def one() -> None:
            outcomes.append(await op.cancel())

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one)
        assert len(outcomes) == 5
        assert all(o == outcomes[0] for o in outcomes)
        assert outcomes[0].kind == "cancelled"
        assert len(cancels(server, job)) == 1

    async def test_second_call_later_sends_nothing(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A later cancel() returns the same outcome without sending again."""
        op, job = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(1.5)
        first = await op.cancel()
        await anyio.sleep(10)
        second = await op.cancel()
        assert first == second
        assert len(cancels(server, job)) == 1

    async def test_spec_without_cancel(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """cancel() on a spec without a CancelSpec stops it, sends nothing: not_supported."""
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=None))
        await anyio.sleep(1.5)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent, outcome.state) == ("not_supported", False, "stopped")
        assert "no cancel request" in (outcome.message or "")
        assert cancels(server) == []
        assert op.state == "stopped"


class TestRaces:
    """Cancels that cross polls and completions."""

    async def test_cancel_while_poll_in_flight(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A cancel goes out at once even while a poll is held in flight; it is confirmed."""
        op, job = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(0.5)  # first poll answered at 0; the next one is due at 1
        server.delay_next(f"{PREFIX}/*/status", seconds=5)
        await anyio.sleep(1)  # the poll sent at 1 is held until 6
        sent_at = now()
        outcome = await op.cancel()
        [request] = cancels(server, job)
        assert request.time == pytest.approx(sent_at)
        assert outcome.kind == "cancelled"
        assert op.state == "cancelled"

    async def test_cancel_just_after_completion(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """The job completed while the poll that says so was in flight: result kept."""
        op, job = await start(scheduler, server, JobScript.timed(3.0, polls=1))
        await anyio.sleep(2.5)
        server.delay_next(f"{PREFIX}/*/status", seconds=5)  # the poll at 3 comes back at 8
        await anyio.sleep(1.5)
        assert op.state == "running"
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status) == ("already_finished", 400)
        assert await op == {"url": f"/downloads/{job.id}.csv"}
        again = await op.cancel()
        assert (again.kind, again.http_status, again.state) == (
            "already_finished",
            400,
            "succeeded",
        )
        assert len(cancels(server, job)) == 1

    async def test_cancel_during_in_flight_cancel_of_completed_job(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A cancel held by the server while a poll reports done ends ``already_finished``."""
        op, job = await start(scheduler, server, JobScript.success(polls=2))
        server.delay_next(f"{PREFIX}/*/cancel", seconds=5)
        outcome = await op.cancel()
        assert op.state == "succeeded"
        assert (outcome.kind, outcome.http_status, outcome.state) == (
            "already_finished",
            400,
            "succeeded",
        )
        assert op.result() == {"url": f"/downloads/{job.id}.csv"}

    async def test_stop_during_confirmation(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """Stop during a confirmation wait ends it as ``unconfirmed``; nothing more is sent."""
        op, job = await start(scheduler, server, JobScript.cancel_async(10))
        await anyio.sleep(1.5)
        async with anyio.create_task_group() as tg:
            tg.start_soon(op.cancel)
            await anyio.sleep(2)
            assert op.state == "cancelling"
            op.stop()
        outcome = await op.cancel()
        assert (outcome.kind, outcome.state) == ("unconfirmed", "stopped")
        n = len(server.requests)
        await anyio.sleep(30)
        assert len(server.requests) == n
        assert len(cancels(server, job)) == 1


class TestCancelSpecRules:
    """Statuses and expressions in the CancelSpec decide what an answer means."""

    async def test_arcgis_error_body_is_already_finished(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """HTTP 200 with an error body reads ``already_finished`` through an expression."""
        cancel = CancelSpec(
            url=CANCEL.url,
            already_finished="body.status == 'error'",
            message="body.messages[0]",
        )
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=cancel))
        await anyio.sleep(1.5)
        server.fail_next(f"{PREFIX}/*/cancel", status=200, body=ARCGIS_ERROR)
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.message) == (
            "already_finished",
            200,
            "Unable to cancel job",
        )

    async def test_arcgis_error_body_without_rules_is_accepted(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """Without an expression, HTTP 200 is accepted and waits for a confirmation."""
        cancel = CancelSpec(url=CANCEL.url, confirm_timeout=2)
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=cancel))
        await anyio.sleep(1.5)
        server.fail_next(f"{PREFIX}/*/cancel", status=200, body=ARCGIS_ERROR)
        outcome = await op.cancel()
        assert outcome.kind == "unconfirmed"

    async def test_statuses_override(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """``statuses`` gives a code its own meaning (404 here means already finished)."""
        cancel = CancelSpec(url=CANCEL.url, statuses={404: "already_finished"})
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=cancel))
        await anyio.sleep(1.5)
        server.fail_next(f"{PREFIX}/*/cancel", status=404, body=b'{"message": "no such job"}')
        outcome = await op.cancel()
        assert (outcome.kind, outcome.message) == ("already_finished", "no such job")

    async def test_refused_expression(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """A ``refused`` expression over the headers turns a 202 into ``refused``."""
        cancel = CancelSpec(url=CANCEL.url, refused="headers.\"x-cancel\" == 'locked'")
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(cancel=cancel))
        await anyio.sleep(1.5)
        server.fail_next(
            f"{PREFIX}/*/cancel", status=202, body=b"{}", headers={"X-Cancel": "locked"}
        )
        outcome = await op.cancel()
        assert (outcome.kind, outcome.http_status, outcome.state) == ("refused", 202, "running")


SPEC_RULES = CancelSpec(
    url="/c",
    statuses={404: "already_finished", 202: "refused"},
    not_supported="body.error.code == 'UNIMPLEMENTED'",
    already_finished="body.status == 'error'",
    refused="headers.\"x-locked\" == 'yes'",
    accepted="status == `299`",
    message="body.detail",
)
PLAIN = CancelSpec(url="/c")


@pytest.mark.parametrize(
    ("spec", "status", "headers", "body", "expected"),
    [
        # defaults
        (PLAIN, 200, {}, {"status": "cancelled"}, ("accepted", None)),
        (PLAIN, 202, {}, None, ("accepted", None)),
        (PLAIN, 204, {}, None, ("accepted", None)),
        (PLAIN, 400, {}, {"message": "done"}, ("already_finished", "done")),
        (PLAIN, 409, {}, {"error": {"message": "done"}}, ("already_finished", "done")),
        (PLAIN, 412, {}, None, ("already_finished", None)),
        (PLAIN, 404, {}, None, ("not_found", None)),
        (PLAIN, 410, {}, None, ("not_found", None)),
        (PLAIN, 405, {}, None, ("not_supported", None)),
        (PLAIN, 501, {}, None, ("not_supported", None)),
        (PLAIN, 403, {}, None, ("refused", None)),
        (PLAIN, 500, {}, {"error": {"message": 7}}, ("refused", "7")),
        (PLAIN, 302, {}, None, ("refused", None)),
        (PLAIN, None, {}, None, ("refused", None)),
        (PLAIN, 400, {}, {"error": "text", "message": "m"}, ("already_finished", "m")),
        # statuses override the defaults
        (SPEC_RULES, 404, {}, None, ("already_finished", None)),
        (SPEC_RULES, 202, {}, None, ("refused", None)),
        (SPEC_RULES, 410, {}, None, ("not_found", None)),
        # expressions override statuses, in order not_supported, already_finished, refused,
        # accepted
        (SPEC_RULES, 200, {}, {"error": {"code": "UNIMPLEMENTED"}}, ("not_supported", None)),
        (SPEC_RULES, 200, {}, {"status": "error", "detail": "late"}, ("already_finished", "late")),
        (
            SPEC_RULES,
            200,
            {"x-locked": "yes"},
            {"status": "error", "error": {"code": "UNIMPLEMENTED"}},
            ("not_supported", None),
        ),
        (SPEC_RULES, 200, {"x-locked": "yes"}, {"status": "error"}, ("already_finished", None)),
        (SPEC_RULES, 200, {"x-locked": "yes"}, {}, ("refused", None)),
        (SPEC_RULES, 299, {}, {}, ("accepted", None)),
        (SPEC_RULES, 404, {}, {"status": "error"}, ("already_finished", None)),
        # message: the expression wins; its non-strings become a JSON snippet; when it yields
        # null, error.message or message is the fallback
        (SPEC_RULES, 500, {}, {"detail": {"a": 1}, "message": "m"}, ("refused", '{"a":1}')),
        (SPEC_RULES, 500, {}, {"message": "fallback"}, ("refused", "fallback")),
        # bodies that are not objects
        (PLAIN, 200, {}, ["a"], ("accepted", None)),
        (PLAIN, 409, {}, "text", ("already_finished", None)),
    ],
)
def test_classify_cancel_table(
    spec: CancelSpec,
    status: int | None,
    headers: dict[str, str],
    body: Any,
    expected: tuple[str, str | None],
) -> None:
    """classify_cancel reads expressions first, then ``statuses``, then the defaults."""
    assert classify_cancel(spec, status, headers, body) == expected


def test_classify_cancel_round_trips_through_json() -> None:
    """A CancelSpec's rules survive the spec's JSON form (status keys become strings)."""
    spec = make_spec(cancel=SPEC_RULES)
    again = type(spec).from_json(json.loads(json.dumps(spec.to_json())))
    assert again.cancel == SPEC_RULES
    assert again.cancel is not None
    assert classify_cancel(again.cancel, 202, {}, None) == ("refused", None)


def test_cancel_spec_rejects_bad_rules() -> None:
    """Unknown results, bad codes and bad expressions fail at construction, naming the field."""
    with pytest.raises(SpecError, match=r"cancel\.statuses"):
        CancelSpec(url="/c", statuses={404: "gone"})  # type: ignore[dict-item]
    with pytest.raises(SpecError, match=r"cancel\.statuses"):
        CancelSpec(url="/c", statuses={99: "refused"})
    with pytest.raises(SpecError, match=r"cancel\.accepted"):
        CancelSpec(url="/c", accepted="status ==")
    with pytest.raises(SpecError, match=r"cancel\.form"):
        CancelSpec(url="/c", json={}, form={"a": "b"})
    with pytest.raises(SpecError, match=r"cancel\.headers"):
        CancelSpec(url="/c", headers={"Authorization": "Bearer x"})


class TestAfterExit:
    """Cancelling operations of a scheduler that has closed (regression: RuntimeError)."""

    async def test_cancel_after_exit_is_refused(self, server: FakeLROServer) -> None:
        """op.cancel() and token.cancel() after the scheduler closed: ``refused``, no request."""
        token = CancelToken(reason="late")
        async with Scheduler(base_url=server.base_url) as scheduler:
            op, _ = await start(scheduler, server, JobScript.slow())
            on_token, _ = await start(scheduler, server, JobScript.slow(), token=token)
            await anyio.sleep(1.5)
        assert (op.state, on_token.state) == ("stopped", "stopped")
        outcome = await op.cancel()
        assert (outcome.kind, outcome.sent, outcome.state) == ("refused", False, "stopped")
        assert outcome.message == "cancel not sent: the scheduler is closed"
        [token_outcome] = await token.cancel()
        assert (token_outcome.kind, token_outcome.operation_id) == ("refused", on_token.id)
        assert cancels(server) == []
        assert json.loads(op.checkpoint())["cancel_sent"] is False
