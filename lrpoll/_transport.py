"""The one HTTP seam, on aiohttp: timeouts, body caps, redirects, origins, credentials.

Everything lrpoll sends goes through `Transport.request`. It checks every URL (the
first and each redirect hop) against the trust policy, attaches credentials per request
and only for trusted origins (never as session defaults), follows redirects itself,
caps bodies before and during reading (after decompression), parses JSON defensively,
and maps aiohttp's exceptions to lrpoll's. It returns an `Answer` and never keeps the
response object.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from ._exceptions import (
    LrpollError,
    MalformedStatus,
    RequestError,
    ResponseTooLarge,
    TooManyRedirects,
    UntrustedURL,
)
from ._expr import json_snippet
from ._secrets import is_secret_header
from ._urls import TrustPolicy, redact_url, resolve

if TYPE_CHECKING:
    from collections.abc import Mapping

    from yarl import URL

    from ._auth import Credential
    from ._urls import Origin

__all__ = ["Answer", "Limits", "Transport"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


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


@dataclass(slots=True)
class Answer:
    """One HTTP answer, parsed; the response object is already released."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    fault: LrpollError | None = None
    snippet: str = ""
    url: URL | None = None


def _parse_json(raw: bytes) -> Any:
    # json.loads raises ValueError for bad JSON and for integers past
    # sys.get_int_max_str_digits(); RecursionError for very deep nesting.
    return json.loads(raw)


class Transport:
    """Sends requests for the scheduler. One per scheduler."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        owned: bool,
        trust: TrustPolicy,
        credentials: Mapping[Origin, Credential],
        limits: Limits,
    ) -> None:
        self.session = session
        self.owned = owned
        self.trust = trust
        self.credentials = dict(credentials)
        self.limits = limits
        self._timeout = aiohttp.ClientTimeout(
            total=limits.timeout, sock_connect=limits.connect_timeout
        )
        # A borrowed session with default credentials would leak them to any origin:
        # such a session may only talk to trusted origins.
        self._session_has_credentials = (not owned) and any(
            is_secret_header(h) for h in session.headers
        )

    def check(self, url: URL) -> str:
        """The access ``url`` gets (``"trusted"`` or ``"anonymous"``).

        Raises:
            UntrustedURL: when nothing may be sent there.
        """
        return self._access(url)[0]

    def _access(self, url: URL) -> tuple[str, Origin]:
        access, origin = self.trust.access(url)
        if access == "anonymous" and self._session_has_credentials:
            raise UntrustedURL(
                f"{redact_url(url)} is not a trusted origin and the borrowed session sends "
                "default credentials; give credentials to the Scheduler instead",
                url=redact_url(url),
            )
        if access == "anonymous" and not self.owned and self.session.cookie_jar.filter_cookies(url):
            # The borrowed session's cookie jar would add its cookies (cookies ignore ports
            # and schemes) and lrpoll cannot strip them per request.
            raise UntrustedURL(
                f"{redact_url(url)} is not a trusted origin and the borrowed session's cookie "
                "jar holds cookies for it; give credentials to the Scheduler instead",
                url=redact_url(url),
            )
        return access, origin

    async def request(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        parse: bool = True,
    ) -> Answer:
        """Send one request, following redirects; never raises for HTTP or network faults.

        Faults come back as ``Answer.fault``. Only `UntrustedURL` (before anything is
        sent, or on a redirect hop) and `TooManyRedirects` are raised.
        """
        seen: list[str] = []
        # Loops are found on the real URLs: redacted ones would merge hops that differ only
        # in a token-like query value (a re-signed URL is a new URL, not a loop).
        visited: set[str] = set()
        for _hop in range(self.limits.max_redirects + 1):
            access, origin = self._access(url)
            out_headers = dict(headers or {})
            out_query = dict(query or {})
            out_form = dict(form) if form is not None else None
            if access == "trusted":
                cred = self.credentials.get(origin)
                if cred is not None:
                    cred.apply(out_headers, out_query, out_form)
            target = url.update_query(out_query) if out_query else url
            answer = await self._send(
                method, target, out_headers, json_body, out_form, parse, shown=url
            )
            if answer.status not in _REDIRECTS:
                answer.url = url
                return answer
            location = answer.headers.get("location")
            if not location:
                answer.url = url
                return answer
            seen.append(redact_url(url))
            visited.add(str(url))
            url = resolve(url, location)
            if str(url) in visited:
                raise TooManyRedirects("redirect loop: " + " -> ".join([*seen, redact_url(url)]))
            if answer.status == 303 or (answer.status in (301, 302) and method == "POST"):
                method, json_body, form = "GET", None, None
        raise TooManyRedirects(
            f"more than {self.limits.max_redirects} redirects: " + " -> ".join(seen)
        )

    async def _send(
        self,
        method: str,
        url: URL,
        headers: dict[str, str],
        json_body: Any,
        form: dict[str, str] | None,
        parse: bool,
        *,
        shown: URL,
    ) -> Answer:
        # ``url`` may carry a credential query parameter; errors name ``shown`` (the URL
        # before credentials were added), redacted.
        kwargs: dict[str, Any] = {}
        if form is not None:
            kwargs["data"] = form
        elif json_body is not None:
            kwargs["json"] = json_body
        cap = self.limits.max_body
        try:
            async with self.session.request(
                method,
                url,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout,
                **kwargs,
            ) as resp:
                status = resp.status
                resp_headers = {k.lower(): v for k, v in resp.headers.items()}
                length = resp.content_length
                if length is not None and length > cap:
                    resp.close()
                    return Answer(
                        None,
                        resp_headers,
                        fault=ResponseTooLarge(
                            f"Content-Length {length} is over the {cap}-byte cap"
                        ),
                    )
                raw = await self._read_capped(resp, cap)
                if raw is None:
                    resp.close()
                    return Answer(
                        None,
                        resp_headers,
                        fault=ResponseTooLarge(f"body is over the {cap}-byte cap"),
                    )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Answer(None, fault=RequestError(_describe(exc, shown)))
        snippet = json_snippet(raw[: self.limits.snippet]) if raw and status >= 300 else ""
        if not raw or not raw.strip():
            return Answer(status, resp_headers, None, snippet=snippet)
        if not parse:
            return Answer(status, resp_headers, raw.decode("utf-8", "replace"), snippet=snippet)
        try:
            body = _parse_json(raw)
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:80]
            text = json_snippet(raw[: self.limits.snippet])
            return Answer(
                status,
                resp_headers,
                None,
                fault=MalformedStatus(f"status body is not JSON ({reason}): {text}"),
                snippet=text,
            )
        return Answer(status, resp_headers, body, snippet=snippet)

    @staticmethod
    async def _read_capped(resp: aiohttp.ClientResponse, cap: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await resp.content.readany()
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)

    async def aclose(self) -> None:
        """Close the session if the transport owns it; a borrowed one stays open."""
        if self.owned and not self.session.closed:
            await self.session.close()


def _describe(exc: BaseException, url: URL) -> str:
    kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
    return f"request to {redact_url(url)} failed: {kind}"
