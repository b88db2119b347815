"""Retry-After parsing, backoff delays and clamps. Pure: no clock reads, never raises.

Reference: RFC 9110 §10.2.3 (Retry-After = HTTP-date / delay-seconds) and §5.6.7
(HTTP-date: IMF-fixdate, obsolete RFC 850 and asctime forms).
"""

from __future__ import annotations

import calendar
import re
from email.utils import parsedate_tz
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ._spec import Backoff

__all__ = ["backoff_delay", "clamp", "parse_http_date", "parse_retry_after"]

# Strict ASCII: int("١٢") == 12 and float("1e400") == inf in Python, so no int()/float()
# on anything this pattern has not matched first.
_DIGITS: Final = re.compile(r"[0-9]{1,10}", re.ASCII)
_IMF: Final = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} [A-Z][a-z]{2} [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} (GMT|UTC|[+-]0000)",
    re.ASCII,
)
_RFC850: Final = re.compile(
    r"(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), [0-9]{2}-[A-Z][a-z]{2}-"
    r"[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT",
    re.ASCII,
)
_ASCTIME: Final = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} "
    r"[0-9]{4}",
    re.ASCII,
)


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch for an HTTP-date in any of its three forms, else None.

    A date without a zone (asctime) or with ``-0000`` is read as UTC.
    """
    if len(value) > 64:
        return None
    if not (_IMF.fullmatch(value) or _RFC850.fullmatch(value) or _ASCTIME.fullmatch(value)):
        return None
    try:
        parts = parsedate_tz(value)
        if parts is None:
            return None
        offset = parts[9] or 0
        # calendar.timegm reads the tuple as UTC whatever the local zone is.
        return float(calendar.timegm((*parts[:6], 0, 1, 0))) - offset
    except (ValueError, OverflowError, TypeError, IndexError):
        return None


def parse_retry_after(
    value: str | None,
    *,
    received_at: float,
    date: str | None = None,
    age_present: bool = False,
    milliseconds: bool = False,
) -> tuple[float | None, str | None]:
    """Read a Retry-After value as a delay in seconds from when the response was received.

    Args:
        value: the header value (``None`` when absent).
        received_at: wall-clock time (epoch seconds) the response arrived.
        date: the response's ``Date`` header: an HTTP-date Retry-After is read against it,
            so a server clock that runs ahead does not stretch the wait; ignored when the
            response carries ``Age`` (a cached answer).
        age_present: whether the response carried ``Age``.
        milliseconds: the header counts milliseconds (Azure's ``retry-after-ms``); digits only.

    Returns:
        ``(delay, warning)``: the delay (≥ 0, unclamped) or None when the value is absent or
        invalid, and a warning text when it was present but invalid.
    """
    if value is None:
        return None, None
    if _DIGITS.fullmatch(value):
        number = int(value)
        return (number / 1000.0 if milliseconds else float(number)), None
    if not milliseconds:
        when = parse_http_date(value)
        if when is not None:
            reference = received_at
            if date is not None and not age_present:
                server_now = parse_http_date(date)
                if server_now is not None:
                    reference = server_now
            return max(0.0, when - reference), None
    shown = value.encode("ascii", "backslashreplace").decode("ascii")[:40]
    return None, f"ignored invalid Retry-After {shown!r}"


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``[low, high]``."""
    return low if value < low else high if value > high else value


def backoff_delay(backoff: Backoff, polls: int, rand: float) -> float:
    """The delay after the ``polls``-th poll (1-based), jitter applied, within the bounds.

    ``rand`` is a uniform value in ``[0, 1)`` supplied by the caller, so the function stays
    deterministic. Jitter ``j`` scales the delay into ``[d·(1-j), d]``.
    """
    k = max(0, polls - 1)
    if backoff.kind == "fixed":
        delay = backoff.delay
    elif backoff.kind == "linear":
        delay = backoff.delay + backoff.step * k
    else:
        try:
            # float(): an int factor (JSON's 2) would build a huge int, not overflow.
            delay = backoff.delay * float(backoff.factor) ** k
        except OverflowError:
            delay = backoff.max_delay
    delay = min(delay, backoff.max_delay)
    if backoff.jitter:
        delay *= 1.0 - backoff.jitter * clamp(rand, 0.0, 1.0)
    return clamp(delay, backoff.min_delay, backoff.max_delay)
