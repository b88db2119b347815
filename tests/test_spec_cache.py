"""The cache of specs loaded from checkpoints (one compiled spec per distinct spec object), and
detached checkpoints, which name their spec by digest."""

from __future__ import annotations

import hashlib
import json

import pytest

import lrpoll
from lrpoll._checkpoint import (
    document,
    encode,
    load,
    spec_digest,
    spec_from_text,
    spec_of,
    to_record,
)
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


def _detached(key: bytes | None = None) -> tuple[str, lrpoll.PollSpec]:
    spec = lrpoll.PollSpec(status_url="{+request_url}", interval=3.0, done="status == 'done'")
    doc = load(
        lrpoll.checkpoint_for("http://127.0.0.1:1/op/c", spec, operation_id="c", key=key), key=key
    )
    rec = to_record(doc, spec_of(doc), now=T0, wall=T0)
    return encode(document(rec, now=T0, wall=T0, key=key, detached=True)), spec


class TestDetached:
    def test_names_its_spec_by_digest(self) -> None:
        """A detached checkpoint holds the digest of its spec's canonical text, not the spec,
        and the text loads back into a spec with that digest."""
        text, spec = _detached()
        doc = load(text)
        digest, canonical = spec_digest(spec)
        assert "spec" not in doc
        assert doc["spec_digest"] == digest
        assert len(text) < len(lrpoll.checkpoint_for("http://127.0.0.1:1/op/c", spec))
        again = spec_from_text(canonical, digest)
        assert again.to_json() == spec.to_json()
        assert spec_digest(again)[0] == digest

    def test_needs_its_own_spec(self) -> None:
        """Loading a detached checkpoint's spec needs the spec given, and that very one."""
        text, spec = _detached()
        doc = load(text)
        with pytest.raises(CheckpointError, match="saved without its spec"):
            spec_of(doc)
        other = lrpoll.PollSpec(status_url="{+request_url}", interval=4.0, done="done")
        with pytest.raises(CheckpointError, match="not the checkpoint's"):
            spec_of(doc, other)
        assert spec_of(doc, spec) is spec

    def test_signature_covers_the_digest(self) -> None:
        """A signed detached checkpoint whose digest was swapped no longer verifies."""
        key = b"k" * 32
        text, _ = _detached(key)
        assert load(text, key=key)["spec_digest"]
        forged = json.loads(text)
        forged["spec_digest"] = "0" * 64
        with pytest.raises(CheckpointError, match="signature"):
            load(json.dumps(forged), key=key)

    @pytest.mark.parametrize(
        "change",
        [
            {"spec_digest": "zz"},
            {"spec_digest": 5},
            {"spec": None},
            {"v": 1},
        ],
    )
    def test_malformed_is_refused(self, change: dict[str, object]) -> None:
        """A digest that is not SHA-256 hex, a null spec beside it, or a version 1 without
        its spec is refused on load."""
        doc = json.loads(_detached()[0])
        doc.update(change)
        with pytest.raises(CheckpointError):
            load(json.dumps(doc))

    def test_stored_text_must_have_its_digest(self) -> None:
        """A spec text that is not the one its digest names, or not a spec, is refused."""
        _, spec = _detached()
        digest, canonical = spec_digest(spec)
        with pytest.raises(CheckpointError, match="does not have that digest"):
            spec_from_text(canonical.replace("3.0", "5.0"), digest)
        bad = '{"status_url": 5}'
        with pytest.raises(CheckpointError, match="invalid"):
            spec_from_text(bad, hashlib.sha256(bad.encode()).hexdigest())
