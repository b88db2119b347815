"""JMESPath expressions compiled once, and the URL and message templates built on them.

Pure: no I/O, no clock, no logging. Everything that can be checked is checked at
construction, so a typo fails when the spec is built, not on the hundredth poll.

Specs come from files and checkpoints, so their text is untrusted input: an expression
is at most `MAX_EXPRESSION_LENGTH` characters (checked before jmespath sees it: its
lexer is quadratic on literals) and `MAX_EXPRESSION_DEPTH` levels of syntax tree deep; a
template is at most `MAX_TEMPLATE_LENGTH` characters. Past a limit, `SpecError`.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote

import jmespath
import jmespath.exceptions
import jmespath.functions
import jmespath.lexer
import jmespath.parser

from . import _jsvalues
from ._exceptions import SpecError, TemplateError

__all__ = [
    "MAX_EXPRESSION_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_JSON_DEPTH",
    "MAX_TEMPLATE_LENGTH",
    "Choice",
    "Expression",
    "MessageTemplate",
    "UrlTemplate",
    "json_depth",
    "json_snippet",
]

# Tuples, not `X | Y`: a union is built anew each time such an isinstance runs.
_SIZED: Final = (str, list, dict)
_CONTAINER: Final = (list, dict)

_MISSING: Final = object()

#: Characters an expression may have (jmespath's lexer is quadratic on long literals).
MAX_EXPRESSION_LENGTH: Final = 4096
#: Levels of syntax tree an expression may have (``((a))``, ``a || b || c``, ``!!a``).
MAX_EXPRESSION_DEPTH: Final = 64
#: Characters a URL or message template may have.
MAX_TEMPLATE_LENGTH: Final = 8192
#: Levels of nesting a JSON value may have where lrpoll stores or copies it (a spec's
#: ``status_json``, a checkpoint's ``last``).
MAX_JSON_DEPTH: Final = 100


def json_depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """The nesting depth of a JSON-like value (a scalar is 0), counted up to ``limit + 1``.

    Iterative, so a value too deep for recursion is measured without a `RecursionError`.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def _bracket_depth(source: str) -> int:
    """The deepest nesting of brackets and ``!`` runs in ``source``, outside quoted strings.

    Read before parsing: jmespath parses these recursively, so how deep it can go would
    otherwise depend on the interpreter's recursion limit and stack.
    """
    deepest = depth = nots = 0
    quote = ""
    escaped = False
    for ch in source:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "!":
            nots += 1
        elif not ch.isspace():
            nots = 0
        deepest = max(deepest, depth + nots)
    return deepest


