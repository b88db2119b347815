"""Retry-After as the runtime honours it (RELIABILITY E32-E40), read from the request log."""

from __future__ import annotations

import logging

import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, LogCapture, doc, export_spec, gaps, now, poll_times

# One instant and the same instant seven seconds later, in the three HTTP-date forms.
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
PLUS_7 = {
    "imf": "Sun, 06 Nov 1994 08:49:44 GMT",
    "rfc850": "Sunday, 06-Nov-94 08:49:44 GMT",
    "asctime": "Sun Nov  6 08:49:44 1994",
}


def _warnings(logs: LogCapture) -> list[str]:
    # The specs here set no deadline on purpose: leave out the warning about that.
    return [e for e in logs.events(logging.WARNING) if not e.startswith("spec has no max_")]


class TestDelaySeconds:
    """Retry-After in delay-seconds replaces the interval for the next poll."""

    async def test_retry_after_5_polls_exactly_5_s_later(self, server: FakeLROServer) -> None:
        """E32: `Retry-After: 5` on each running answer spaces the polls by 5 s, not 1 s."""
        job = server.add_job(JobScript.success(polls=3, retry_after="5"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec(interval=1.0)))
        assert poll_times(server) == [0.0, 5.0, 10.0, 15.0]

    async def test_retry_after_0_waits_min_interval(self, server: FakeLROServer) -> None:
        """E33: `Retry-After: 0` waits min_interval, never a tight loop."""
        job = server.add_job(JobScript.success(polls=3, retry_after="0"))
        spec = export_spec(interval=10.0, min_interval=2.0)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), spec))
        assert gaps(poll_times(server)) == [2.0, 2.0, 2.0]

    async def test_huge_retry_after_is_clamped_to_max_retry_after(
        self, server: FakeLROServer
    ) -> None:
        """E34: ten digits are valid and clamped to max_retry_after."""
        job = server.add_job(JobScript.success(polls=2, retry_after="9999999999"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (
                await scheduler.watch(server.status_url(job.id), export_spec(max_retry_after=30.0))
            )
        assert poll_times(server) == [0.0, 30.0, 60.0]

    async def test_huge_retry_after_never_passes_the_deadline(self, server: FakeLROServer) -> None:
        """E34/E40: the clamped wait is clipped to max_duration, which then ends the op."""
        job = server.add_job(JobScript.slow(retry_after="9999999999"))
        spec = export_spec(max_retry_after=30.0, max_duration=45.0)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), spec)
            with pytest.raises(lrpoll.PollTimeout):
                await op
            assert now() == 45.0
        assert poll_times(server) == [0.0, 30.0]

    @pytest.mark.parametrize(
        "value",
        ["1e400", "inf", "Infinity", "-5", "+5", "5.5", "١٢", "²", "", "99999999999", "0x10"],
    )
    async def test_invalid_values_are_ignored_with_a_warning(
        self, server: FakeLROServer, logs: LogCapture, value: str
    ) -> None:
        """E34/E35: values outside the grammar keep the interval and warn once per answer."""
        job = server.add_job(JobScript.success(polls=2, retry_after=value))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec(interval=3.0)))
        assert poll_times(server) == [0.0, 3.0, 6.0]
        assert [w.startswith("ignored invalid Retry-After") for w in _warnings(logs)] == [True] * 2

    async def test_surrounding_whitespace_is_not_part_of_the_value(
        self, server: FakeLROServer, logs: LogCapture
    ) -> None:
        """` 5 ` reads as 5: optional whitespace is not part of a field value (RFC 9110 §5.5)."""
        job = server.add_job(JobScript.success(polls=1, retry_after=" 5 "))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert poll_times(server) == [0.0, 5.0]
        assert _warnings(logs) == []

    async def test_retry_after_ms(self, server: FakeLROServer) -> None:
        """E39: a spec reading `retry-after-ms` first waits 1500 ms for `1500`."""
        job = server.add_job(JobScript.success(polls=1))
        server.fail_next(
            "*/status",
            status=200,
            body=doc(),
            headers={"retry-after-ms": "1500", "Retry-After": "9"},
        )
        spec = export_spec(retry_after_headers=("retry-after-ms", "retry-after"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), spec))
        assert poll_times(server) == [0.0, 1.5, 2.5]


