"""Properties of the core over generated input (RELIABILITY L69-L72)."""

from __future__ import annotations

import math
import string
from email.utils import formatdate
from typing import Any
from urllib.parse import unquote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from lrpoll import (
    Backoff,
    LrpollError,
    PollSpec,
    TemplateError,
    UrlTemplate,
)
from lrpoll._core import first_delay
from lrpoll._retry_after import backoff_delay, parse_retry_after
from lrpoll.core import (
    Ended,
    Observation,
    Retry,
    Running,
    Succeeded,
    decide,
)
from tests.unit.support import UNIT, backoffs, decision_specs, observations, summarize

BASE_CONTEXT: dict[str, Any] = {
    "start": {"jobId": "42"},
    "operation": "op-1",
    "request_url": "https://api.example.com/api/exports",
    "status_url": "https://api.example.com/ops/7",
}


class TestDecide:
    """``decide`` over any spec and any observation (L69, L70)."""

    @UNIT
    @given(spec=decision_specs(), observation=observations())
    def test_total_deterministic_bounded(self, spec: PollSpec, observation: Observation) -> None:
        """One of four decisions, never an exception, repeatable, delays within the deadline."""
        # The first poll's delay, from the same start answer: finite and before the deadline.
        delay, warnings = first_delay(spec, observation)
        assert math.isfinite(delay)
        assert delay >= 0.0
        assert len(warnings) <= 1
        if spec.max_duration is not None:
            assert delay <= max(0.0, spec.max_duration - observation.elapsed)

        first = decide(spec, observation, BASE_CONTEXT, operation_id="op-1")
        second = decide(spec, observation, BASE_CONTEXT, operation_id="op-1")
        assert isinstance(first, Running | Retry | Succeeded | Ended)
        assert summarize(first) == summarize(second)
        if isinstance(first, Retry | Ended):
            assert isinstance(first.error, LrpollError)
        assert all(isinstance(warning, str) for warning in first.warnings)
        if isinstance(first, Running):
            assert first.progress is None or 0.0 <= first.progress <= 100.0
        if not isinstance(first, Running | Retry):
            return
        assert math.isfinite(first.delay)
        assert first.delay >= 0.0
        if spec.max_duration is not None:
            assert observation.elapsed < spec.max_duration
            assert first.delay <= spec.max_duration - observation.elapsed
        elif retry_after_valid(spec, observation):
            assert spec.min_interval <= first.delay <= spec.max_retry_after


def retry_after_valid(spec: PollSpec, observation: Observation) -> bool:
    """Whether the first Retry-After header the spec reads holds a valid value."""
    for name in spec.retry_after_headers:
        value = observation.headers.get(name)
        if value is not None:
            delay, _ = parse_retry_after(
                value,
                received_at=observation.received_at,
                date=observation.headers.get("date"),
                age_present="age" in observation.headers,
                milliseconds=name.endswith("-ms"),
            )
            return delay is not None
    return False


class TestBackoff:
    """Backoff delays stay in bounds for any count (L70)."""

    @UNIT
    @given(
        backoff=backoffs(),
        polls=st.integers(min_value=-10, max_value=2**64),
        rand=st.floats(min_value=-1.0, max_value=2.0),
    )
    def test_within_bounds(self, backoff: Backoff, polls: int, rand: float) -> None:
        """Every delay lies in ``[min_delay, max_delay]``."""
        delay = backoff_delay(backoff, polls, rand)
        assert backoff.min_delay <= delay <= backoff.max_delay

    @UNIT
    @given(backoff=backoffs(), polls=st.integers(min_value=1, max_value=10**4))
    def test_monotone_without_jitter(self, backoff: Backoff, polls: int) -> None:
        """Without jitter the next delay is never shorter than this one."""
        plain = Backoff(
            kind=backoff.kind,
            delay=backoff.delay,
            step=backoff.step,
            factor=backoff.factor,
            min_delay=backoff.min_delay,
            max_delay=backoff.max_delay,
        )
        assert backoff_delay(plain, polls, 0.5) <= backoff_delay(plain, polls + 1, 0.5)


SEGMENT_TEMPLATES = [
    "https://api.example.com/api/exports/{start.jobId}/status",
    "https://api.example.com:8443/{start.jobId}",
    "/api/exports/{start.jobId}/status",
    "/{start.jobId}/{last.id}",
    "{start.jobId}/x",
]
RESERVED_TEMPLATES = [
    "https://api.example.com/v1/{+start.jobId}",
    "https://api.example.com/v1/{+start.jobId}:cancel",
    "/v1/{+start.jobId}",
]

