"""Specs from files: a `PollSpec`'s JSON form, written as a JSON or TOML document.

A document holds what `PollSpec.from_json` reads: the spec's fields, or a preset
reference ``{"preset": name, "params": {...}, "overrides": {...}}``. TOML has no null, so
a TOML document lists the keys it sets to null under a top-level ``null`` array of
dotted key paths (``null = ["max_duration", "params.progress"]``); a key that is absent
keeps its default. Every error is a `SpecError` naming the file, the key path and the
problem.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias

from ._exceptions import SpecError
from ._spec import Backoff, CancelSpec, ErrorBudget, Messages, PollSpec

__all__ = ["SpecFormat", "load_spec", "loads_spec"]

SpecFormat: TypeAlias = Literal["json", "toml"]
"""The document formats `loads_spec` reads."""

NULL_KEY: Final = "null"
"""The top-level TOML key listing the key paths that are null."""

_SUFFIXES: Final[Mapping[str, SpecFormat]] = {".json": "json", ".toml": "toml"}
_PRESET_KEYS: Final = ("preset", "params", "overrides")
_NESTED: Final[Mapping[str, type]] = {
    "backoff": Backoff,
    "errors": ErrorBudget,
    "messages": Messages,
    "cancel": CancelSpec,
}
_FIELDS: Final = tuple(
    f.name for f in dataclasses.fields(PollSpec) if f.init and f.name != "preset"
)


def load_spec(path: str | os.PathLike[str]) -> PollSpec:
    """Read a spec from a JSON (``.json``) or TOML (``.toml``) file.

    The document is a `PollSpec`'s JSON form (see docs/specs.md, "Spec files"): the spec's
    fields, or ``{"preset": name, "params": {...}}`` with optional ``overrides``. In TOML,
    the keys that are null are listed in a top-level ``null`` array of dotted key paths.

    Args:
        path: the file; its suffix (``.json`` or ``.toml``, any case) names the format.

    Returns:
        The spec, validated and compiled.

    Raises:
        SpecError: naming the file (``file``), the key path (``field``) and the problem:
            an unknown suffix, a file that cannot be read or is not UTF-8, a syntax
            error (with its line and column), an unknown key, a value of the wrong
            type, an invalid expression (with its position), an unknown preset or
            parameter, or a bad ``null`` list.
    """
    name = os.fspath(path)
    suffix = Path(name).suffix.lower()
    fmt = _SUFFIXES.get(suffix)
    if fmt is None:
        raise SpecError(
            f"unknown spec file suffix {suffix or '(none)'!r}: use .json or .toml",
            field="",
            file=name,
        )
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        raise SpecError(
            f"cannot read the file: {exc.strerror or exc}", field="", file=name
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"the file is not UTF-8 text (byte {exc.start})", field="", file=name
        ) from None
    return loads_spec(text, format=fmt, source=name)


def loads_spec(text: str, *, format: SpecFormat, source: str = "<string>") -> PollSpec:
    """Read a spec from the text of a JSON or TOML document (see `load_spec`).

    Args:
        text: the document.
        format: ``"json"`` or ``"toml"``.
        source: the name errors give for the document.

    Returns:
        The spec, validated and compiled.

    Raises:
        SpecError: as `load_spec` does, naming ``source`` as the file.
    """
    if format == "json":
        data = _parse_json(text, source)
    elif format == "toml":
        data = _parse_toml(text, source)
    else:
        raise SpecError(f"unknown format {format!r}: use 'json' or 'toml'", field="", file=source)
    if not isinstance(data, dict):
        raise SpecError(
            f"the document must be an object (a table), not {type(data).__name__}",
            field="",
            file=source,
        )
    if format == "toml":
        data = _apply_nulls(data, source)
    _check_values(data, "", source)
    _check_keys(data, source, json_document=format == "json")
    try:
        return PollSpec.from_json(data)
    except SpecError as exc:
        where = exc.field if exc.position is None else f"{exc.field} at position {exc.position}"
        problem = exc.message.removeprefix(f"{where}: ")
        raise SpecError(
            problem, field=_key_path(exc.field, data), position=exc.position, file=source
        ) from None


# -- parsing ----------------------------------------------------------------------------


def _parse_json(text: str, source: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                raise _Duplicate(key)
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise _Constant(name)

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
            field="",
            file=source,
        ) from None
    except _Duplicate as exc:
        raise SpecError(f"duplicate key {exc.args[0]!r}", field="", file=source) from None
    except _Constant as exc:
        raise SpecError(
            f"{exc.args[0]} is not JSON: numbers must be finite", field="", file=source
        ) from None
    except RecursionError:
        raise SpecError("the document is nested too deeply", field="", file=source) from None


class _Duplicate(ValueError):
    pass


class _Constant(ValueError):
    pass


def _parse_toml(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"invalid TOML: {exc}", field="", file=source) from None
    except RecursionError:
        raise SpecError("the document is nested too deeply", field="", file=source) from None


# -- TOML nulls -------------------------------------------------------------------------


def _apply_nulls(data: dict[str, Any], source: str) -> dict[str, Any]:
    """``data`` with each key path listed under ``null`` set to None."""
    if NULL_KEY not in data:
        return data
    paths = data.pop(NULL_KEY)
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise SpecError(
            'must be an array of dotted key paths (null = ["max_duration"])',
            field=NULL_KEY,
            file=source,
        )
    for index, path in enumerate(paths):
        keys = path.split(".")
        if not all(keys):
            raise SpecError(
                f"{path!r} is not a dotted key path", field=f"null[{index}]", file=source
            )
        table = data
        for depth, key in enumerate(keys[:-1]):
            inner = table.setdefault(key, {})
            if not isinstance(inner, dict):
                where = ".".join(keys[: depth + 1])
                raise SpecError(
                    f"{where} is not a table, so {path} cannot be null",
                    field=f"null[{index}]",
                    file=source,
                )
            table = inner
        if keys[-1] in table:
            raise SpecError("is set and also listed in null", field=path, file=source)
        table[keys[-1]] = None
    return data


# -- checks -----------------------------------------------------------------------------


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _check_values(value: Any, path: str, source: str) -> None:
    """Refuse what has no JSON form: TOML dates and times, infinities, NaN."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _check_values(inner, _join(path, str(key)), source)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            _check_values(inner, f"{path}[{index}]", source)
    elif isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"{value} is not a finite number", field=path, file=source)
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise SpecError(
            f"a {type(value).__name__} has no JSON form: quote it as a string",
            field=path,
            file=source,
        )


