"""Expressions, URL templates and message templates (DESIGN "Templates", RELIABILITY B13-B16)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any
from urllib.parse import urlsplit

import jmespath
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrpoll import Expression, MessageTemplate, SpecError, TemplateError, UrlTemplate
from lrpoll._expr import FUNCTION_NAMES, is_truthy, json_snippet
from tests.unit.support import KEYS, UNIT, json_docs


def compile_error(source: str) -> SpecError:
    """The SpecError that compiling ``source`` as ``done`` raises."""
    with pytest.raises(SpecError) as info:
        Expression(source, field="done")
    return info.value


class TestCompileErrors:
    """Every error that can be found is found when the expression is built."""

    @pytest.mark.parametrize(
        ("source", "position", "text"),
        [
            ("status ==", 9, "unexpected end of expression"),
            ("a.", 2, "unexpected end of expression"),
            ("a[", 2, "unexpected end of expression"),
            ("foo(", 4, "unexpected end of expression"),
            ("a &", 2, "unexpected '&'"),
            ("a ~ b", 2, "unexpected '~'"),
            ("status == 'done' && && x", 20, "unexpected '&&'"),
            ("a b", 2, "unexpected 'b'"),
            ("(a", 2, "unexpected end of expression"),
            ("'unterminated", 0, "invalid JMESPath"),
            ("a..b", 2, "invalid JMESPath"),
        ],
    )
    def test_syntax(self, source: str, position: int, text: str) -> None:
        """A syntax error names the field and the position."""
        error = compile_error(source)
        assert error.field == "done"
        assert error.position == position
        assert text in str(error)
        assert str(error).startswith(f"done at position {position}: ")

    @pytest.mark.parametrize(
        ("source", "position"),
        [("nope(a)", 0), ("status == 'x' || frobnicate(a, b)", 17), ("length(lenght(a))", 7)],
    )
    def test_unknown_function(self, source: str, position: int) -> None:
        """An unknown function fails at construction, with its position and the known ones."""
        error = compile_error(source)
        assert error.position == position
        assert "unknown function" in str(error)
        assert "percent" in str(error)
        assert "length" in str(error)

    @pytest.mark.parametrize(
        ("source", "text"),
        [
            ("percent(a)", "percent() takes 2 arguments, 1 given"),
            ("percent(a, b, c)", "percent() takes 2 arguments, 3 given"),
            ("lower(a, b)", "lower() takes 1 argument, 2 given"),
            ("upper()", "upper() takes 1 argument, 0 given"),
            ("length(a, b)", "length() takes 1 argument, 2 given"),
            ("contains(a)", "contains() takes 2 arguments, 1 given"),
            ("not_null()", "not_null() takes at least 1 arguments, 0 given"),
            ("merge()", "merge() takes at least 1 arguments, 0 given"),
            ("a[?length(b, c) > `1`]", "length() takes 1 argument, 2 given"),
            ("sort_by(xs)", "sort_by() takes 2 arguments, 1 given"),
        ],
    )
    def test_wrong_arity(self, source: str, text: str) -> None:
        """Too few or too many arguments fail at construction, nested calls included."""
        assert text in str(compile_error(source))

    @pytest.mark.parametrize("source", ["not_null(a)", "not_null(a, b, c, d)", "merge(a, b, c)"])
    def test_variadic(self, source: str) -> None:
        """A variadic function takes any count from its minimum up."""
        Expression(source, field="done")

    @pytest.mark.parametrize("source", ["", "   ", "\n"])
    def test_empty(self, source: str) -> None:
        """An empty expression is refused."""
        error = compile_error(source)
        assert error.field == "done"
        assert "non-empty" in str(error)

    @pytest.mark.parametrize("source", [None, 5, ["status"], b"status"])
    def test_not_a_string(self, source: Any) -> None:
        """A non-string expression is refused."""
        compile_error(source)

    def test_is_value_error(self) -> None:
        """SpecError is a ValueError, so generic validation code catches it."""
        with pytest.raises(ValueError, match="done"):
            Expression("a &", field="done")

    def test_known_functions(self) -> None:
        """The function table holds JMESPath's built-ins and lrpoll's own."""
        assert {"percent", "lower", "upper", "length", "to_number"} <= FUNCTION_NAMES


def jp(expression: str, doc: Any) -> Any:
    """What jmespath itself gives."""
    return jmespath.search(expression, doc)


FAST_CASES = [
    ("a", {"a": 1}),
    ("a", {}),
    ("a", {"a": None}),
    ("a", []),
    ("a", "a"),
    ("a", None),
    ("a", 5),
    ("a.b.c", {"a": {"b": {"c": [1, 2]}}}),
    ("a.b.c", {"a": {"b": {}}}),
    ("a.b.c", {"a": [{"b": {"c": 1}}]}),
    ("a.b.c", {"a": "string"}),
    ("a.b.c", {"a": {"b": 3}}),
    ("a.b.c", {"a": None}),
    ('"odd key".c', {"odd key": {"c": True}}),
    ("status == 'done'", {"status": "done"}),
    ("status == 'done'", {"status": "Done"}),
    ("status == 'done'", {}),
    ("status != 'done'", {}),
    ("status != 'done'", {"status": "done"}),
    ("true == `1`", {"true": True}),
    ("true == `1`", {"true": 1}),
    ("true == `1`", {"true": 1.0}),
    ("done == `true`", {"done": 1}),
    ("done == `true`", {"done": True}),
    ("done == `false`", {"done": 0}),
    ("done == `false`", {"done": 0.0}),
    ("done != `false`", {"done": 0}),
    ("n == `0`", {"n": False}),
    ("n == `0`", {"n": 0}),
    ("n == `1`", {"n": 1.0}),
    ("n == `2`", {"n": True}),
    ("x == `null`", {}),
    ("x != `null`", {}),
    ("x == `null`", {"x": False}),
    ("x == `[1]`", {"x": [True]}),
    ("x == `[1]`", {"x": [1.0]}),
    ('x == `{"a": 1}`', {"x": {"a": 1}}),
    ("x == ''", {"x": ""}),
    ("a.b == 'x'", {"a": ["x"]}),
    ("a.b != 'x'", {"a": ["x"]}),
    ("a.b == `1`", {"a": {"b": 1}}),
]


class TestFastPaths:
    """Dotted paths and ``==``/``!=`` comparisons give exactly what jmespath gives."""

    @pytest.mark.parametrize(("expression", "doc"), FAST_CASES)
    def test_same_as_jmespath(self, expression: str, doc: Any) -> None:
        """The fast path agrees with jmespath on this document."""
        assert Expression._fast_path(jmespath.compile(expression).parsed) is not None
        assert Expression(expression, field="done").search(doc) == jp(expression, doc)

    def test_true_is_not_one(self) -> None:
        """JMESPath's ``true == 1`` is false, unlike Python's."""
        assert Expression("done == `1`", field="done").search({"done": True}) is False
        assert Expression("done != `1`", field="done").search({"done": True}) is True

    @pytest.mark.parametrize(
        "expression", ["a[0]", "a.b[0]", "@", "a | b", "`1` == a", "a == b", "a < `1`", "*.a"]
    )
    def test_other_shapes_use_jmespath(self, expression: str) -> None:
        """Anything but a dotted path or a path compared to a literal takes jmespath."""
        assert Expression._fast_path(jmespath.compile(expression).parsed) is None
        doc = {"a": [{"b": 1}], "b": [{"b": 1}]}
        assert Expression(expression, field="done").search(doc) == jp(expression, doc)

    @UNIT
    @given(path=st.lists(st.sampled_from(KEYS), min_size=1, max_size=4), doc=json_docs)
    def test_dotted_path_property(self, path: list[str], doc: Any) -> None:
        """For any document a dotted path reads what jmespath reads."""
        expression = ".".join(path)
        assert same(Expression(expression, field="x").search(doc), jp(expression, doc))

    @UNIT
    @given(
        path=st.lists(
            st.one_of(st.sampled_from(KEYS), st.text(max_size=4).map(json.dumps)),
            min_size=1,
            max_size=3,
        ),
        op=st.sampled_from(["==", "!="]),
        literal=st.recursive(
            st.one_of(
                st.none(),
                st.booleans(),
                st.integers(-2, 2),
                st.floats(allow_nan=False),
                st.sampled_from(["done", "failed", "", "1"]),
            ),
            lambda children: st.one_of(
                st.lists(children, max_size=2),
                st.dictionaries(st.sampled_from(KEYS), children, max_size=2),
            ),
            max_leaves=4,
        ),
        doc=json_docs,
        value=json_docs,
    )
    def test_comparison_property(
        self, path: list[str], op: str, literal: Any, doc: Any, value: Any
    ) -> None:
        """For any document ``path == literal`` and ``!=`` give jmespath's answer."""
        expression = f"{'.'.join(path)} {op} `{json.dumps(literal)}`"
        assert Expression._fast_path(jmespath.compile(expression).parsed) is not None
        fast = Expression(expression, field="x")
        # Also plant the literal (or any value) at the path, so equal cases come up.
        for candidate in (doc, plant(path, value), plant(path, literal)):
            assert fast.search(candidate) == jp(expression, candidate)


