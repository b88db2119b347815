"""The cache of specs loaded from checkpoints: one compiled spec per distinct spec object."""

from __future__ import annotations

import pytest

import lrpoll
from lrpoll._checkpoint import load, spec_of
from lrpoll._exceptions import CheckpointError


def _doc() -> dict[str, object]:
    spec = lrpoll.PollSpec(status_url="{+request_url}", interval=1.0, done="status == 'done'")
    return load(lrpoll.checkpoint_for("http://127.0.0.1:1/op/a", spec, operation_id="a"))


def test_one_spec_object_per_distinct_spec() -> None:
    """Two checkpoints holding the same spec share one compiled spec object."""
    assert spec_of(_doc()) is spec_of(_doc())


def test_a_cached_spec_is_not_served_for_another_type() -> None:
    """A spec that differs from a cached one only by the JSON type of a value (true for 1)
    is checked on its own, and refused."""
    doc = _doc()
    spec_of(doc)
    forged = _doc()
    forged["spec"]["interval"] = True  # type: ignore[index]
    with pytest.raises(CheckpointError, match="interval"):
        spec_of(forged)
