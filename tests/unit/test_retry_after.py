"""Retry-After is hostile input: strict grammar, never raises, clamped by the core."""

from __future__ import annotations

from email.utils import formatdate
from typing import Any

import pytest

from lrpoll import (
    PollSpec,
)
from lrpoll._core import first_delay
from lrpoll._retry_after import clamp, parse_http_date, parse_retry_after
from lrpoll.core import (
    Observation,
    Retry,
    Running,
    decide,
)

# RFC 9110 §5.6.7's example instant, in its three forms.
EPOCH_1994 = 784111777.0
IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
ASCTIME = "Sun Nov  6 08:49:37 1994"


def http_date(when: float) -> str:
    """``when`` as an IMF-fixdate."""
    return formatdate(when, usegmt=True)


class TestDelaySeconds:
    """The delay-seconds form: 1 to 10 ASCII digits, nothing else (RELIABILITY E32-E35)."""

    @pytest.mark.parametrize(
        ("value", "delay"),
        [
            ("0", 0.0),
            ("5", 5.0),
            ("120", 120.0),
            ("0005", 5.0),
            ("9999999999", 9999999999.0),
            ("0000000000", 0.0),
        ],
    )
    def test_valid(self, value: str, delay: float) -> None:
        """ASCII digits, up to ten of them, are seconds."""
        assert parse_retry_after(value, received_at=0.0) == (delay, None)

    @pytest.mark.parametrize(
        "value",
        [
            "99999999999",  # eleven digits
            "12345678901234567890",
            "1e400",
            "inf",
            "Infinity",
            "-inf",
            "nan",
            "NaN",
            "-5",
            "+5",
            " 5 ",
            " 5",
            "5 ",
            "5\n",
            "5.5",
            "5.0",
            "0x10",
            "1_000",
            "\u0661\u0662",  # Arabic-Indic digits: int() reads them as 12
            "\u00b2",  # superscript two
            "\uff15",  # fullwidth five
            "",
            "\x00",
            "\ud800",
            "5, 6",
            "Sun, 06 Nov 1994",
        ],
    )
    def test_invalid_ignored(self, value: str) -> None:
        """Anything outside the grammar is ignored, with a warning, never an exception."""
        delay, warning = parse_retry_after(value, received_at=0.0)
        assert delay is None
        assert warning is not None
        assert warning.startswith("ignored invalid Retry-After ")
        warning.encode("ascii")

    def test_absent(self) -> None:
        """An absent header is no delay and no warning."""
        assert parse_retry_after(None, received_at=0.0) == (None, None)

    def test_warning_is_short_and_escaped(self) -> None:
        """The warning shows at most 40 escaped characters of the value."""
        _, warning = parse_retry_after("\u0661" * 100, received_at=0.0)
        assert warning == "ignored invalid Retry-After " + repr("\\u0661" * 6 + "\\u06")

    def test_milliseconds(self) -> None:
        """``retry-after-ms: 1500`` is 1.5 s (RELIABILITY E39)."""
        assert parse_retry_after("1500", received_at=0.0, milliseconds=True) == (1.5, None)
        assert parse_retry_after("0", received_at=0.0, milliseconds=True) == (0.0, None)

    @pytest.mark.parametrize("value", ["1.5", "-1", "1e3", IMF, ""])
    def test_milliseconds_digits_only(self, value: str) -> None:
        """A millisecond header takes digits only, no dates."""
        delay, warning = parse_retry_after(value, received_at=0.0, milliseconds=True)
        assert delay is None
        assert warning is not None


