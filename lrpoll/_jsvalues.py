"""JavaScript's reading of JSON values: truthiness, ``Number()``, ``String()``, ``==``, ``<``.

Pure and dependency-free. The expressions the XMLUI translator emits (`lrpoll._jsexpr`) call
these through lrpoll's JMESPath functions ``js_truthy``, ``js_equals``, ``js_lt``, ``js_le``
and ``js_progress``, so a translated condition means what it meant in JavaScript where
JMESPath's own rules differ (``[]`` and ``{}`` are truthy, ``0`` is falsy, ``"1" == 1``).

Values are what ``json.loads`` gives: None (``null``; a missing member, JavaScript's
``undefined``, also reads as None here: the translator guards the places where the two
differ), bool, int, float, str, list, dict. NaN is None in results (``Number("x")``).

Reference: ECMAScript 2024 §7.1.2 ToBoolean, §7.1.4 ToNumber, §7.1.4.1.1 StringToNumber,
§6.1.6.1.20 Number::toString, §7.2.14 IsLooselyEqual, §7.2.13 IsLessThan.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

__all__ = [
    "less_equal",
    "less_than",
    "loose_equals",
    "number_to_string",
    "progress",
    "string_to_number",
    "to_number",
    "to_string",
    "truthy",
]

# Tuples, not `X | Y`: a union is built anew each time such an isinstance runs.
_NUMBER: Final = (int, float)
_CONTAINER: Final = (list, dict)

# StrWhiteSpaceChar: WhiteSpace and LineTerminator (ECMAScript §12.2, §12.3).
_JS_SPACE: Final = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL: Final = re.compile(r"[+-]?(?:Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)")
_RADIX: Final = re.compile(r"0(?:[xX](?P<x>[0-9a-fA-F]+)|[oO](?P<o>[0-7]+)|[bB](?P<b>[01]+))")


def _is_number(value: object) -> bool:
    return isinstance(value, _NUMBER) and not isinstance(value, bool)


def _float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # a JSON integer beyond a double reads as ±Infinity
        return math.inf if value > 0 else -math.inf


def truthy(value: Any) -> bool:
    """``Boolean(value)``: false for null, false, 0, NaN and ``""``; true for ``[]`` and ``{}``."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if _is_number(value):
        return bool(value == value and value != 0)
    if isinstance(value, str):
        return value != ""
    return True


def string_to_number(text: str) -> float | None:
    """``Number(text)`` for a string; None for NaN.

    Surrounding JavaScript white space is ignored and an empty string is 0; decimal
    literals (``"1e3"``, ``".5"``, ``"-Infinity"``) and ``0x``/``0o``/``0b`` literals are
    read; anything else (``"40%"``, ``"1_000"``, non-ASCII digits, ``"inf"``) is NaN.
    """
    text = text.strip(_JS_SPACE)
    if not text:
        return 0.0
    if _DECIMAL.fullmatch(text):
        sign = -1.0 if text[0] == "-" else 1.0
        body = text.lstrip("+-")
        return sign * math.inf if body == "Infinity" else float(text)
    radix = _RADIX.fullmatch(text)
    if radix:
        for key, base in (("x", 16), ("o", 8), ("b", 2)):
            digits = radix.group(key)
            if digits is not None:
                return _float(int(digits, base))
    return None


def to_number(value: Any) -> float | None:
    """``Number(value)`` for a JSON value; None for NaN.

    null is 0, booleans 1 and 0, strings as `string_to_number`, an array through its
    ``String()`` (``[5]`` is 5, ``[]`` is 0, ``[1, 2]`` NaN), an object NaN.
    """
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if _is_number(value):
        number = _float(value)
        return None if number != number else number
    if isinstance(value, str):
        return string_to_number(value)
    if isinstance(value, list):
        return string_to_number(to_string(value))
    return None


def number_to_string(number: float) -> str:
    """``String(number)``: JavaScript's shortest round-trip form (``1e+21``, ``0.000001``)."""
    if number != number:
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    if number == 0:
        return "0"
    if number < 0:
        return "-" + number_to_string(-number)
    mantissa, _, exp_text = repr(number).partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = (whole + frac).rstrip("0")
    digits = raw.lstrip("0")
    n = len(whole) - (len(raw) - len(digits)) + (int(exp_text) if exp_text else 0)
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    exponent = ("+" if e >= 0 else "-") + str(abs(e))
    return (digits if k == 1 else digits[0] + "." + digits[1:]) + "e" + exponent


def to_string(value: Any) -> str:
    """``String(value)`` for a JSON value; an array joins its elements with ``,`` (null as "")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return number_to_string(_float(value))
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if item is None else to_string(item) for item in value)
    return "[object Object]"


def _primitive(value: Any) -> Any:
    """ToPrimitive: arrays and objects become their ``String()``; the rest stays."""
    return to_string(value) if isinstance(value, _CONTAINER) else value


def loose_equals(a: Any, b: Any) -> bool:
    """``a == b`` (IsLooselyEqual) for JSON values; two arrays or objects are never equal.

    Two arrays or objects are equal only when they are the same object; two places of a
    JSON document never are (the translator folds ``x == x`` to true itself).

    null equals only null (and undefined); a number and a string compare as numbers; a
    boolean compares as 1 or 0; an array or object compares by its ``String()`` with a
    number or a string.
    """
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, _CONTAINER) and isinstance(b, _CONTAINER):
        return False
    if isinstance(a, bool):
        a = 1.0 if a else 0.0
    if isinstance(b, bool):
        b = 1.0 if b else 0.0
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    x, y = to_number(a), to_number(b)
    return x is not None and y is not None and x == y


def _less(a: Any, b: Any) -> bool | None:
    """IsLessThan: True, False, or None (undefined: NaN was involved)."""
    a, b = _primitive(a), _primitive(b)
    if isinstance(a, str) and isinstance(b, str):
        # JavaScript compares UTF-16 code units; big-endian bytes sort the same way.
        return a.encode("utf-16-be", "surrogatepass") < b.encode("utf-16-be", "surrogatepass")
    x, y = to_number(a), to_number(b)
    if x is None or y is None:
        return None
    return x < y


def less_than(a: Any, b: Any) -> bool:
    """``a < b`` for JSON values (strings by UTF-16 code units, else as numbers; NaN: false)."""
    return _less(a, b) is True


def less_equal(a: Any, b: Any) -> bool:
    """``a <= b`` for JSON values: ``!(b < a)``, but false where NaN is involved."""
    return _less(b, a) is False


def progress(value: Any) -> float | None:
    """XMLUI's ``$progress``: ``Math.max(0, Math.min(100, Number(value)))``; null/undefined 0.

    Returns:
        The percentage, or None where XMLUI gets NaN (``"40%"``, an object).
    """
    if value is None:
        return 0.0
    number = to_number(value)
    if number is None:
        return None
    return max(0.0, min(100.0, number))
