"""`Recent`: a checkpoint read back as it was kept skips the parse; anything else is loaded."""

from __future__ import annotations

from typing import Any

import pytest

import lrpoll
from lrpoll import CheckpointError
from lrpoll._checkpoint import MAX_SIZE, Recent, load
from tests.helpers import export_spec

KEY = b"k" * 32


def _kept(key: bytes | None = None) -> tuple[str, dict[str, Any]]:
    spec = export_spec()
    text = lrpoll.checkpoint_for("https://api.example/status/1", spec, key=key)
    return text, load(text, key=key)


def test_a_kept_checkpoint_loads_as_its_document_once() -> None:
    text, doc = _kept()
    recent = Recent(8)
    recent.keep(text, doc, key=None)
    assert recent.load(text) is doc
    assert len(recent) == 0  # taken: the step keeps the next one in its place
    again = recent.load(text)
    assert again is not doc
    assert again == doc


def test_another_text_is_parsed_and_checked() -> None:
    text, doc = _kept()
    recent = Recent(8)
    recent.keep(text, doc, key=None)
    changed = text.replace('"attempts":0', '"attempts":-1')
    assert changed != text
    with pytest.raises(CheckpointError, match="negative"):
        recent.load(changed)
    assert recent.load(text.encode()) is not doc  # bytes are never a kept text


def test_the_signing_key_is_still_honoured() -> None:
    text, doc = _kept(KEY)
    recent = Recent(8)
    recent.keep(text, doc, key=KEY)
    with pytest.raises(CheckpointError, match="pass the key"):
        recent.load(text)
    recent.keep(text, doc, key=KEY)
    with pytest.raises(CheckpointError, match="signature"):
        recent.load(text, key=b"x" * 32)
    recent.keep(text, doc, key=KEY)
    assert recent.load(text, key=KEY) is doc


def test_the_oldest_goes_first_and_an_oversized_one_is_not_kept() -> None:
    recent = Recent(2)
    texts = []
    for i in range(3):
        text, _ = _kept()
        text = text.replace('"attempts":0', f'"attempts":{i}')
        texts.append(text)
        recent.keep(text, load(text), key=None)
    assert len(recent) == 2
    assert recent.load(texts[2])["attempts"] == 2
    assert recent.load(texts[1])["attempts"] == 1
    assert len(recent) == 0
    big = " " * (MAX_SIZE + 1)
    recent.keep(big, {}, key=None)
    assert len(recent) == 0
