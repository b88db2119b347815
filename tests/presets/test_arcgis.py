"""The ArcGIS geoprocessing preset against `lrpoll.testing.arcgis.FakeArcGIS`.

The fake advances one tick per status read and runs on the looptime loop of
``tests/conftest.py``, so every answer comes at the same instant every run.
"""

from __future__ import annotations

import json
import pickle
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import aiohttp
import pytest

import lrpoll
from lrpoll import (
    AuthError,
    HTTPStatusError,
    OperationCancelled,
    OperationFailed,
    OperationGone,
    PollSpec,
    SpecError,
)
from lrpoll._core import classify_cancel
from lrpoll.core import Observation, Retry, Running, Succeeded, decide
from lrpoll.presets import arcgis_job, arcgis_job_url
from lrpoll.testing import ArcGISScript, FakeArcGIS
from lrpoll.testing.arcgis import DELETED, EXECUTING, SUCCEEDED
from tests.helpers import capture_logs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from lrpoll import Operation
    from lrpoll.testing import RequestRecord

pytestmark = pytest.mark.anyio

TOKEN = "t0ken-5ecret-abc123"
ADMIN = "adm1n-5ecret-xyz789"
TASK = "/arcgis/rest/services/Hotspots/GPServer/Hot%20Spots"
JOBS = "/arcgis/rest/services/Hotspots/GPServer/Hot Spots/jobs/*"
ADMIN_CANCEL = "/arcgis/admin/services/Hotspots.GPServer/jobs/*/cancel"


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[FakeArcGIS]:
    """A started fake ArcGIS Server with one user token and one administrator token."""
    async with FakeArcGIS(tokens={TOKEN}, admin_tokens={ADMIN}) as server:
        yield server


def scheduler_for(server: FakeArcGIS, token: str | None = TOKEN) -> lrpoll.Scheduler:
    """A scheduler on the fake, sending ``token`` as ArcGIS's ``token`` field."""
    credentials = {} if token is None else {server.base_url: lrpoll.FormField("token", token)}
    return lrpoll.Scheduler(base_url=server.base_url, credentials=credentials)


async def submit(scheduler: lrpoll.Scheduler, **params: Any) -> Operation:
    """Submit a job of the fake's Hot Spots task with the arcgis preset."""
    spec = arcgis_job(task_url=TASK, **params)
    form = {"f": "json", "Input_Features": "calls"}
    return await scheduler.start("POST", TASK + "/submitJob", form=form, spec=spec)


def form_of(record: RequestRecord) -> dict[str, list[str]]:
    """The form body of a logged request."""
    return parse_qs(record.body.decode())


async def until(server: FakeArcGIS, op: Operation, status: str) -> None:
    """Poll ``op`` until the fake's job reads ``status``."""
    while op.status is None or op.status.get("jobStatus") != status:
        await op.poll_once()


# -- the spec as data ---------------------------------------------------------------------


