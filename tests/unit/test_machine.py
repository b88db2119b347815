"""The operation states' transition table, and the copy of it in docs/architecture.md."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from lrpoll._machine import (
    POLLED,
    TERMINAL,
    TRANSITIONS,
    Event,
    InvalidTransition,
    OperationState,
    next_state,
)

DOCS = Path(__file__).parent.parent.parent / "docs" / "architecture.md"
ENDINGS = ("succeeded", "failed", "cancelled", "timed_out", "gone", "error")
COLUMNS = ("poll", "stop", "resume", "cancel_accepted", "cancel_unconfirmed")


def render() -> list[str]:
    """The docs' table rows, rendered from TRANSITIONS."""
    rows = []
    for state in ("pending", "running", "cancelling", "stopped"):
        row = TRANSITIONS[state]
        cells = [row.get(event, "") for event in COLUMNS]  # type: ignore[call-overload]
        endings = all(row.get(e) == e for e in ENDINGS)  # type: ignore[call-overload]
        mark = "²" if state == "stopped" else ""
        cells.append(f"that ending{mark}" if endings else "")
        line = "| " + " | ".join([state, *cells]) + " |"
        rows.append(line.replace("|  |", "| |").replace("|  |", "| |"))
    return rows


class TestTable:
    def test_every_state_has_a_row(self) -> None:
        """The table covers every state and only known events."""
        assert set(TRANSITIONS) == set(get_args(OperationState))
        events = set(get_args(Event))
        assert all(set(row) <= events for row in TRANSITIONS.values())

    def test_terminal_states_have_no_way_out(self) -> None:
        """A terminal state takes no event at all."""
        for state in TERMINAL:
            assert dict(TRANSITIONS[state]) == {}
            with pytest.raises(InvalidTransition):
                next_state(state, "resume")

    def test_polled_states(self) -> None:
        """Running and cancelling are the polled states; neither is terminal."""
        assert frozenset({"running", "cancelling"}) == POLLED
        assert not POLLED & TERMINAL

    @pytest.mark.parametrize(
        ("state", "event", "after"),
        [
            ("pending", "poll", "running"),
            ("running", "cancel_accepted", "cancelling"),
            ("stopped", "cancel_accepted", "cancelling"),
            ("cancelling", "cancel_unconfirmed", "running"),
            ("cancelling", "cancelled", "cancelled"),
            ("stopped", "resume", "running"),
        ],
    )
    def test_lookups(self, state: OperationState, event: Event, after: str) -> None:
        """next_state reads the table."""
        assert next_state(state, event) == after

    @pytest.mark.parametrize(
        ("state", "event"),
        [("running", "resume"), ("running", "poll"), ("stopped", "stop"), ("pending", "resume")],
    )
    def test_missing_pairs_raise(self, state: OperationState, event: Event) -> None:
        """A pair the table lacks is a bug in lrpoll: InvalidTransition, never a silent move."""
        with pytest.raises(InvalidTransition, match=f"{state!r} on {event!r}"):
            next_state(state, event)

    def test_architecture_md_shows_the_table(self) -> None:
        """docs/architecture.md holds the table as TRANSITIONS has it."""
        text = DOCS.read_text()
        for row in render():
            assert row in text
