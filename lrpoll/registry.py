"""The registry: presets, body decoders and discovery steps, found by name.

Specs stay plain data by naming what they need: ``{"preset": "google", "params": {...}}``
resolves through `resolve_preset`, and a spec's ``decoder`` or ``discover`` names a
function registered with `decoder` or `discovery`. The built-in presets register
themselves when lrpoll is imported.
"""

from __future__ import annotations

from ._public import claim
from ._registry import PresetRef, decoder, discovery, preset, preset_names, resolve_preset

__all__ = ["PresetRef", "decoder", "discovery", "preset", "preset_names", "resolve_preset"]

claim(globals(), __all__, __name__)