def plant(path: list[str], value: Any) -> Any:
    """A document holding ``value`` at ``path`` (quoted segments read as JSON strings)."""
    for key in reversed(path):
        value = {json.loads(key) if key.startswith('"') else key: value}
    return value


def same(a: Any, b: Any) -> bool:
    """Equal, or the same object (NaN is not equal to itself)."""
    return a is b or bool(a == b)


def nested_list(depth: int) -> Any:
    """A list nested ``depth`` deep."""
    doc: Any = 0
    for _ in range(depth):
        doc = [doc]
    return doc


class TestFunctions:
    """lrpoll's custom functions, and type errors reading as null."""

    @pytest.mark.parametrize(
        ("doc", "expected"),
        [
            ({"a": 1, "b": 4}, 25.0),
            ({"a": 3, "b": 3}, 100.0),
            ({"a": 0, "b": 7}, 0.0),
            ({"a": 1, "b": 0}, None),
            ({"a": 1.5, "b": 3}, 50.0),
            ({"a": "1", "b": 4}, None),
            ({"a": None, "b": 4}, None),
            ({"a": 10**400, "b": 1}, None),
        ],
    )
    def test_percent(self, doc: dict[str, Any], expected: float | None) -> None:
        """``percent(part, whole)`` is 100·part/whole; null when whole is 0 or types are wrong."""
        assert Expression("percent(a, b)", field="progress").search(doc) == expected

    @pytest.mark.parametrize(
        ("expression", "doc", "expected"),
        [
            ("lower(s)", {"s": "SUCCEEDED"}, "succeeded"),
            ("upper(s)", {"s": "InProgress"}, "INPROGRESS"),
            ("lower(s) == 'canceled'", {"s": "Canceled"}, True),
            ("lower(s)", {"s": 5}, None),
            ("upper(s)", {}, None),
            ("lower(s)", {"s": "\ud800X"}, "\ud800x"),
        ],
    )
    def test_case_folding(self, expression: str, doc: dict[str, Any], expected: Any) -> None:
        """``lower``/``upper`` fold strings; anything else reads as null."""
        assert Expression(expression, field="done").search(doc) == expected

    @pytest.mark.parametrize(
        ("expression", "doc"),
        [
            ("length(@)", 5),
            ("sort(xs)", {"xs": [1, "a"]}),
            ("contains(n, 'x')", {"n": 5}),
            ("ceil(p)", {"p": math.inf}),
            ("floor(p)", {"p": math.nan}),
            ("avg(xs)", {"xs": [10**400, 10**400]}),
            ("sum(xs)", {"xs": ["a"]}),
            ("max_by(xs, &n)", {"xs": [{"n": "a"}, {"n": 1}]}),
        ],
    )
    def test_type_errors_read_as_null(self, expression: str, doc: Any) -> None:
        """Type errors and overflows inside an expression read as null."""
        assert Expression(expression, field="done").search(doc) is None

    def test_recursion_reads_as_null(self) -> None:
        """A document nested past the recursion limit reads as null, not RecursionError."""
        # Relative to the limit in force: hypothesis raises it while its tests run.
        doc = nested_list(sys.getrecursionlimit() + 2000)
        assert Expression("to_string(@)", field="done").search(doc) is None

    @pytest.mark.parametrize(
        ("doc", "expected"),
        [({"a": 1, "b": 2}, True), ({"a": "x", "b": 1}, None), ({"a": [1], "b": [2]}, None)],
    )
    def test_ordering(self, doc: dict[str, Any], expected: bool | None) -> None:
        """Ordering a number against a non-number is null, not an exception."""
        assert Expression("a < b", field="done").search(doc) is expected

    @pytest.mark.parametrize(
        ("value", "truthy"),
        [
            (None, False),
            (False, False),
            ("", False),
            ([], False),
            ({}, False),
            (True, True),
            (0, True),
            (0.0, True),
            ("x", True),
            ([0], True),
            ({"a": None}, True),
        ],
    )
    def test_truthiness(self, value: Any, truthy: bool) -> None:
        """JMESPath truthiness: false, null and empty things are false; 0 is true."""
        assert is_truthy(value) is truthy

    def test_equality_and_repr(self) -> None:
        """Expressions compare and hash by their text."""
        a = Expression("status", field="done")
        b = Expression("status", field="failed")
        assert a == b
        assert hash(a) == hash(b)
        assert a != Expression("state", field="done")
        assert repr(a) == "Expression('status')"


