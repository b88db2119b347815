"""The one HTTP seam: lrpoll's checks around a raw sender that may be replaced.

Everything lrpoll sends goes through `Transport.request`. The transport checks every URL
(the first and each redirect hop) against the trust policy, attaches credentials per
request and only for trusted origins, follows redirects itself, caps bodies, parses
JSON defensively and names URLs redacted in every error. Beneath it, a `Sender` (`_sender`; httpx's
``AsyncBaseTransport`` is the model) moves one request and its capped body over the
wire; `lrpoll._aiohttp.AiohttpSender` is the default, `lrpoll._lean.LeanSender` the other
one lrpoll builds (``http="lean"``). Whatever sender is plugged in,
origins, credentials, caps, redirects and redaction stay the transport's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from yarl import URL

from ._aiohttp import AiohttpSender
from ._exceptions import (
    LrpollError,
    MalformedStatus,
    RequestError,
    ResponseTooLarge,
    TooManyRedirects,
    UntrustedURL,
)
from ._expr import json_snippet
from ._json import parse_json
from ._lean import LeanSender
from ._log import add_secrets
from ._sender import BodyTooLarge, Limits, RawRequest, RawResponse, SendFault
from ._spec import checked_headers
from ._urls import TrustPolicy, origin_of, redact_url, resolve

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import aiohttp

    from ._auth import Credential
    from ._sender import Sender
    from ._urls import Access, Origin

__all__ = ["Answer", "HttpClient", "Limits", "Transport", "build_trust"]

_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
#: Trust decisions remembered per (scheme, authority); the memo starts over when full.
_ORIGINS_KEPT: Final = 1024


@dataclass(slots=True)
class Answer:
    """One HTTP answer, parsed; the response object is already released.

    Attributes:
        http_status: the HTTP status, or None for a fault.
        headers: lower-cased response headers.
        body: the parsed body (text when not parsed), None when empty.
        fault: the error to raise if this answer cannot be used.
        snippet: the first bytes of a non-2xx or unparseable body, escaped.
        url: the URL that answered (after redirects).
        sent: False when the request can never have reached the server.
        raw: the JSON text ``body`` was parsed from, or None.
    """

    http_status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    fault: LrpollError | None = None
    snippet: str = ""
    url: URL | None = None
    sent: bool = True
    raw: bytes | None = None


class Transport:
    """Sends the requests of one scheduler (or worker) through its sender, with lrpoll's checks.

    Args:
        sender: the raw sender (`lrpoll._aiohttp.AiohttpSender` by default).
        trust: which origins get credentials and which may be polled without them.
        credentials: a provider per trusted origin.
        limits: caps and redirect hops.
    """

    def __init__(
        self,
        sender: Sender,
        *,
        trust: TrustPolicy,
        credentials: Mapping[Origin, Credential],
        limits: Limits,
        checkpoint_key: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.sender = sender
        self.trust = trust
        self.credentials = dict(credentials)
        self.limits = limits
        self.checkpoint_key = checkpoint_key
        # Non-secret defaults (User-Agent, a client id) under every request's own headers.
        self.headers = dict(headers or {})
        self._origins: dict[tuple[str, str], tuple[Access, Origin]] = {}

    @classmethod
    def open(
        cls,
        base_url: str | None = None,
        *,
        credentials: Mapping[str, Credential] | None = None,
        trusted_origins: Iterable[str] = (),
        allow_origins: Iterable[str] | Literal["any"] = (),
        sender: Sender | None = None,
        limits: Limits | None = None,
        checkpoint_key: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        http: HttpClient = "aiohttp",
    ) -> Transport:
        """A transport on its own (for `lrpoll.step`), with the Scheduler's trust settings.

        Use it as ``async with Transport.open(...) as transport:``; leaving closes the
        sender. ``checkpoint_key`` signs and checks the checkpoints `lrpoll.step` reads
        and writes. By default requests go through aiohttp; ``http="lean"`` sends them
        with `LeanSender`.

        Raises:
            ValueError: for a URL that is not absolute http(s).
        """
        _, trust, creds = build_trust(base_url, credentials, trusted_origins, allow_origins)
        limits = limits or Limits()
        if sender is None:
            sender = make_sender(http, None, limits=limits)
        return cls(
            sender,
            trust=trust,
            credentials=creds,
            limits=limits,
            checkpoint_key=checkpoint_key,
            headers=checked_headers(headers, "headers"),
        )

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def session(self) -> Any:
        """The aiohttp session of the default sender (None for another sender)."""
        return getattr(self.sender, "session", None)

    def check(self, url: URL) -> str:
        """The access ``url`` gets (``"trusted"`` or ``"anonymous"``).

        Raises:
            UntrustedURL: when nothing may be sent there.
        """
        return self._access(url)[0]

    def _access(self, url: URL) -> tuple[str, Origin]:
        # The trust decision depends on the scheme and authority alone, and the policy
        # never changes: it is computed once per authority, not once per request (the
        # origin of a fresh URL object costs more than the rest of the check). Refusals
        # are not remembered: they raise every time. The sender's own answer (a borrowed
        # session's cookies) can change, so it is asked every time.
        key = (url.scheme, url.raw_authority)
        known = self._origins.get(key)
        if known is None:
            known = self.trust.access(url)
            if len(self._origins) >= _ORIGINS_KEPT:
                self._origins.clear()
            self._origins[key] = known
        access, origin = known
        if access == "anonymous":
            reason = self.sender.implicit_credentials(url)
            if reason is not None:
                raise UntrustedURL(
                    f"{redact_url(url)} is not a trusted origin and {reason}; give "
                    "credentials to the Scheduler instead",
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
        # The hops so far, redacted for the error, and their real URLs (loops are found on
        # those: redacted ones would merge hops that differ only in a token-like query
        # value, and a re-signed URL is a new URL, not a loop). Made at the first redirect.
        seen: list[str] = []
        visited: set[str] | None = None
        for _hop in range(self.limits.max_redirects + 1):
            access, origin = self._access(url)
            out_headers = {**self.headers, **headers} if headers else dict(self.headers)
            out_query = dict(query) if query else {}
            out_form = dict(form) if form is not None else None
            if access == "trusted":
                cred = self.credentials.get(origin)
                if cred is not None:
                    cred.apply(out_headers, out_query, out_form)
            target = url.update_query(out_query) if out_query else url
            raw = RawRequest(method, target, out_headers, json_body, out_form, self.limits.max_body)
            # The sender is awaited here, not in a helper coroutine: every suspension
            # inside aiohttp resumes through each coroutine frame above it.
            try:
                answer = self._answer(await self.sender.send(raw), parse)
            except SendFault as fault:
                message = f"request to {redact_url(url)} failed: {fault.kind}"
                answer = Answer(None, fault=RequestError(message), sent=fault.sent)
            except BodyTooLarge as big:
                answer = Answer(None, big.headers, fault=ResponseTooLarge(str(big)))
            if answer.http_status not in _REDIRECTS:
                answer.url = url
                return answer
            location = answer.headers.get("location")
            if not location:
                answer.url = url
                return answer
            if visited is None:
                visited = set()
            seen.append(redact_url(url))
            visited.add(str(url))
            url = resolve(url, location)
            if str(url) in visited:
                raise TooManyRedirects("redirect loop: " + " -> ".join([*seen, redact_url(url)]))
            if answer.http_status == 303 or (answer.http_status in (301, 302) and method == "POST"):
                method, json_body, form = "GET", None, None
        raise TooManyRedirects(
            f"more than {self.limits.max_redirects} redirects: " + " -> ".join(seen)
        )

    def _answer(self, response: RawResponse, parse: bool) -> Answer:
        """The `Answer` to one raw response: the body capped, parsed, snippets taken."""
        cap = self.limits.max_body
        raw, status, resp_headers = response.body, response.http_status, response.headers
        if len(raw) > cap:  # a sender that read past the cap is not trusted to have stopped
            return Answer(
                None, resp_headers, fault=ResponseTooLarge(f"body is over the {cap}-byte cap")
            )
        snippet = json_snippet(raw[: self.limits.snippet]) if raw and status >= 300 else ""
        if not raw or raw.isspace():  # isspace: the bytes.strip() set, without a copy
            return Answer(status, resp_headers, None, snippet=snippet)
        if not parse:
            return Answer(status, resp_headers, raw.decode("utf-8", "replace"), snippet=snippet)
        try:
            body = parse_json(raw)
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
        return Answer(status, resp_headers, body, snippet=snippet, raw=raw)

    async def aclose(self) -> None:
        """Close the sender (an owned session is closed; a borrowed one stays open)."""
        await self.sender.aclose()


HttpClient = Literal["aiohttp", "lean"]
"""Which sender a Scheduler or transport builds when none is given."""

HTTP_CLIENTS: Final[tuple[HttpClient, ...]] = ("aiohttp", "lean")


def check_http(http: object) -> None:
    """Refuse a name that is not one of `HTTP_CLIENTS`, before anything is built.

    Raises:
        ValueError: naming the value.
    """
    if http not in HTTP_CLIENTS:
        raise ValueError(f'http must be "aiohttp" or "lean", not {http!r}')


def make_sender(
    http: HttpClient,
    session: aiohttp.ClientSession | None,
    *,
    limits: Limits,
    slots: int = 100,
    per_host: int = 0,
) -> Sender:
    """The sender ``http`` names, with ``slots`` connections and ``per_host`` per origin.

    Raises:
        ValueError: for another name, or a session given with ``http="lean"``.
    """
    check_http(http)
    if http == "aiohttp":
        return AiohttpSender(session, limits=limits, slots=slots, per_host=per_host)
    if session is not None:
        raise ValueError('a session is aiohttp\'s: give it with http="aiohttp"')
    return LeanSender(limits=limits, slots=slots, per_host=per_host)


def build_trust(
    base_url: str | None,
    credentials: Mapping[str, Credential] | None,
    trusted_origins: Iterable[str],
    allow_origins: Iterable[str] | Literal["any"],
) -> tuple[URL | None, TrustPolicy, dict[Origin, Credential]]:
    """The base URL, the trust policy and the credentials by origin, from a caller's settings.

    The base URL's origin and every key of ``credentials`` are trusted; a trusted origin
    without a provider of its own gets the base URL's. The providers' secrets are taught
    to the log redactor.

    Raises:
        ValueError: for a URL that is not absolute http(s).
    """
    base = URL(base_url) if base_url else None
    trusted: set[Origin] = set()
    base_origin = None
    if base is not None:
        base_origin = origin_of(base)
        if base_origin is None:
            raise ValueError(f"base_url must be an absolute http(s) URL: {base_url!r}")
        trusted.add(base_origin)
    creds: dict[Origin, Credential] = {}
    for url, cred in (credentials or {}).items():
        origin = origin_of(url)
        if origin is None:
            raise ValueError(f"credential origin must be an absolute http(s) URL: {url!r}")
        creds[origin] = cred
        trusted.add(origin)
        add_secrets(cred.secrets())
    base_cred = creds.get(base_origin) if base_origin is not None else None
    for url in trusted_origins:
        origin = origin_of(url)
        if origin is None:
            raise ValueError(f"trusted origin must be an absolute http(s) URL: {url!r}")
        trusted.add(origin)
        if base_cred is not None:
            creds.setdefault(origin, base_cred)
    anonymous: frozenset[Origin] | Literal["any"]
    if allow_origins == "any":
        anonymous = "any"
    else:
        allowed = {origin_of(u) for u in allow_origins}
        if None in allowed:
            raise ValueError("allow_origins must hold absolute http(s) URLs")
        anonymous = frozenset(o for o in allowed if o is not None)
    return base, TrustPolicy(frozenset(trusted), anonymous), creds
