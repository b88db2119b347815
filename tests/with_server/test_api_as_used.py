"""The API as a new user meets it: each test makes the mistake, then expects the answer.

One class per point of the "API as used" issue: waiting with a timeout, conditions that
cannot match, hook errors, operation ids and the checkpoint store, final updates and
progress throttling, credential hints, HTML start answers, start/watch shapes, cancel
without a CancelSpec, relative URLs without a base URL.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING

import anyio
import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, export_spec, now

if TYPE_CHECKING:
    from pathlib import Path

    from tests.helpers import LogCapture

TEMPLATED = {"status_from": (), "status_url": "/api/exports/{start.jobId}/status"}


class TestWaitingWithATimeout:
    """Point 1: a waiter's deadline need not stop the operation for everyone."""

    async def test_detach_leaves_the_operation_running(self, server: FakeLROServer) -> None:
        """``op.wait(abandon="detach")`` under ``asyncio.timeout`` leaves it polled."""
        server.script_next(JobScript.success(polls=5))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec())
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.5):
                    await op.wait(abandon="detach")
            assert op.state == "running"
            with anyio.move_on_after(1.5):
                await op.wait(abandon="detach")
            assert op.state == "running"
            assert await op == {"url": "/downloads/job-1.csv"}

    async def test_the_default_still_stops(self, server: FakeLROServer) -> None:
        """Without ``abandon=``, the operation's own policy applies (``"stop"`` by default)."""
        server.script_next(JobScript.success(polls=5))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec())
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(op.wait(), 1.5)
            assert op.state == "stopped"


class TestConditionsThatCannotMatch:
    """Point 2: a condition that never holds is refused, or at least visible."""

    def test_double_quoted_string_is_refused_with_the_fix(self) -> None:
        """``status == "done"`` compares with a field: SpecError naming field, position, fix."""
        with pytest.raises(lrpoll.SpecError) as info:
            lrpoll.PollSpec(status_url="/s", done='status == "done"')
        assert (info.value.field, info.value.position) == ("done", 10)
        assert "write 'done'" in str(info.value)

    def test_two_fields_compared_say_the_escape(self) -> None:
        """``"job-state" == other`` (two fields) is refused with the ``@."job-state"`` escape."""
        with pytest.raises(lrpoll.SpecError, match=r'@\."job-state" if the field is meant'):
            lrpoll.PollSpec(status_url="/s", done='"job-state" == other')

    @pytest.mark.parametrize(
        "text", ["\"job-state\" == 'done'", '@."job-state" == other', 'a."b" == `1`']
    )
    def test_quoted_fields_stay_possible(self, text: str) -> None:
        """A quoted field compared with a literal, or inside a path, is accepted."""
        lrpoll.PollSpec(status_url="/s", done=text)

    async def test_unbounded_spec_logs_one_warning(
        self, server: FakeLROServer, logs: LogCapture
    ) -> None:
        """A spec without max_duration or max_attempts gets one warning record, not per op."""
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            spec = export_spec()
            for _ in range(3):
                await (await scheduler.start("POST", EXPORTS, spec=spec))
            await (await scheduler.start("POST", EXPORTS, spec=export_spec(max_duration=60)))
        warned = [e for e in logs.events(logging.WARNING) if "max_duration" in e]
        assert len(warned) == 1

    async def test_poll_timeout_shows_the_last_status(self, server: FakeLROServer) -> None:
        """PollTimeout's message carries a snippet of the last status document."""
        server.script_next(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec(max_duration=2.5))
            with pytest.raises(lrpoll.PollTimeout) as info:
                await op
        assert 'last status: {"jobId":"job-1","status":"running"' in str(info.value)