CONTEXT: dict[str, Any] = {
    "start": {"jobId": "42", "name": "projects/p/locations/l/operations/x"},
    "start_headers": {"location": "/ops/7"},
    "operation": "op-1",
    "request_url": "https://api.example.com/api/exports",
    "status_url": "https://api.example.com/ops/7",
}


def fill(template: str, **start: Any) -> str:
    """``template`` filled with ``start`` merged into the test context."""
    return UrlTemplate(template, field="status_url").fill({**CONTEXT, "start": start})


def fill_error(template: str, **start: Any) -> TemplateError:
    """The TemplateError that filling ``template`` raises."""
    with pytest.raises(TemplateError) as info:
        fill(template, **start)
    return info.value


def template_error(source: str, *, field: str = "status_url") -> SpecError:
    """The SpecError that building the URL template ``source`` raises."""
    with pytest.raises(SpecError) as info:
        UrlTemplate(source, field=field)
    return info.value


STATUS = "/api/exports/{start.jobId}/status"


class TestUrlSegments:
    """``{expr}`` fills exactly one path segment, whatever the value."""

    def test_plain(self) -> None:
        """An ordinary id fills its segment."""
        assert fill(STATUS, jobId="42") == "/api/exports/42/status"

    def test_traversal_stays_data(self) -> None:
        """``../../admin?x=1#`` is quoted into one segment (RELIABILITY B13)."""
        assert fill(STATUS, jobId="../../admin?x=1#") == (
            "/api/exports/..%2F..%2Fadmin%3Fx%3D1%23/status"
        )

    def test_percent_is_data(self) -> None:
        """``%2F`` is double-encoded, never a path separator (RELIABILITY B14)."""
        assert fill(STATUS, jobId="a%2Fb") == "/api/exports/a%252Fb/status"

    @pytest.mark.parametrize(
        ("value", "segment"),
        [
            ("a b", "a%20b"),
            ("é", "%C3%A9"),
            ("a/b", "a%2Fb"),
            ("a\\b", "a%5Cb"),
            ("a:b@c", "a%3Ab%40c"),
            ("...", "..."),
            ("..a", "..a"),
            (42, "42"),
            (40.0, "40"),
            (1.5, "1.5"),
            (True, "true"),
            (False, "false"),
            (10**30, "1" + "0" * 30),
        ],
    )
    def test_values(self, value: Any, segment: str) -> None:
        """Strings are quoted with nothing safe; numbers and booleans are written plainly."""
        assert fill(STATUS, jobId=value) == f"/api/exports/{segment}/status"

    @pytest.mark.parametrize("value", [".", ".."])
    def test_dot_segments_refused(self, value: str) -> None:
        """A value that is a dot segment would climb the path, so it is refused."""
        assert "'.' or '..'" in str(fill_error(STATUS, jobId=value))

    @pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b", "\x7f", "x\r\nHost: evil"])
    def test_control_characters_refused(self, value: str) -> None:
        """CR, LF, NUL and other control characters are refused (RELIABILITY B15)."""
        assert "control character" in str(fill_error(STATUS, jobId=value))

    @pytest.mark.parametrize(("value", "kind"), [(None, "null"), ([1], "list"), ({"a": 1}, "dict")])
    def test_unusable_values_refused(self, value: Any, kind: str) -> None:
        """Null, a list or an object is an error naming the placeholder (RELIABILITY B16)."""
        error = fill_error(STATUS, jobId=value)
        assert (
            str(error) == f"URL placeholder {{start.jobId}} yields {kind}, not a string or number"
        )

    def test_missing_value_refused(self) -> None:
        """A placeholder whose field is missing is null, so refused."""
        assert "{start.jobId} yields null" in str(fill_error(STATUS))

    @pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
    def test_non_finite_refused(self, value: float) -> None:
        """Infinite and NaN numbers are refused."""
        fill_error(STATUS, jobId=value)

    def test_empty_first_segment_refused(self) -> None:
        """An empty value that would turn ``/{x}/status`` into ``//status`` is refused."""
        assert "authority" in str(fill_error("/{start.jobId}/status", jobId=""))

    def test_empty_inner_segment(self) -> None:
        """An empty value further down the path leaves an empty segment."""
        assert fill(STATUS, jobId="") == "/api/exports//status"

    def test_absolute_template_keeps_host(self) -> None:
        """A value never changes the scheme or host of an absolute template."""
        url = fill("https://api.example.com/{start.jobId}", jobId="//evil.example:80@x")
        assert urlsplit(url).netloc == "api.example.com"
        assert url == "https://api.example.com/%2F%2Fevil.example%3A80%40x"

    def test_query_placeholder(self) -> None:
        """A placeholder in the query is quoted the same way."""
        assert fill("/ops?id={start.jobId}", jobId="a&b=c") == "/ops?id=a%26b%3Dc"


