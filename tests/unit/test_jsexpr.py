"""The XMLUI expression translator: each accepted form, its JMESPath and its JavaScript value.

Every row of `ACCEPTED` is a condition as XMLUI writes it, the JMESPath lrpoll makes of it,
and what it yields on sample status documents: the value JavaScript gives (XMLUI casts a
condition with ``Boolean()`` and evaluates none over a falsy document). The documents pick
the corners where JavaScript and JMESPath disagree: ``[]``, ``{}``, ``""`` and ``0``
truthiness, loose equality (``"1" == 1``), ``null`` against ``undefined``, relational
coercion. `REJECTED` lists each refused form with its exact message.
"""

from __future__ import annotations

from typing import Any

import pytest

from lrpoll import SpecError
from lrpoll._expr import Expression, is_truthy
from lrpoll._jsexpr import translate_condition, translate_progress
from lrpoll._jsvalues import loose_equals, number_to_string, string_to_number

P = "js_progress(progress)"
ABSENT: dict[str, Any] = {}

# (condition, JMESPath, [(status document, JavaScript's Boolean(condition)), ...])
ACCEPTED: list[tuple[str, str, list[tuple[Any, bool]]]] = [
    (
        "{$statusData.status === 'done'}",
        "status == 'done'",
        [({"status": "done"}, True), ({"status": "Done"}, False), (ABSENT, False), (None, False)],
    ),
    (
        "  { $statusData.done === true }  ",
        "done == `true`",
        [({"done": True}, True), ({"done": 1}, False), ({"done": "true"}, False)],
    ),
    (
        "$statusData.done",
        "js_truthy(@) && js_truthy(done)",
        [
            ({"done": []}, True),  # JMESPath: false
            ({"done": {}}, True),  # JMESPath: false
            ({"done": 0}, False),  # JMESPath: true
            ({"done": ""}, False),
            ({"done": "0"}, True),
            ({"done": None}, False),
            (ABSENT, False),
        ],
    ),
    (
        "!$statusData.done",
        "js_truthy(@) && !js_truthy(done)",
        [({"done": []}, False), ({"done": 0}, True), (ABSENT, True), (None, False), (0, False)],
    ),
    (
        "$statusData.code == 1",
        "js_equals(code, `1`)",
        [
            ({"code": "1"}, True),
            ({"code": 1}, True),
            ({"code": True}, True),
            ({"code": [1]}, True),
            ({"code": " 01 "}, True),
            ({"code": "1.0"}, True),
            ({"code": "x"}, False),
            ({"code": None}, False),
            (ABSENT, False),
        ],
    ),
    (
        "$statusData.code != '1'",
        "js_truthy(@) && !js_equals(code, '1')",
        [({"code": 1}, False), ({"code": [1]}, False), ({"code": "01"}, True), (ABSENT, True)],
    ),
    (
        "$statusData.code === 1",
        "code == `1`",
        [({"code": "1"}, False), ({"code": 1.0}, True), ({"code": True}, False)],
    ),
    (
        "$statusData.list == ''",
        "js_equals(list, '')",
        [({"list": []}, True), ({"list": [None]}, True), ({"list": [0]}, False)],
    ),
    (
        "$statusData.error == null",
        "js_truthy(@) && error == `null`",
        [(ABSENT, True), ({"error": None}, True), ({"error": 0}, False), ({"error": ""}, False)],
    ),
    (
        "$statusData.error === null",
        "type(@) == 'object' && contains(keys(@), 'error') && error == `null`",
        [(ABSENT, False), ({"error": None}, True), ({"error": False}, False)],
    ),
    (
        "$statusData.error === undefined",
        "js_truthy(@) && !(type(@) == 'object' && contains(keys(@), 'error'))",
        [(ABSENT, True), ({"error": None}, False)],
    ),
    (
        "$statusData.error !== undefined",
        "type(@) == 'object' && contains(keys(@), 'error')",
        [(ABSENT, False), ({"error": None}, True), ({"error": "x"}, True)],
    ),
    (
        "$statusData.progress >= 100",
        "type(@) == 'object' && contains(keys(@), 'progress') && js_le(`100`, progress)",
        [
            ({"progress": 100}, True),
            ({"progress": "100"}, True),
            ({"progress": [100]}, True),
            ({"progress": "abc"}, False),
            ({"progress": None}, False),
            ({"progress": True}, False),
            (ABSENT, False),
        ],
    ),
    (
        "$statusData.count < 1",
        "type(@) == 'object' && contains(keys(@), 'count') && js_lt(count, `1`)",
        [
            ({"count": None}, True),  # null is 0
            (ABSENT, False),  # undefined is NaN
            ({"count": False}, True),
            ({"count": []}, True),
            ({"count": ""}, True),
            ({"count": {}}, False),
        ],
    ),
    (
        "$statusData.name < 'b'",
        "type(@) == 'object' && contains(keys(@), 'name') && js_lt(name, 'b')",
        [({"name": "a"}, True), ({"name": "c"}, False), ({"name": "B"}, True)],
    ),
    (
        "-1 < $statusData.x",
        "type(@) == 'object' && contains(keys(@), 'x') && js_lt(`-1`, x)",
        [({"x": 0}, True), ({"x": -2.5}, False), ({"x": "-0.5"}, True)],
    ),
    (
        "$statusData.status === 'done' && $statusData.ok",
        "status == 'done' && js_truthy(ok)",
        [({"status": "done", "ok": {}}, True), ({"status": "done", "ok": 0}, False)],
    ),
    (
        "$statusData.status === 'failed' || $statusData.error !== undefined",
        "status == 'failed' || type(@) == 'object' && contains(keys(@), 'error')",
        [({"status": "failed"}, True), ({"error": None}, True), ({"status": "x"}, False)],
    ),
    (
        "$statusData.a === $statusData.b",
        "js_truthy(@) && ((type(@) == 'object' && contains(keys(@), 'a')) =="
        " (type(@) == 'object' && contains(keys(@), 'b')))"
        " && (!(type(@) == 'object' && contains(keys(@), 'a'))"
        " || (a == b && !contains(['object', 'array'], type(a))))",
        [
            ({"a": 1, "b": 1}, True),
            ({"a": [], "b": []}, False),  # two arrays are two objects
            ({"x": 1}, True),  # undefined === undefined
            ({"a": None}, False),  # null !== undefined
            ({"a": None, "b": None}, True),
        ],
    ),
    (
        "$statusData.a === $statusData?.a",
        "js_truthy(@)",
        [({"a": []}, True), ({}, True), (None, False)],
    ),
    (
        "$progress >= 100",
        f"js_truthy(@) && {P} != `null` && js_le(`100`, {P})",
        [
            ({"progress": "100"}, True),
            ({"progress": 150}, True),
            ({"progress": 99.5}, False),
            ({"progress": "40%"}, False),
        ],
    ),
    (
        "$progress === 100",
        f"js_truthy(@) && {P} == `100`",
        [({"progress": 150}, True), ({"progress": "100"}, True), ({"progress": 99}, False)],
    ),
    ("'1' == 1", "js_truthy(@)", [({"x": 1}, True), ({}, True), (None, False), ("", False)]),
    ("'1' === 1", "`false`", [({"x": 1}, False)]),
    ("null == undefined", "js_truthy(@)", [({"x": 1}, True)]),
    (
        "($statusData.a === 1) === true",
        "js_truthy(@) && a == `1`",
        [({"a": 1}, True), ({"a": "1"}, False)],
    ),
    (
        "$statusData['content-type'] === \"it's\"",
        '"content-type" == `"it\'s"`',
        [({"content-type": "it's"}, True), ({"content-type": "its"}, False)],
    ),
    (
        "$statusData?.result?.ready === true",
        "result.ready == `true`",
        [({"result": {"ready": True}}, True), ({"result": "ready"}, False), (ABSENT, False)],
    ),
    (
        "$statusData.a != null",
        "js_truthy(@) && !(a == `null`)",
        [({"a": 0}, True), ({"a": None}, False), (ABSENT, False)],
    ),
    (
        "$statusData === 'done'",
        "js_truthy(@) && @ == 'done'",
        [("done", True), ({"status": "done"}, False)],
    ),
    (
        "!($statusData.n > 2)",
        "js_truthy(@) && !(type(@) == 'object' && contains(keys(@), 'n') && js_lt(`2`, n))",
        [({"n": 3}, False), ({"n": "x"}, True), (ABSENT, True)],
    ),
]


