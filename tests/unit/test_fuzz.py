"""Fuzzing specs from arbitrary JSON and checkpoints from arbitrary bytes (RELIABILITY L, I58).

Bounded for CI (``UNIT`` settings: derandomized, 200 examples each). Whatever comes in,
the only exceptions that escape are `SpecError` (spec construction), `CheckpointError`
(checkpoint loading) and, on resume, `UntrustedURL`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from typing import Any

import looptime
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lrpoll
from lrpoll import CheckpointError, PollSpec, Scheduler, SpecError, UntrustedURL
from lrpoll._checkpoint import load, spec_of
from lrpoll._specfile import SpecFormat, loads_spec
from lrpoll.registry import preset_names
from tests.unit.support import UNIT

FIELDS = [f.name for f in dataclasses.fields(PollSpec) if f.init and f.name != "preset"]
NESTED = {
    "backoff": [f.name for f in dataclasses.fields(lrpoll.Backoff)],
    "errors": [f.name for f in dataclasses.fields(lrpoll.ErrorBudget)],
    "messages": [f.name for f in dataclasses.fields(lrpoll.Messages)],
    "cancel": [f.name for f in dataclasses.fields(lrpoll.CancelSpec)],
}

#: Strings that exercise the parsers: expressions, templates, deep and long texts.
nasty_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "status == 'done'",
            "{start.id}",
            "{+status_url}",
            "/a/{last.x}/b",
            '`{"a": 1}`',
            "(" * 300 + "a" + ")" * 300,
            "!" * 500 + "a",
            "||".join(["a"] * 300),
            "`" + "[" * 400 + "]" * 400 + "`",
            "{" + "(" * 200 + "a" + ")" * 200 + "}",
            "a" * 5000,
            "http://u:p@h/x",
            "\x00\r\n",
            "\ud800",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    nasty_text,
)
json_any = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=6), nasty_text), children, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def spec_json(draw: st.DrawFn) -> Any:
    """A spec-shaped JSON object: known keys (some nested objects) with arbitrary values."""
    kind = draw(st.sampled_from(["any", "shaped", "preset"]))
    if kind == "any":
        return draw(json_any)
    if kind == "preset":
        return {
            "preset": draw(st.one_of(st.sampled_from(preset_names()), st.text(max_size=5))),
            "params": draw(st.dictionaries(st.text(max_size=10), json_any, max_size=3)),
            **draw(st.dictionaries(st.just("overrides"), json_any, max_size=1)),
        }
    out: dict[str, Any] = {"status_url": "/s/{start.id}", "done": "status == 'done'"}
    for key in draw(st.lists(st.sampled_from(FIELDS), max_size=5)):
        if key in NESTED and draw(st.booleans()):
            out[key] = {
                k: draw(json_any) for k in draw(st.lists(st.sampled_from(NESTED[key]), max_size=3))
            }
        else:
            out[key] = draw(json_any)
    return out


class TestSpecFuzz:
    """PollSpec.from_json of anything raises SpecError or gives a spec."""

    def test_preset_overrides_not_an_object(self) -> None:
        """A preset's ``overrides`` that is not an object is SpecError (was a TypeError)."""
        with pytest.raises(SpecError, match="overrides must be an object"):
            PollSpec.from_json({"preset": "azure", "params": {}, "overrides": True})

    @UNIT
    @given(spec_json())
    def test_from_json_raises_only_spec_error(self, data: Any) -> None:
        """L: any JSON value gives a spec or SpecError; a spec round-trips through JSON."""
        try:
            spec = PollSpec.from_json(data)
        except SpecError:
            return
        assert PollSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


