"""The raw-sender contract beneath the transport: one request over the wire, nothing more.

A `Sender` gets a `RawRequest` with credentials already attached and everything decided,
and returns a `RawResponse` with the whole body (capped). lrpoll's checks (origins,
credentials, redirects, caps, parsing, redaction) live above it in `_transport`, so a
replaced sender cannot bypass them. `_aiohttp.AiohttpSender` is the default.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from yarl import URL

__all__ = ["BodyTooLarge", "Limits", "RawRequest", "RawResponse", "SendFault", "Sender"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Transport limits.

    Attributes:
        max_body: largest body read, in bytes, after decompression.
        max_redirects: redirect hops followed per request.
        timeout: seconds for a whole request (connect, send, read).
        connect_timeout: seconds to connect.
        per_host: connections per host.
        snippet: bytes of a body quoted in errors.
    """

    max_body: int = 8 * 1024 * 1024
    max_redirects: int = 5
    timeout: float = 30.0
    connect_timeout: float = 10.0
    per_host: int = 0
    snippet: int = 200


# Not frozen: built once per request on the hot path, where a frozen dataclass's
# __init__ (object.__setattr__ per field) costs a microsecond; nobody changes one.
@dataclass(slots=True)
class RawRequest:
    """One request as a `Sender` sends it: credentials attached, nothing left to decide.

    Attributes:
        method: the HTTP method, upper case.
        url: the URL to send to (pre-encoded, credential query parameters included).
        headers: the request headers.
        json: a JSON body, or None.
        form: a form body, or None (never both).
        max_body: the most body bytes to read (after decompression).
    """

    method: str
    url: URL
    headers: Mapping[str, str]
    json: Any = None
    form: Mapping[str, str] | None = None
    max_body: int = 8 * 1024 * 1024


@dataclass(slots=True)
class RawResponse:
    """What a `Sender` got back: the HTTP status, lower-cased headers, the whole (capped) body."""

    http_status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def status(self) -> int:
        """Deprecated: ``http_status`` (the name ``status`` is the status document's)."""
        warnings.warn(
            "RawResponse.status is deprecated: read http_status",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.http_status


class SendFault(Exception):
    """Raised by a sender when the request failed on the wire (connect, timeout, reset).

    Attributes:
        kind: a short name for the fault (``"timed out"``, ``"ClientConnectorError"``).
        sent: False when nothing can have reached the server (the connection never
            opened): such a fault is safe to retry for any method.
    """

    def __init__(self, kind: str, *, sent: bool = True) -> None:
        super().__init__(kind)
        self.kind = kind
        self.sent = sent


class BodyTooLarge(Exception):
    """Raised by a sender when the body (``Content-Length`` or the bytes read) passes the cap.

    Attributes:
        headers: the response headers, lower-cased.
    """

    def __init__(self, reason: str, headers: Mapping[str, str]) -> None:
        super().__init__(reason)
        self.headers = headers


class Sender(Protocol):
    """The raw sender beneath the transport: one request over the wire, nothing more.

    A sender never follows redirects, never adds credentials and reads at most
    ``request.max_body`` bytes. It raises `SendFault` for network faults and
    `BodyTooLarge` past the cap; it returns any HTTP status.
    """

    async def send(self, request: RawRequest) -> RawResponse:
        """Send ``request`` and read its body."""

    def implicit_credentials(self, url: URL) -> str | None:
        """Why the sender would add credentials of its own to a request to ``url``, or None.

        A borrowed session's default headers or cookie jar cannot be stripped per
        request: such a sender may only talk to trusted origins.
        """

    async def aclose(self) -> None:
        """Release connections the sender owns."""
