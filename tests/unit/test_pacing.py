"""HostPacing's retry bucket: paced by time while a host fails, refilled by good answers."""

from __future__ import annotations

import pytest

from lrpoll._pacing import HostPacing

HOST = ("https", "api.example", 443)
OTHER = ("https", "other.example", 443)


def _pacing(refill: float = 1.0) -> HostPacing:
    return HostPacing(retry_rate=5.0, retry_burst=2.0, gate_release_rate=50.0, retry_refill=refill)


class TestRetryBucket:
    """The bucket defers retries past the burst and lets them go as the host recovers."""

    def test_retries_past_the_burst_wait_for_tokens(self) -> None:
        """F42: two retries go at their own delay, the next ones 0.2 s apart (5 per second)."""
        pacing = _pacing()
        delays = [pacing.after_retry(HOST, 0.0, 0.1, throttled=False, key=i) for i in range(5)]
        assert delays == pytest.approx([0.1, 0.1, 0.2, 0.4, 0.6])

    def test_a_good_answer_lets_the_furthest_deferred_retry_go(self) -> None:
        """Each good answer releases one deferred retry (the last one), at its own delay."""
        pacing = _pacing()
        for i in range(6):
            pacing.after_retry(HOST, 0.0, 0.1, throttled=False, key=i)
        assert pacing.after_success(HOST, 0.05, key="ok") == [(5, 0.1)]
        assert pacing.after_success(HOST, 0.3, key="ok") == [(4, 0.3)]
        # the freed slots shorten the wait of the next failure
        assert pacing.after_retry(HOST, 0.3, 0.0, throttled=False, key=9) < 0.6

    def test_fractional_refill_accumulates(self) -> None:
        """With retry_refill 0.5, two good answers release one deferred retry."""
        pacing = _pacing(refill=0.5)
        for i in range(5):
            pacing.after_retry(HOST, 0.0, 0.1, throttled=False, key=i)
        assert pacing.after_success(HOST, 0.0) == []
        assert pacing.after_success(HOST, 0.0) == [(4, 0.1)]

    def test_no_refill_keeps_the_time_pacing(self) -> None:
        """retry_refill=0 keeps the time-only bucket: good answers release nothing."""
        pacing = _pacing(refill=0.0)
        for i in range(5):
            pacing.after_retry(HOST, 0.0, 0.1, throttled=False, key=i)
        assert pacing.after_success(HOST, 0.0) == []

    def test_other_hosts_and_unknown_hosts_are_untouched(self) -> None:
        """A good answer from a host that never failed changes nothing and releases nothing."""
        pacing = _pacing()
        for i in range(5):
            pacing.after_retry(HOST, 0.0, 0.1, throttled=False, key=i)
        assert pacing.after_success(OTHER, 0.0) == []
        assert pacing.after_success(None, 0.0) == []

    def test_a_retry_whose_slot_passed_is_not_released(self) -> None:
        """A deferred retry whose slot has come went by itself: nothing is released twice."""
        pacing = _pacing()
        for i in range(4):
            pacing.after_retry(HOST, 0.0, 0.1, throttled=False, key=i)
        assert pacing.after_success(HOST, 10.0) == []

    def test_with_nothing_deferred_good_answers_refill_up_to_the_burst(self) -> None:
        """Good answers top the bucket up to retry_burst, never past it."""
        pacing = _pacing()
        pacing.after_retry(HOST, 0.0, 0.0, throttled=False)
        pacing.after_retry(HOST, 0.0, 0.0, throttled=False)
        for _ in range(10):
            pacing.after_success(HOST, 0.0)
        delays = [pacing.after_retry(HOST, 0.0, 0.0, throttled=False) for _ in range(3)]
        assert delays == [0.0, 0.0, 0.2]