class TestUrlReserved:
    """``{+expr}`` keeps ``/`` for multi-segment names, and refuses what could escape."""

    NAME = "/v1/{+start.name}"

    def test_keeps_slashes(self) -> None:
        """Google's operation names keep their slashes."""
        assert fill(self.NAME + ":cancel", name="projects/p/locations/l/operations/x") == (
            "/v1/projects/p/locations/l/operations/x:cancel"
        )

    @pytest.mark.parametrize(
        ("value", "path"),
        [
            ("a b/c", "a%20b/c"),
            ("a%2Fb/c", "a%252Fb/c"),
            ("x/op:1@y", "x/op:1@y"),
            ("a=1;b,c", "a=1;b,c"),
            ("a//b", "a//b"),
            ("...", "..."),
            ("é", "%C3%A9"),
        ],
    )
    def test_quoting(self, value: str, path: str) -> None:
        """Each segment is quoted, keeping RFC 3986 pchar delimiters."""
        assert fill(self.NAME, name=value) == f"/v1/{path}"

    @pytest.mark.parametrize(
        "value",
        [
            "..",
            ".",
            "a/../b",
            "a/./b",
            "a/..",
            "../a",
            "a?x=1",
            "a#frag",
            "a\\b",
            "http://evil.example/x",
            "https:x",
            "op:1",
            "javascript:alert(1)",
            "//evil.example/x",
            "a\r\nb",
            "a\x00",
        ],
    )
    def test_refused(self, value: str) -> None:
        """Dot segments, ``?``, ``#``, ``\\``, schemes, authorities and controls are refused."""
        fill_error(self.NAME, name=value)

    def test_leading_slash_cannot_make_authority(self) -> None:
        """``/{+x}`` with ``/evil.example`` would make ``//evil.example``: refused."""
        assert "authority" in str(fill_error("/{+start.name}", name="/evil.example/x"))

    def test_leading_slash_alone(self) -> None:
        """A template that is only ``{+x}`` may yield an absolute path."""
        assert fill("{+start.name}", name="/api/ops/1") == "/api/ops/1"

    def test_cannot_make_scheme(self) -> None:
        """A value that would turn the template's first segment into a scheme is refused."""
        fill_error("op{+start.name}", name="1:x")

    @pytest.mark.parametrize(
        ("value", "kind"), [(None, "null"), (["a"], "list"), ({"a": 1}, "dict")]
    )
    def test_unusable_values(self, value: Any, kind: str) -> None:
        """Null, lists and objects are errors naming the placeholder."""
        assert f"{{start.name}} yields {kind}" in str(fill_error(self.NAME, name=value))


