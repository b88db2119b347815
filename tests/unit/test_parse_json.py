"""The transport's JSON parse: orjson when installed, every outcome the standard parser's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrpoll import _json
from lrpoll._json import parse_json as _parse_json

documents = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def outcome(parse: Any, raw: bytes) -> tuple[str, str]:
    """What parsing ``raw`` gives: the value's repr, or the kind of error."""
    try:
        return "value", repr(parse(raw))
    except RecursionError:
        return "error", "RecursionError"
    except ValueError:
        return "error", "ValueError"


EDGES = [
    b'{"progress": NaN}',
    b'{"progress": Infinity, "x": -Infinity}',
    b"1e400",
    b"-9999999999999999999",
    b"18446744073709551616",
    b'{"status": "running", "progress": 1' + b"0" * 4999 + b"}",
    b"\xef\xbb\xbf{}",
    '{"a": 1}'.encode("utf-16"),
    b'"\\ud800"',
    b"\xed\xa0\x80",
    b"[" * 100_000 + b"]" * 100_000,
    b"[" * 300 + b"]" * 300,
    b'{"a": "x\x01y"}',
    b'{"a": 1, "a": 2}',
    b"[1,]",
]


class TestSameOutcomes:
    """Whatever parser runs, the outcome is json.loads's (RELIABILITY D25-D27)."""

    @pytest.mark.parametrize("raw", EDGES, ids=range(len(EDGES)))
    def test_edge_cases_match_the_standard_parser(self, raw: bytes) -> None:
        """NaN, Infinity, huge integers, BOMs, UTF-16, surrogates and deep nesting agree."""
        assert outcome(_parse_json, raw) == outcome(json.loads, raw)

    @settings(max_examples=300, deadline=None)
    @given(documents)
    def test_any_document_parses_as_the_standard_parser_reads_it(self, doc: Any) -> None:
        """Every serialised document reads back as json.loads reads it."""
        raw = json.dumps(doc).encode()
        assert outcome(_parse_json, raw) == outcome(json.loads, raw)

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=40))
    def test_any_bytes_fail_or_parse_as_the_standard_parser_does(self, raw: bytes) -> None:
        """Arbitrary bytes give the same value or the same kind of error."""
        assert outcome(_parse_json, raw) == outcome(json.loads, raw)

    def test_without_orjson_the_standard_parser_runs(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the fast parser absent, NaN still parses (the standard parser alone)."""
        monkeypatch.setattr(_json, "_fast_loads", None)
        assert repr(_parse_json(b'{"progress": NaN}')) == "{'progress': nan}"
