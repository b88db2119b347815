"""The cache of specs loaded from checkpoints: one compiled spec per distinct spec object."""

from __future__ import annotations

import json

import pytest

import lrpoll
from lrpoll._checkpoint import document, encode, load, spec_of, to_record
from lrpoll._exceptions import CheckpointError

T0 = 1_800_000_000.0


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


def test_encode_writes_the_cached_spec_text_where_the_spec_goes() -> None:
    """A checkpoint written with its spec's cached text is the same JSON text as one written
    in one go, even with an id that spells the spec's key."""
    spec = lrpoll.PollSpec(status_url="{+request_url}", interval=2.0, done="status == 'done'")
    tricky = 'a,"spec":0,b\\'
    doc = load(lrpoll.checkpoint_for("http://127.0.0.1:1/op/b", spec, operation_id=tricky))
    rec = to_record(doc, spec_of(doc), now=T0, wall=T0)
    built = document(rec, now=T0, wall=T0)
    assert built["spec"] is document(rec, now=T0, wall=T0)["spec"]  # the cached object
    text = encode(built)
    assert text == json.dumps(built, separators=(",", ":"), ensure_ascii=True)
    assert load(text)["id"] == tricky