class TestHookErrors:
    """Point 3: hook errors are loud."""

    async def test_async_hook_is_refused_when_registered(self, server: FakeLROServer) -> None:
        """An ``async def`` hook raises TypeError at start(), before anything is sent."""

        async def post(op: lrpoll.Operation) -> None:
            """Would never be awaited."""

        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(TypeError, match="on_done is an async function"):
                await scheduler.start("POST", EXPORTS, spec=export_spec(), on_done=post)
        assert server.requests == []

    async def test_failing_hook_logs_reason_and_traceback(
        self, server: FakeLROServer, logs: LogCapture
    ) -> None:
        """A raising hook is logged at error level with its exception and traceback."""

        def store(op: lrpoll.Operation) -> None:
            raise KeyError("no such bucket")

        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.start("POST", EXPORTS, spec=export_spec(), on_done=store))
        [error] = logs.events(logging.ERROR)
        assert error.startswith("hook on_done failed: KeyError('no such bucket')")
        assert "Traceback (most recent call last)" in error

    async def test_strict_mode_reraises(self, server: FakeLROServer) -> None:
        """``hook_errors="raise"`` re-raises the first hook exception when the scheduler exits."""

        def broken(op: lrpoll.Operation) -> None:
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            async with lrpoll.Scheduler(base_url=server.base_url, hook_errors="raise") as s:
                await (await s.start("POST", EXPORTS, spec=export_spec(), on_status=broken))

    async def test_checkpoint_in_on_status_sees_the_end(self, server: FakeLROServer) -> None:
        """``on_status=lambda op: save(op.checkpoint())`` saves the terminal state last."""
        saved: list[str] = []
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start(
                "POST",
                EXPORTS,
                spec=export_spec(),
                on_status=lambda o: saved.append(o.checkpoint()),
            )
            await op
        last = json.loads(saved[-1])
        assert (last["state"], last["result"]) == ("succeeded", {"url": "/downloads/job-1.csv"})


class TestIdsAndStore:
    """Point 4: unique ids, lookups, and a checkpoint store."""

    async def test_default_ids_are_unique_across_schedulers(self, server: FakeLROServer) -> None:
        """Default ids are ``op-`` and 12 hex digits, never reused by a second scheduler."""
        ids = []
        for _ in range(2):
            async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
                ids.append((await scheduler.start("POST", EXPORTS, spec=export_spec())).id)
        assert ids[0] != ids[1]
        assert all(i.startswith("op-") and len(i) == 15 for i in ids)

    async def test_duplicate_live_id_is_refused(self, server: FakeLROServer) -> None:
        """A second unfinished operation with a held id is refused before anything is sent."""
        server.script_next(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id="export-7")
            sent = len(server.requests)
            with pytest.raises(ValueError, match="'export-7' is already running"):
                await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id="export-7")
            assert len(server.requests) == sent

    async def test_resuming_a_stopped_ones_checkpoint_points_at_resume(
        self, server: FakeLROServer
    ) -> None:
        """Resuming the checkpoint of an operation stopped here says to call its resume()."""
        server.script_next(JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec())
            op.stop()
            with pytest.raises(ValueError, match=r"\.resume\(\) instead"):
                scheduler.resume(op.checkpoint())

    async def test_get_and_find(self, server: FakeLROServer) -> None:
        """``get(id)`` finds an operation, ended or not; ``find(state=)`` filters by state."""
        server.script_next(JobScript.success(polls=0), JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            done = await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id="a")
            slow = await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id="b")
            await done
            assert scheduler.get("a") is done
            assert scheduler.get("nope") is None
            assert scheduler.find(state="running") == [slow]
            assert scheduler.find(state=("succeeded", "running")) == [done, slow]
            with pytest.raises(ValueError, match="stop or cancel it first"):
                await scheduler.remove("b")
            await scheduler.remove("a")
            assert scheduler.get("a") is None

    async def test_ended_operations_are_bounded(self, server: FakeLROServer) -> None:
        """Past ``keep_ended``, the oldest ended operations are forgotten; live ones never."""
        server.script_next(*[JobScript.success(polls=0)] * 3, JobScript.slow())
        async with lrpoll.Scheduler(base_url=server.base_url, keep_ended=2) as scheduler:
            ended = [
                await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id=f"e{i}")
                for i in range(3)
            ]
            slow = await scheduler.start("POST", EXPORTS, spec=export_spec(), operation_id="s")
            for op in ended:
                await op
            assert scheduler.get("e0") is None
            assert [op.id for op in scheduler.find(state="succeeded")] == ["e1", "e2"]
            assert scheduler.get("s") is slow

    async def test_keep_ended_none_keeps_all(self, server: FakeLROServer) -> None:
        """``keep_ended=None`` keeps every ended operation until ``remove``."""
        server.script_next(*[JobScript.success(polls=0)] * 3)
        async with lrpoll.Scheduler(base_url=server.base_url, keep_ended=None) as scheduler:
            for i in range(3):
                op = await scheduler.start(
                    "POST", EXPORTS, spec=export_spec(), operation_id=f"e{i}"
                )
                await op
            assert len(scheduler.find(state="succeeded")) == 3

    async def test_store_survives_a_restart(self, server: FakeLROServer) -> None:
        """A store keeps running and ended operations; resume_all brings them back.

        An in-memory store: a thread's file I/O would let looptime's clock run ahead
        (examples/web_service.py covers DirectoryStore across a real kill).
        """
        store = MemoryStore()
        server.script_next(JobScript.success(polls=0), JobScript.success(polls=6))
        async with lrpoll.Scheduler(base_url=server.base_url, checkpoint_store=store) as first:
            ended = await first.start("POST", EXPORTS, spec=export_spec(), operation_id="a/1")
            await first.start("POST", EXPORTS, spec=export_spec(), operation_id="b")
            await ended
            await anyio.sleep(2.5)
        assert sorted(store.saved) == ["a/1", "b"]
        async with lrpoll.Scheduler(base_url=server.base_url, checkpoint_store=store) as second:
            ops = {op.id: op for op in await second.resume_all()}
            assert ops["a/1"].state == "succeeded"
            assert ops["b"].state == "running"
            assert await ops["b"] == {"url": "/downloads/job-2.csv"}
            again = await second.resume_all()  # ended ones may be resumed again
            assert [(op.id, op.state) for op in again] == [("a/1", "succeeded"), ("b", "succeeded")]
            await second.remove("a/1")
        assert sorted(store.saved) == ["b"]
        assert json.loads(store.saved["b"])["state"] == "succeeded"