class TestUrlPassthrough:
    """A template that is only one ``{+expr}`` yields an absolute http(s) URL as it is."""

    @pytest.mark.parametrize("name", ["request_url", "status_url"])
    def test_passthrough(self, name: str) -> None:
        """``{+request_url}`` and ``{+status_url}`` give the URL back unchanged."""
        template = UrlTemplate(f"{{+{name}}}", field="cancel.url")
        assert template.fill(CONTEXT) == CONTEXT[name]

    def test_header_passthrough(self) -> None:
        """An absolute URL from the start headers passes too; its origin is checked later."""
        template = UrlTemplate("{+start_headers.location}", field="status_url")
        url = "https://other.example/ops/1?api-version=2"
        assert template.fill({"start_headers": {"location": url}}) == url

    def test_relative_value_is_checked(self) -> None:
        """A value that is not an absolute http(s) URL goes through the usual checks."""
        template = UrlTemplate("{+start_headers.location}", field="status_url")
        assert template.fill({"start_headers": {"location": "/ops/1"}}) == "/ops/1"
        for refused in ("javascript:alert(1)", "//evil.example/x", "ops/../admin"):
            with pytest.raises(TemplateError):
                template.fill({"start_headers": {"location": refused}})

    def test_lone_absolute_path_reference_passes(self) -> None:
        """A lone ``{+...}`` yielding an absolute-path reference (a server's relative
        Location, query included) passes as the whole URL; inside a template it is checked."""
        template = UrlTemplate("{+last.resourceLocation}", field="result_url")
        ref = "/subscriptions/s/rg/x?api-version=2024-01-01"
        assert template.fill({"last": {"resourceLocation": ref}}) == ref
        with pytest.raises(TemplateError):
            UrlTemplate("/x/{+last.r}", field="result_url").fill({"last": {"r": "a/../b"}})

    def test_control_characters_refused(self) -> None:
        """An absolute URL with a control character is refused."""
        template = UrlTemplate("{+status_url}", field="cancel.url")
        with pytest.raises(TemplateError, match="control character"):
            template.fill({"status_url": "https://api.example.com/\r\nx"})

    def test_not_known_yet(self) -> None:
        """A URL that is not known (null) is an error naming the placeholder."""
        template = UrlTemplate("{+status_url}", field="cancel.url")
        with pytest.raises(TemplateError, match=r"\{status_url\} yields null"):
            template.fill({**CONTEXT, "status_url": None})

    def test_leading_absolute_url_extended(self) -> None:
        """A leading ``{+...}`` absolute URL can be extended (``{+status_url}:cancel``)."""
        template = UrlTemplate("{+status_url}:cancel", field="cancel.url")
        assert template.fill(CONTEXT) == CONTEXT["status_url"] + ":cancel"
        assert UrlTemplate("{+status_url}/x", field="c").fill(CONTEXT).endswith("/ops/7/x")

    def test_leading_absolute_url_with_query_not_extended(self) -> None:
        """An absolute URL with a query cannot be extended: the suffix would land in it."""
        template = UrlTemplate("{+status_url}/cancel", field="cancel.url")
        with pytest.raises(TemplateError, match="query"):
            template.fill({"status_url": "https://api.example.com/ops/7?api-version=1"})

    def test_absolute_url_not_leading_is_refused(self) -> None:
        """An absolute URL from a ``{+...}`` that is not first is refused as a scheme."""
        template = UrlTemplate("x{+status_url}", field="cancel.url")
        with pytest.raises(TemplateError):
            template.fill(CONTEXT)

    def test_plain_form_is_one_segment(self) -> None:
        """``{status_url}`` (no ``+``) quotes the URL into one segment."""
        template = UrlTemplate("/x/{status_url}", field="cancel.url")
        assert template.fill(CONTEXT) == "/x/https%3A%2F%2Fapi.example.com%2Fops%2F7"