class TestSpec:
    """The preset's URLs, expressions and JSON form."""

    def test_urls(self) -> None:
        """Status and cancel URLs hang off the task URL; spaces are encoded."""
        spec = arcgis_job(task_url="/arcgis/rest/services/Hotspots/GPServer/Hot Spots")
        assert spec.status_url == f"{TASK}/jobs/{{start.jobId}}"
        assert spec.cancel is not None
        assert spec.cancel.url == f"{TASK}/jobs/{{last.jobId || start.jobId}}/cancel"
        assert (spec.cancel.method, spec.cancel.form) == ("POST", {"f": "json"})
        assert spec.status_form == {"f": "json", "returnMessages": "true"}
        assert spec.status_method == "POST"

    @pytest.mark.parametrize(
        ("task_url", "admin"),
        [
            (TASK, "/arcgis/admin/services/Hotspots.GPServer"),
            (
                "https://gis.example.com/server/rest/services/Folder/Svc/GPServer/T/submitJob",
                "https://gis.example.com/server/admin/services/Folder/Svc.GPServer",
            ),
        ],
    )
    def test_admin_url_derived(self, task_url: str, admin: str) -> None:
        """The admin cancel URL is derived from the task URL, folders included."""
        spec = arcgis_job(task_url=task_url, cancel="admin")
        assert spec.cancel is not None
        assert spec.cancel.url == f"{admin}/jobs/{{last.jobId || start.jobId}}/cancel"

    def test_admin_url_given(self) -> None:
        """An explicit admin URL (the admin port) wins; a task URL without the shape needs it."""
        admin = "https://gis.example.com:6443/arcgis/admin/services/S.GPServer"
        spec = arcgis_job(task_url="/gp/Task", cancel="admin", admin_url=admin)
        assert spec.cancel is not None
        assert spec.cancel.url.startswith(admin + "/jobs/")
        with pytest.raises(SpecError, match=r"params\.admin_url"):
            arcgis_job(task_url="/gp/Task", cancel="admin")

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"task_url": "/x?f=json"}, "params.task_url"),
            ({"task_url": ""}, "params.task_url"),
            ({"task_url": TASK, "cancel": "delete"}, "params.cancel"),
            ({"task_url": TASK, "poll_method": "PUT"}, "params.poll_method"),
            ({"task_url": TASK, "result_param": ""}, "params.result_param"),
            (
                {"task_url": TASK, "request_headers": {"X-Esri-Authorization": "x"}},
                "request_headers",
            ),
            ({"task_url": TASK, "errors": {"retries": 3}}, "params.errors"),
        ],
    )
    def test_invalid_params(self, params: dict[str, Any], field: str) -> None:
        """A bad parameter is a SpecError naming it."""
        with pytest.raises(SpecError) as info:
            arcgis_job(**params)
        assert info.value.field == field

    def test_no_cancel_and_get_polls(self) -> None:
        """``cancel=None`` has no cancel; GET polls carry f and returnMessages as a query."""
        spec = arcgis_job(task_url=TASK, cancel=None, poll_method="GET")
        assert spec.cancel is None
        assert spec.status_query == {"f": "json", "returnMessages": "true"}
        assert spec.status_form is None

    def test_json_form(self) -> None:
        """The JSON form is ``{"preset": "arcgis", "params": ...}`` and reads back equal."""
        spec = arcgis_job(task_url=TASK, cancel="admin", result_param="out", interval=1.0)
        data = json.loads(json.dumps(spec.to_json()))
        assert data == {
            "preset": "arcgis",
            "params": {"task_url": TASK, "cancel": "admin", "result_param": "out", "interval": 1.0},
        }
        assert PollSpec.from_json(data) == spec
        assert "arcgis" in lrpoll.registry.preset_names()

    def test_job_url(self) -> None:
        """arcgis_job_url() builds a job's status URL for watch()."""
        assert arcgis_job_url(TASK, "j1") == f"{TASK}/jobs/j1"
        assert arcgis_job_url(TASK + "/", "a/b") == f"{TASK}/jobs/a%2Fb"
        with pytest.raises(SpecError):
            arcgis_job_url(TASK, "")


SPEC = arcgis_job(task_url=TASK)
ERROR_MESSAGES = [
    {"type": "esriJobMessageTypeInformative", "description": "Executing..."},
    {"type": "esriJobMessageTypeError", "description": "ERROR 000735: first"},
    {"type": "esriJobMessageTypeError", "description": "ERROR 999999: last"},
    {"type": "esriJobMessageTypeInformative", "description": "Failed."},
]


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        ("esriJobNew", Running, None),
        ("esriJobSubmitted", Running, None),
        ("esriJobWaiting", Running, None),
        ("esriJobExecuting", Running, None),
        ("esriJobCancelling", Running, None),
        ("esriJobSucceeded", Succeeded, None),
        ("esriJobFailed", lrpoll.core.Ended, OperationFailed),
        ("esriJobTimedOut", lrpoll.core.Ended, OperationFailed),
        ("expectedFailure", lrpoll.core.Ended, OperationFailed),
        ("esriJobCancelled", lrpoll.core.Ended, OperationCancelled),
        ("esriJobDeleting", lrpoll.core.Ended, OperationGone),
        ("esriJobDeleted", lrpoll.core.Ended, OperationGone),
    ],
)
def test_every_job_status(status: str, kind: type, error: type | None) -> None:
    """Each jobStatus (all eleven, and expectedFailure) means what the preset documents."""
    decision = decide(SPEC, Observation(http_status=200, body={"jobId": "j1", "jobStatus": status}))
    assert type(decision) is kind
    if isinstance(decision, lrpoll.core.Ended):
        assert type(decision.error) is error


