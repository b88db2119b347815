"""structlog loggers for lrpoll, with redaction first in the chain.

lrpoll logs through the standard library logger ``"lrpoll"`` (silent until the
application configures logging), as structured events: state changes at info, each poll
at debug. Before any renderer sees an event, `redact` replaces credential-looking
values: known secrets, ``Authorization``/cookie values, Bearer tokens and token-like
query values in URLs.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any, Final

import structlog

from ._secrets import REDACTED, is_secret_header, secret_query_pattern

if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

__all__ = ["Redactor", "get_logger", "redact_text"]

_STDLIB: Final = logging.getLogger("lrpoll")
# A library stays silent until the application configures logging (no last-resort stderr).
_STDLIB.addHandler(logging.NullHandler())
_BEARER: Final = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
# A query parameter (in a URL inside any text) whose name holds a secret word: the same
# words `redact_url` hides.
_QUERY_SECRET: Final = re.compile(
    r"([?&](?:[^=&#\s]*(?:" + secret_query_pattern().pattern + r")[^=&#\s]*)=)[^&#\s]*",
    re.IGNORECASE,
)


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with known secrets, Bearer/Basic values and token-like query values hidden."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _QUERY_SECRET.sub(lambda m: m.group(1) + REDACTED, text)


class Redactor:
    """A structlog processor that scrubs credentials from every event.

    Args:
        secrets: values to hide wherever they appear (the scheduler's credentials).
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = {s for s in secrets if s}

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Redact ``event`` in place and return it."""
        for key, value in list(event.items()):
            event[key] = self._clean(key, value)
        return event

    def _clean(self, key: str, value: Any) -> Any:
        if key != "event" and is_secret_header(key):
            return REDACTED
        if isinstance(value, str):
            return redact_text(value, self.secrets)
        if isinstance(value, dict):
            return {k: self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._clean(key, v) for v in value]
        if isinstance(value, BaseException):
            return redact_text(f"{type(value).__name__}: {value}", self.secrets)
        return value


_REDACTOR: Final = Redactor()


def get_logger(**bound: Any) -> Any:
    """A structlog logger over the ``"lrpoll"`` stdlib logger, with redaction first."""
    return structlog.wrap_logger(
        _STDLIB,
        processors=[
            _REDACTOR,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.add_log_level,
            structlog.processors.format_exc_info,
            structlog.stdlib.render_to_log_kwargs,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
    ).bind(**bound)


def add_secrets(secrets: Iterable[str]) -> None:
    """Teach the shared redactor more secret values (the scheduler's credentials)."""
    _REDACTOR.secrets.update(s for s in secrets if s)


def debug_enabled() -> bool:
    """Whether per-poll debug events would be emitted (cheap; checked before building them)."""
    return _STDLIB.isEnabledFor(logging.DEBUG)


def info_enabled() -> bool:
    """Whether info events would be emitted."""
    return _STDLIB.isEnabledFor(logging.INFO)
