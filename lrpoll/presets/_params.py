"""Parameters every preset takes, read from plain JSON values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .._exceptions import SpecError
from .._spec import ErrorBudget

__all__ = ["api_root", "error_budget"]

_SCHEME: Final = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def error_budget(errors: Mapping[str, Any] | None) -> ErrorBudget:
    """The `ErrorBudget` a preset's ``errors`` parameter describes.

    Args:
        errors: the budget's JSON form (``{"max_consecutive": 8, "max_failing_time": 120,
            "backoff": {...}}``), or None for the default budget.

    Returns:
        The budget.

    Raises:
        SpecError: naming ``params.errors``, for a value that is not an object, an
            unknown key, or a value `ErrorBudget` refuses.
    """
    if errors is None:
        return ErrorBudget()
    raw: object = errors  # JSON params may hold anything
    if not isinstance(raw, Mapping):
        raise SpecError(
            f"must be an object of ErrorBudget fields, not {errors!r}", field="params.errors"
        )
    try:
        return ErrorBudget.from_json(raw)
    except SpecError as exc:
        # ErrorBudget names its own field ("errors.max_consecutive"); say where it came from.
        text = str(exc).removeprefix("errors: ").removeprefix("errors.")
        raise SpecError(text, field="params.errors") from None


def api_root(value: object) -> str:
    """The ``api_root`` parameter as URL template text.

    No trailing slash; a leading one unless absolute (``"v1"`` reads as ``"/v1"``); braces
    doubled, as the root is literal text in the templates, not placeholders.

    Raises:
        SpecError: naming ``params.api_root``, for a non-string or a root with a query
            or fragment.
    """
    if not isinstance(value, str):
        raise SpecError(f"must be a string, not {value!r}", field="params.api_root")
    if any(c in value for c in "?#"):
        raise SpecError("an API root has no query or fragment", field="params.api_root")
    root = value.rstrip("/")
    if root and not _SCHEME.match(root) and not root.startswith("/"):
        root = "/" + root
    return root.replace("{", "{{").replace("}", "}}")