class TestDecisions:
    """Messages, progress and body errors under the sans-I/O core."""

    def test_failure_message_is_the_last_error_message(self) -> None:
        """A failed job's error is its last error message."""
        body = {"jobStatus": "esriJobFailed", "messages": ERROR_MESSAGES}
        decision = decide(SPEC, Observation(http_status=200, body=body))
        assert isinstance(decision, lrpoll.core.Ended)
        assert decision.error.message == "ERROR 999999: last"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (
                {"status": "failed", "statusMessage": "Job submission failed"},
                "Job submission failed",
            ),
            ({"status": "failed"}, "the job ended with failed"),
        ],
    )
    def test_failed_status_shape(self, body: dict[str, str], message: str) -> None:
        """The other failure shape, ``{"status": "failed", "statusMessage"}``, fails with it."""
        decision = decide(SPEC, Observation(http_status=200, body=body))
        assert isinstance(decision, lrpoll.core.Ended)
        assert type(decision.error) is OperationFailed
        assert decision.error.message == message

    def test_timed_out_without_messages_says_so(self) -> None:
        """A timed-out job without error messages names its status."""
        decision = decide(SPEC, Observation(http_status=200, body={"jobStatus": "esriJobTimedOut"}))
        assert isinstance(decision, lrpoll.core.Ended)
        assert decision.error.message == "the job ended with esriJobTimedOut"

    @pytest.mark.parametrize(
        ("progress", "expected"),
        [
            ({"type": "step", "message": "Step 2 of 4", "percent": 50}, 50.0),
            ({"type": "step", "percentage": 40}, 40.0),
            ({"type": "default", "message": "Running"}, None),
            (None, None),
        ],
    )
    def test_progress(self, progress: Any, expected: float | None) -> None:
        """Progress is ``percent`` (else ``percentage``) where reported, else unknown."""
        body: dict[str, Any] = {"jobStatus": "esriJobExecuting"}
        if progress is not None:
            body["progress"] = progress
        decision = decide(SPEC, Observation(http_status=200, body=body))
        assert isinstance(decision, Running)
        assert decision.progress == expected

    @pytest.mark.parametrize(
        ("body", "error", "message"),
        [
            (
                {"error": {"code": 498, "message": "Invalid token.", "details": []}},
                AuthError,
                "the server reported error 498 in a 200 answer: Invalid token.",
            ),
            (
                {"error": {"code": 499, "message": "Token Required", "details": []}},
                AuthError,
                "the server reported error 499 in a 200 answer: Token Required",
            ),
            (
                {"error": {"code": 403, "messageCode": "GWM_0003", "message": "No access"}},
                AuthError,
                "the server reported GWM_0003 in a 200 answer: No access",
            ),
            (
                {"error": {"code": 400, "message": "Unable to complete operation.",
                           "details": ["Job not found"]}},
                HTTPStatusError,
                "the server reported error 400 in a 200 answer: "
                "Unable to complete operation.: Job not found",
            ),
        ],
    )  # fmt: skip
    def test_error_bodies(self, body: Any, error: type, message: str) -> None:
        """HTTP 200 error envelopes are errors, with the code and the server's words."""
        decision = decide(SPEC, Observation(http_status=200, body=body))
        assert isinstance(decision, lrpoll.core.Ended)
        assert type(decision.error) is error
        assert decision.error.message == message

    def test_server_error_in_a_body_is_retried(self) -> None:
        """A 500 in a 200 body is transient."""
        body = {"error": {"code": 500, "message": "Error handling service request"}}
        assert isinstance(decide(SPEC, Observation(http_status=200, body=body)), Retry)


SERVICES_CANCEL = SPEC.cancel
ADMIN_SPEC = arcgis_job(task_url=TASK, cancel="admin")
INVALID = {
    "error": {
        "code": 400,
        "message": "Unable to complete operation.",
        "details": ["Invalid or missing input parameters."],
    }
}
UNABLE = {"status": "error", "messages": ["Unable to cancel job :[j1]"], "code": 500}
NO_PERMISSION = {"status": "error", "messages": ["User does not have permission"], "code": 403}