def _unknown(key: str, known: tuple[str, ...], path: str, source: str, hint: str = "") -> SpecError:
    close = difflib.get_close_matches(key, known, n=1)
    text = f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"
    return SpecError(text + hint, field=_join(path, key), file=source)


def _check_fields(data: Mapping[str, Any], path: str, source: str, json_document: bool) -> None:
    for key, value in data.items():
        if key not in _FIELDS:
            hint = ""
            if key == NULL_KEY and json_document:
                hint = ": JSON writes null values directly"
            elif key in _PRESET_KEYS and path:
                hint = ": a preset reference belongs at the top level"
            raise _unknown(key, _FIELDS, path, source, hint)
        nested = _NESTED.get(key)
        if nested is not None and isinstance(value, Mapping):
            names = tuple(f.name for f in dataclasses.fields(nested))
            for inner in value:
                if inner not in names:
                    raise _unknown(inner, names, _join(path, key), source)


def _check_keys(data: Mapping[str, Any], source: str, *, json_document: bool) -> None:
    if "preset" not in data:
        _check_fields(data, "", source, json_document)
        return
    for key in data:
        if key not in _PRESET_KEYS:
            raise _unknown(
                key, _PRESET_KEYS, "", source, ": a preset reference has preset, params, overrides"
            )
    if not isinstance(data["preset"], str):
        raise SpecError("must be a preset name (a string)", field="preset", file=source)
    for key in ("params", "overrides"):
        value = data.get(key)
        if value is not None and not isinstance(value, Mapping):
            raise SpecError("must be an object (a table)", field=key, file=source)
    overrides = data.get("overrides")
    if overrides:
        _check_fields(overrides, "overrides", source, json_document)


def _key_path(field: str, data: Mapping[str, Any]) -> str:
    """The document key path of the spec field ``field`` a SpecError names."""
    if "preset" not in data:
        return field
    head = field.split(".", 1)[0].split("{", 1)[0]
    if head in _PRESET_KEYS:
        return field
    overrides = data.get("overrides") or {}
    if head in overrides:
        return f"overrides.{field}"
    if head in (data.get("params") or {}):
        return f"params.{field}"
    return field
