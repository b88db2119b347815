"""Parameters every preset takes, read from plain JSON values."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._exceptions import SpecError
from .._spec import ErrorBudget

__all__ = ["error_budget"]


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