@pytest.mark.parametrize(
    ("spec", "body", "last", "expected"),
    [
        (SPEC, {"jobId": "j1", "jobStatus": "esriJobCancelling"}, EXECUTING, "accepted"),
        (SPEC, {"jobId": "j1", "jobStatus": "esriJobCancelled"}, EXECUTING, "accepted"),
        (SPEC, INVALID, EXECUTING, "already_finished"),
        (SPEC, INVALID, "esriJobSubmitted", "refused"),
        (SPEC, {"error": {"code": 498, "message": "Invalid token."}}, EXECUTING, "refused"),
        (ADMIN_SPEC, {"status": "success"}, "esriJobSubmitted", "accepted"),
        (ADMIN_SPEC, UNABLE, EXECUTING, "already_finished"),
        (ADMIN_SPEC, UNABLE, SUCCEEDED, "already_finished"),
        (ADMIN_SPEC, UNABLE, "esriJobWaiting", "refused"),
        (ADMIN_SPEC, NO_PERMISSION, EXECUTING, "refused"),
        (ADMIN_SPEC, {"error": {"code": 499, "message": "Token Required"}}, EXECUTING, "refused"),
    ],
)
def test_cancel_answers(spec: PollSpec, body: Any, last: str, expected: str) -> None:
    """Each answer of both cancel APIs means what the preset documents."""
    assert spec.cancel is not None
    result, _ = classify_cancel(
        spec.cancel, 200, {}, body, poll_spec=spec, last={"jobStatus": last}
    )
    assert result == expected


# -- against the fake ---------------------------------------------------------------------


class TestPolling:
    """Jobs on the fake, from submitJob to their end."""

    async def test_success_with_progress(self, server: FakeArcGIS) -> None:
        """Progress follows progress.percent; the result is ``results``; the token is in forms."""
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            seen = [(u.state, u.progress, u.message) async for u in op.updates()]
            result = await op
        assert seen == [
            ("running", None, None),
            ("running", None, None),
            ("running", 25.0, "Step 1 of 3"),
            ("running", 50.0, "Step 2 of 3"),
            ("running", 75.0, "Step 3 of 3"),
            ("succeeded", 100.0, "Step 3 of 3"),
        ]
        assert result == {"out": {"paramUrl": "results/out"}}
        job = next(iter(server.jobs.values()))
        assert job.inputs == {"Input_Features": "calls"}
        polls = server.requests_to(JOBS)
        assert len(polls) == 6
        for record in [server.requests[0], *polls]:
            assert record.method == "POST"
            assert form_of(record)["token"] == [TOKEN]
            assert "token" not in record.query
        assert form_of(polls[0])["returnMessages"] == ["true"]

    async def test_result_param_is_fetched(self, server: FakeArcGIS) -> None:
        """With result_param, the result is that parameter's resource, fetched once done."""
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler, result_param="out")
            assert await op == {"paramName": "out", "dataType": "GPString", "value": "done"}
        (fetch,) = server.requests_to(JOBS + "/results/out")
        assert (fetch.method, fetch.query) == ("GET", {"f": "json", "token": TOKEN})

    async def test_default_progressor_is_unknown_progress(self) -> None:
        """A default progressor (no percent) and a pre-10.8.1 server give unknown progress."""
        for style in ("default", "none"):
            async with FakeArcGIS(tokens={TOKEN}, progress_style=style) as server:
                server.script_next(ArcGISScript.success(executing=2, submitted=0, waiting=0))
                async with scheduler_for(server) as scheduler:
                    op = await submit(scheduler)
                    seen = [(u.progress, u.message) async for u in op.updates()]
                    await op
            message = "Running" if style == "default" else None
            assert seen == [(None, message), (None, message), (100.0, message)]

    async def test_failure_carries_the_servers_message(self, server: FakeArcGIS) -> None:
        """A failed job raises OperationFailed with its last error message and its messages."""
        server.script_next(ArcGISScript.fail("ERROR 000735: Input Features: Value is required."))
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            with pytest.raises(OperationFailed) as info:
                await op
        assert info.value.message == "ERROR 000735: Input Features: Value is required."
        descriptions = [m["description"] for m in info.value.status["messages"]]
        assert "ERROR 000735: Input Features: Value is required." in descriptions

    async def test_timeout_and_expected_failure_fail(self, server: FakeArcGIS) -> None:
        """esriJobTimedOut and expectedFailure end as failures."""
        server.script_next(ArcGISScript(kind="timeout"), ArcGISScript(kind="expected_failure"))
        async with scheduler_for(server) as scheduler:
            timed_out, expected = await submit(scheduler), await submit(scheduler)
            with pytest.raises(OperationFailed, match="esriJobTimedOut"):
                await timed_out
            with pytest.raises(OperationFailed, match="ERROR 000735"):
                await expected

    async def test_warnings_do_not_fail(self, server: FakeArcGIS) -> None:
        """A job with warning messages still succeeds."""
        server.script_next(ArcGISScript(kind="warn"))
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            assert await op == {"out": {"paramUrl": "results/out"}}
        types = {m["type"] for m in op.status["messages"]}
        assert "esriJobMessageTypeWarning" in types

    async def test_deleted_job_is_gone(self, server: FakeArcGIS) -> None:
        """A job deleted on the server ends with OperationGone."""
        server.script_next(ArcGISScript.slow())
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            await until(server, op, EXECUTING)
            next(iter(server.jobs.values())).status = DELETED
            with pytest.raises(OperationGone, match="the job was deleted"):
                await op

    async def test_errors_in_200_bodies_are_retried(self, server: FakeArcGIS) -> None:
        """A server error in a 200 body and a 503 are retried within the error budget."""
        server.fail_next(JOBS, 200, {"error": {"code": 500, "message": "busy", "details": []}})
        server.fail_next(JOBS, 503)
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            assert await op == {"out": {"paramUrl": "results/out"}}
        assert [r.status for r in server.requests_to(JOBS)][:2] == [200, 503]

    async def test_dropped_connections_are_retried(self, server: FakeArcGIS) -> None:
        """A poll whose connection drops is a transient fault, retried within the budget."""
        server.drop_connection_next(JOBS, times=2)
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            assert await op == {"out": {"paramUrl": "results/out"}}
        assert [r.status for r in server.requests_to(JOBS)][:2] == [0, 0]

    async def test_watch_by_job_url(self, server: FakeArcGIS) -> None:
        """A job known by id is watched by its URL; GET polls carry the token as a query."""
        server.script_next(ArcGISScript.success(executing=1))
        async with scheduler_for(server) as scheduler:
            started = await submit(scheduler)
            await started
            job_id = started.status["jobId"]
            spec = arcgis_job(task_url=TASK, poll_method="GET")
            op = await scheduler.watch(arcgis_job_url(TASK, job_id), spec)
            assert await op == {"out": {"paramUrl": "results/out"}}
        last = server.requests[-1]
        assert (last.method, last.query["f"], last.query["token"]) == ("GET", "json", TOKEN)


