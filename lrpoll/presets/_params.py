"""Parameters every preset takes, read from plain JSON values."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._exceptions import SpecError
from .._spec import ErrorBudget

__all__ = ["error_budget"]

_BUDGET_FIELDS = tuple(f.name for f in dataclasses.fields(ErrorBudget))


def error_budget(errors: Mapping[str, Any] | None) -> ErrorBudget:
    """The `ErrorBudget` a preset's ``errors`` parameter describes.

    Args:
        errors: keyword arguments for `ErrorBudget` (``{"max_consecutive": 8,
            "max_failing_time": 120}``), or None for the default budget.

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
    unknown = sorted(str(k) for k in raw if k not in _BUDGET_FIELDS)
    if unknown:
        raise SpecError(
            f"unknown keys {unknown} (known: {', '.join(_BUDGET_FIELDS)})", field="params.errors"
        )
    try:
        return ErrorBudget(**raw)
    except SpecError as exc:
        # ErrorBudget names its own field ("errors.max_consecutive"); say where it came from.
        raise SpecError(str(exc).removeprefix("errors."), field="params.errors") from None
