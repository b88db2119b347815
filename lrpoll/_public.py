"""What public modules do to the names they export."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

__all__ = ["claim"]


def claim(namespace: MutableMapping[str, Any], names: Iterable[str], module: str) -> None:
    """Make each of ``names`` in ``namespace`` report ``module`` as its home.

    Reprs, tracebacks and docs then say ``lrpoll.PollSpec``, not the private module behind
    it (httpx's habit), and pickles find the names where users import them. Type aliases
    carry no module of their own and are left as they are.
    """
    for name in names:
        with contextlib.suppress(AttributeError, TypeError):
            namespace[name].__module__ = module