async def test_checkpoint_resumes_elsewhere(server: FakeArcGIS) -> None:
    """A checkpoint holds the preset by name and no token, and resumes in another scheduler."""
    async with scheduler_for(server) as first:
        op = await submit(first, cancel="admin")
        await until(server, op, EXECUTING)
        checkpoint = op.checkpoint()
        op.stop()
    assert TOKEN not in checkpoint
    assert json.loads(checkpoint)["spec"]["preset"] == "arcgis"
    async with scheduler_for(server) as second:
        resumed = second.resume(checkpoint)
        assert await resumed == {"out": {"paramUrl": "results/out"}}


class TestServicesCancel:
    """``op.cancel()`` through the services directory (``…/jobs/{id}/cancel``)."""

    async def test_executing_job_is_cancelled(self, server: FakeArcGIS) -> None:
        """An executing job goes cancelling, then cancelled: outcome cancelled."""
        server.script_next(ArcGISScript.slow())
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            await until(server, op, EXECUTING)
            outcome = await op.cancel()
            with pytest.raises(OperationCancelled):
                await op
        assert (outcome.kind, outcome.http_status) == ("cancelled", 200)
        job = next(iter(server.jobs.values()))
        assert job.cancels == [("services", "accepted")]
        (request,) = server.requests_to(JOBS + "/cancel")
        assert request.method == "POST"
        assert form_of(request) == {"f": ["json"], "token": [TOKEN]}

    async def test_cancelled_at_once(self) -> None:
        """With cancel_ticks=0 the cancel answer is already esriJobCancelled."""
        async with FakeArcGIS(tokens={TOKEN}, cancel_ticks=0) as server:
            server.script_next(ArcGISScript.slow(waiting=3))
            async with scheduler_for(server) as scheduler:
                op = await submit(scheduler)
                await until(server, op, "esriJobWaiting")
                outcome = await op.cancel()
        assert outcome.kind == "cancelled"
        assert server.requests_to(JOBS + "/cancel")[0].status == 200

    async def test_submitted_job_refuses_and_runs_on(self, server: FakeArcGIS) -> None:
        """A job still submitted answers an error: refused, and it goes on to succeed."""
        server.script_next(ArcGISScript.success(submitted=3))
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            outcome = await op.cancel()
            assert await op == {"out": {"paramUrl": "results/out"}}
        assert outcome.kind == "refused"
        assert (
            outcome.message == "Unable to complete operation.: Invalid or missing input parameters."
        )

    async def test_finished_job_is_already_finished(self, server: FakeArcGIS) -> None:
        """A job that ended since the last poll answers an error: already_finished."""
        server.script_next(ArcGISScript.slow())
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            await until(server, op, EXECUTING)
            next(iter(server.jobs.values())).status = SUCCEEDED
            outcome = await op.cancel()
            await op
        assert outcome.kind == "already_finished"

    async def test_cancel_ignored_finishes_anyway(self) -> None:
        """A service that accepts the cancel but runs on: finished_anyway."""
        async with (
            FakeArcGIS(tokens={TOKEN}, cancel_ignored=True) as server,
            scheduler_for(server) as scheduler,
        ):
            op = await submit(scheduler)
            await until(server, op, EXECUTING)
            outcome = await op.cancel()
        assert outcome.kind == "finished_anyway"
        assert outcome.state == "succeeded"

    async def test_unconfirmed(self) -> None:
        """A cancel still cancelling at confirm_timeout is unconfirmed; polling goes on."""
        async with FakeArcGIS(tokens={TOKEN}, cancel_ticks=1000) as server:
            server.script_next(ArcGISScript.slow())
            async with scheduler_for(server) as scheduler:
                op = await submit(scheduler, confirm_timeout=10.0)
                await until(server, op, EXECUTING)
                outcome = await op.cancel()
                assert not op.done
                op.stop()
        assert outcome.kind == "unconfirmed"

    async def test_expired_token_refused(self, server: FakeArcGIS) -> None:
        """A cancel with an expired token is refused with the server's words."""
        server.script_next(ArcGISScript.slow())
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler)
            await until(server, op, EXECUTING)
            server.expire(TOKEN)
            outcome = await op.cancel()
            op.stop()
        assert (outcome.kind, outcome.message) == ("refused", "Invalid token.: Token has expired.")