class TestTemplateSyntax:
    """Template text is checked when the spec is built."""

    def test_literal_braces(self) -> None:
        """``{{`` and ``}}`` are literal braces."""
        assert fill("/a/{{x}}/{start.jobId}", jobId="7") == "/a/{x}/7"
        assert UrlTemplate("/a/{{}}", field="status_url").is_static

    @pytest.mark.parametrize(
        ("source", "position", "text"),
        [
            ("/a/{start.jobId", 3, "unclosed '{'"),
            ("/a/{", 3, "unclosed '{'"),
            ("/a}/b", 2, "unmatched '}'"),
            ("/a/{start.id}}", 13, "unmatched '}'"),
            ("/a/{{start.id}", 13, "unmatched '}'"),
            ("/a/{}", 3, "empty placeholder"),
            ("/a/{+}", 3, "empty placeholder"),
            ("/a/{ }", 3, "empty placeholder"),
            ("/a/{start{x}}", 3, "'{' inside a placeholder"),
            ("/a/{foo.bar}", 3, "does not start from one of"),
            ("/a/{startx}", 3, "does not start from one of"),
            ("/a/b\nc", 4, "control character"),
            ("/a/\x00", 3, "control character"),
        ],
    )
    def test_errors(self, source: str, position: int, text: str) -> None:
        """Bad braces, empty and unknown placeholders: SpecError with the position."""
        error = template_error(source)
        assert error.field == "status_url"
        assert error.position == position
        assert text in str(error)

    def test_bad_expression_in_placeholder(self) -> None:
        """A syntax error inside a placeholder names the field and the placeholder."""
        error = template_error("/a/{start.a b}")
        assert error.field == "status_url{start.a b}"

    def test_unknown_function_in_placeholder(self) -> None:
        """Function checks apply to placeholders too."""
        with pytest.raises(SpecError, match="unknown function"):
            MessageTemplate("{nope(progress)}", field="messages.in_progress")

    @pytest.mark.parametrize(
        "key",
        [
            "start",
            "start_headers",
            "last",
            "progress",
            "result",
            "operation",
            "request_url",
            "status_url",
        ],
    )
    def test_context_keys(self, key: str) -> None:
        """Every context key can start a placeholder."""
        UrlTemplate(f"/a/{{{key}}}", field="status_url")

    def test_not_a_string(self) -> None:
        """A template must be text."""
        template_error(5)  # type: ignore[arg-type]

    def test_static(self) -> None:
        """A template without placeholders is static and fills to itself."""
        template = UrlTemplate("/api/ops", field="status_url")
        assert template.is_static
        assert template.fill({}) == "/api/ops"
        assert not UrlTemplate(STATUS, field="status_url").is_static

    def test_equality_and_repr(self) -> None:
        """Templates compare and hash by their text."""
        a = UrlTemplate(STATUS, field="status_url")
        b = UrlTemplate(STATUS, field="cancel.url")
        assert a == b
        assert hash(a) == hash(b)
        assert repr(a) == f"UrlTemplate({STATUS!r})"
        m = MessageTemplate("{progress}", field="x")
        assert m == MessageTemplate("{progress}", field="y")
        assert repr(m) == "MessageTemplate('{progress}')"
        assert hash(m) == hash(MessageTemplate("{progress}", field="z"))


