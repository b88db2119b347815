"""URL construction from start answers (RELIABILITY B13-B17), read from the server's log."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

import lrpoll
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, export_spec

TEMPLATE = "/api/exports/{start.jobId}/status"


def _start_answer(
    server: FakeLROServer, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """Make the next start request answer 202 with ``body``."""
    server.fail_next(EXPORTS, status=202, body=json.dumps(body).encode(), headers=headers)


async def _start(server: FakeLROServer, spec: lrpoll.PollSpec) -> lrpoll.Operation:
    async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
        op = await scheduler.start("POST", EXPORTS, spec=spec)
        with pytest.raises(lrpoll.LrpollError):
            await op
    return op


class TestTemplates:
    """`{expr}` fills exactly one path segment; its value is data, never syntax."""

    async def test_traversal_value_stays_in_one_segment(self, server: FakeLROServer) -> None:
        """B13: `../../admin?x=1#` is sent percent-encoded inside its segment."""
        _start_answer(server, {"jobId": "../../admin?x=1#"})
        op = await _start(server, export_spec(status_from=(), status_url=TEMPLATE))
        assert [r.raw_path for r in server.requests] == [
            EXPORTS,
            "/api/exports/..%2F..%2Fadmin%3Fx%3D1%23/status",
        ]
        assert server.requests[1].query == {}
        assert isinstance(op.error, lrpoll.OperationGone)  # the fake has no such job

    async def test_percent_encoded_value_is_double_encoded(self, server: FakeLROServer) -> None:
        """B14: a value holding `%2F` is sent as `%252F`, never as a path separator."""
        _start_answer(server, {"jobId": "a%2Fb"})
        await _start(server, export_spec(status_from=(), status_url=TEMPLATE))
        assert server.requests[1].raw_path == "/api/exports/a%252Fb/status"

    @pytest.mark.parametrize("value", ["a\r\nX-Injected: 1", "a\x00b", "tab\there"])
    async def test_control_characters_are_refused_before_sending(
        self, server: FakeLROServer, value: str
    ) -> None:
        """B15: CR/LF, NUL or other control characters in a value raise TemplateError."""
        _start_answer(server, {"jobId": value})
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.TemplateError, match="control character"):
                await scheduler.start(
                    "POST", EXPORTS, spec=export_spec(status_from=(), status_url=TEMPLATE)
                )
        assert [r.method for r in server.requests] == ["POST"]

    @pytest.mark.parametrize(("value", "kind"), [(None, "null"), ([1], "list"), ({}, "dict")])
    async def test_unusable_values_name_the_placeholder(
        self, server: FakeLROServer, value: Any, kind: str
    ) -> None:
        """B16: null, a list or an object raises TemplateError naming `{start.jobId}`."""
        _start_answer(server, {"jobId": value})
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.TemplateError, match=r"\{start\.jobId\} yields " + kind):
                await scheduler.start(
                    "POST", EXPORTS, spec=export_spec(status_from=(), status_url=TEMPLATE)
                )
        assert len(server.requests) == 1

    async def test_reserved_expansion_keeps_slashes(self, server: FakeLROServer) -> None:
        """`{+expr}` keeps `/` between segments (Google operation names) and quotes the rest."""
        _start_answer(server, {"name": "projects/p 1/operations/op:1"})
        spec = export_spec(status_from=(), status_url="/v1/{+start.name}")
        await _start(server, spec)
        assert server.requests[1].raw_path == "/v1/projects/p%201/operations/op:1"

    async def test_reserved_expansion_refuses_dot_segments(self, server: FakeLROServer) -> None:
        """`{+expr}` refuses `..` segments instead of escaping the path."""
        _start_answer(server, {"name": "projects/../../admin"})
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.TemplateError):
                await scheduler.start(
                    "POST",
                    EXPORTS,
                    spec=export_spec(status_from=(), status_url="/v1/{+start.name}"),
                )
        assert len(server.requests) == 1


class TestRelativeLocations:
    """B17: relative Location values resolve against the request URL (RFC 3986)."""

    @pytest.mark.parametrize(
        ("location", "raw_path"),
        [
            ("status/1", "/api/status/1"),
            ("/status/1", "/status/1"),
            ("exports/job-1/status", "/api/exports/job-1/status"),
            ("./s?a=%2F", "/api/s?a=%2F"),
        ],
    )
    async def test_relative_location(
        self, server: FakeLROServer, location: str, raw_path: str
    ) -> None:
        """B17: a relative Location resolves against the request URL, `/x` against the origin."""
        server.add_job(JobScript.success(polls=0))
        _start_answer(server, {}, headers={"Location": location})
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            op = await scheduler.start("POST", EXPORTS, spec=export_spec(max_attempts=1))
            # Most of these paths do not exist on the fake: what was sent is what matters.
            with contextlib.suppress(lrpoll.LrpollError):
                await op
        assert [r.raw_path for r in server.requests] == [EXPORTS, raw_path]
