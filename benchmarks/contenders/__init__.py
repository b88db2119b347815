"""Contenders: each module defines ``CONTENDER``, a :class:`benchmarks.harness.Contender`.

:func:`discover` finds them all, so adding a contender is adding one module here.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchmarks.harness import Contender


def discover() -> dict[str, tuple[str, type[Contender]]]:
    """Return ``{name: (module, class)}`` for every contender module, in table order."""
    found: list[tuple[int, str, str, type[Contender]]] = []
    for info in pkgutil.iter_modules(__path__):
        module_name = f"{__name__}.{info.name}"
        module = importlib.import_module(module_name)
        cls = getattr(module, "CONTENDER", None)
        if cls is not None:
            found.append((cls.order, cls.name, module_name, cls))
    return {name: (module_name, cls) for _, name, module_name, cls in sorted(found)}