class TestHttpDate:
    """The HTTP-date form, read against the response's clock (RELIABILITY E36-E38)."""

    @pytest.mark.parametrize(
        "value",
        [
            IMF,
            RFC850,
            ASCTIME,
            "Sun, 06 Nov 1994 08:49:37 -0000",
            "Sun, 06 Nov 1994 08:49:37 +0000",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun Nov 06 08:49:37 1994",
        ],
    )
    def test_forms_agree(self, value: str) -> None:
        """IMF, RFC 850 and asctime (read as UTC) name the same instant."""
        assert parse_http_date(value) == EPOCH_1994

    @pytest.mark.parametrize("value", [IMF, RFC850, ASCTIME])
    def test_same_delay(self, value: str) -> None:
        """The three forms give the same delay."""
        assert parse_retry_after(value, received_at=EPOCH_1994 - 30) == (30.0, None)

    @pytest.mark.parametrize(
        "value",
        [
            "Sun, 06 Nov 1994 08:49:37 +0100",  # IMF allows GMT only
            "Sun, 06 Nov 1994 08:49:37 EST",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Xyz 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            "Sunday, 06-Nov-94 08:49:37 UTC",
            "2024-01-01T00:00:00Z",
            "Sun, 06 Nov 1994 08:49:37 GMT" + "x" * 60,
            "\u0661\u0662 Nov",
        ],
    )
    def test_refused(self, value: str) -> None:
        """Dates outside the three forms are no date."""
        assert parse_http_date(value) is None
        delay, warning = parse_retry_after(value, received_at=0.0)
        assert delay is None
        assert warning is not None

    def test_against_received_at(self) -> None:
        """Without a Date header the delay counts from when the response arrived."""
        now = 1_700_000_000.0
        assert parse_retry_after(http_date(now + 10), received_at=now) == (10.0, None)

    def test_server_clock_ahead(self) -> None:
        """With the server's clock an hour ahead, the delay is read against its Date."""
        now = 1_700_000_000.0
        server = now + 3600
        delay = parse_retry_after(http_date(server + 10), received_at=now, date=http_date(server))
        assert delay == (10.0, None)

    def test_age_ignores_date(self) -> None:
        """With Age present (a cached answer) Date is ignored."""
        now = 1_700_000_000.0
        server = now + 3600
        delay = parse_retry_after(
            http_date(server + 10), received_at=now, date=http_date(server), age_present=True
        )
        assert delay == (3610.0, None)

    def test_unparseable_date_header(self) -> None:
        """A Date header that is no date falls back to the arrival time."""
        now = 1_700_000_000.0
        delay = parse_retry_after(http_date(now + 10), received_at=now, date="yesterday")
        assert delay == (10.0, None)

    def test_past_is_zero(self) -> None:
        """A date in the past is no wait (the core then applies min_interval)."""
        assert parse_retry_after(IMF, received_at=1_700_000_000.0) == (0.0, None)

    def test_date_header_ignored_for_seconds(self) -> None:
        """Delay-seconds do not depend on Date."""
        assert parse_retry_after("5", received_at=0.0, date=IMF) == (5.0, None)

    @pytest.mark.parametrize(
        "value", ["Sun, 99 Nov 1994 99:99:99 GMT", "Mon, 00 Jan 0000 00:00:00 GMT"]
    )
    def test_out_of_range_fields_never_raise(self, value: str) -> None:
        """Out-of-range day or time fields give some instant or none, never an exception."""
        when = parse_http_date(value)
        assert when is None or isinstance(when, float)


class TestClamp:
    """``clamp`` limits a value to a range."""

    @pytest.mark.parametrize(
        ("value", "expected"), [(-1.0, 0.0), (0.0, 0.0), (5.0, 5.0), (10.0, 10.0), (11.0, 10.0)]
    )
    def test_clamp(self, value: float, expected: float) -> None:
        """Values below, inside and above the range."""
        assert clamp(value, 0.0, 10.0) == expected


def make_spec(**changes: Any) -> PollSpec:
    """A spec with a 1 s floor, a 300 s cap and a 2 s interval, ``changes`` applied."""
    fields: dict[str, Any] = {
        "status_url": "/s/{start.id}",
        "done": "done",
        "interval": 2.0,
    }
    fields.update(changes)
    return PollSpec(**fields)


