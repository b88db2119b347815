"""Checkpoints: versioned JSON without secrets, optionally signed, resumed anywhere."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from lrpoll import (
    BearerToken,
    CancelSpec,
    CheckpointError,
    Header,
    OperationCancelled,
    OperationFailed,
    PollTimeout,
    QueryParam,
    Scheduler,
    UntrustedURL,
)
from lrpoll._checkpoint import MAX_SIZE, load
from lrpoll.testing import FakeLROServer, JobScript

from .support import PREFIX, SPEC, cancels, make_spec, now, polls, start

if TYPE_CHECKING:
    from collections.abc import Callable

    from lrpoll import Credential, Operation

DATA = Path(__file__).parent.parent / "data"
# The key of tests/data/checkpoint-v1-signed.json (see tests/data/README.md). Test-only.
GOLDEN_KEY = b"lrpoll-test-key-v1"
GOLDEN_ORIGIN = "http://127.0.0.1:8000"
KEY = b"k" * 32


async def saved(
    scheduler: Scheduler, server: FakeLROServer, script: JobScript, *, after: float = 2.5
) -> tuple[Operation, str]:
    """An operation polled for ``after`` s, then checkpointed and stopped."""
    op, _ = await start(scheduler, server, script, spec=make_spec(max_duration=20))
    await anyio.sleep(after)
    text = op.checkpoint()
    op.stop()
    await scheduler.remove(op.id)  # handed over: resumed below as a new one
    return op, text


class TestRoundTrip:
    """A checkpoint resumed by another scheduler continues where the first one left off."""

    async def test_two_schedulers(self, server: FakeLROServer) -> None:
        """Same status URL and attempts; the PollTimeout instant keeps the time left.

        Loop time jumps 1000 s between the two, wall time hardly moves: the checkpoint's
        deadline is in wall-clock time, so the time left is what it was, within the few
        milliseconds the test really took.
        """
        async with Scheduler(base_url=server.base_url) as first:
            op, job = await start(first, server, JobScript.slow(), spec=make_spec(max_duration=20))
            await anyio.sleep(3.5)
            text = op.checkpoint(key=KEY)
            assert op.attempts == 4
            assert op.elapsed == pytest.approx(3.5)
        await anyio.sleep(1000)  # loop time only: the deadline counts in wall time
        doc = json.loads(text)
        assert doc["status_url"] == server.status_url(job.id)
        async with Scheduler(base_url=server.base_url, seed=3) as second:
            resumed_at = now()
            again = second.resume(text, key=KEY)
            assert again.id == op.id
            assert again.status_url == op.status_url
            assert (again.attempts, again.state, again.progress) == (4, "running", op.progress)
            assert again.status == op.status
            with pytest.raises(PollTimeout):
                await again
            assert now() == pytest.approx(resumed_at + 20 - 3.5, abs=0.5)
        after = [r for r in polls(server, job) if r.time >= resumed_at]
        assert again.attempts == 4 + len(after)

    async def test_running_checkpoint_deadline_is_absolute(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A running checkpoint saved 10 s (wall time) before resuming has 10 s less left."""
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(max_duration=20))
        await anyio.sleep(3.5)
        doc = json.loads(op.checkpoint())
        op.stop()
        await scheduler.remove(op.id)  # handed over: resumed below as a new one
        assert doc["v"] == 2
        assert doc["deadline"] == pytest.approx(doc["started_at"] + 20)
        for name in ("started_at", "deadline", "saved_at"):
            doc[name] -= 10.0  # as if saved ten seconds ago
        resumed_at = now()
        again = scheduler.resume(json.dumps(doc))
        with pytest.raises(PollTimeout):
            await again
        assert now() == pytest.approx(resumed_at + 20 - 3.5 - 10, abs=0.5)

    async def test_ended_checkpoint_resumes_ended(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """An ended operation's checkpoint records the end; resuming it sends nothing."""
        op, _ = await start(scheduler, server, JobScript.success(polls=2))
        result = await op
        text = op.checkpoint()
        doc = json.loads(text)
        assert (doc["state"], doc["result"], doc["error"]) == ("succeeded", result, None)
        n = len(server.requests)
        again = scheduler.resume(text)
        assert again.done
        assert await again == result
        failed, _ = await start(scheduler, server, JobScript.fail_at(1))
        with pytest.raises(OperationFailed) as info:
            await failed
        back = scheduler.resume(failed.checkpoint())
        with pytest.raises(OperationFailed) as again_info:
            await back
        assert again_info.value.message == info.value.message
        assert len(server.requests) == n + 2  # only the failed job's own start and poll

    async def test_attempts_continue_to_the_result(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """The resumed operation's attempt count continues from the checkpoint's."""
        _, text = await saved(scheduler, server, JobScript.success(polls=6))
        again = scheduler.resume(text)
        assert await again == {"url": f"/downloads/{list(server.jobs)[-1]}.csv"}
        assert again.attempts == 7 == len(server.requests_to("*/status"))

    async def test_stopped_checkpoint_keeps_time_left(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A checkpoint taken after a long stop does not count the stop (regression)."""
        op, _ = await start(scheduler, server, JobScript.slow(), spec=make_spec(max_duration=10))
        await anyio.sleep(3.5)
        op.stop()
        await scheduler.remove(op.id)  # handed over: resumed below as a new one
        await anyio.sleep(100)
        doc = json.loads(op.checkpoint())
        assert (doc["state"], doc["elapsed"]) == ("stopped", pytest.approx(3.5))
        again = scheduler.resume(json.dumps(doc))
        assert again.state == "stopped"
        n = len(server.requests)
        await anyio.sleep(50)
        assert len(server.requests) == n  # a stopped checkpoint resumes stopped
        resumed_at = now()
        again.resume()
        with pytest.raises(PollTimeout):
            await again
        assert now() == pytest.approx(resumed_at + 6.5)

    async def test_spec_override(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """``resume(spec=...)`` replaces the stored spec (here: a 5 s interval)."""
        _, text = await saved(scheduler, server, JobScript.slow())
        job = list(server.jobs.values())[-1]
        again = scheduler.resume(text, spec=make_spec(interval=5.0))
        assert again.spec.effective_backoff.delay == 5.0
        await anyio.sleep(30)
        times = [r.time for r in polls(server, job)][3:]
        assert [b - a for a, b in itertools.pairwise(times)] == pytest.approx([5.0] * 5)

    async def test_spec_override_rescues_invalid_stored_spec(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """An unusable stored spec is a CheckpointError, unless a spec is passed."""
        _, text = await saved(scheduler, server, JobScript.slow())
        doc = json.loads(text)
        doc["spec"]["done"] = "status =="
        with pytest.raises(CheckpointError, match="spec is invalid"):
            scheduler.resume(json.dumps(doc))
        again = scheduler.resume(json.dumps(doc), spec=SPEC)
        assert again.state == "running"

    async def test_saved_while_cancelling_does_not_resend(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A checkpoint taken while ``cancelling`` goes on confirming; no second cancel."""
        op, job = await start(scheduler, server, JobScript.cancel_async(4))
        await anyio.sleep(1.5)
        async with anyio.create_task_group() as tg:
            tg.start_soon(op.cancel)
            await anyio.sleep(1.5)
            assert op.state == "cancelling"
            text = op.checkpoint()
            op.stop()
            await scheduler.remove(op.id)  # handed over: resumed below as a new one
        doc = json.loads(text)
        assert (doc["state"], doc["cancel_sent"]) == ("cancelling", True)
        again = scheduler.resume(text)
        assert again.state == "cancelling"
        with pytest.raises(OperationCancelled):
            await again
        outcome = await again.cancel()
        assert (outcome.kind, outcome.sent) == ("cancelled", True)
        assert len(cancels(server, job)) == 1

    async def test_cancel_not_sent_is_not_recorded(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A cancel refused before sending leaves ``cancel_sent`` false: a resume may send it."""
        off_origin = CancelSpec(url="http://127.0.0.2:9/cancel/{start.jobId}")
        op, job = await start(
            scheduler, server, JobScript.slow(), spec=make_spec(cancel=off_origin)
        )
        await anyio.sleep(1.5)
        assert (await op.cancel()).kind == "refused"
        text = op.checkpoint()
        op.stop()
        await scheduler.remove(op.id)  # handed over: resumed below as a new one
        assert json.loads(text)["cancel_sent"] is False
        again = scheduler.resume(text, spec=SPEC)  # a spec with a usable cancel URL
        assert (await again.cancel()).kind == "cancelled"
        assert len(cancels(server, job)) == 1

    async def test_cancel_sent_is_not_resent(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A cancel answered before the checkpoint is never sent again by the resumed op."""
        op, job = await start(scheduler, server, JobScript.cancel_unsupported())
        await anyio.sleep(1.5)
        assert (await op.cancel()).kind == "not_supported"
        text = op.checkpoint()
        op.stop()
        await scheduler.remove(op.id)  # handed over: resumed below as a new one
        assert json.loads(text)["cancel_sent"] is True
        again = scheduler.resume(text)
        outcome = await again.cancel()
        assert (outcome.kind, outcome.sent, outcome.message) == (
            "refused",
            True,
            "sent before the checkpoint",
        )
        assert len(cancels(server, job)) == 1

    async def test_last_status_with_nan_still_loads(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A status body holding NaN does not make an unloadable checkpoint (regression)."""
        op, _ = await start(scheduler, server, JobScript.slow())
        server.fail_next("*/status", status=200, body=b'{"status": "running", "progress": NaN}')
        await anyio.sleep(0.5)
        assert op.attempts == 1
        text = op.checkpoint()
        assert "NaN" not in text
        op.stop()
        await scheduler.remove(op.id)  # handed over: resumed below as a new one
        again = scheduler.resume(text)
        assert again.status is None
        assert again.progress is None


@pytest.mark.parametrize(
    ("credential", "shows"),
    [
        (BearerToken, lambda r: r.headers["authorization"] == "REDACTED"),
        (lambda s: QueryParam("token", s), lambda r: r.query["token"]),
        (lambda s: Header("X-Api-Key", s), lambda r: r.headers["x-api-key"] == "REDACTED"),
    ],
    ids=["bearer", "query", "header"],
)
async def test_no_secrets_inside(
    server: FakeLROServer,
    credential: Callable[[str], Credential],
    shows: Callable[[Any], Any],
) -> None:
    """A credential's secret and a cookie sent with the start request never reach the text."""
    secret = "s3cr3t-" + os.urandom(8).hex()
    cookie = "c00kie-" + os.urandom(8).hex()
    creds = {server.base_url: credential(secret)}
    async with Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
        server.script_next(JobScript.slow())
        op = await scheduler.start(
            "POST", PREFIX, json={}, spec=SPEC, headers={"Cookie": f"session={cookie}"}
        )
        await anyio.sleep(2.5)
        texts = [op.checkpoint(), op.checkpoint(key=KEY)]
        op.stop()
        texts.append(op.checkpoint())
    # the secrets were really in use ...
    assert all(shows(r) for r in server.requests)
    assert server.requests[0].headers["cookie"] == "REDACTED"
    # ... and never made it into a checkpoint
    for text in texts:
        assert secret not in text
        assert cookie not in text
        assert "REDACTED" not in text


class TestRejected:
    """A bad checkpoint is refused with CheckpointError before anything is sent."""

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            (lambda d: d.update(v=3), "unknown checkpoint version 3"),
            (lambda d: d.update(v="1"), "unknown checkpoint version"),
            (lambda d: d.update(v=True), "unknown checkpoint version"),
            (lambda d: d.pop("v"), "unknown checkpoint version None"),
            (lambda d: d.update(kind="other"), "not an lrpoll checkpoint"),
            (lambda d: d.update(attempts="3"), "'attempts' has the wrong type"),
            (lambda d: d.update(attempts=3.0), "'attempts' has the wrong type"),
            (lambda d: d.update(errors=False), "'errors' has the wrong type"),
            (lambda d: d.update(elapsed=None), "'elapsed' has the wrong type"),
            (lambda d: d.update(spec=[]), "'spec' has the wrong type"),
            (lambda d: d.update(status_url=None), "'status_url' has the wrong type"),
            (lambda d: d.update(start_headers=[]), "'start_headers' has the wrong type"),
            (lambda d: d.update(cancel_sent=1), "'cancel_sent' has the wrong type"),
            (lambda d: d.update(progress="50"), "'progress' has the wrong type"),
            (lambda d: d.pop("id"), "'id' has the wrong type"),
            (lambda d: d.update(state="nowhere"), "not resumable"),
            (lambda d: d.update(attempts=-1), "negative"),
            (lambda d: d.update(elapsed=-0.5), "negative"),
            (lambda d: d.update(spec={"bogus": 1}), "spec is invalid"),
            (lambda d: d.update(status_url="http://["), "'status_url' is not a URL"),
            (lambda d: d.update(request_url="http://[::1"), "'request_url' is not a URL"),
        ],
        ids=lambda value: value if isinstance(value, str) else None,
    )
    async def test_wrong_shape(
        self,
        scheduler: Scheduler,
        server: FakeLROServer,
        change: Callable[[dict[str, Any]], object],
        match: str,
    ) -> None:
        """Unknown versions, wrong types and impossible values are refused, naming the field."""
        _, text = await saved(scheduler, server, JobScript.slow())
        doc = json.loads(text)
        change(doc)
        await self.refused(scheduler, server, json.dumps(doc), match)

    @pytest.mark.parametrize(
        ("edit", "match"),
        [
            (lambda t: t[:-1], "not valid JSON"),
            (lambda t: "[" + t + "]", "not a JSON object"),
            (lambda t: "", "not valid JSON"),
            (lambda t: t.replace('"elapsed":', '"elapsed":NaN,"x":'), "NaN"),
            (lambda t: t.replace('"elapsed":', '"elapsed":Infinity,"x":'), "Infinity"),
            (lambda t: t.replace('"elapsed":', '"elapsed":1e400,"x":'), "not a finite number"),
            (lambda t: t.replace('"attempts":', '"attempts":' + "9" * 5000 + ',"x":'), "JSON"),
            (lambda t: "[" * 100_000, "not valid JSON"),
            (lambda t: t[:-1] + ',"pad":"' + "x" * MAX_SIZE + '"}', "over the"),
            (lambda t: t[:-1] + ',"pad":"' + "é" * (MAX_SIZE // 2) + '"}', "over the"),
        ],
        ids=[
            "truncated",
            "array",
            "empty",
            "nan",
            "infinity",
            "overflow",
            "huge-int",
            "deep",
            "oversize",
            "oversize-utf8",
        ],
    )
    async def test_bad_text(
        self,
        scheduler: Scheduler,
        server: FakeLROServer,
        edit: Callable[[str], str],
        match: str,
    ) -> None:
        """Bad JSON, NaN/Infinity, overflow and texts over the size cap are refused."""
        _, text = await saved(scheduler, server, JobScript.slow())
        await self.refused(scheduler, server, edit(text), match)
        await self.refused(scheduler, server, edit(text).encode(), match)

    async def test_not_text(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """Anything but str or bytes is refused."""
        await self.refused(scheduler, server, {"v": 1}, "JSON string")  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("sign_with", "load_with", "tamper", "match"),
        [
            (KEY, KEY, True, "signature does not match"),
            (KEY, b"another key", False, "signature does not match"),
            (KEY, None, False, "pass the key"),
            (None, KEY, False, "signature does not match"),
        ],
        ids=["tampered", "wrong-key", "signed-without-key", "key-without-signature"],
    )
    async def test_signature(
        self,
        scheduler: Scheduler,
        server: FakeLROServer,
        sign_with: bytes | None,
        load_with: bytes | None,
        tamper: bool,
        match: str,
    ) -> None:
        """A tampered, wrongly keyed, unchecked or missing signature is refused."""
        op, _ = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(2.5)
        text = op.checkpoint(key=sign_with)
        op.stop()
        await scheduler.remove(op.id)  # handed over: resumed below as a new one
        if tamper:
            doc = json.loads(text)
            doc["elapsed"] = 0.0  # buy more time
            text = json.dumps(doc)
        await self.refused(scheduler, server, text, match, key=load_with)
        if not tamper and sign_with == load_with:
            raise AssertionError("unreachable")

    async def test_signed_round_trip(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """A signed checkpoint loads with its key, whatever the key order of the JSON."""
        op, _ = await start(scheduler, server, JobScript.slow())
        await anyio.sleep(2.5)
        text = op.checkpoint(key=KEY)
        op.stop()
        shuffled = json.dumps(dict(reversed(list(json.loads(text).items()))), indent=2)
        assert load(shuffled, key=KEY)["id"] == op.id

    async def test_status_url_off_origin(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """A status URL off the trusted origins is refused with UntrustedURL; nothing sent."""
        _, text = await saved(scheduler, server, JobScript.slow())
        doc = json.loads(text)
        for url in (
            "http://127.0.0.2:9/api/exports/x/status",
            "file:///etc/passwd",
            server.base_url.replace("http:", "https:") + "/api/exports/x/status",
        ):
            doc["status_url"] = url
            await self.refused(
                scheduler, server, json.dumps(doc), "trusted origin|URL scheme", error=UntrustedURL
            )

    async def test_request_url_off_origin_refuses_cancel(
        self, scheduler: Scheduler, server: FakeLROServer
    ) -> None:
        """A relative cancel URL resolved against a foreign ``request_url`` is never sent."""
        _, text = await saved(scheduler, server, JobScript.slow())
        doc = json.loads(text)
        doc["request_url"] = "http://127.0.0.2:9/api/exports"
        again = scheduler.resume(json.dumps(doc))
        outcome = await again.cancel()
        assert (outcome.kind, outcome.sent) == ("refused", False)
        assert cancels(server) == []

    @staticmethod
    async def refused(
        scheduler: Scheduler,
        server: FakeLROServer,
        text: str | bytes,
        match: str,
        *,
        key: bytes | None = None,
        error: type[Exception] = CheckpointError,
    ) -> None:
        """Resume ``text``: it raises ``error``, and the server sees nothing for a while."""
        n = len(server.requests)
        with pytest.raises(error, match=match):
            scheduler.resume(text, key=key)
        await anyio.sleep(10)
        assert len(server.requests) == n
        assert scheduler.statistics().heap_size == 0


async def test_resumes_spread_over_one_interval(server: FakeLROServer) -> None:
    """200 resumed operations send their first polls spread over one interval, reproducibly."""
    async with Scheduler(base_url=server.base_url) as first:
        op, _ = await start(first, server, JobScript.slow(), spec=make_spec(interval=2.0))
        await anyio.sleep(0.5)
        template = json.loads(op.checkpoint())
    texts = []
    for i in range(200):
        job = server.add_job(JobScript.slow())
        texts.append(
            json.dumps({**template, "id": f"r{i}", "status_url": server.status_url(job.id)})
        )

    async def first_polls() -> list[float]:
        async with Scheduler(base_url=server.base_url, seed=42) as scheduler:
            server.requests.clear()
            resumed_at = now()
            for text in texts:
                scheduler.resume(text)
            await anyio.sleep(1.999)
            offsets = [r.time - resumed_at for r in server.requests]
        assert all(0 <= t < 2.0 for t in offsets)
        assert len(offsets) == 200  # each op polled once, within the interval
        return offsets

    offsets = await first_polls()
    buckets = Counter(int(t / 0.25) for t in offsets)  # eight buckets of 0.25 s
    assert sorted(buckets) == list(range(8))
    assert max(buckets.values()) <= 40  # 25 expected per bucket; none takes a herd
    assert min(buckets.values()) >= 10
    assert await first_polls() == pytest.approx(offsets)  # same seed, same schedule


class TestGolden:
    """Checkpoints written by format v1 load with the current code (tests/data)."""

    def test_unsigned_fields(self) -> None:
        """The unsigned golden file loads and keeps its fields."""
        doc = load((DATA / "checkpoint-v1.json").read_text())
        assert (doc["v"], doc["kind"], doc["state"]) == (1, "lrpoll.checkpoint", "running")
        assert doc["status_url"] == GOLDEN_ORIGIN + "/api/exports/job-1/status"
        assert (doc["attempts"], doc["errors"], doc["elapsed"]) == (3, 0, 2.5)

    async def test_unsigned_resumes(self, scheduler: Scheduler, server: FakeLROServer) -> None:
        """The unsigned golden file resumes against a live fake and runs to the result."""
        text = (DATA / "checkpoint-v1.json").read_text().replace(GOLDEN_ORIGIN, server.base_url)
        job = server.add_job(JobScript.success(polls=4), job_id="job-1")
        job.polls = 3
        op = scheduler.resume(text)
        assert (op.id, op.attempts, op.progress) == ("op-1", 3, 60)
        assert op.status == {
            "jobId": "job-1",
            "status": "running",
            "progress": 60,
            "message": "Export in progress",
        }
        assert await op == {"url": "/downloads/job-1.csv"}
        assert op.attempts == 5

    async def test_signed_resumes(self) -> None:
        """The signed golden file (stopped) checks with its documented key and resumes stopped."""
        text = (DATA / "checkpoint-v1-signed.json").read_text()
        with pytest.raises(CheckpointError, match="pass the key"):
            load(text)
        with pytest.raises(CheckpointError, match="does not match"):
            load(text, key=b"another key")
        async with Scheduler(base_url=GOLDEN_ORIGIN) as scheduler:
            op = scheduler.resume(text, key=GOLDEN_KEY)
            assert (op.state, op.attempts) == ("stopped", 3)
            assert op.elapsed == pytest.approx(2.5)
            assert op.spec.cancel is not None
            assert op.spec.cancel.url == PREFIX + "/{start.jobId}/cancel"


RESUMER = textwrap.dedent(
    """
    import asyncio, json, os, sys
    import lrpoll

    async def main() -> None:
        base = os.environ["LRPOLL_TEST_BASE"]
        token = lrpoll.BearerToken(os.environ["LRPOLL_TEST_SECRET"])
        text = open(sys.argv[1], encoding="utf-8").read()
        async with lrpoll.Scheduler(base_url=base, credentials={base: token}) as scheduler:
            op = scheduler.resume(text, key=os.environ["LRPOLL_TEST_KEY"].encode())
            result = await op
            print(json.dumps({"id": op.id, "attempts": op.attempts, "result": result}))

    asyncio.run(main())
    """
)


def test_resume_in_another_process(tmp_path: Path) -> None:
    """A subprocess resumes a signed checkpoint with its own credentials (real time, bounded)."""
    asyncio.run(_resume_in_another_process(tmp_path))


async def _resume_in_another_process(tmp_path: Path) -> None:
    secret = "s3cr3t-" + os.urandom(8).hex()
    key = os.urandom(16).hex()
    spec = make_spec(interval=0.05, max_duration=60)
    async with FakeLROServer(default_script=JobScript.success(polls=6), bearer=secret) as server:
        creds = {server.base_url: BearerToken(secret)}
        async with Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            op = await scheduler.start("POST", PREFIX, json={}, spec=spec)
            async for _ in op.updates():
                if op.attempts >= 2:
                    break
            text = op.checkpoint(key=key.encode())
            op.stop()
        assert secret not in text
        path = tmp_path / "checkpoint.json"
        path.write_text(text, encoding="utf-8")
        env = {
            **os.environ,
            "LRPOLL_TEST_BASE": server.base_url,
            "LRPOLL_TEST_SECRET": secret,
            "LRPOLL_TEST_KEY": key,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            RESUMER,
            str(path),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        finally:
            if proc.returncode is None:
                proc.kill()  # by its PID
                await proc.wait()
        assert proc.returncode == 0, err.decode()
        job = next(iter(server.jobs.values()))
        assert json.loads(out) == {
            "id": op.id,
            "attempts": 7,
            "result": {"url": f"/downloads/{job.id}.csv"},
        }
        statuses = [r.status for r in server.requests_to("*/status")]
        assert statuses == [200] * 7  # every poll, before and after, carried the credential