def render(source: str, **context: Any) -> str | None:
    """``source`` rendered as a message over ``context``."""
    return MessageTemplate(source, field="messages.in_progress").render(context)


class TestMessageTemplates:
    """Messages for bots and UIs."""

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (40.0, "40"),
            (40, "40"),
            (40.25, "40.2"),
            (99.96, "100.0"),
            (0.0, "0"),
            (-3.0, "-3"),
            (True, "true"),
            (False, "false"),
            ("forty", "forty"),
            ("", ""),
            (math.inf, "inf"),
            (math.nan, "nan"),
            ([1, "a"], '[1,"a"]'),
            ({"a": 1}, '{"a":1}'),
        ],
    )
    def test_values(self, value: Any, text: str) -> None:
        """Numbers are written plainly (40.0 as 40), structures as JSON."""
        assert render("Export progress: {progress}%", progress=value) == (
            f"Export progress: {text}%"
        )

    def test_null_means_no_message(self) -> None:
        """A null placeholder means the update carries no message, never an error."""
        assert render("Export progress: {progress}%", progress=None) is None
        assert render("{last.status} at {progress}", last={"status": "x"}) is None

    def test_static(self) -> None:
        """A message without placeholders is always itself."""
        assert render("Export finished!") == "Export finished!"

    def test_literal_braces(self) -> None:
        """Doubled braces are literal."""
        assert render("{{ {progress} }}", progress=5) == "{ 5 }"

    def test_any_context_key(self) -> None:
        """Message placeholders may read ``error`` and anything else in the context."""
        assert render("Failed: {error}", error="disk full") == "Failed: disk full"

    def test_reserved_form_refused(self) -> None:
        """``{+expr}`` is for URLs only."""
        with pytest.raises(SpecError, match="only for URL templates") as info:
            MessageTemplate("{+progress}", field="messages.completed")
        assert info.value.field == "messages.completed"

    @pytest.mark.parametrize(
        ("source", "position"), [("{progress", 0), ("progress}", 8), ("a {} b", 2)]
    )
    def test_errors(self, source: str, position: int) -> None:
        """Brace errors name the field and position."""
        with pytest.raises(SpecError) as info:
            MessageTemplate(source, field="messages.failed")
        assert info.value.field == "messages.failed"
        assert info.value.position == position

    def test_functions(self) -> None:
        """Placeholders are JMESPath, so lrpoll's functions work."""
        assert render("{percent(last.done, last.total)}%", last={"done": 1, "total": 3}) == (
            "33.3%"
        )


class TestJsonSnippet:
    """``json_snippet``: short, escaped, single-line."""

    @pytest.mark.parametrize(
        ("value", "text"),
        [
            ({"a": [1, 2]}, '{"a":[1,2]}'),
            ("é", '"\\u00e9"'),
            ("\ud800", '"\\ud800"'),
            ("a\nb", '"a\\nb"'),
            (b"<html>\n\xff", "<html>\\x0a\\xff"),
            (None, "null"),
            (math.nan, "NaN"),
        ],
    )
    def test_escaped(self, value: Any, text: str) -> None:
        """Non-ASCII, surrogates, newlines and bad bytes are escaped."""
        assert json_snippet(value) == text

    def test_truncated(self) -> None:
        """Long values are cut to the limit with an ellipsis."""
        text = json_snippet("x" * 1000, limit=20)
        assert len(text) == 20
        assert text.endswith("…")

    def test_unserialisable(self) -> None:
        """Values JSON cannot write fall back to ``str``."""
        assert json_snippet({"a": {1, 2}}) == '{"a":"{1, 2}"}'
