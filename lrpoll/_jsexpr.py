"""XMLUI's JavaScript-like conditions, translated to lrpoll's JMESPath. Pure.

XMLUI's ``APICall`` decides with small scripting expressions
(``$statusData.status === 'done'``). `translate_condition` and `translate_value` turn
the common subset into JMESPath that means the same thing, and refuse the rest with a
`SpecError` naming the attribute and the 0-based position of the offending token::

    member access     $statusData.a.b   $statusData['a-b']   $statusData?.a
    comparison        ===  !==  ==  !=  <  <=  >  >=
    logic             &&  ||  !   (parentheses)
    literals          'text'  "text"  42  -1.5  1e3  true  false  null  undefined
    variables         $statusData (the status document), $progress (conditions only)

Where JavaScript and JMESPath disagree, the output follows JavaScript:

- truthiness: ``[]`` and ``{}`` are true, ``0`` and ``""`` false (``js_truthy``);
- ``===``: no coercion, ``undefined`` (a missing member) differs from ``null``, and two
  different arrays or objects are never equal (JMESPath compares them by value);
- ``==``: JavaScript's coercion (``"1" == 1``, ``[] == ""``, ``null == undefined``)
  through ``js_equals``;
- ``<`` and friends: strings by UTF-16 code units, anything else as numbers (``null``
  is 0, ``undefined`` and ``"x"`` NaN, so false) through ``js_lt``/``js_le``;
- a condition over a falsy status document (empty body, ``0``) is false, as in XMLUI.

The ``js_*`` functions are lrpoll's JMESPath functions (`lrpoll._jsvalues`).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Final, Literal

from . import _jsvalues
from ._exceptions import SpecError

__all__ = [
    "UNDEFINED",
    "js_literal",
    "member_path",
    "translate_condition",
    "translate_progress",
]


class _Undefined:
    """JavaScript's ``undefined`` as a literal value."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


UNDEFINED: Final = _Undefined()
"""The ``undefined`` literal."""

_Value = None | bool | float | str | _Undefined

_SPACE: Final = "\t\n\v\f\r \u00a0\u2028\u2029\ufeff"
_IDENT: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_NUMBER: Final = re.compile(
    r"(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9]+(?:[eE][+-]?[0-9]+)?"
)
_OPERATORS: Final = (
    "===",
    "!==",
    "==",
    "!=",
    "&&",
    "||",
    "<=",
    ">=",
    "?.",
    "<",
    ">",
    "!",
    "(",
    ")",
    "[",
    "]",
    ".",
    "-",
)
_UNSUPPORTED: Final = {
    "??": "the ?? operator is not supported",
    "?": "the conditional operator (?:) is not supported",
    ":": "the conditional operator (?:) is not supported",
    "+": "arithmetic (+) is not supported",
    "*": "arithmetic (*) is not supported",
    "/": "arithmetic (/) is not supported",
    "%": "arithmetic (%) is not supported",
    "=": "assignment (=) is not supported",
    ",": "the comma operator is not supported",
    "{": "object literals are not supported",
    "}": "object literals are not supported",
    "`": "template literals are not supported",
    "&": "bitwise operators are not supported",
    "|": "bitwise operators are not supported",
    "^": "bitwise operators are not supported",
    "~": "bitwise operators are not supported",
    ";": "statements are not supported",
}
_KEYWORDS: Final = frozenset({"typeof", "instanceof", "in", "new", "void", "delete", "this"})
#: Members every JavaScript object has (Object.prototype), and ``length``: on the values
#: of a JSON document they do not read a key, so they are refused.
_BUILTIN_MEMBERS: Final = frozenset(
    {
        "length",
        "__proto__",
        "constructor",
        "hasOwnProperty",
        "isPrototypeOf",
        "propertyIsEnumerable",
        "toLocaleString",
        "toString",
        "valueOf",
        "__defineGetter__",
        "__defineSetter__",
        "__lookupGetter__",
        "__lookupSetter__",
    }
)
_INDEX: Final = re.compile(r"0|[1-9][0-9]*")
_JP_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES: Final = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v"}