class TestAdminCancel:
    """``op.cancel()`` through the admin API (``…/admin/services/{svc}.GPServer/jobs/{id}``)."""

    @pytest.mark.parametrize(("script", "status"), [
        (ArcGISScript.slow(submitted=5), "esriJobSubmitted"),
        (ArcGISScript.slow(), EXECUTING),
    ])  # fmt: skip
    async def test_submitted_or_executing_job_is_cancelled(
        self, server: FakeArcGIS, script: ArcGISScript, status: str
    ) -> None:
        """A submitted or executing job is cancelled; the admin token travels in the body."""
        server.script_next(script)
        async with scheduler_for(server, ADMIN) as scheduler:
            op = await submit(scheduler, cancel="admin")
            await until(server, op, status)
            outcome = await op.cancel()
        assert outcome.kind == "cancelled"
        (request,) = server.requests_to(ADMIN_CANCEL)
        assert request.method == "POST"
        assert form_of(request) == {"f": ["json"], "token": [ADMIN]}
        assert request.query == {}

    async def test_waiting_job_is_refused(self, server: FakeArcGIS) -> None:
        """The admin API cannot cancel a waiting job: refused, with its message."""
        server.script_next(ArcGISScript.success(waiting=3))
        async with scheduler_for(server, ADMIN) as scheduler:
            op = await submit(scheduler, cancel="admin")
            await until(server, op, "esriJobWaiting")
            outcome = await op.cancel()
            await op
        job = next(iter(server.jobs.values()))
        assert (outcome.kind, outcome.message) == (
            "refused",
            f"Unable to cancel job :[{job.job_id}]",
        )

    async def test_finished_job_is_already_finished(self, server: FakeArcGIS) -> None:
        """A job that ended since the last poll: already_finished."""
        server.script_next(ArcGISScript.slow())
        async with scheduler_for(server, ADMIN) as scheduler:
            op = await submit(scheduler, cancel="admin")
            await until(server, op, EXECUTING)
            next(iter(server.jobs.values())).status = SUCCEEDED
            outcome = await op.cancel()
            await op
        assert outcome.kind == "already_finished"

    async def test_user_token_is_refused(self, server: FakeArcGIS) -> None:
        """A non-administrator's token is refused with the server's permission message."""
        server.script_next(ArcGISScript.slow())
        async with scheduler_for(server) as scheduler:
            op = await submit(scheduler, cancel="admin")
            await until(server, op, EXECUTING)
            outcome = await op.cancel()
            op.stop()
        assert (outcome.kind, outcome.message) == (
            "refused",
            "User does not have permission to perform this operation.",
        )

    async def test_cancel_ignored_finishes_anyway(self) -> None:
        """An accepted admin cancel of a job that then succeeds: finished_anyway."""
        async with (
            FakeArcGIS(admin_tokens={ADMIN}, cancel_ignored=True) as server,
            scheduler_for(server, ADMIN) as scheduler,
        ):
            op = await submit(scheduler, cancel="admin")
            await until(server, op, EXECUTING)
            outcome = await op.cancel()
        assert outcome.kind == "finished_anyway"

    async def test_already_done_sends_nothing(self, server: FakeArcGIS) -> None:
        """A job lrpoll saw end is already_finished without a request."""
        async with scheduler_for(server, ADMIN) as scheduler:
            op = await submit(scheduler, cancel="admin")
            await op
            outcome = await op.cancel()
        assert (outcome.kind, outcome.sent) == ("already_finished", False)
        assert server.requests_to(ADMIN_CANCEL) == []


