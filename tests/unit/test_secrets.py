"""The one list of sensitive names, as every reader of it applies it.

Specs refuse the credential headers, URL redaction and text redaction hide the same query
names, the log redactor hides sensitive fields, and the fakes' request logs hide the same
headers: each reads `lrpoll._secrets`, so none can drift from the others.
"""

from __future__ import annotations

import pytest

import lrpoll
from lrpoll._log import Redactor, redact_text
from lrpoll._secrets import (
    CREDENTIAL_HEADERS,
    REDACTED,
    SECRET_HEADER_WORDS,
    SECRET_QUERY_WORDS,
    is_secret_header,
    is_secret_query,
)
from lrpoll._urls import redact_url

#: Query names seen in the wild, each holding one of the secret words.
QUERY_NAMES = sorted(
    {*SECRET_QUERY_WORDS, "access_token", "api_key", "X-Amz-Signature", "sessionId", "AUTH"}
)


class TestQueryNames:
    @pytest.mark.parametrize("name", QUERY_NAMES)
    def test_redact_url_and_redact_text_hide_the_same_names(self, name: str) -> None:
        """Every sensitive query name is hidden by redact_url and by redact_text alike."""
        url = f"https://api.example/x?page=2&{name}=abc123xyz"
        assert "abc123xyz" not in redact_url(url)
        text = f"GET {url} failed"
        assert "abc123xyz" not in redact_text(text)
        assert f"{name}={REDACTED}" in redact_text(text)
        assert "page=2" in redact_text(text)

    @pytest.mark.parametrize("name", ["page", "id", "format", "f", "jobId"])
    def test_plain_names_are_kept(self, name: str) -> None:
        """A name with no secret word keeps its value in both."""
        url = f"https://api.example/x?{name}=visible"
        assert "visible" in redact_url(url)
        assert "visible" in redact_text(f"GET {url}")
        assert not is_secret_query(name)

    def test_the_session_name_that_used_to_leak(self) -> None:
        """redact_text hides ?session= as redact_url does (the two had different regexes)."""
        assert "abc123" not in redact_text("GET https://h/x?session=abc123")


class TestHeaderNames:
    @pytest.mark.parametrize("name", sorted(CREDENTIAL_HEADERS))
    def test_specs_refuse_every_credential_header(self, name: str) -> None:
        """A spec may not carry any header on the list; the error points at credentials."""
        with pytest.raises(lrpoll.SpecError, match="credential") as info:
            lrpoll.PollSpec(status_url="/s", done="done", status_headers={name.title(): "v"})
        assert info.value.field == "status_headers"

    @pytest.mark.parametrize("name", sorted(CREDENTIAL_HEADERS))
    def test_credential_headers_are_secret(self, name: str) -> None:
        """Every credential header is hidden by the log redactor and the request logs."""
        assert is_secret_header(name)
        assert is_secret_header(name.upper())

    @pytest.mark.parametrize("word", SECRET_HEADER_WORDS)
    def test_names_holding_a_secret_word_are_hidden_in_logs(self, word: str) -> None:
        """A log field whose name holds a secret word is replaced whole."""
        event = Redactor()(None, "info", {"event": "x", f"x_{word}_y": "plain-looking"})
        assert event[f"x_{word}_y"] == REDACTED

    @pytest.mark.parametrize("name", ["Idempotency-Key", "User-Agent", "Prefer", "Accept"])
    def test_ordinary_headers_are_not_secret(self, name: str) -> None:
        """Idempotency-Key and friends are neither refused by specs nor hidden."""
        assert not is_secret_header(name)
        spec = lrpoll.PollSpec(status_url="/s", done="done", status_headers={name: "v"})
        assert spec.status_headers == {name: "v"}


class TestRememberedValues:
    """The one scrub hides remembered values, and a header credential's token alone."""

    def test_scheme_and_token_are_both_hidden(self) -> None:
        """Remembering ``Bearer <token>`` also hides the bare token a server may echo."""
        from lrpoll._secrets import remember, scrub

        remember(["Bearer tok-remembered-4711"])
        assert scrub("echo: tok-remembered-4711") == "echo: REDACTED"

    def test_refreshed_values_are_bounded(self) -> None:
        """Refreshed values are kept up to RECENT_MAX; the oldest is forgotten first."""
        from lrpoll._secrets import RECENT_MAX, remember, scrub

        values = [f"fresh-bound-{i:05d}" for i in range(RECENT_MAX + 1)]
        for value in values:
            remember([value], refreshed=True)
        assert scrub(values[-1]) == "REDACTED"
        assert scrub(values[0]) == values[0]