url_values = st.one_of(
    st.text(),
    st.text(alphabet="./?#%:@\\ \r\n\x00abc", max_size=12),
    st.sampled_from(["..", ".", "", "../../admin?x=1#", "%2F", "//evil.example", "http://e/"]),
    st.integers(),
    st.floats(),
    st.booleans(),
)


def fill(template: str, value: Any) -> str | None:
    """The filled URL, or None when the template refuses the value."""
    context = {**BASE_CONTEXT, "start": {"jobId": value}, "last": {"id": value}}
    try:
        return UrlTemplate(template, field="status_url").fill(context)
    except TemplateError:
        return None


class TestUrlFiller:
    """URL templates keep each value in its place (L71)."""

    @UNIT
    @given(template=st.sampled_from(SEGMENT_TEMPLATES), value=url_values)
    def test_one_segment(self, template: str, value: Any) -> None:
        """``{expr}`` output stays inside one segment: same scheme, host and segment count."""
        url = fill(template, value)
        if url is None:
            return
        expected = urlsplit(template.replace("{start.jobId}", "x").replace("{last.id}", "y"))
        got = urlsplit(url)
        assert (got.scheme, got.netloc) == (expected.scheme, expected.netloc)
        assert got.query == expected.query
        assert got.fragment == ""
        assert got.path.count("/") == expected.path.count("/")
        for segment in got.path.split("/"):
            assert segment not in (".", "..")
            assert not any(c in segment for c in "?#\\\r\n\x00")

    @UNIT
    @given(template=st.sampled_from(RESERVED_TEMPLATES), value=url_values)
    def test_reserved_keeps_origin(self, template: str, value: Any) -> None:
        """``{+expr}`` never changes the scheme or host, nor adds a query or dot segment."""
        url = fill(template, value)
        if url is None:
            return
        expected = urlsplit(template.replace("{+start.jobId}", "x"))
        got = urlsplit(url)
        assert (got.scheme, got.netloc) == (expected.scheme, expected.netloc)
        assert got.query == ""
        assert got.fragment == ""
        for segment in got.path.split("/"):
            assert segment not in (".", "..")
            assert unquote(segment) not in (".", "..")

    @UNIT
    @given(value=st.text(alphabet=string.printable, max_size=20))
    def test_value_round_trips(self, value: str) -> None:
        """The segment decodes back to exactly the value put in."""
        url = fill("/api/{start.jobId}/status", value)
        if url is None:
            assert value in ("", ".", "..") or any(c in value for c in "\r\n\x0b\x0c\t")
            return
        assert unquote(url.split("/")[2]) == value


LAST_HTTP_DATE = 253402300799  # 9999-12-31 23:59:59 UTC
HTTP_DATES = st.integers(min_value=0, max_value=LAST_HTTP_DATE).map(
    lambda t: formatdate(t, usegmt=True)
)


class TestRetryAfter:
    """Retry-After over any text (L72)."""

    @UNIT
    @given(
        value=st.one_of(
            st.text(),
            st.text(alphabet=string.digits, min_size=1, max_size=14),
            st.text(alphabet="0123456789-+. eE", max_size=8),
            HTTP_DATES,
            st.builds(lambda d: d.replace("GMT", "-0000"), HTTP_DATES),
        ),
        received_at=st.floats(min_value=0.0, max_value=1e10),
        date=st.one_of(st.none(), HTTP_DATES, st.text(max_size=30)),
        age=st.booleans(),
        ms=st.booleans(),
    )
    def test_never_raises(
        self, value: str, received_at: float, date: str | None, age: bool, ms: bool
    ) -> None:
        """The delay is None or finite in ``[0, 9999999999]`` (dates: up to year 9999)."""
        delay, warning = parse_retry_after(
            value, received_at=received_at, date=date, age_present=age, milliseconds=ms
        )
        if delay is None:
            assert warning is not None
        else:
            assert warning is None
            assert math.isfinite(delay)
            # Delay-seconds stop at ten digits; an HTTP-date can name any day up to
            # 9999-12-31 (the core clamps either to max_retry_after).
            limit = 9999999999.0 if value.isdigit() else LAST_HTTP_DATE - received_at + 10**7
            assert 0.0 <= delay <= max(limit, 9999999999.0)

    @UNIT
    @given(value=st.text(alphabet=string.digits, min_size=1, max_size=10))
    def test_digits_are_seconds(self, value: str) -> None:
        """Any 1-10 ASCII digits are that many seconds."""
        assert parse_retry_after(value, received_at=0.0) == (float(int(value)), None)