class TestAuth:
    """Token errors, which ArcGIS sends as HTTP 200."""

    async def test_invalid_token(self, server: FakeArcGIS) -> None:
        """An unknown token fails the start with AuthError (498)."""
        async with scheduler_for(server, "wrong") as scheduler:
            with pytest.raises(AuthError, match="error 498 in a 200 answer: Invalid token"):
                await submit(scheduler)
        assert server.jobs == {}

    async def test_token_required(self, server: FakeArcGIS) -> None:
        """No token fails the start with AuthError (499)."""
        async with scheduler_for(server, None) as scheduler:
            with pytest.raises(AuthError, match="error 499 in a 200 answer: Token Required"):
                await submit(scheduler)

    async def test_token_expires_while_polling(self) -> None:
        """A token that expires mid-job ends the operation with AuthError, not a hang."""
        async with (
            FakeArcGIS(tokens={TOKEN}, expire_after_polls=2) as server,
            scheduler_for(server) as scheduler,
        ):
            op = await submit(scheduler)
            with pytest.raises(AuthError) as info:
                await op
        assert info.value.message.endswith("Invalid token.: Token has expired.")
        assert info.value.status["jobStatus"] == "esriJobWaiting"  # the last status document

    async def test_real_http_status(self) -> None:
        """Servers that send 498/499 as the HTTP status give AuthError too."""
        async with (
            FakeArcGIS(tokens={TOKEN}, real_http_status=True) as server,
            scheduler_for(server, "wrong") as scheduler,
        ):
            with pytest.raises(AuthError) as info:
                await submit(scheduler)
        assert info.value.http_status == 498

    async def test_esri_authorization_header(self, server: FakeArcGIS) -> None:
        """The token may also go as ``X-Esri-Authorization: Bearer``, redacted in the fake's log."""
        creds = {server.base_url: lrpoll.BearerToken(TOKEN, header="X-Esri-Authorization")}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op = await submit(scheduler)
            await op
        assert {r.headers["x-esri-authorization"] for r in server.requests} == {"REDACTED"}