def _tree_depth(node: Mapping[str, Any]) -> int:
    deepest = 0
    stack: list[tuple[Any, int]] = [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_EXPRESSION_DEPTH:
            break
        stack.extend(
            (child, depth + 1) for child in item.get("children", ()) if isinstance(child, Mapping)
        )
    return deepest


class _Functions(jmespath.functions.Functions):
    """JMESPath's built-ins plus lrpoll's: JMESPath has no arithmetic and no case folding."""

    @jmespath.functions.signature({"types": ["number"]}, {"types": ["number"]})
    def _func_percent(self, part: float, whole: float) -> float | None:
        # Reference: DESIGN.md "JMESPath caveats" (no arithmetic in JMESPath).
        if whole == 0:
            return None
        return 100.0 * part / whole

    @jmespath.functions.signature({"types": ["string"]})
    def _func_lower(self, value: str) -> str:
        return value.lower()

    @jmespath.functions.signature({"types": ["string"]})
    def _func_upper(self, value: str) -> str:
        return value.upper()

    # JavaScript's reading of values, for conditions translated from XMLUI (_jsexpr.py).
    @jmespath.functions.signature({"types": []})
    def _func_js_truthy(self, value: Any) -> bool:
        return _jsvalues.truthy(value)

    @jmespath.functions.signature({"types": []}, {"types": []})
    def _func_js_equals(self, left: Any, right: Any) -> bool:
        return _jsvalues.loose_equals(left, right)

    @jmespath.functions.signature({"types": []}, {"types": []})
    def _func_js_lt(self, left: Any, right: Any) -> bool:
        return _jsvalues.less_than(left, right)

    @jmespath.functions.signature({"types": []}, {"types": []})
    def _func_js_le(self, left: Any, right: Any) -> bool:
        return _jsvalues.less_equal(left, right)

    @jmespath.functions.signature({"types": []})
    def _func_js_progress(self, value: Any) -> float | None:
        return _jsvalues.progress(value)


_FUNCTIONS: Final = _Functions()
_OPTIONS: Final = jmespath.Options(custom_functions=_FUNCTIONS)
_PARSER: Final = jmespath.parser.Parser()


#: Names of the functions expressions may call (JMESPath's built-ins and lrpoll's).
FUNCTION_NAMES: Final = frozenset(_FUNCTIONS.FUNCTION_TABLE)


def _check_functions(node: Mapping[str, Any], field: str, source: str) -> None:
    if node.get("type") == "function_expression":
        name = node["value"]
        entry = _FUNCTIONS.FUNCTION_TABLE.get(name)
        match = re.search(rf"\b{re.escape(name)}\s*\(", source)
        position = match.start() if match else None
        if entry is None:
            known = ", ".join(sorted(FUNCTION_NAMES))
            raise SpecError(
                f"unknown function {name}() (known: {known})", field=field, position=position
            )
        signature = entry["signature"]
        given = len(node["children"])
        if signature and signature[-1].get("variadic"):
            if given < len(signature):
                raise SpecError(
                    f"{name}() takes at least {len(signature)} arguments, {given} given",
                    field=field,
                    position=position,
                )
        elif given != len(signature):
            raise SpecError(
                f"{name}() takes {len(signature)} argument{'s' * (len(signature) != 1)},"
                f" {given} given",
                field=field,
                position=position,
            )
    for child in node.get("children", ()):
        if isinstance(child, Mapping):
            _check_functions(child, field, source)


def _path_of(node: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The keys of a plain dotted path (``a.b.c``), or None for anything else."""
    kind = node.get("type")
    if kind == "field":
        return (node["value"],)
    if kind == "subexpression":
        keys: list[str] = []
        for child in node["children"]:
            sub = _path_of(child)
            if sub is None:
                return None
            keys.extend(sub)
        return tuple(keys)
    return None


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _lookup(doc: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _jp_equals(x: Any, y: Any) -> bool:
    # JMESPath: true != 1 and false != 0, unlike Python.
    if isinstance(x, bool) != isinstance(y, bool):
        return False
    return bool(x == y)


_COMPARATORS: Final = frozenset({"eq", "ne", "lt", "gt", "lte", "gte"})


def _check_quoted_operands(source: str, field: str) -> None:
    """Refuse ``status == "done"``: in JMESPath ``"done"`` is the field ``done``.

    A double-quoted identifier compared with anything but a literal is almost always
    a string written in the wrong quotes, and such a condition never holds. A quoted
    field that needs its quotes stays possible as ``@."job-state"``, or compared with a
    literal (``"job-state" == 'done'``).

    Raises:
        SpecError: naming the field, the position of the quoted identifier and the fix.
    """
    tokens = list(jmespath.lexer.Lexer().tokenize(source))  # a lexer holds state: one each
    found = None
    for i, token in enumerate(tokens):
        if token["type"] != "quoted_identifier":
            continue
        before = tokens[i - 1]["type"] if i > 0 else None
        after = tokens[i + 1]["type"] if i + 1 < len(tokens) else None
        if before == "dot" or after in ("dot", "lbracket"):
            continue  # part of a path: a field by intent
        if before in _COMPARATORS:
            other = tokens[i - 2]["type"] if i > 1 else None
        elif after in _COMPARATORS:
            other = tokens[i + 2]["type"] if i + 2 < len(tokens) else None
        else:
            continue
        if other != "literal":
            found = token
    if found is not None:
        name = found["value"]
        raise SpecError(
            f'"{name}" is a field name in JMESPath, not a string, so this comparison '
            f"likely never holds; write '{name}' (single quotes) for the string, or "
            f'@."{name}" if the field is meant',
            field=field,
            position=found["start"],
        )


class Expression:
    """A JMESPath expression, validated and compiled once.

    Plain dotted paths (``a.b.c``) and comparisons of such a path with a literal
    (``status == 'done'``, ``!=``) run as direct dictionary lookups, which give the
    same answer as JMESPath 30-50 times faster; everything else runs through jmespath.

    Raises:
        SpecError: when the text is not valid JMESPath, calls an unknown function or
            calls a function with the wrong number of arguments.
    """

    __slots__ = ("_search", "equals", "field", "source")

    def __init__(self, source: str, *, field: str) -> None:
        if not _is_text(source) or not source.strip():
            raise SpecError("expression must be a non-empty string", field=field)
        if len(source) > MAX_EXPRESSION_LENGTH:
            raise SpecError(
                f"expression is {len(source)} characters, over the limit of "
                f"{MAX_EXPRESSION_LENGTH}",
                field=field,
            )
        if _bracket_depth(source) > MAX_EXPRESSION_DEPTH:
            raise SpecError(
                f"expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels", field=field
            )
        self.source = source
        self.field = field
        try:
            with warnings.catch_warnings():
                # jmespath accepts `done` (a JSON literal without quotes) with a warning;
                # refuse it here so the mistake surfaces as a SpecError, not a warning.
                warnings.simplefilter("error", PendingDeprecationWarning)
                parsed = _PARSER.parse(source)
        except PendingDeprecationWarning:
            raise SpecError(
                "deprecated JMESPath literal: quote strings as 'text' or `\"text\"`",
                field=field,
            ) from None
        except jmespath.exceptions.ParseError as exc:
            what = (
                "unexpected end of expression"
                # jmespath upper-cases token types, and IncompleteExpressionError sets None.
                if exc.token_type in (None, "EOF")
                else f"unexpected {exc.token_value!r}"
            )
            raise SpecError(
                f"invalid JMESPath: {what}", field=field, position=exc.lex_position
            ) from None
        except jmespath.exceptions.JMESPathError as exc:
            raise SpecError(f"invalid JMESPath: {exc}", field=field) from None
        except RecursionError:
            # A run of "!" or "(" is parsed recursively, a literal by json.loads.
            raise SpecError(
                f"expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels", field=field
            ) from None
        if _tree_depth(parsed.parsed) > MAX_EXPRESSION_DEPTH:
            raise SpecError(
                f"expression is nested deeper than {MAX_EXPRESSION_DEPTH} levels", field=field
            )
        _check_functions(parsed.parsed, field, source)
        _check_quoted_operands(source, field)
        self._search = self._fast_path(parsed.parsed) or (
            lambda doc: parsed.search(doc, options=_OPTIONS)
        )
        #: ``(path, text)`` for ``path == 'text'``, the form a `Choice` can table; else None.
        self.equals: tuple[tuple[str, ...], str] | None = _equality(parsed.parsed)

    @staticmethod
    def _fast_path(node: Mapping[str, Any]) -> Callable[[Any], Any] | None:
        whole = _path_of(node)
        if whole is not None:
            if len(whole) == 1:
                key = whole[0]
                return lambda doc: doc.get(key) if isinstance(doc, dict) else None
            return lambda doc: _lookup(doc, whole)
        compared = _comparison(node)
        if compared is not None:
            op, path, literal = compared
            if op == "eq":
                return lambda doc: _jp_equals(_lookup(doc, path), literal)
            return lambda doc: not _jp_equals(_lookup(doc, path), literal)
        return None

    def search(self, doc: Any) -> Any:
        """Evaluate over ``doc``; a type error inside the expression reads as null.

        Returns:
            The value, or None where the document lacks what the expression needs.
        """
        try:
            return self._search(doc)
        except (
            jmespath.exceptions.JMESPathError,
            TypeError,
            ValueError,
            OverflowError,  # ceil(inf), percent(10**400, 1), avg of huge ints
            RecursionError,
        ):
            return None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def _comparison(node: Mapping[str, Any]) -> tuple[str, tuple[str, ...], Any] | None:
    """``(op, path, literal)`` for ``path == literal`` or ``path != literal``; else None."""
    if node.get("type") != "comparator" or node["value"] not in ("eq", "ne"):
        return None
    left, right = node["children"]
    keys = _path_of(left)
    if keys is None or right.get("type") != "literal":
        return None
    return node["value"], keys, right["value"]


def _equality(node: Mapping[str, Any]) -> tuple[tuple[str, ...], str] | None:
    compared = _comparison(node)
    if compared is None:
        return None
    op, path, literal = compared
    return (path, literal) if op == "eq" and isinstance(literal, str) else None


class Choice:
    """Which of several ``path == 'text'`` expressions holds first, by one lookup.

    Evaluating such expressions one by one and taking the first that holds gives the
    same answer as looking the path's value up in a table of their texts, the first
    expression winning a text they share: a string equals exactly one text, and
    anything else (a number, null, a missing path, a list) equals none.
    """

    __slots__ = ("names", "path")

    def __init__(self, path: tuple[str, ...], names: Mapping[str, str]) -> None:
        self.path = path
        self.names = names

    @classmethod
    def of(cls, named: Sequence[tuple[str, Expression]]) -> Choice | None:
        """The choice among ``named``, in order; None unless all are ``path == 'text'``.

        Every expression must compare the same path with a string literal.
        """
        path: tuple[str, ...] | None = None
        names: dict[str, str] = {}
        for name, expression in named:
            if expression.equals is None:
                return None
            keys, text = expression.equals
            if path is not None and keys != path:
                return None
            path = keys
            names.setdefault(text, name)
        return None if path is None else cls(path, names)

    def pick(self, doc: Any) -> str | None:
        """The name of the first expression that holds over ``doc``, or None."""
        value = _lookup(doc, self.path)
        return self.names.get(value) if isinstance(value, str) else None


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty strings, lists and objects are false."""
    if value is None or value is False:
        return False
    if isinstance(value, _SIZED):
        return len(value) > 0
    return True


# ---------------------------------------------------------------------------------------
# Templates

_CONTEXT_KEYS: Final = frozenset(
    {
        "start",
        "start_headers",
        "last",
        "progress",
        "result",
        "operation",
        "request_url",
        "status_url",
    }
)


@dataclass(frozen=True, slots=True)
class _Placeholder:
    expression: Expression
    reserved: bool  # RFC 6570 {+expr}: keeps "/" between segments
    position: int


def _parse_template(source: str, *, field: str, allow_reserved: bool) -> tuple[Any, ...]:
    if not isinstance(source, str):
        raise SpecError("template must be a string", field=field)
    if len(source) > MAX_TEMPLATE_LENGTH:
        raise SpecError(
            f"template is {len(source)} characters, over the limit of {MAX_TEMPLATE_LENGTH}",
            field=field,
        )
    parts: list[str | _Placeholder] = []
    literal: list[str] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "{" and source.startswith("{{", i):
            literal.append("{")
            i += 2
        elif ch == "}" and source.startswith("}}", i):
            literal.append("}")
            i += 2
        elif ch == "{":
            end = source.find("}", i + 1)
            if end < 0:
                raise SpecError("unclosed '{' in template", field=field, position=i)
            inner = source[i + 1 : end]
            if "{" in inner:
                raise SpecError("'{' inside a placeholder", field=field, position=i)
            reserved = inner.startswith("+")
            if reserved:
                if not allow_reserved:
                    raise SpecError("{+...} is only for URL templates", field=field, position=i)
                inner = inner[1:]
            if not inner.strip():
                raise SpecError("empty placeholder", field=field, position=i)
            shown = inner.strip() if len(inner) <= 40 else inner.strip()[:39] + "…"
            expr = Expression(inner.strip(), field=f"{field}{{{shown}}}")
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_Placeholder(expr, reserved, i))
            i = end + 1
        elif ch == "}":
            raise SpecError(
                "unmatched '}' in template (write '}}' for a brace)", field=field, position=i
            )
        else:
            literal.append(ch)
            i += 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# Sub-delimiters and ":@" stay literal inside a segment of a {+expr} value (RFC 3986 pchar).
_PCHAR_SAFE: Final = "!$&'()*+,;=:@"
_ABSOLUTE_HTTP: Final = re.compile(r"https?://[^/?#\s]+", re.I)


def _scalar_text(value: Any, name: str, *, what: str) -> str:
    if value is None or isinstance(value, _CONTAINER):
        kind = "null" if value is None else type(value).__name__
        raise TemplateError(
            f"{what} placeholder {{{name}}} yields {kind}, not a string or number",
            null=value is None,
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TemplateError(f"{what} placeholder {{{name}}} yields {value}")
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


class UrlTemplate:
    """A URL template: ``{expr}`` fills one path segment, ``{+expr}`` several.

    ``{expr}`` is quoted with nothing safe, so ``../../admin?x=1#`` stays data inside its
    segment and ``%2F`` becomes ``%252F``. ``{+expr}`` (RFC 6570's reserved form) keeps
    ``/`` for names such as ``projects/p/operations/x`` and refuses ``.``/``..`` segments,
    ``?``, ``#``, a backslash, a scheme or an authority. A template that starts with
    ``{+expr}`` (``{+request_url}``, ``{+status_url}:cancel``,
    ``{+start_headers.location}``) may take an absolute http(s) URL from it as it is
    (its origin is checked before use).

    The result is a pre-encoded URL reference (absolute or relative): the runtime resolves
    it against the request URL and checks its origin before anything is sent.
    """

    __slots__ = ("_parts", "_passthrough", "field", "source")

    def __init__(self, source: str, *, field: str) -> None:
        self.source = source
        self.field = field
        self._parts = _parse_template(source, field=field, allow_reserved=True)
        control = _CONTROL.search(source)
        if control:
            raise SpecError(
                "control character in URL template", field=field, position=control.start()
            )
        # A leading {+expr} may yield an absolute http(s) URL ("{+status_url}:cancel").
        self._passthrough: Expression | None = None
        if self._parts and isinstance(self._parts[0], _Placeholder) and self._parts[0].reserved:
            self._passthrough = self._parts[0].expression
        for part in self._parts:
            if isinstance(part, _Placeholder):
                root = re.match(r"[A-Za-z_][A-Za-z0-9_]*(\s*\()?", part.expression.source)
                if root and not root.group(1) and root.group(0) not in _CONTEXT_KEYS:
                    raise SpecError(
                        f"placeholder {{{part.expression.source}}} does not start from one of "
                        f"{', '.join(sorted(_CONTEXT_KEYS))}",
                        field=field,
                        position=part.position,
                    )

    @property
    def is_static(self) -> bool:
        """True when the template has no placeholder."""
        return not any(isinstance(p, _Placeholder) for p in self._parts)

    def fill(self, context: Mapping[str, Any]) -> str:
        """Fill the template from ``context``.

        Raises:
            TemplateError: when a placeholder yields null, a list, an object, a control
                character, or (``{+expr}``) a refused multi-segment value.
        """
        out: list[str] = []
        parts = self._parts
        absolute = False
        if self._passthrough is not None:
            value = self._passthrough.search(context)
            name = self._passthrough.source
            if value == "" and len(parts) == 1:
                raise TemplateError(f"URL placeholder {{+{name}}} yields an empty string")
            lone = len(parts) == 1
            if lone and isinstance(value, str) and value.startswith("/") and value[1:2] != "/":
                # A whole URL reference from a server (a relative Location with a query):
                # resolved against the request URL and origin-checked like any other.
                if _CONTROL.search(value):
                    raise TemplateError(f"URL placeholder {{+{name}}} yields a control character")
                return value
            if isinstance(value, str) and _ABSOLUTE_HTTP.match(value):
                if _CONTROL.search(value):
                    raise TemplateError(f"URL placeholder {{+{name}}} yields a control character")
                if len(parts) > 1 and any(c in value for c in "?#"):
                    raise TemplateError(
                        f"URL placeholder {{+{name}}} yields a URL with a query or fragment, "
                        "so the text after it would not extend its path"
                    )
                out.append(value)
                parts = parts[1:]
                absolute = True
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            name = part.expression.source
            text = _scalar_text(part.expression.search(context), name, what="URL")
            if _CONTROL.search(text):
                raise TemplateError(f"URL placeholder {{{name}}} yields a control character")
            if not part.reserved:
                if text in (".", ".."):
                    # quote() keeps dots: "/a/{x}/b" with ".." would resolve to "/b".
                    raise TemplateError(f"URL placeholder {{{name}}} yields a '.' or '..' segment")
                out.append(quote(text, safe=""))
                continue
            if text.startswith("//") or _SCHEME.match(text) or any(c in text for c in "?#\\"):
                raise TemplateError(
                    f"URL placeholder {{+{name}}} yields a scheme, authority, '?', '#' or '\\'"
                )
            segments = text.split("/")
            if any(seg in (".", "..") for seg in segments):
                raise TemplateError(f"URL placeholder {{+{name}}} yields a '.' or '..' segment")
            out.append("/".join(quote(seg, safe=_PCHAR_SAFE) for seg in segments))
        url = "".join(out)
        # "/{x}/s" with "" gives "//s", "/{+x}" with "/evil.example" "//evil.example", and
        # "a{+x}" with "1:b" "a1:b": a scheme or authority the template's own text lacks.
        if (
            not absolute
            and (url.startswith("//") or _SCHEME.match(url))
            and not (self.source.startswith("//") or _SCHEME.match(self.source))
        ):
            raise TemplateError(
                f"URL template {self.source!r} yields a scheme or '//authority' it does not name"
            )
        return url

    def __repr__(self) -> str:
        return f"UrlTemplate({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UrlTemplate) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def _message_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.1f}" if math.isfinite(value) else str(value)
    if isinstance(value, _CONTAINER):
        return json_snippet(value, limit=200)
    return str(value)


class MessageTemplate:
    """A message for bots and UIs: ``"Export progress: {progress}%"``.

    A placeholder that yields null (unknown progress, say) means this update carries no
    message: `render` returns None instead of raising.
    """

    __slots__ = ("_parts", "field", "source")

    def __init__(self, source: str, *, field: str) -> None:
        self.source = source
        self.field = field
        self._parts = _parse_template(source, field=field, allow_reserved=False)

    def render(self, context: Mapping[str, Any]) -> str | None:
        """The message, or None when a placeholder yields null."""
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.expression.search(context)
            if value is None:
                return None
            out.append(_message_text(value))
        return "".join(out)

    def __repr__(self) -> str:
        return f"MessageTemplate({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MessageTemplate) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def json_snippet(value: Any, *, limit: int = 200) -> str:
    """A short, escaped, single-line rendering of ``value`` for errors and logs."""
    if isinstance(value, bytes | bytearray):
        text = bytes(value[: limit * 4]).decode("utf-8", "backslashreplace")
    else:
        try:
            text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)
        except (ValueError, TypeError, RecursionError):
            text = repr(value)
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