#: Hostile spec files: huge integers, deep nesting, deep and long expressions.
HOSTILE_FILES = {
    "json-bigint": ("json", '{"status_url": "/s", "done": "d", "interval": 1' + "0" * 5000 + "}"),
    "json-deep": ("json", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    "json-deep-expr": (
        "json",
        '{"status_url": "/s", "done": "' + "(" * 3000 + "a" + ")" * 3000 + '"}',
    ),
    "json-2m-literal": ("json", '{"status_url": "/s", "done": "`\\"' + "x" * 2_000_000 + '\\"`"}'),
    "toml-bigint": ("toml", 'status_url = "/s"\ndone = "d"\ninterval = 1' + "0" * 5000),
    "toml-deep": ("toml", "a = " + "[" * 5000 + "]" * 5000),
    "toml-deep-expr": ("toml", 'status_url = "/s"\ndone = "' + "!" * 3000 + 'a"'),
}


class TestSpecFileFuzz:
    """Spec files (JSON and TOML) of anything raise SpecError or give a spec."""

    @pytest.mark.parametrize(("fmt", "text"), HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
    def test_hostile_files(self, fmt: SpecFormat, text: str) -> None:
        """Each hostile spec file is SpecError (huge integers were a ValueError)."""
        with pytest.raises(SpecError):
            loads_spec(text, format=fmt)

    @UNIT
    @given(st.one_of(st.text(max_size=200), spec_json().map(json.dumps)), st.booleans())
    def test_loads_spec_raises_only_spec_error(self, text: str, toml: bool) -> None:
        """L: loads_spec of any text, as JSON or TOML, gives a spec or SpecError."""
        with contextlib.suppress(SpecError):
            loads_spec(text, format="toml" if toml else "json")


def _checkpoint() -> dict[str, Any]:
    """A valid running checkpoint (v2), written by a real scheduler."""

    async def make() -> str:
        async with Scheduler(base_url="http://127.0.0.1:9") as scheduler:
            spec = PollSpec(status_url="{+request_url}", done="status == 'done'", interval=5)
            op = await scheduler.watch("http://127.0.0.1:9/s/1", spec)
            text = op.checkpoint()
            op.stop()
            return text

    return dict(json.loads(asyncio.run(make())))


VALID = _checkpoint()


@st.composite
def checkpoint_bytes(draw: st.DrawFn) -> bytes | str:
    """Arbitrary bytes, or a valid checkpoint with fields replaced, removed or added."""
    kind = draw(st.sampled_from(["bytes", "text", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return json.dumps(draw(json_any))
    doc = dict(VALID)
    for key in draw(st.lists(st.sampled_from([*VALID, "extra"]), min_size=1, max_size=4)):
        action = draw(st.sampled_from(["replace", "drop"]))
        if action == "drop":
            doc.pop(key, None)
        elif key == "spec":
            doc[key] = draw(spec_json())
        elif key in ("status_url", "request_url"):
            doc[key] = draw(
                st.one_of(
                    nasty_text,
                    st.sampled_from(
                        [
                            "http://evil.example/x",
                            "file:///etc/passwd",
                            "//evil/x",
                            "http://2130706433/",
                        ]
                    ),
                )
            )
        else:
            doc[key] = draw(json_any)
    text = json.dumps(doc)
    return text.encode() if draw(st.booleans()) else text


async def _resume(text: bytes | str) -> None:
    async with Scheduler(base_url="http://127.0.0.1:9", shutdown="stop") as scheduler:
        scheduler.resume(text)


class TestCheckpointFuzz:
    """Loading and resuming anything raises CheckpointError (or UntrustedURL on resume)."""

    @UNIT
    @given(checkpoint_bytes())
    def test_load_raises_only_checkpoint_error(self, text: bytes | str) -> None:
        """L: load() and spec_of() of any bytes raise CheckpointError or succeed."""
        with contextlib.suppress(CheckpointError):
            spec_of(load(text))

    @UNIT
    @given(checkpoint_bytes())
    def test_resume_raises_only_checkpoint_error_or_untrusted(self, text: bytes | str) -> None:
        """I58/L: Scheduler.resume() of any bytes raises CheckpointError or UntrustedURL only."""
        loop = looptime.new_event_loop()
        try:
            loop.run_until_complete(_resume(text))
        except (CheckpointError, UntrustedURL):
            pass
        finally:
            loop.close()

    def test_optional_fields_left_out_read_as_null(self) -> None:
        """A v2 checkpoint without its optional fields loads them as null (was a KeyError)."""
        doc = {k: v for k, v in VALID.items() if k not in ("deadline", "message", "pending")}
        loaded = load(json.dumps(doc))
        assert (loaded["deadline"], loaded["message"], loaded["pending"]) == (None, None, None)
        loop = looptime.new_event_loop()
        try:
            loop.run_until_complete(_resume(json.dumps(doc)))
        finally:
            loop.close()

    def test_the_valid_checkpoint_resumes(self) -> None:
        """The unmutated checkpoint the fuzzing starts from resumes without error."""
        loop = looptime.new_event_loop()
        try:
            loop.run_until_complete(_resume(json.dumps(VALID)))
        finally:
            loop.close()