class TestTokenNeverLeaks:
    """The token goes to the trusted origin only, and never into logs, errors or checkpoints."""

    async def test_not_in_logs_errors_or_checkpoints(self, server: FakeArcGIS) -> None:
        """Logs, exceptions, reprs and checkpoints of succeeded, failed and refused jobs hide it."""
        texts: list[str] = []
        server.script_next(ArcGISScript(), ArcGISScript.fail(), ArcGISScript.slow())
        with capture_logs() as logs:
            async with scheduler_for(server) as scheduler:
                ok = await submit(scheduler, poll_method="GET")
                failing = await submit(scheduler)
                slow = await submit(scheduler, poll_method="GET")
                await ok
                with pytest.raises(OperationFailed) as failed:
                    await failing
                await until(server, slow, EXECUTING)
                texts.append(slow.checkpoint())
                server.expire(TOKEN)
                with pytest.raises(AuthError) as auth:
                    await slow
                for op in (ok, failing, slow):
                    texts += [repr(op), repr(op.spec), repr(op.snapshot())]
                texts += [repr(scheduler.transport.credentials)]
        for error in (failed.value, auth.value):
            texts += [str(error), repr(error), repr(vars(error))]
            assert TOKEN.encode() not in pickle.dumps(error)
        texts.append(logs.text())
        assert any(TOKEN in r.raw_path for r in server.requests)  # it was used, in GET URLs
        for text in texts:
            assert TOKEN not in text
        assert {"poll", "operation ended"} <= set(logs.events())

    async def test_never_sent_to_another_origin(self, server: FakeArcGIS) -> None:
        """A task on another origin (allowed anonymously) and a redirect there get no token."""
        async with FakeArcGIS(tokens={TOKEN}) as other:
            creds = {server.base_url: lrpoll.FormField("token", TOKEN)}
            async with lrpoll.Scheduler(
                base_url=server.base_url, credentials=creds, allow_origins=[other.base_url]
            ) as scheduler:
                spec = arcgis_job(task_url=other.url(TASK))
                with pytest.raises(AuthError, match="499"):
                    await scheduler.start(
                        "POST", other.url(TASK + "/submitJob"), form={"f": "json"}, spec=spec
                    )
                job_url = other.url(TASK) + "/jobs/jX"
                server.fail_next(JOBS, 307, b"", headers={"Location": job_url})
                op = await submit(scheduler)
                with pytest.raises(AuthError, match="499"):
                    await op
        assert other.requests_to(TASK.replace("%20", " ") + "/jobs/jX")
        for record in other.requests:
            assert TOKEN.encode() not in record.body
            assert TOKEN not in record.raw_path


async def call(method: str, url: str, **kwargs: Any) -> tuple[int, str, str]:
    """One request with a fresh aiohttp session: status, content type and text."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, allow_redirects=False, **kwargs) as resp,
    ):
        return resp.status, resp.content_type, await resp.text()


class TestFake:
    """What FakeArcGIS serves, seen with a plain HTTP client."""

    async def test_parameters_and_formats(self, server: FakeArcGIS) -> None:
        """``f`` is required (json or pjson); query and form merge; messages can be left out."""
        task = server.task_url()
        status, kind, text = await call("POST", task + "/submitJob", data={"token": TOKEN})
        assert (status, kind, text) == (400, "text/html", "html not supported by fake")
        status, _, text = await call(
            "POST", task + "/submitJob?f=pjson", data={"token": TOKEN, "x": "1"}
        )
        assert status == 200
        assert text.startswith('{\n  "jobId": "j')
        job = next(iter(server.jobs.values()))
        assert job.inputs == {"x": "1"}
        query = {"f": "json", "token": TOKEN, "returnMessages": "false"}
        _, _, text = await call("GET", f"{task}/jobs/{job.job_id}", params=query)
        assert json.loads(text) == {"jobId": job.job_id, "jobStatus": "esriJobSubmitted"}
        _, _, text = await call("GET", f"{task}/jobs/{job.job_id}/inputs/x", params=query)
        assert json.loads(text) == {"paramName": "x", "dataType": "GPString", "value": "1"}
        _, _, text = await call("GET", f"{task}/jobs/{job.job_id}/results", params=query)
        assert json.loads(text)["error"]["details"] == ["Job is not succeeded"]
        while job.status != SUCCEEDED:
            await call("GET", f"{task}/jobs/{job.job_id}", params=query)
        _, _, text = await call("GET", f"{task}/jobs/{job.job_id}/results", params=query)
        assert json.loads(text) == [{"paramName": "out", "dataType": "GPString", "value": "done"}]
        _, _, text = await call("GET", f"{task}/jobs/jnope", params=query)
        assert json.loads(text)["error"] == {
            "code": 400,
            "message": "Unable to complete operation.",
            "details": ["Job not found"],
        }

    async def test_admin_cancel_is_post_only(self, server: FakeArcGIS) -> None:
        """The admin cancel answers GET with 405."""
        url = server.admin_url() + "/jobs/j1/cancel"
        status, _, _ = await call("GET", url, params={"f": "json", "token": ADMIN})
        assert status == 405

    async def test_unknown_task(self) -> None:
        """With ``tasks`` set, another task name answers an Invalid URL error."""
        async with FakeArcGIS(token_required=False, tasks={"Buffer"}) as server:
            url = server.task_url("Svc", "Other") + "/submitJob"
            _, _, text = await call("POST", url, data={"f": "json"})
        assert json.loads(text)["error"]["details"] == ["Invalid URL"]