class MemoryStore:
    """A CheckpointStore in a dict."""

    def __init__(self) -> None:
        self.saved: dict[str, str] = {}

    async def save(self, operation_id: str, checkpoint: str) -> None:
        """Keep it."""
        self.saved[operation_id] = checkpoint

    async def load_all(self) -> list[str]:
        """All of them."""
        return list(self.saved.values())

    async def remove(self, operation_id: str) -> None:
        """Drop it."""
        self.saved.pop(operation_id, None)


class TestFinalUpdates:
    """Point 5: one final message, and throttled progress."""

    async def test_last_update_is_final(self, server: FakeLROServer) -> None:
        """Only the terminal update carries ``final=True``."""
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec())
            finals = [u.final async for u in op.updates()]
        assert finals == [False, False, False, True]
        assert op.snapshot().final

    async def test_progress_throttling(self, server: FakeLROServer) -> None:
        """on_progress fires on steps of ``progress_min_step`` percent; the end always fires."""
        server.script_next(JobScript.success(polls=9))
        seen: list[float | None] = []
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start(
                "POST",
                EXPORTS,
                spec=export_spec(),
                on_progress=lambda o: seen.append(o.progress),
                progress_min_step=25,
                progress_min_interval=2.5,
            )
            await op
        assert seen == [10.0, 40.0, 70.0, 100.0]


class TestCredentialHints:
    """Point 6: an AuthError says whether a credential went, and for which origin."""

    async def test_origin_mismatch_is_named(self) -> None:
        """Credentials keyed by ``localhost`` while the base URL says 127.0.0.1: no credential."""
        async with FakeLROServer(bearer="s3cret") as server:
            port = server.base_url.rsplit(":", 1)[1]
            creds = {f"http://localhost:{port}": lrpoll.BearerToken("s3cret")}
            async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as s:
                with pytest.raises(lrpoll.AuthError) as info:
                    await s.start("POST", EXPORTS, spec=export_spec())
        message = str(info.value)
        assert f"no credential was sent to http://127.0.0.1:{port}" in message
        assert f"credentials are given for http://localhost:{port}" in message
        assert "s3cret" not in message

    async def test_poll_answered_401_says_the_same(self) -> None:
        """A status poll answered 401 ends with an AuthError that says what was sent."""
        async with FakeLROServer(bearer="s3cret") as server:
            job = server.add_job()
            async with lrpoll.Scheduler(base_url=server.base_url) as s:
                op = await s.watch(server.status_url(job.id), export_spec())
                with pytest.raises(lrpoll.AuthError, match=r"no credential was sent to .*none are"):
                    await op

    async def test_attached_but_refused(self, logs: LogCapture) -> None:
        """A token written with its scheme word warns, and the 401 says a BearerToken went."""
        async with FakeLROServer(bearer="s3cret") as server:
            creds = {server.base_url: lrpoll.BearerToken("Bearer s3cret")}
            async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as s:
                with pytest.raises(lrpoll.AuthError, match="a BearerToken was sent for"):
                    await s.start("POST", EXPORTS, spec=export_spec())
        assert any("starts with 'Bearer '" in e for e in logs.events(logging.WARNING))
        assert "s3cret" not in logs.text()


