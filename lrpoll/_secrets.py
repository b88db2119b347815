"""Every sensitive name lrpoll knows, in one place (urllib3 keeps such lists as constants).

Specs refuse credential headers; the transport refuses to let a borrowed session's default
credential headers reach an anonymous origin; the log redactor, the error scrubber, URL
redaction and the fakes' request logs hide the values of sensitive names. They all read
the lists below, so a name added here is refused and hidden everywhere at once.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CREDENTIAL_HEADERS",
    "REDACTED",
    "SECRET_HEADER_WORDS",
    "SECRET_QUERY_WORDS",
    "is_credential_header",
    "is_secret_header",
    "is_secret_query",
    "secret_header_pattern",
    "secret_query_pattern",
]

#: What a hidden value reads as.
REDACTED: Final = "REDACTED"

#: Header names (lower case) that carry credentials. A spec may not hold them (they go
#: to the Scheduler's ``credentials=``), and a borrowed session sending one by default
#: may only talk to trusted origins.
CREDENTIAL_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-functions-key",
        "x-esri-authorization",
        "ocp-apim-subscription-key",
        "x-auth-token",
        "x-csrf-token",
    }
)

#: Words that mark a header name (or a log field, or a form field) as sensitive wherever
#: they appear in it (``x-vendor-token``): its value is hidden in logs and request logs.
#: ``key`` alone is not among them: ``Idempotency-Key`` is not a secret.
SECRET_HEADER_WORDS: Final = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "password",
    "passwd",
    "api-key",
    "api_key",
    "apikey",
    "credential",
    "session",
    "signature",
)

#: Words that mark a query parameter name as sensitive wherever they appear in it
#: (``access_token``, ``sig`` of an Azure SAS, ``key`` of a Google API key, OAuth's
#: ``code``): its value is hidden in URLs shown in logs, errors and the CLI.
SECRET_QUERY_WORDS: Final = (
    "token",
    "sig",
    "signature",
    "key",
    "secret",
    "password",
    "passwd",
    "auth",
    "code",
    "credential",
    "session",
)


def _words(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_HEADER_RE: Final = re.compile(_words(SECRET_HEADER_WORDS), re.IGNORECASE)
_QUERY_RE: Final = re.compile(_words(SECRET_QUERY_WORDS), re.IGNORECASE)


def secret_header_pattern() -> re.Pattern[str]:
    """The compiled pattern of `SECRET_HEADER_WORDS` (case-insensitive, anywhere in a name)."""
    return _HEADER_RE


def secret_query_pattern() -> re.Pattern[str]:
    """The compiled pattern of `SECRET_QUERY_WORDS` (case-insensitive, anywhere in a name)."""
    return _QUERY_RE


def is_credential_header(name: str) -> bool:
    """Whether ``name`` is one of `CREDENTIAL_HEADERS` (case-insensitive)."""
    return name.lower() in CREDENTIAL_HEADERS


def is_secret_header(name: str) -> bool:
    """Whether the value of header (or field) ``name`` must be hidden."""
    return name.lower() in CREDENTIAL_HEADERS or _HEADER_RE.search(name) is not None


def is_secret_query(name: str) -> bool:
    """Whether the value of query parameter ``name`` must be hidden."""
    return _QUERY_RE.search(name) is not None