class TestHttpDate:
    """Retry-After as an HTTP-date is read against the response's `Date`."""

    @pytest.mark.parametrize("form", sorted(PLUS_7))
    async def test_http_date_forms_give_the_same_delay(
        self, server: FakeLROServer, form: str
    ) -> None:
        """E36/E37: Date + 7 s in IMF, RFC 850 or asctime form waits 7 s (server clock ignored)."""
        job = server.add_job(JobScript.slow())
        headers = {"Date": DATE, "Retry-After": PLUS_7[form]}
        server.fail_next("*/status", status=200, body=doc(), headers=headers)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.watch(server.status_url(job.id), export_spec(max_attempts=3))
            with pytest.raises(lrpoll.PollTimeout):
                await op
        assert poll_times(server) == [0.0, 7.0, 8.0]

    async def test_http_date_in_the_past_waits_min_interval(self, server: FakeLROServer) -> None:
        """E38: a date before the response's Date waits min_interval."""
        job = server.add_job(JobScript.slow())
        headers = {"Date": PLUS_7["imf"], "Retry-After": DATE}
        server.fail_next("*/status", status=200, body=doc(), headers=headers)
        spec = export_spec(interval=10.0, min_interval=2.0, max_attempts=2)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.PollTimeout):
                await (await scheduler.watch(server.status_url(job.id), spec))
        assert poll_times(server) == [0.0, 2.0]

    async def test_date_is_ignored_when_age_is_present(self, server: FakeLROServer) -> None:
        """E37: with `Age` (a cached answer) the date is read against the local clock instead."""
        job = server.add_job(JobScript.slow())
        # Against Date this would be 7 s; against today's clock, 1994 is long past.
        headers = {"Date": DATE, "Retry-After": PLUS_7["imf"], "Age": "3"}
        server.fail_next("*/status", status=200, body=doc(), headers=headers)
        spec = export_spec(interval=10.0, min_interval=2.0, max_attempts=2)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.PollTimeout):
                await (await scheduler.watch(server.status_url(job.id), spec))
        assert poll_times(server) == [0.0, 2.0]


class TestFirstPollAndFaults:
    """Retry-After on the start answer and on transient faults."""

    async def test_start_retry_after_delays_the_first_poll(self, server: FakeLROServer) -> None:
        """A start answer with `Retry-After: 3` sends the first poll at t=3."""
        server.script_next(JobScript.success(polls=1, start_retry_after="3"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.start("POST", EXPORTS, spec=export_spec()))
        assert poll_times(server, method="POST", path_glob=EXPORTS) == [0.0]
        assert poll_times(server) == [3.0, 4.0]

    async def test_start_retry_after_0_waits_min_interval(self, server: FakeLROServer) -> None:
        """`Retry-After: 0` on the start answer is clamped like any other (min_interval)."""
        server.script_next(JobScript.success(polls=0, start_retry_after="0"))
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.start("POST", EXPORTS, spec=export_spec(min_interval=2.0)))
        assert poll_times(server) == [2.0]

    async def test_retry_after_on_a_503_sets_the_retry(self, server: FakeLROServer) -> None:
        """A 503 with `Retry-After: 4` is retried exactly 4 s later (not the error backoff)."""
        job = server.add_job(JobScript.success(polls=0))
        server.fail_next("*/status", status=503, headers={"Retry-After": "4"})
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            await (await scheduler.watch(server.status_url(job.id), export_spec()))
        assert [(r.time, r.status) for r in server.requests] == [(0.0, 503), (4.0, 200)]
