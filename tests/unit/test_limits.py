"""Input limits on specs: depth and length caps, credential-named fields (issue 17)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from lrpoll import CancelSpec, CheckpointError, PollSpec, SpecError
from lrpoll._checkpoint import spec_of
from lrpoll._expr import (
    MAX_EXPRESSION_DEPTH,
    MAX_EXPRESSION_LENGTH,
    MAX_JSON_DEPTH,
    MAX_TEMPLATE_LENGTH,
    Expression,
    json_depth,
)

#: Hostile expression texts from the adversarial run: deep, long, or both.
HOSTILE = {
    "parens-5000": "(" * 5000 + "a" + ")" * 5000,
    "parens-2000": "(" * 2000 + "a" + ")" * 2000,
    "or-20000": "||".join(["a"] * 20000),
    "or-1000": "||".join(["a"] * 1000),
    "not-3000": "!" * 3000 + "a",
    "pipe-1300": "|".join(["a"] * 1300),
    "and-1000": "&&".join(["a"] * 1000),
    "literal-deep": "`" + "[" * 1500 + "]" * 1500 + "`",
    "literal-400k": '`"' + "x" * 400_000 + '"`',
    "literal-2m": "`" + "1" * 2_000_000 + "`",
}
#: Long but flat: jmespath builds a shallow tree for these, so they stay accepted.
FLAT = {"index-1300": "a" + "[0]" * 1300, "dots-1500": ".".join(["a"] * 1500)}


class TestExpressionLimits:
    """Deep or long expressions are SpecError, never RecursionError, and never stall."""

    @pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
    def test_hostile_expression_is_spec_error(self, text: str) -> None:
        """Each hostile expression raises SpecError from PollSpec(...) naming the field."""
        with pytest.raises(SpecError) as info:
            PollSpec(status_url="/s", done=text)
        assert info.value.field == "done"

    @pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
    def test_refused_whatever_the_recursion_limit(self, text: str) -> None:
        """The limits hold with a raised recursion limit too (they do not rely on it)."""
        saved = sys.getrecursionlimit()
        sys.setrecursionlimit(100_000)
        try:
            with pytest.raises(SpecError):
                Expression(text, field="done")
        finally:
            sys.setrecursionlimit(saved)

    @pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
    def test_hostile_expression_from_json(self, text: str) -> None:
        """The same through PollSpec.from_json, in an expression and a message template."""
        with pytest.raises(SpecError):
            PollSpec.from_json({"status_url": "/s", "done": text})
        with pytest.raises(SpecError):
            PollSpec.from_json(
                {"status_url": "/s", "done": "d", "messages": {"in_progress": "{" + text + "}"}}
            )

    @pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
    def test_hostile_template_placeholder(self, text: str) -> None:
        """A URL template placeholder holding the text is SpecError, with a short field."""
        with pytest.raises(SpecError) as info:
            PollSpec(status_url="/s/{last." + text + "}", done="d")
        assert len(info.value.field) < 80

    @pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
    def test_hostile_spec_in_checkpoint_is_checkpoint_error(self, text: str) -> None:
        """A checkpoint's stored spec holding it is CheckpointError, as resume() reports."""
        with pytest.raises(CheckpointError):
            spec_of({"spec": {"status_url": "/s", "done": text}})

    def test_limits_are_the_documented_ones(self) -> None:
        """The limits docs/security.md states: 4096 characters, 64 levels, 8192, 100."""
        assert (MAX_EXPRESSION_LENGTH, MAX_EXPRESSION_DEPTH) == (4096, 64)
        assert (MAX_TEMPLATE_LENGTH, MAX_JSON_DEPTH) == (8192, 100)

    def test_at_the_limits_is_accepted(self) -> None:
        """An expression of exactly the length limit, and one 60 levels deep, compile."""
        long = "a." * ((MAX_EXPRESSION_LENGTH - 1) // 2) + "b"
        long = long[:MAX_EXPRESSION_LENGTH]
        if long.endswith("."):
            long = long[:-1] + "b"
        assert Expression(long, field="done").search({}) is None
        deep = "(" * 30 + "a" + ")" * 30
        assert Expression(deep, field="done").search({"a": 1}) == 1
        chain = " || ".join(["a"] * 60)
        assert Expression(chain, field="done").search({"a": 2}) == 2

    @pytest.mark.parametrize("text", FLAT.values(), ids=FLAT.keys())
    def test_long_flat_expressions_compile_and_run(self, text: str) -> None:
        """Long chains jmespath keeps flat compile and search a deep document safely."""
        deep: Any = 1
        for _ in range(2000):
            deep = {"a": [deep]}
        assert Expression(text, field="done").search(deep) is None

    def test_long_template_is_refused(self) -> None:
        """A URL template over MAX_TEMPLATE_LENGTH characters is SpecError."""
        with pytest.raises(SpecError, match="over the limit"):
            PollSpec(status_url="/" + "a" * MAX_TEMPLATE_LENGTH, done="d")


class TestJsonDepth:
    """Deep JSON values in specs are refused; depth is measured without recursion."""

    @staticmethod
    def _deep(levels: int) -> Any:
        value: Any = 1
        for _ in range(levels):
            value = [value]
        return value

    def test_depth_is_measured_iteratively(self) -> None:
        """json_depth of a 100 000-deep list stops past the limit without RecursionError."""
        assert json_depth(self._deep(100_000)) == MAX_JSON_DEPTH + 1
        assert json_depth({"a": [1, {"b": 2}]}) == 3
        assert json_depth(5) == 0

    def test_deep_status_json_is_refused(self) -> None:
        """A status_json or cancel json nested past MAX_JSON_DEPTH is SpecError."""
        with pytest.raises(SpecError, match="nested deeper"):
            PollSpec(status_url="/s", done="d", status_json=self._deep(5000))
        with pytest.raises(SpecError, match="nested deeper"):
            CancelSpec(url="/c", json=self._deep(5000))

    def test_deep_spec_json_is_refused(self) -> None:
        """A spec's JSON form nested 5 000 deep anywhere is SpecError from from_json."""
        with pytest.raises(SpecError, match="nested deeper"):
            PollSpec.from_json({"status_url": "/s", "done": "d", "status_json": self._deep(5000)})
        with pytest.raises(SpecError, match="nested deeper"):
            PollSpec.from_json({"preset": "azure", "params": {"x": self._deep(5000)}})

    def test_a_checkpoint_with_deep_json_loads_as_checkpoint_error(self) -> None:
        """A checkpoint whose spec is 5 000 deep is CheckpointError through spec_of."""
        spec = json.loads(json.dumps({"status_url": "/s", "done": "d"}))
        spec["status_json"] = self._deep(5000)
        with pytest.raises(CheckpointError):
            spec_of({"spec": spec})


class TestCredentialNamedFields:
    """status_query, status_form and cancel form fields named like credentials are refused."""

    @pytest.mark.parametrize(
        "name", ["token", "access_token", "sig", "api_key", "apikey", "password", "X-Secret"]
    )
    def test_refused(self, name: str) -> None:
        """Each credential-like name is SpecError naming the field, in all three places."""
        with pytest.raises(SpecError, match="named like a credential") as info:
            PollSpec(status_url="/s", done="d", status_query={name: "v"})
        assert info.value.field == "status_query"
        with pytest.raises(SpecError, match="named like a credential"):
            PollSpec(status_url="/s", done="d", status_form={name: "v"})
        with pytest.raises(SpecError, match="named like a credential"):
            CancelSpec(url="/c", form={name: "v"})

    @pytest.mark.parametrize("name", ["api-version", "f", "format", "$select", "reason"])
    def test_ordinary_names_pass(self, name: str) -> None:
        """Ordinary parameter names stay allowed."""
        spec = PollSpec(status_url="/s", done="d", status_query={name: "v"}, status_form={})
        assert spec.status_query == {name: "v"}