class TestHtmlStartAnswer:
    """Point 7: a login page instead of the start answer."""

    async def test_html_start_answer_is_malformed_status(self, server: FakeLROServer) -> None:
        """A 200 HTML page raises MalformedStatus naming the content type, not TemplateError."""
        server.fail_next(
            EXPORTS,
            status=200,
            body=b"<html><body>Please log in</body></html>",
            headers={"Content-Type": "text/html"},
        )
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.MalformedStatus) as info:
                await scheduler.start("POST", EXPORTS, spec=export_spec(**TEMPLATED))
        assert "text/html" in str(info.value)
        assert "Please log in" in str(info.value)


class TestOneShape:
    """Point 8: start and watch are awaited the same way."""

    async def test_both_return_the_operation(self, server: FakeLROServer) -> None:
        """``await scheduler.start()`` and ``await scheduler.watch()`` both give an Operation."""
        job = server.add_job(JobScript.success(polls=1))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            started = await scheduler.start("POST", EXPORTS, spec=export_spec())
            watched = await scheduler.watch(server.status_url(job.id), export_spec())
            assert isinstance(started, lrpoll.Operation)
            assert isinstance(watched, lrpoll.Operation)
            assert await started == {"url": "/downloads/job-2.csv"}
            assert await watched == {"url": "/downloads/job-1.csv"}


class TestCancelWithoutCancelSpec:
    """Point 9: op.cancel() and token.cancel() agree."""

    async def test_same_outcome_both_ways(self, server: FakeLROServer) -> None:
        """Both stop the operation and answer ``not_supported``; nothing is sent."""
        server.script_next(JobScript.slow(), JobScript.slow())
        token = lrpoll.CancelToken()
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            direct = await scheduler.start("POST", EXPORTS, spec=export_spec())
            via = await scheduler.start("POST", EXPORTS, spec=export_spec(), token=token)
            one = await direct.cancel()
            [two] = await token.cancel()
        assert (one.kind, two.kind) == ("not_supported", "not_supported")
        assert (direct.state, via.state) == ("stopped", "stopped")
        assert server.requests_to("*/cancel") == []


class TestRelativeUrlWithoutBase:
    """Point 10: a relative URL with no base_url is a usage error with the fix."""

    async def test_spec_error_with_the_fix(self) -> None:
        """start() and watch() raise SpecError saying to give base_url."""
        async with lrpoll.Scheduler() as scheduler:
            with pytest.raises(lrpoll.SpecError, match=r"needs Scheduler\(base_url="):
                await scheduler.start("POST", EXPORTS, spec=export_spec())
            with pytest.raises(lrpoll.SpecError, match="or give an absolute URL"):
                await scheduler.watch("/api/exports/1/status", export_spec())
        assert now() >= 0


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class TestDirectoryStore:
    """The shipped store: one file per id, written atomically."""

    async def test_names_round_trip_and_remove(self, tmp_path: Path) -> None:
        """Odd and long ids get safe file names; remove is idempotent; no temp files stay."""
        store = lrpoll.DirectoryStore(tmp_path)
        long_id = "x" * 300
        for op_id in ("../up", long_id, "plain"):
            await store.save(op_id, f'"{op_id[:5]}"')
        await store.save("plain", '"again"')
        names = _names(tmp_path)
        assert names[0] == "..%2Fup.json"
        assert "plain.json" in names
        assert any(n.startswith("sha256-") for n in names)
        assert sorted(await store.load_all()) == ['"../up"', '"again"', '"xxxxx"']
        await store.remove("plain")
        await store.remove("plain")
        assert len(await store.load_all()) == 2
        assert isinstance(store, lrpoll.CheckpointStore)