@pytest.mark.parametrize(("source", "jmespath", "samples"), ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_accepted(source: str, jmespath: str, samples: list[tuple[Any, bool]]) -> None:
    """The condition becomes this JMESPath, which is true exactly where JavaScript's is."""
    translated = translate_condition(source, attribute="completionCondition", progress=P)
    assert translated == jmespath
    expression = Expression(translated, field="completionCondition")
    assert [(doc, is_truthy(expression.search(doc))) for doc, _ in samples] == samples


# (expression, progressExtractor JMESPath, [(status document, XMLUI's $progress), ...])
PROGRESS: list[tuple[str, str, list[tuple[Any, float | None]]]] = [
    (
        "{$statusData.progress}",
        "js_progress(progress)",
        [
            ({"progress": 40}, 40.0),
            ({"progress": "40"}, 40.0),
            ({"progress": "40%"}, None),  # XMLUI: NaN; lrpoll: unknown
            ({"progress": 150}, 100.0),
            ({"progress": -5}, 0.0),
            ({"progress": None}, 0.0),
            (ABSENT, 0.0),
            (None, 0.0),
            ({"progress": True}, 1.0),
        ],
    ),
    ("$statusData.job['percent']", "js_progress(job.percent)", [({"job": {"percent": 7}}, 7.0)]),
    ("50", "js_progress(js_truthy(@) && `50`)", [({"x": 1}, 50.0), (None, 0.0), ("", 0.0)]),
    ("$statusData", "js_progress(js_truthy(@) && @)", [(40, 40.0), ("40", 40.0), (0, 0.0)]),
]


@pytest.mark.parametrize(("source", "jmespath", "samples"), PROGRESS, ids=[r[0] for r in PROGRESS])
def test_progress(source: str, jmespath: str, samples: list[tuple[Any, float | None]]) -> None:
    """The extractor becomes this JMESPath, giving XMLUI's clamped Number() (NaN: unknown)."""
    translated = translate_progress(source)
    assert translated == jmespath
    expression = Expression(translated, field="progressExtractor")
    assert [(doc, expression.search(doc)) for doc, _ in samples] == samples


REJECTED: list[tuple[str, str]] = [
    ("$statusData.a + 1", "at position 14: arithmetic (+) is not supported"),
    ("$statusData.a - 1", "at position 14: arithmetic (-) is not supported"),
    ("!-$statusData.a", "at position 1: unary minus is supported before a number literal only"),
    (
        "$result.jobId === 'x'",
        "at position 0: $result (the start response) is not visible to lrpoll's conditions,"
        " which read the status document: use $statusData",
    ),
    ("$statusData.items[0]", "at position 18: index access ([n]) is not supported"),
    ("$statusData.items['0']", "at position 18: index access ([n]) is not supported"),
    ("$statusData.items[$statusData.i]", "at position 18: only a string literal may stand in [ ]"),
    (
        "$statusData.items.length > 0",
        "at position 18: length is a built-in JavaScript property, not a key of the document",
    ),
    (
        "$statusData.constructor",
        "at position 12: constructor is a built-in JavaScript property, not a key of the document",
    ),
    ("$statusData.a ?? 1", "at position 14: the ?? operator is not supported"),
    ("$statusData.a ? 1 : 0", "at position 14: the conditional operator (?:) is not supported"),
    ("`done`", "at position 0: template literals are not supported"),
    ("$statusData.f()", "at position 13: function calls are not supported"),
    ("Math.max(1, 2)", "at position 0: unknown name 'Math': use $statusData or $progress"),
    ("typeof $statusData.a === 'string'", "at position 0: typeof is not supported"),
    ("$elapsed > 1000", "at position 0: $elapsed is not available: use $statusData or $progress"),
    ("$statusData.a = 1", "at position 14: assignment (=) is not supported"),
    ("0x10 === 16", "at position 0: only decimal number literals are supported"),
    ("1_000 === 1000", "at position 0: only decimal number literals are supported"),
    ("'abc", "at position 0: unterminated string"),
    ("$statusData.a ===", "at position 17: unexpected end of the expression"),
    ("($statusData.a === 1", "at position 20: expected ')', found the end of the expression"),
    ("{}", "at position 1: empty expression"),
    ("'x'.y", "at position 3: members can be read from $statusData only"),
    ("[] == 0", "at position 0: unexpected '['"),
    ("{a: 1}", "at position 1: unknown name 'a': use $statusData or $progress"),
    ("$statusData.a : 1", "at position 14: the conditional operator (?:) is not supported"),
    (
        "($statusData.a || 0) === 0",
        "at position 15: the value of || is one of its operands in JavaScript; lrpoll translates"
        " && and || between conditions only, not inside a comparison",
    ),
    ("$statusData.a === 'x' $statusData.b", "at position 22: unexpected '$statusData'"),
]


@pytest.mark.parametrize(("source", "message"), REJECTED, ids=[r[0] for r in REJECTED])
def test_rejected(source: str, message: str) -> None:
    """A form outside the subset is refused, naming the attribute and the position."""
    with pytest.raises(SpecError) as info:
        translate_condition(source, attribute="errorCondition")
    assert str(info.value) == f"errorCondition {message}"
    assert info.value.field == "errorCondition"
    position = info.value.position
    assert position is not None
    # The position is a column to put a caret under.
    assert 0 <= position <= len(source)


def test_nesting_is_bounded() -> None:
    """Parentheses and ! nest at most 64 deep, so no input exhausts the stack."""
    assert translate_condition("(" * 30 + "$statusData.a" + ")" * 30, attribute="c")
    with pytest.raises(SpecError, match="c at position 64: nested more than 64 deep"):
        translate_condition("(" * 5000 + "1" + ")" * 5000, attribute="c")
    with pytest.raises(SpecError, match="nested more than 64 deep"):
        translate_condition("!" * 5000 + "1", attribute="c")


def test_progress_extractor_cannot_read_progress() -> None:
    """``$progress`` is what the extractor computes, so the extractor cannot read it."""
    with pytest.raises(SpecError, match="progressExtractor at position 0: \\$progress is what"):
        translate_progress("$progress")


def test_progress_without_extractor_is_zero() -> None:
    """Without a progress extractor, ``$progress`` is XMLUI's constant 0."""
    assert translate_condition("$progress === 0", attribute="c") == "js_truthy(@)"


class TestJavaScriptValues:
    """`lrpoll._jsvalues` against values computed by JavaScript (node 20)."""

    @pytest.mark.parametrize(
        ("number", "text"),
        [
            (1.0, "1"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-6, "0.000001"),
            (1e-7, "1e-7"),
            (-1.5e-10, "-1.5e-10"),
            (123456789.125, "123456789.125"),
        ],
    )
    def test_number_to_string(self, number: float, text: str) -> None:
        """``String(number)`` switches to exponents where JavaScript does."""
        assert number_to_string(number) == text

    @pytest.mark.parametrize(
        ("text", "number"),
        [
            ("", 0.0),
            ("  12  ", 12.0),
            ("0x1A", 26.0),
            ("1e3", 1000.0),
            (".5", 0.5),
            ("-Infinity", float("-inf")),
            ("1_000", None),
            ("inf", None),
            ("\u0663", None),  # an Arabic-Indic digit: Python reads 3, JavaScript NaN
            ("40%", None),
        ],
    )
    def test_string_to_number(self, text: str, number: float | None) -> None:
        """``Number(text)`` reads JavaScript's numeric literals only."""
        assert string_to_number(text) == number

    @pytest.mark.parametrize(
        ("a", "b", "equal"),
        [
            ("1", 1, True),
            ([], "", True),
            ([], 0, True),
            ([5], "5", True),
            ({}, "[object Object]", True),
            (None, 0, False),
            (None, None, True),
            (True, "1", True),
            ([1, 2], "1,2", True),
            ({}, {}, False),
        ],
    )
    def test_loose_equals(self, a: Any, b: Any, equal: bool) -> None:
        """``a == b`` coerces as JavaScript does."""
        assert loose_equals(a, b) is equal
