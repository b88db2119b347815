"""Origins, trust decisions and URL redaction. Pure functions over `yarl.URL`.

An origin is the normalized ``(scheme, host, port)`` triple: the scheme and host are
lower-cased, the default port is filled in (``https://h:443`` is ``https://h``), and
nothing else is normalized. A trailing dot (``api.example.com.``) or a decimal IP host
(``http://2130706433/``) is its own origin, trusted only where written as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from yarl import URL

from ._exceptions import UntrustedURL
from ._secrets import REDACTED, is_secret_query

__all__ = ["Origin", "TrustPolicy", "origin_of", "redact_url", "resolve"]

Origin = tuple[str, str, int]
"""``(scheme, host, port)``, normalized."""

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def origin_of(url: URL | str) -> Origin | None:
    """The normalized origin of an absolute http(s) URL, or None for anything else."""
    try:
        if isinstance(url, str):
            url = URL(url)
        scheme = (url.scheme or "").lower()
        if scheme not in _DEFAULT_PORTS or not url.host:
            return None
        port = url.port if url.port is not None else _DEFAULT_PORTS[scheme]
        return (scheme, url.host.lower(), port)
    except (ValueError, TypeError):
        return None


def redact_url(url: URL | str) -> str:
    """The URL with userinfo dropped and token-like query values replaced by REDACTED."""
    try:
        if isinstance(url, str):
            url = URL(url)
        if url.user or url.password:
            url = url.with_user(None)
        if url.query_string:
            url = url.with_query(
                [(k, REDACTED if is_secret_query(k) else v) for k, v in url.query.items()]
            )
        return str(url)
    except (ValueError, TypeError):
        return "<unparseable URL>"


def resolve(base: URL, reference: str) -> URL:
    """``reference`` (pre-encoded, absolute or relative) resolved against ``base`` (RFC 3986).

    Raises:
        UntrustedURL: when the reference cannot be parsed.
    """
    try:
        ref = URL(reference, encoded=True)
    except (ValueError, TypeError):
        raise UntrustedURL("unparseable URL", url=redact_url(reference)) from None
    # yarl calls a scheme-relative "//host/x" absolute, but it has no scheme: it takes the
    # base's (RFC 3986 §5.2.2), and its origin is then checked like any other.
    if ref.is_absolute() and ref.scheme:
        return ref
    return base.join(ref)


Access = Literal["trusted", "anonymous"]


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """Which origins get credentials, and which may be polled without them.

    Attributes:
        trusted: origins that receive credentials (the base URL's, and any listed).
        anonymous: origins polled without credentials; ``"any"`` allows every http(s)
            origin, anonymously.
    """

    trusted: frozenset[Origin]
    anonymous: frozenset[Origin] | Literal["any"] = frozenset()

    def check(self, url: URL) -> Access:
        """Whether ``url`` may be requested, and with or without credentials.

        Raises:
            UntrustedURL: for non-http(s) URLs, URLs with userinfo (``user:pass@``), and
                origins neither trusted nor allowed.
        """
        return self.access(url)[0]

    def access(self, url: URL) -> tuple[Access, Origin]:
        """`check`, with the origin it computed (so callers need not compute it again).

        Raises:
            UntrustedURL: for non-http(s) URLs, URLs with userinfo (``user:pass@``), and
                origins neither trusted nor allowed.
        """
        origin = origin_of(url)
        if origin is None:
            raise UntrustedURL(
                f"refused URL scheme {url.scheme or '(relative)'!r}: only http and https",
                url=redact_url(url),
            )
        if url.raw_user is not None or url.raw_password is not None:
            # Credentials come from the Scheduler, per origin, never from a URL a server
            # handed over (aiohttp would also refuse to combine them with Authorization).
            raise UntrustedURL(
                f"{redact_url(url)} carries userinfo (user:password@); refused",
                url=redact_url(url),
            )
        if origin in self.trusted:
            return "trusted", origin
        if self.anonymous == "any" or origin in self.anonymous:
            return "anonymous", origin
        raise UntrustedURL(
            f"{redact_url(url)} is not on a trusted origin; add its origin to trusted_origins, "
            "or allow it anonymously with allow_origins",
            url=redact_url(url),
        )
