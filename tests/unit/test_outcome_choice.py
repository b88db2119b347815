"""End expressions of the ``path == 'text'`` form are decided by one table lookup.

The table (`lrpoll._expr.Choice`, built per spec) must decide exactly as evaluating
``failed``, ``cancelled`` and ``done`` one by one does. Each test below compares a spec
the table serves with the same conditions written so that it cannot (`` && `true` ``
keeps the meaning and defeats the table), on the same answers.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import lrpoll
from lrpoll.core import Decision, Ended, Observation, decide

TEXTS = ["failed", "cancelled", "done", "running", "Done", "", "x"]


def _spec(tabled: bool, **conditions: Any) -> lrpoll.PollSpec:
    suffix = "" if tabled else " && `true`"
    spec = lrpoll.PollSpec(
        status_url="{+request_url}",
        interval=1,
        progress="progress",
        **{name: text + suffix for name, text in conditions.items()},
    )
    assert (spec._outcomes is not None) is tabled
    return spec


def _outcome(spec: lrpoll.PollSpec, body: Any) -> tuple[str, str | None]:
    obs = Observation(http_status=200, headers={}, body=body, attempt=1)
    decision: Decision = decide(spec, obs)
    return type(decision).__name__, decision.state if isinstance(decision, Ended) else None


PLAIN = {
    "failed": "status == 'failed'",
    "cancelled": "status == 'cancelled'",
    "done": "status == 'done'",
}

values = st.one_of(
    st.sampled_from(TEXTS),
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False),
    st.lists(st.sampled_from(TEXTS), max_size=2),
    st.dictionaries(st.sampled_from(TEXTS), st.sampled_from(TEXTS), max_size=2),
)
documents = st.one_of(
    st.fixed_dictionaries({"status": values}, optional={"progress": st.integers(0, 100)}),
    st.fixed_dictionaries({"a": st.one_of(values, st.fixed_dictionaries({"b": values}))}),
    st.dictionaries(st.sampled_from(["status", "state", "a"]), values, max_size=3),
    values,
)


@given(documents)
def test_one_path_three_texts(body: Any) -> None:
    assert _outcome(_spec(True, **PLAIN), body) == _outcome(_spec(False, **PLAIN), body)


@given(documents)
def test_a_nested_path(body: Any) -> None:
    conditions: dict[str, Any] = {"done": "a.b == 'done'", "failed": "a.b == 'failed'"}
    assert _outcome(_spec(True, **conditions), body) == _outcome(_spec(False, **conditions), body)


@given(documents)
def test_a_text_two_expressions_share_goes_to_the_first(body: Any) -> None:
    conditions: dict[str, Any] = {
        "failed": "status == 'x'",
        "cancelled": "status == 'x'",
        "done": "status == 'x'",
    }
    assert _outcome(_spec(True, **conditions), body) == _outcome(_spec(False, **conditions), body)


def test_failed_wins_a_shared_text() -> None:
    spec = _spec(True, failed="status == 'x'", done="status == 'x'")
    assert _outcome(spec, {"status": "x"}) == ("Ended", "failed")


def test_only_done() -> None:
    spec = _spec(True, done="status == 'done'")
    assert _outcome(spec, {"status": "done"}) == ("Succeeded", None)
    assert _outcome(spec, {"status": "failed"}) == ("Running", None)


def test_forms_the_table_does_not_serve() -> None:
    def served(**conditions: Any) -> bool:
        spec = lrpoll.PollSpec(status_url="{+request_url}", interval=1, **conditions)
        return spec._outcomes is not None

    assert not served(done="status == 'done'", failed="error.code == 'E'")  # two paths
    assert not served(done="status != 'running'")
    assert not served(done="done")  # a truthy field, not a comparison
    assert not served(done="status == `1`")  # a number
    assert not served(done="status == 'a' || status == 'b'")
    assert served(done="status == 'done'", failed="status == 'failed'")
