"""Credential providers: attached per request, only to trusted origins.

A provider adds headers, query parameters or form fields to one outgoing request. The
scheduler holds providers per trusted origin; specs and checkpoints never hold them.
Every provider's ``repr`` hides its secret, and `secrets()` feeds the log redactor.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, MutableMapping

__all__ = [
    "BasicAuth",
    "BearerToken",
    "Credential",
    "FormField",
    "Header",
    "QueryParam",
]


@runtime_checkable
class Credential(Protocol):
    """Anything that can sign one request for a trusted origin."""

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Add the credential to the request being built."""

    def secrets(self) -> tuple[str, ...]:
        """The secret values, so logs and errors can scrub them."""


def _value(source: str | Callable[[], str]) -> str:
    return source() if callable(source) else source


@dataclass(frozen=True, slots=True)
class BearerToken:
    """``Authorization: Bearer <token>``; ``token`` may be a callable for refreshed tokens."""

    token: str | Callable[[], str] = field(repr=False)
    header: str = "Authorization"

    def __post_init__(self) -> None:
        # A warning-level log record, not a Python warning (never the value itself).
        if isinstance(self.token, str) and self.token[:7].lower() == "bearer ":
            logging.getLogger("lrpoll").warning(
                "BearerToken value starts with 'Bearer ': the header would read"
                " 'Bearer Bearer ...'; pass the token alone"
            )

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Set the header."""
        headers[self.header] = f"Bearer {_value(self.token)}"

    def secrets(self) -> tuple[str, ...]:
        """The token (the current one, for a callable)."""
        return (_value(self.token),)


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP Basic authentication."""

    username: str
    password: str = field(repr=False)

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Set the header."""
        raw = f"{self.username}:{self.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")

    def secrets(self) -> tuple[str, ...]:
        """The password and the encoded header value."""
        raw = f"{self.username}:{self.password}".encode()
        return (self.password, base64.b64encode(raw).decode("ascii"))


@dataclass(frozen=True, slots=True)
class _Named:
    """A credential that is one named value (a header, a query parameter, a form field)."""

    name: str
    value: str | Callable[[], str] = field(repr=False)

    def secrets(self) -> tuple[str, ...]:
        """The value."""
        return (_value(self.value),)


@dataclass(frozen=True, slots=True)
class Header(_Named):
    """Any header (``X-Api-Key``, ``X-Esri-Authorization``)."""

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Set the header."""
        headers[self.name] = _value(self.value)


@dataclass(frozen=True, slots=True)
class QueryParam(_Named):
    """A query parameter (ArcGIS's ``token`` on GET)."""

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Set the parameter."""
        query[self.name] = _value(self.value)


@dataclass(frozen=True, slots=True)
class FormField(_Named):
    """A form field on requests with a form body, else a query parameter (ArcGIS's ``token``)."""

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Set the field (or the parameter when the request has no form body)."""
        (form if form is not None else query)[self.name] = _value(self.value)
