"""Named presets, so a spec's JSON form can say ``{"preset": name, "params": {...}}``.

A preset is a function of keyword parameters (plain JSON values) returning a `PollSpec`.
Registering by name, never by closure, keeps specs and checkpoints serialisable.

This module is a leaf below ``_spec``: it imports nothing of lrpoll but ``_exceptions``,
so its tables hold specs as ``Any``. Presets register themselves when ``lrpoll.presets``
is imported, which ``import lrpoll`` does; a lookup never imports anything.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from ._exceptions import SpecError

__all__ = [
    "PresetRef",
    "decoder",
    "decoder_names",
    "discovery",
    "discovery_names",
    "get_decoder",
    "get_discovery",
    "preset",
    "preset_names",
    "resolve_preset",
]


@dataclass(frozen=True, slots=True)
class PresetRef:
    """The preset a spec came from, for its declarative JSON form.

    Attributes:
        name: the name the preset is registered under.
        params: the keyword parameters it was called with (plain JSON values).
    """

    name: str
    params: Mapping[str, Any]


# Values are preset functions returning a `PollSpec` (typed Any: see the module docstring).
_PRESETS: dict[str, Callable[..., Any]] = {}

Decoder = Callable[[str, Mapping[str, str]], Any]
"""A body decoder: (body text, lower-cased headers) → the status document."""

_DECODERS: dict[str, Decoder] = {}


def decoder(name: str) -> Callable[[Decoder], Decoder]:
    """Register a status-body decoder under ``name`` (for ``PollSpec.decoder``).

    A decoder raises ``ValueError`` for a body it cannot read; the runtime treats that
    as a malformed (transient) answer.
    """

    def register(fn: Decoder) -> Decoder:
        if name in _DECODERS and _DECODERS[name] is not fn:
            raise ValueError(f"decoder {name!r} is already registered")
        _DECODERS[name] = fn
        return fn

    return register


Discovery = Callable[[Any, Mapping[str, Any]], Any]
"""A discovery step: (`PollSpec`, start answer) → the `PollSpec` to poll with.

The start answer is ``{"method", "request_url", "status", "headers", "body"}`` (headers
lower-cased). The returned spec should itself be serialisable (a preset with the
discovered choice among its params), so checkpoints keep it.
"""

_DISCOVERY: dict[str, Discovery] = {}


D = TypeVar("D", bound=Discovery)


def discovery(name: str) -> Callable[[D], D]:
    """Register a discovery step under ``name`` (for ``PollSpec.discover``).

    Raises:
        ValueError: when another function already holds ``name``.
    """

    def register(fn: D) -> D:
        if name in _DISCOVERY and _DISCOVERY[name] is not fn:
            raise ValueError(f"discovery step {name!r} is already registered")
        _DISCOVERY[name] = fn
        return fn

    return register


def discovery_names() -> list[str]:
    """The registered discovery step names, sorted."""
    return sorted(_DISCOVERY)


def get_discovery(name: str) -> Discovery:
    """The discovery step registered under ``name``.

    Raises:
        KeyError: when none is.
    """
    return _DISCOVERY[name]


def decoder_names() -> list[str]:
    """The registered decoder names, sorted."""
    return sorted(_DECODERS)


def get_decoder(name: str) -> Decoder:
    """The decoder registered under ``name``.

    Raises:
        KeyError: when none is.
    """
    return _DECODERS[name]


F = TypeVar("F", bound=Callable[..., Any])


def preset(name: str) -> Callable[[F], F]:
    """Register a preset function under ``name``; the specs it returns remember it.

    Raises:
        ValueError: when another function already holds ``name``.
    """

    def register(fn: F) -> F:
        if name in _PRESETS and _PRESETS[name] is not fn:
            raise ValueError(f"preset {name!r} is already registered")
        _PRESETS[name] = fn

        @functools.wraps(fn)
        def tagged(**params: Any) -> Any:
            return _tag(name, fn(**params), params)

        return tagged  # type: ignore[return-value]

    return register


def _tag(name: str, spec: Any, params: Mapping[str, Any]) -> Any:
    """``spec`` (a `PollSpec`) remembering that preset ``name`` made it from ``params``."""
    return dataclasses.replace(spec, preset=PresetRef(name, MappingProxyType(dict(params))))


def preset_names() -> list[str]:
    """The registered preset names, sorted."""
    return sorted(_PRESETS)


def resolve_preset(name: str, params: Mapping[str, Any]) -> Any:
    """The `PollSpec` the preset ``name`` returns for ``params``, tagged with its origin.

    Raises:
        SpecError: for an unknown preset or parameters it does not take.
    """
    fn = _PRESETS.get(name)
    if fn is None:
        raise SpecError(
            f"unknown preset {name!r} (known: {', '.join(sorted(_PRESETS))})", field="preset"
        )
    try:
        spec = fn(**params)
    except TypeError as exc:
        raise SpecError(f"preset {name!r}: {exc}", field="params") from None
    return _tag(name, spec, params)