def running_delay(spec: PollSpec, headers: dict[str, str], **fields: Any) -> Running:
    """The Running decision for a not-done document with ``headers``."""
    decision = decide(spec, Observation(http_status=200, headers=headers, body={}, **fields))
    assert isinstance(decision, Running)
    return decision


class TestCoreClamp:
    """The core clamps Retry-After to ``[min_interval, max_retry_after]`` and the deadline."""

    SPEC = make_spec()

    def test_defaults(self) -> None:
        """The defaults are a 1 s floor and a 300 s cap."""
        assert (self.SPEC.min_interval, self.SPEC.max_retry_after) == (1.0, 300.0)

    def test_zero_is_min_interval(self) -> None:
        """``Retry-After: 0`` waits min_interval, not zero (RELIABILITY E33)."""
        assert running_delay(self.SPEC, {"retry-after": "0"}).delay == 1.0

    def test_zero_allowed_when_tests_set_zero(self) -> None:
        """With ``min_interval=0`` (tests) ``Retry-After: 0`` polls at once."""
        assert running_delay(make_spec(min_interval=0), {"retry-after": "0"}).delay == 0.0

    def test_huge_is_capped(self) -> None:
        """``Retry-After: 9999999999`` is capped at max_retry_after (RELIABILITY E34)."""
        assert running_delay(self.SPEC, {"retry-after": "9999999999"}).delay == 300.0

    def test_huge_clipped_to_deadline(self) -> None:
        """...and never past the operation's deadline."""
        spec = make_spec(max_duration=100.0)
        decision = running_delay(spec, {"retry-after": "9999999999"}, elapsed=40.0)
        assert decision.delay == 60.0

    @pytest.mark.parametrize("value", ["1e400", "inf", "Infinity", "99999999999", "-5", "5.5"])
    def test_invalid_uses_interval(self, value: str) -> None:
        """Invalid values fall back to the computed delay with one warning."""
        decision = running_delay(self.SPEC, {"retry-after": value})
        assert decision.delay == 2.0
        assert len(decision.warnings) == 1

    def test_past_date_is_min_interval(self) -> None:
        """An HTTP-date in the past waits min_interval (RELIABILITY E38)."""
        decision = running_delay(self.SPEC, {"retry-after": IMF}, received_at=1_700_000_000.0)
        assert decision.delay == 1.0

    def test_date_against_server_clock(self) -> None:
        """The core passes the response's Date so a skewed server clock does not stretch."""
        now = 1_700_000_000.0
        headers = {"retry-after": http_date(now + 3610), "date": http_date(now + 3600)}
        assert running_delay(self.SPEC, headers, received_at=now).delay == 10.0
        aged = {**headers, "age": "5"}
        assert running_delay(self.SPEC, aged, received_at=now).delay == 300.0

    def test_milliseconds_header(self) -> None:
        """A header whose name ends in ``-ms`` counts milliseconds (Azure's preset)."""
        spec = make_spec(retry_after_headers=("retry-after-ms", "retry-after"))
        decision = running_delay(spec, {"retry-after-ms": "1500", "retry-after": "30"})
        assert decision.delay == 1.5

    def test_header_preference(self) -> None:
        """The first named header present is the one read."""
        spec = make_spec(retry_after_headers=("retry-after-ms", "retry-after"))
        assert running_delay(spec, {"retry-after": "30"}).delay == 30.0

    def test_retry_clamped(self) -> None:
        """A 503's Retry-After is clamped the same way."""
        decision = decide(
            self.SPEC, Observation(http_status=503, headers={"retry-after": "100000"}, body=None)
        )
        assert isinstance(decision, Retry)
        assert decision.delay == 300.0

    def test_first_poll_clamped(self) -> None:
        """The start response's Retry-After is clamped too."""
        start = Observation(http_status=202, headers={"retry-after": "0"})
        assert first_delay(self.SPEC, start) == (1.0, ())
