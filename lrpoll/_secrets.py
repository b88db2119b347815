"""Every sensitive name lrpoll knows, in one place (urllib3 keeps such lists as constants).

Specs refuse credential headers; the transport refuses to let a borrowed session's default
credential headers reach an anonymous origin; the log redactor, the error scrubber, URL
redaction and the fakes' request logs hide the values of sensitive names. They all read
the lists below, so a name added here is refused and hidden everywhere at once.

The secret *values* lrpoll has seen (the scheduler's credentials, and each value a
callable provider returns, per request) are remembered here too, and `scrub` hides them,
Bearer/Basic values and token-like query values in any text: the log redactor and every
exception's message and body snippet use this one scrub.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "CREDENTIAL_HEADERS",
    "RECENT_MAX",
    "REDACTED",
    "SECRET_HEADER_WORDS",
    "SECRET_QUERY_WORDS",
    "is_credential_header",
    "is_secret_header",
    "is_secret_query",
    "remember",
    "scrub",
    "scrub_values",
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


# -- secret values ------------------------------------------------------------------------

#: How many values from callable providers (refreshed tokens) are remembered; the oldest
#: are forgotten first. Configured credentials are always remembered.
RECENT_MAX: Final = 256
#: Values shorter than this are not scrubbed as text (they would hide ordinary words).
_MIN_LENGTH: Final = 4

_configured: set[str] = set()
_recent: dict[str, None] = {}  # insertion-ordered: the oldest first
_ordered: tuple[str, ...] = ()  # longest first, so a secret inside another goes last


def _with_credentials(values: Iterable[str]) -> list[str]:
    """``values``, and the credential of each ``<scheme> <credential>`` header value.

    A header credential such as ``Bearer abc`` is hidden whole, and ``abc`` alone too: a
    server may echo the token without its scheme.
    """
    out: list[str] = []
    for value in values:
        out.append(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha() and " " not in credential.strip():
            out.append(credential.strip())
    return out


def remember(values: Iterable[str], *, refreshed: bool = False) -> None:
    """Teach `scrub` secret values: configured ones, or (``refreshed``) a provider's latest.

    Refreshed values (what a callable provider returned for one request) are kept up to
    `RECENT_MAX`, the oldest forgotten first; configured ones are kept for good.
    """
    global _ordered
    changed = False
    for value in _with_credentials(values):
        if len(value) < _MIN_LENGTH:
            continue
        if refreshed:
            if value in _configured:
                continue
            changed |= value not in _recent
            _recent.pop(value, None)
            _recent[value] = None
            while len(_recent) > RECENT_MAX:
                del _recent[next(iter(_recent))]
        elif value not in _configured:
            _configured.add(value)
            changed = True
    if changed:
        _ordered = tuple(sorted(_configured | _recent.keys(), key=len, reverse=True))


_BEARER: Final = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# A query parameter (in a URL inside any text) whose name holds a secret word: the same
# words `is_secret_query` (and so URL redaction) hides.
_QUERY_SECRET: Final = re.compile(
    r"([?&](?:[^=&#\s]*(?:" + _QUERY_RE.pattern + r")[^=&#\s]*)=)[^&#\s]*",
    re.IGNORECASE,
)


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with secrets, Bearer/Basic values and token-like query values hidden.

    The secrets are the remembered ones and ``extra``; each becomes `REDACTED`.
    """
    for secret in (*extra, *_ordered) if extra else _ordered:
        if len(secret) >= _MIN_LENGTH and secret in text:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def scrub_values(text: str) -> str:
    """``text`` with only the remembered secret values replaced (no patterns).

    Safe on serialized JSON, where the patterns could run past a closing quote.
    """
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
