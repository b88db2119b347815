"""JSON status documents: one parse for the whole library, and the compact form of a kept one.

`parse_json` parses as `json.loads` does (the same value or the same error for every
body), with orjson first when it is installed. `RawJSON` is a status document kept as
the bytes it came in (a parsed document costs several times its text in Python
objects): an operation's record keeps its last document so, and whoever reads it
parses it again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["RawJSON", "compact", "dumps_ascii", "parse_json", "resolve"]

# A run of 19 digits, found as 19 zeros in the text with every digit made a zero and
# everything else a space: translate and `in` are linear, where a regex for the run
# retries at every digit and took five times as long on a checkpoint.
_DIGITS: Final = bytes(ord("0") if 0x30 <= c <= 0x39 else ord(" ") for c in range(256))
_LONG_RUN: Final = b"0" * 19
_FAST_NESTING: Final = 200

_fast_loads: Callable[[bytes], Any] | None
# orjson's ``dumps`` when it is installed (compact, UTF-8, NaN and Infinity as null).
_fast_dumps: Callable[[Any], bytes] | None
try:  # the `speed` extra: about five times faster on small status documents
    from orjson import dumps as _orjson_dumps
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover (orjson is optional)
    _fast_loads = _fast_dumps = None
else:
    _fast_loads, _fast_dumps = _orjson_loads, _orjson_dumps


def dumps_ascii(value: Any) -> str | None:
    """The compact ASCII text orjson writes for ``value``, when it is installed and can write it.

    None otherwise: orjson is missing, refuses the value (an integer past 64 bits, a
    non-string key) or writes non-ASCII text; the caller then uses the standard encoder.
    NaN and infinities come out as ``null``: callers check them first.
    """
    if _fast_dumps is None:
        return None
    try:
        text = _fast_dumps(value)
    except TypeError:
        return None
    return text.decode("ascii") if text.isascii() else None


def _fast_parse(raw: bytes) -> bool:
    """Whether orjson parses ``raw`` to what `json.loads` gives, when it parses it at all."""
    brackets = raw.count(b"[") + raw.count(b"{")
    return brackets <= _FAST_NESTING and _LONG_RUN not in raw.translate(_DIGITS)


def parse_json(
    raw: bytes, *, text: str | None = None, parse_constant: Callable[[str], Any] | None = None
) -> Any:
    """``raw`` parsed as JSON, exactly as `json.loads` parses it, faster where it can.

    Args:
        raw: the JSON text's bytes.
        text: the same JSON text as a string, for the standard parser to read instead of
            ``raw`` (a string's lone surrogates are not UTF-8, so ``raw`` lost them).
        parse_constant: as `json.loads`'s: called for ``NaN``, ``Infinity`` and
            ``-Infinity`` (orjson refuses them: they go to the standard parser).

    Raises:
        ValueError: for a body that is not JSON, or an integer past the digit limit.
        RecursionError: for nesting too deep.
    """
    # json.loads raises ValueError for bad JSON and for integers past
    # sys.get_int_max_str_digits(); RecursionError for very deep nesting. orjson, when
    # installed, parses first; whatever it refuses (NaN and Infinity, which lrpoll reads
    # as the standard parser does, 1e400, a BOM, UTF-16, lone surrogates) goes to
    # json.loads, and so do the bodies it would read differently: a run of 19 digits
    # (orjson reads an integer past 64 bits as a float) and more than _FAST_NESTING
    # brackets (an upper bound of the depth; orjson has no depth limit where json.loads
    # raises RecursionError). Every outcome is the standard parser's.
    if _fast_loads is not None and _fast_parse(raw):
        try:
            return _fast_loads(raw)
        except ValueError:
            pass
    return json.loads(raw if text is None else text, parse_constant=parse_constant)


def compact(raw: bytes) -> tuple[Any, str] | None:
    """The document ``raw`` holds, with its compact ASCII JSON text; None where orjson cannot say.

    The text is JSON for the same value as ``json.dumps(doc, separators=(",", ":"),
    ensure_ascii=True, allow_nan=False)`` writes, with floats in the shortest form both
    read back exactly (``1e-7`` for ``1e-07``). None when orjson is not installed, when
    `parse_json` would not use it on ``raw`` (it would read it differently), when it
    refuses ``raw`` (NaN, Infinity, 1e400, bad JSON) or when the text would not be ASCII:
    the caller then parses and encodes with the standard library. A document orjson
    parsed holds no NaN, infinity or integer past 64 bits, so encoding it back loses
    nothing.
    """
    if _fast_loads is None or not _fast_parse(raw):
        return None
    try:
        doc = _fast_loads(raw)
    except ValueError:
        return None
    text = dumps_ascii(doc)
    return None if text is None else (doc, text)


class RawJSON:
    """A status document kept as its JSON text; `resolve` parses it.

    Attributes:
        raw: the body the document was parsed from (it parsed once, so it parses again).
    """

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __repr__(self) -> str:
        return f"RawJSON({self.raw!r})"


def resolve(doc: Any) -> Any:
    """``doc`` itself, or the document a `RawJSON` holds, parsed."""
    return parse_json(doc.raw) if type(doc) is RawJSON else doc
