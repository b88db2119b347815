"""Backoff sequences: fixed, linear, exponential; caps, floors, jitter, huge counts."""

from __future__ import annotations

import sys

import pytest

from lrpoll import Backoff
from lrpoll._retry_after import backoff_delay

HUGE_POLLS = [10**6, 2**31, sys.maxsize, 10**18, 2**100]


def sequence(backoff: Backoff, n: int, rand: float = 0.0) -> list[float]:
    """The first ``n`` delays of ``backoff``."""
    return [backoff_delay(backoff, polls, rand) for polls in range(1, n + 1)]


class TestSequences:
    """Delays after the 1st, 2nd, ... poll."""

    def test_fixed(self) -> None:
        """A fixed backoff repeats its delay."""
        assert sequence(Backoff.fixed(2.0), 4) == [2.0, 2.0, 2.0, 2.0]

    def test_fixed_above_default_cap(self) -> None:
        """``Backoff.fixed`` raises its own cap, so a long interval is not cut to 60 s."""
        assert sequence(Backoff.fixed(120.0), 2) == [120.0, 120.0]

    def test_fixed_constructed_directly_is_capped(self) -> None:
        """A fixed backoff built field by field obeys its ``max_delay``."""
        assert sequence(Backoff(kind="fixed", delay=120.0, max_delay=60.0), 2) == [60.0, 60.0]

    def test_linear(self) -> None:
        """A linear backoff adds ``step`` per poll, up to ``max_delay``."""
        backoff = Backoff.linear(1.0, step=2.0, max_delay=6.0)
        assert sequence(backoff, 5) == [1.0, 3.0, 5.0, 6.0, 6.0]

    def test_exponential(self) -> None:
        """An exponential backoff multiplies by ``factor`` per poll, up to ``max_delay``."""
        backoff = Backoff.exponential(1.0, factor=2.0, max_delay=10.0)
        assert sequence(backoff, 6) == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]

    def test_exponential_factor_one(self) -> None:
        """Factor 1 is a fixed delay."""
        assert sequence(Backoff.exponential(3.0, factor=1.0), 3) == [3.0, 3.0, 3.0]

    def test_int_fields(self) -> None:
        """Integer fields (as JSON gives them) behave like floats."""
        backoff = Backoff(kind="exponential", delay=1, factor=3, max_delay=20)
        assert sequence(backoff, 4) == [1.0, 3.0, 9.0, 20.0]

    @pytest.mark.parametrize("polls", [0, -1, -(10**9)])
    def test_polls_below_one(self, polls: int) -> None:
        """A poll count below 1 reads as the first poll."""
        backoff = Backoff.exponential(1.5, max_delay=100.0)
        assert backoff_delay(backoff, polls, 0.0) == 1.5

    def test_caps_are_monotone(self) -> None:
        """Without jitter linear and exponential delays never decrease."""
        for backoff in (
            Backoff.linear(0.5, step=0.7, max_delay=9.0),
            Backoff.exponential(0.1, factor=1.7, max_delay=9.0),
        ):
            delays = sequence(backoff, 40)
            assert delays == sorted(delays)
            assert delays[-1] == 9.0


class TestFloor:
    """``min_delay`` is a floor under every delay."""

    def test_min_delay(self) -> None:
        """A delay below min_delay is raised to it."""
        backoff = Backoff(kind="fixed", delay=0.1, min_delay=0.5, max_delay=5.0)
        assert sequence(backoff, 2) == [0.5, 0.5]

    def test_floor_under_jitter(self) -> None:
        """Jitter never takes a delay below min_delay."""
        backoff = Backoff(kind="fixed", delay=1.0, min_delay=0.8, max_delay=5.0, jitter=1.0)
        assert backoff_delay(backoff, 1, 0.99) == 0.8

    def test_zero_delay(self) -> None:
        """A zero delay (for tests) stays zero."""
        assert sequence(Backoff.fixed(0.0), 3) == [0.0, 0.0, 0.0]


class TestJitter:
    """Jitter ``j`` scales a delay ``d`` into ``[d·(1-j), d]`` by ``rand``."""

    @pytest.mark.parametrize(
        ("rand", "delay"), [(0.0, 4.0), (0.25, 3.5), (0.5, 3.0), (0.999999, 2.000002)]
    )
    def test_range(self, rand: float, delay: float) -> None:
        """``rand`` 0 gives the full delay, towards 1 the lower bound."""
        backoff = Backoff.exponential(4.0, jitter=0.5)
        assert backoff_delay(backoff, 1, rand) == pytest.approx(delay)

    @pytest.mark.parametrize(("rand", "delay"), [(-3.0, 4.0), (7.0, 2.0)])
    def test_rand_outside_unit_interval(self, rand: float, delay: float) -> None:
        """A ``rand`` outside [0, 1] is clamped into it."""
        backoff = Backoff.fixed(4.0, jitter=0.5)
        assert backoff_delay(backoff, 1, rand) == delay

    def test_full_jitter(self) -> None:
        """Jitter 1 spreads over ``[0, d]``."""
        backoff = Backoff.fixed(4.0, jitter=1.0)
        assert backoff_delay(backoff, 1, 0.0) == 4.0
        assert backoff_delay(backoff, 1, 1.0) == 0.0

    def test_jitter_after_cap(self) -> None:
        """Jitter applies to the capped delay, so a capped delay still spreads."""
        backoff = Backoff.exponential(1.0, max_delay=10.0, jitter=0.5)
        assert backoff_delay(backoff, 50, 1.0) == 5.0


class TestHugePollCounts:
    """Enormous poll counts give the cap, quickly, without OverflowError."""

    @pytest.mark.parametrize("polls", HUGE_POLLS)
    @pytest.mark.parametrize(
        "backoff",
        [
            Backoff.exponential(1.0, max_delay=30.0),
            Backoff(kind="exponential", delay=1, factor=2, max_delay=30),
            Backoff.exponential(1.0, factor=1.0001, max_delay=30.0, jitter=0.5),
            Backoff.linear(1.0, step=0.5, max_delay=30.0),
            Backoff(kind="linear", delay=1, step=1, max_delay=30),
        ],
        ids=["exp-float", "exp-int", "exp-jitter", "linear-float", "linear-int"],
    )
    def test_capped(self, backoff: Backoff, polls: int) -> None:
        """The delay after a huge number of polls is at most the cap."""
        # An int factor once built factor**polls as an integer (gigabytes, minutes).
        assert backoff_delay(backoff, polls, 0.0) == 30.0

    @pytest.mark.parametrize("polls", HUGE_POLLS)
    def test_fixed(self, polls: int) -> None:
        """A fixed backoff is its delay at any count."""
        assert backoff_delay(Backoff.fixed(2.5), polls, 0.0) == 2.5