TokenKind = Literal["name", "string", "number", "op", "bad", "end"]


@dataclass(frozen=True, slots=True)
class _Token:
    kind: TokenKind
    text: str
    value: str | float | None
    pos: int


class _Error(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


# -- tokens ---------------------------------------------------------------------------------


def _string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        ch = source[i]
        if ch == quote:
            return "".join(out), i + 1
        if ch in "\n\r\u2028\u2029":
            break
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 >= len(source):
            break
        nxt = source[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "0" and not source[i + 2 : i + 3].isdigit():
            out.append("\0")
            i += 2
        elif nxt == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", source[i + 2 : i + 4]):
            out.append(chr(int(source[i + 2 : i + 4], 16)))
            i += 4
        elif nxt == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", source[i + 2 : i + 6]):
            out.append(chr(int(source[i + 2 : i + 6], 16)))
            i += 6
        elif nxt == "u" and source[i + 2 : i + 3] == "{":
            end = source.find("}", i + 3)
            digits = source[i + 3 : end] if end > 0 else ""
            if not re.fullmatch(r"[0-9A-Fa-f]{1,6}", digits) or int(digits, 16) > 0x10FFFF:
                raise _Error("invalid \\u{...} escape", i)
            out.append(chr(int(digits, 16)))
            i = end + 1
        elif nxt in "xu" or nxt.isdigit():
            raise _Error(f"invalid escape \\{nxt} in a string", i)
        elif nxt == "\r" and source[i + 2 : i + 3] == "\n":
            i += 3  # a line continuation
        elif nxt in "\n\r\u2028\u2029":
            i += 2
        else:
            out.append(nxt)
            i += 2
    raise _Error("unterminated string", start)


def _tokens(source: str, first: int, last: int) -> list[_Token]:
    out: list[_Token] = []
    i = first
    while True:
        while i < last and source[i] in _SPACE:
            i += 1
        if i >= last:
            out.append(_Token("end", "", None, last))
            return out
        ch = source[i]
        number = _NUMBER.match(source, i, last) if (ch.isdigit() or ch == ".") else None
        if number and number.end() > i and not (ch == "." and number.group(0) == "."):
            end = number.end()
            if end < last and (source[end].isalnum() or source[end] in "_$"):
                raise _Error("only decimal number literals are supported", i)
            value = float(number.group(0))
            if not math.isfinite(value):
                raise _Error("number out of range", i)
            out.append(_Token("number", number.group(0), value, i))
            i = end
            continue
        if ch in "'\"":
            text, end = _string(source[:last], i)
            out.append(_Token("string", source[i:end], text, i))
            i = end
            continue
        ident = _IDENT.match(source, i, last)
        if ident:
            out.append(_Token("name", ident.group(0), ident.group(0), i))
            i = ident.end()
            continue
        for op in _OPERATORS:
            if source.startswith(op, i) and i + len(op) <= last:
                if op == "?." and source[i + 2 : i + 3].isdigit():
                    continue  # "a?.5:b" is a conditional, not optional chaining
                out.append(_Token("op", op, None, i))
                i += len(op)
                break
        else:
            two = source[i : i + 2]
            # Refused when the parser reaches it, so earlier mistakes are named first.
            key = two if two == "??" else ch
            message = _UNSUPPORTED.get(key) or f"unexpected character {ch!r}"
            out.append(_Token("bad", message, None, i))
            i += len(key)


# -- syntax -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lit:
    value: _Value
    pos: int


@dataclass(frozen=True, slots=True)
class _Path:
    keys: tuple[str, ...]
    pos: int


@dataclass(frozen=True, slots=True)
class _Progress:
    pos: int


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node
    pos: int


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Node
    right: _Node
    pos: int


_Node = _Lit | _Path | _Progress | _Not | _Binary

#: How deep parentheses and ``!`` may nest (the parser and the translator recurse).
MAX_DEPTH: Final = 64

_LEVELS: Final = (("||",), ("&&",), ("===", "!==", "==", "!="), ("<", "<=", ">", ">="))


class _Parser:
    def __init__(self, tokens: list[_Token], *, progress_allowed: bool) -> None:
        self.tokens = tokens
        self.at = 0
        self.progress_allowed = progress_allowed
        self.depth = 0

    @property
    def token(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind == "bad":
            raise _Error(token.text, token.pos)
        return token

    def take(self) -> _Token:
        token = self.token
        self.at += 1
        return token

    def at_op(self, *texts: str) -> bool:
        """Whether the current token is one of the operators ``texts``."""
        token = self.token
        return token.kind == "op" and token.text in texts

    def expect(self, text: str) -> _Token:
        token = self.token
        if token.kind != "op" or token.text != text:
            raise _Error(f"expected {text!r}, found {self._shown(token)}", token.pos)
        return self.take()

    @staticmethod
    def _shown(token: _Token) -> str:
        return "the end of the expression" if token.kind == "end" else repr(token.text)

    def parse(self) -> _Node:
        node = self.binary(0)
        if self.token.kind != "end":
            token = self.token
            if token.kind == "op" and token.text == "(":
                raise _Error("function calls are not supported", token.pos)
            if token.kind == "op" and token.text == "-":
                raise _Error("arithmetic (-) is not supported", token.pos)
            raise _Error(f"unexpected {self._shown(token)}", token.pos)
        return node

    def binary(self, level: int) -> _Node:
        if level == len(_LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while self.token.kind == "op" and self.token.text in _LEVELS[level]:
            op = self.take()
            right = self.binary(level + 1)
            node = _Binary(op.text, node, right, op.pos)
        return node

    def unary(self) -> _Node:
        token = self.token
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Error(f"nested more than {MAX_DEPTH} deep", token.pos)
        try:
            return self._unary(token)
        finally:
            self.depth -= 1

    def _unary(self, token: _Token) -> _Node:
        if token.kind == "op" and token.text == "!":
            self.take()
            return _Not(self.unary(), token.pos)
        if token.kind == "op" and token.text == "-":
            self.take()
            number = self.token
            if number.kind != "number":
                raise _Error("unary minus is supported before a number literal only", token.pos)
            self.take()
            assert isinstance(number.value, float)
            return self.postfix(_Lit(-number.value, token.pos))
        return self.postfix(self.primary())

    def primary(self) -> _Node:
        token = self.take()
        if token.kind == "number":
            assert isinstance(token.value, float)
            return _Lit(token.value, token.pos)
        if token.kind == "string":
            assert isinstance(token.value, str)
            return _Lit(token.value, token.pos)
        if token.kind == "op" and token.text == "(":
            node = self.binary(0)
            self.expect(")")
            return node
        if token.kind == "name":
            return self.name(token)
        if token.kind == "end":
            raise _Error("unexpected end of the expression", token.pos)
        raise _Error(f"unexpected {token.text!r}", token.pos)

    def name(self, token: _Token) -> _Node:
        name = token.text
        literals: dict[str, _Value] = {
            "true": True,
            "false": False,
            "null": None,
            "undefined": UNDEFINED,
        }
        if name in literals:
            return _Lit(literals[name], token.pos)
        if name == "$statusData":
            return _Path((), token.pos)
        if name == "$progress":
            if not self.progress_allowed:
                raise _Error(
                    "$progress is what progressExtractor computes: not available here", token.pos
                )
            return _Progress(token.pos)
        if name == "$result":
            raise _Error(
                "$result (the start response) is not visible to lrpoll's conditions, "
                "which read the status document: use $statusData",
                token.pos,
            )
        if name in _KEYWORDS:
            raise _Error(f"{name} is not supported", token.pos)
        if name.startswith("$"):
            raise _Error(f"{name} is not available: use $statusData or $progress", token.pos)
        raise _Error(f"unknown name {name!r}: use $statusData or $progress", token.pos)

    def postfix(self, node: _Node) -> _Node:
        while self.at_op(".", "?.", "["):
            op = self.take()
            if op.text == "?." and self.at_op("["):
                op = self.take()
            if op.text == "[":
                key_token = self.take()
                if key_token.kind == "number":
                    raise _Error("index access ([n]) is not supported", key_token.pos)
                if key_token.kind != "string":
                    raise _Error("only a string literal may stand in [ ]", key_token.pos)
                assert isinstance(key_token.value, str)
                key = key_token.value
                self.expect("]")
                if _INDEX.fullmatch(key):
                    raise _Error("index access ([n]) is not supported", key_token.pos)
            else:
                key_token = self.take()
                if key_token.kind != "name" or key_token.text in ("true", "false", "null"):
                    if key_token.kind == "op" and key_token.text == "(":
                        raise _Error("function calls are not supported", key_token.pos)
                    if key_token.kind != "name":
                        raise _Error("expected a member name", key_token.pos)
                key = key_token.text
            if key in _BUILTIN_MEMBERS:
                raise _Error(
                    f"{key} is a built-in JavaScript property, not a key of the document",
                    key_token.pos,
                )
            if not isinstance(node, _Path):
                raise _Error("members can be read from $statusData only", op.pos)
            node = _Path((*node.keys, key), node.pos)
        if self.token.kind == "op" and self.token.text == "(":
            raise _Error("function calls are not supported", self.token.pos)
        return node


# -- JMESPath --------------------------------------------------------------------------------

TRUE: Final = "`true`"
FALSE: Final = "`false`"


def _jp_string(text: str) -> str:
    if "'" not in text and "\\" not in text:
        return f"'{text}'"
    return "`" + json.dumps(text).replace("`", "\\`") + "`"


def js_literal(value: _Value) -> str:
    """A JavaScript literal's value as a JMESPath literal (``undefined`` reads as null)."""
    if value is None or value is UNDEFINED:
        return "`null`"
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return f"`{int(value)}`"
        return f"`{json.dumps(value)}`"
    assert isinstance(value, str)
    return _jp_string(value)


def member_path(keys: tuple[str, ...]) -> str:
    """The JMESPath of a member chain: ``("a", "b-c")`` is ``a."b-c"``; ``()`` is ``@``."""
    if not keys:
        return "@"
    return ".".join(
        k if _JP_IDENT.fullmatch(k) and k not in ("true", "false", "null") else json.dumps(k)
        for k in keys
    )


_jp_path = member_path


def _defined(keys: tuple[str, ...]) -> str:
    """True when the member exists (JavaScript's value is not ``undefined``)."""
    if not keys:
        return TRUE
    parent = _jp_path(keys[:-1])
    return f"(type({parent}) == 'object' && contains(keys({parent}), {_jp_string(keys[-1])}))"


@dataclass(frozen=True, slots=True)
class _Term:
    """A translated operand: a literal, a member, ``$progress`` or a boolean expression."""

    kind: Literal["lit", "path", "progress", "bool"]
    jp: str
    value: _Value = None
    keys: tuple[str, ...] = ()

    @property
    def is_boolean(self) -> bool:
        return self.kind == "bool" or (self.kind == "lit" and isinstance(self.value, bool))

    @property
    def guard(self) -> str:
        """True when the operand is a value JavaScript compares (not undefined, not NaN)."""
        if self.kind == "path":
            return _defined(self.keys)
        if self.kind == "progress":
            return f"{self.jp} != `null`"
        return TRUE


def _truth(term: _Term) -> str:
    if term.kind == "lit":
        value = term.value
        truthy = value is not UNDEFINED and _jsvalues.truthy(value)
        return TRUE if truthy else FALSE
    if term.kind == "bool":
        return term.jp
    return f"js_truthy({term.jp})"


def _py(value: _Value) -> object:
    return None if value is UNDEFINED else value


def _strict_lit(a: _Value, b: _Value) -> bool:
    if a is UNDEFINED or b is UNDEFINED:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return type(a) is type(b) and a == b


def _top_level_or(jp: str) -> bool:
    """Whether ``jp`` (one parenthesised group) has ``||`` outside inner groups and quotes."""
    depth, quote, i = 0, "", 0
    while i < len(jp):
        ch = jp[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch in "()":
            depth += 1 if ch == "(" else -1
        elif depth == 1 and jp.startswith("||", i):
            return True
        i += 1
    return False


def _all(*parts: str) -> str:
    # Comparators and ! bind tighter than && in JMESPath: a group without a top-level ||
    # joins the chain without its parentheses.
    parts = tuple(
        p[1:-1] if p.startswith("(") and _paren(p) == p and not _top_level_or(p) else p
        for p in parts
    )
    kept = [p for p in parts if p != TRUE]
    if FALSE in kept:
        return FALSE
    if not kept:
        return TRUE
    return kept[0] if len(kept) == 1 else "(" + " && ".join(kept) + ")"


def _bool(jp: str) -> _Term:
    """A boolean operand, parenthesised so that it stays one operand wherever it goes."""
    return _Term("bool", jp if jp in (TRUE, FALSE) else _paren(jp))


def _negate(jp: str) -> str:
    if jp in (TRUE, FALSE):
        return TRUE if jp == FALSE else FALSE
    if jp.startswith("!") and _paren(jp[1:]) == jp[1:]:
        return jp[1:]
    return f"!{_paren(jp)}"


def _paren(jp: str) -> str:
    """``jp`` in parentheses, unless it already is one parenthesised group or one call."""
    if jp.startswith("!") and _paren(jp[1:]) == jp[1:]:
        return jp
    depth, quote, i = 0, "", 0
    closes_at_end = jp.startswith("(") or bool(re.match(r"[A-Za-z_]+\(", jp))
    while i < len(jp) and closes_at_end:
        ch = jp[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'`\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i < len(jp) - 1:
                closes_at_end = False
        i += 1
    return jp if closes_at_end else f"({jp})"


def _strict(a: _Term, b: _Term) -> str:
    if a.kind == "lit" and b.kind != "lit":
        a, b = b, a
    if a.kind == "lit":
        return TRUE if _strict_lit(a.value, b.value) else FALSE
    if b.kind == "lit":
        v = b.value
        if a.kind == "path":
            if v is UNDEFINED:
                defined = _defined(a.keys)
                return _negate(defined)
            if v is None:
                return _all(_defined(a.keys), f"{a.jp} == `null`")
            return f"{a.jp} == {js_literal(v)}"
        if a.kind == "progress":
            return f"{a.jp} == {js_literal(v)}" if isinstance(v, float) else FALSE
        if isinstance(v, bool):
            return a.jp if v else _negate(a.jp)
        return FALSE
    if a.kind == "path" and b.kind == "path":
        if a.keys == b.keys:
            return TRUE
        da, db = _defined(a.keys), _defined(b.keys)
        same = f"({a.jp} == {b.jp} && !contains(['object', 'array'], type({a.jp})))"
        return f"(({da} == {db}) && (!{da} || {same}))"
    if a.kind == "progress" and b.kind == "progress":
        return a.guard
    if {a.kind, b.kind} == {"progress", "bool"}:
        return FALSE
    if a.kind == "path":
        a, b = b, a
    return _all(a.guard if a.kind == "progress" else TRUE, f"{a.jp} == {b.jp}")


def _loose(a: _Term, b: _Term) -> str:
    if a.kind == "lit" and b.kind == "lit":
        return TRUE if _jsvalues.loose_equals(_py(a.value), _py(b.value)) else FALSE
    if a.kind == "path" and b.kind == "path" and a.keys == b.keys:
        return TRUE
    if a.kind == "lit":
        a, b = b, a
    if b.kind == "lit" and _py(b.value) is None:
        # null == undefined, and neither equals anything else.
        return f"{a.jp} == `null`" if a.kind == "path" else FALSE
    guards = [t.guard for t in (a, b) if t.kind == "progress"]
    return _all(*guards, f"js_equals({a.jp}, {b.jp})")


def _relational(op: str, a: _Term, b: _Term) -> str:
    if a.kind == "lit" and b.kind == "lit":
        x, y = _py(a.value), _py(b.value)
        if a.value is UNDEFINED or b.value is UNDEFINED:
            return FALSE
        result = {
            "<": _jsvalues.less_than(x, y),
            ">": _jsvalues.less_than(y, x),
            "<=": _jsvalues.less_equal(x, y),
            ">=": _jsvalues.less_equal(y, x),
        }[op]
        return TRUE if result else FALSE
    if (a.kind == "lit" and a.value is UNDEFINED) or (b.kind == "lit" and b.value is UNDEFINED):
        return FALSE  # undefined is NaN as a number
    left, right = (a, b) if op in ("<", "<=") else (b, a)
    function = "js_lt" if op in ("<", ">") else "js_le"
    return _all(a.guard, b.guard, f"{function}({left.jp}, {right.jp})")


class _Translator:
    def __init__(self, progress: str | None) -> None:
        self.progress = progress

    def term(self, node: _Node, *, condition: bool) -> _Term:
        if isinstance(node, _Lit):
            return _Term("lit", js_literal(node.value), node.value)
        if isinstance(node, _Path):
            return _Term("path", _jp_path(node.keys), keys=node.keys)
        if isinstance(node, _Progress):
            if self.progress is None:
                return _Term("lit", "`0`", 0.0)
            return _Term("progress", self.progress)
        if isinstance(node, _Not):
            return _bool(_negate(_truth(self.term(node.operand, condition=True))))
        left = self.term(node.left, condition=condition and node.op in ("&&", "||"))
        right = self.term(node.right, condition=condition and node.op in ("&&", "||"))
        if node.op in ("&&", "||"):
            if not condition and not (left.is_boolean and right.is_boolean):
                raise _Error(
                    f"the value of {node.op} is one of its operands in JavaScript; lrpoll "
                    "translates && and || between conditions only, not inside a comparison",
                    node.pos,
                )
            lt, rt = _truth(left), _truth(right)
            if node.op == "&&":
                return _bool(_all(lt, rt))
            if TRUE in (lt, rt):
                return _bool(TRUE)
            kept = [t for t in (lt, rt) if t != FALSE]
            if len(kept) < 2:
                return _bool(kept[0] if kept else FALSE)
            # && binds tighter than || in JMESPath, and || is associative.
            lt, rt = (p[1:-1] if p.startswith("(") and _paren(p) == p else p for p in (lt, rt))
            return _bool(f"({lt} || {rt})")
        if node.op in ("===", "!=="):
            jp = _strict(left, right)
        elif node.op in ("==", "!="):
            jp = _loose(left, right)
        else:
            jp = _relational(node.op, left, right)
        if node.op in ("!==", "!="):
            jp = _negate(jp)
        return _bool(jp)


def _body(text: str) -> tuple[int, int]:
    """The span of the expression: XMLUI's optional outer braces are not part of it."""
    first, last = 0, len(text)
    while first < last and text[first] in _SPACE:
        first += 1
    while last > first and text[last - 1] in _SPACE:
        last -= 1
    if first < last and text[first] == "{" and text[last - 1] == "}":
        return first + 1, last - 1
    return first, last


def _parse(text: object, attribute: str, *, progress_allowed: bool) -> _Node:
    if not isinstance(text, str):
        raise SpecError(f"must be a string, not {text!r}", field=attribute)
    first, last = _body(text)
    try:
        tokens = _tokens(text, first, last)
        if tokens[0].kind == "end":
            raise _Error("empty expression", first)
        return _Parser(tokens, progress_allowed=progress_allowed).parse()
    except _Error as exc:
        raise SpecError(str(exc), field=attribute, position=exc.pos) from None


def _keyed(node: _Node) -> bool:
    return isinstance(node, _Path) and bool(node.keys)


def _falsy_document_is_false(node: _Node) -> bool:
    """Whether the condition is false anyway on a falsy status document (no guard needed).

    On a falsy document every member is undefined: ``undefined === 'x'``, ``undefined ==
    'x'``, ``undefined !== undefined`` and ``undefined < 1`` are all false.
    """
    if not isinstance(node, _Binary):
        return False
    if node.op == "&&":
        return _falsy_document_is_false(node.left) or _falsy_document_is_false(node.right)
    if node.op == "||":
        return _falsy_document_is_false(node.left) and _falsy_document_is_false(node.right)
    if node.op in ("<", "<=", ">", ">="):
        return _keyed(node.left) or _keyed(node.right)
    for one, other in ((node.left, node.right), (node.right, node.left)):
        if _keyed(one) and isinstance(other, _Lit):
            nullish = other.value is None or other.value is UNDEFINED
            if node.op in ("===", "==") and not nullish:
                return True
            if node.op == "===" and other.value is None:
                return True
            if node.op == "!==" and other.value is UNDEFINED:
                return True
    return False


def translate_condition(text: str, *, attribute: str, progress: str | None = None) -> str:
    """The JMESPath for an XMLUI condition (``completionCondition``, ``errorCondition``).

    The result is true exactly where XMLUI's ``Boolean(value)`` is, and false on a falsy
    status document (XMLUI evaluates no condition then).

    Args:
        text: the attribute's text, with or without XMLUI's outer braces.
        attribute: the attribute's name, for errors.
        progress: the JMESPath of ``$progress`` (`translate_progress`), or None when the
            spec has no progress extractor (``$progress`` is then 0, as in XMLUI).

    Raises:
        SpecError: naming ``attribute`` and the 0-based position in ``text``, for
            anything outside the subset.
    """
    node = _parse(text, attribute, progress_allowed=True)
    try:
        truth = _truth(_Translator(progress).term(node, condition=True))
    except _Error as exc:
        raise SpecError(str(exc), field=attribute, position=exc.pos) from None
    if not _falsy_document_is_false(node):
        truth = _all("js_truthy(@)", truth)
    return _unwrap(truth)


def _unwrap(jp: str) -> str:
    """``jp`` without the parentheses around the whole of it, if it has them."""
    if jp.startswith("(") and _paren(jp) == jp:
        return jp[1:-1]
    return jp


def translate_progress(text: str, *, attribute: str = "progressExtractor") -> str:
    """The JMESPath for XMLUI's ``$progress`` from a ``progressExtractor`` expression.

    ``Math.max(0, Math.min(100, Number(value)))`` with null and undefined read as 0 and a
    falsy status document giving 0 (``js_progress``); where XMLUI gets NaN (``"40%"``) the
    result is null, lrpoll's unknown progress.

    Raises:
        SpecError: naming ``attribute`` and the 0-based position, as `translate_condition`.
    """
    node = _parse(text, attribute, progress_allowed=False)
    try:
        term = _Translator(None).term(node, condition=False)
    except _Error as exc:
        raise SpecError(str(exc), field=attribute, position=exc.pos) from None
    if term.kind == "path" and term.keys:
        return f"js_progress({term.jp})"
    return f"js_progress(js_truthy(@) && {term.jp})"
