"""The default `Sender`, on aiohttp: the only module of lrpoll that imports aiohttp.

It sends one request without following redirects, reads the body up to the cap (after
decompression), and turns aiohttp's exceptions into `SendFault` / `BodyTooLarge`. The
transport above it does everything else.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp

from ._secrets import is_secret_header
from ._sender import BodyTooLarge, RawResponse, SendFault

if TYPE_CHECKING:
    from yarl import URL

    from ._sender import Limits, RawRequest

__all__ = ["AiohttpSender"]

# Raised before a connection exists, so nothing of the request reached the server.
_NOT_SENT: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError,) + (
    (aiohttp.ConnectionTimeoutError,) if hasattr(aiohttp, "ConnectionTimeoutError") else ()
)


class AiohttpSender:
    """Sends requests through an aiohttp session (owned, or borrowed and never closed).

    Args:
        session: a session to borrow; by default the sender owns one with ``slots``
            connections, ``per_host`` per host, and no cookie jar.
        limits: the timeouts.
        slots: the owned session's connection limit.
        per_host: the owned session's limit per host (0: ``limits.per_host``, and 0 there
            too: none beyond ``slots``).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        limits: Limits,
        slots: int = 100,
        per_host: int = 0,
    ) -> None:
        self.owned = session is None
        self.session = session or aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=slots, limit_per_host=per_host or limits.per_host),
            auto_decompress=True,
            # A jar would replay a trusted origin's cookies to other ports and schemes of
            # the same host (cookies ignore both): lrpoll keeps none.
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self._timeout = aiohttp.ClientTimeout(
            total=limits.timeout, sock_connect=limits.connect_timeout
        )
        # A borrowed session's default credentials would go to any origin.
        self._default_credentials = (not self.owned) and any(
            is_secret_header(h) for h in self.session.headers
        )

    def implicit_credentials(self, url: URL) -> str | None:
        """Why a borrowed session would add credentials of its own to ``url``, or None."""
        if self.owned:
            return None
        if self._default_credentials:
            return "the borrowed session sends default credentials"
        if self.session.cookie_jar.filter_cookies(url):
            # Cookies ignore ports and schemes, and lrpoll cannot strip them per request.
            return "the borrowed session's cookie jar holds cookies for it"
        return None

    async def send(self, request: RawRequest) -> RawResponse:
        """Send one request, read its body up to ``request.max_body``.

        Raises:
            SendFault: for connect errors, timeouts and resets.
            BodyTooLarge: when the body passes the cap.
        """
        kwargs: dict[str, Any] = {}
        if request.form is not None:
            kwargs["data"] = dict(request.form)
        elif request.json is not None:
            kwargs["json"] = request.json
        cap = request.max_body
        try:
            async with self.session.request(
                request.method,
                request.url,
                headers=request.headers,
                allow_redirects=False,
                timeout=self._timeout,
                **kwargs,
            ) as resp:
                headers = {k.lower(): v for k, v in resp.headers.items()}
                length = resp.content_length
                if length is not None and length > cap:
                    resp.close()
                    raise BodyTooLarge(
                        f"Content-Length {length} is over the {cap}-byte cap", headers
                    )
                raw = await _read_capped(resp, cap)
                if raw is None:
                    resp.close()
                    raise BodyTooLarge(f"body is over the {cap}-byte cap", headers)
                return RawResponse(resp.status, headers, raw)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            kind = "timed out" if isinstance(exc, asyncio.TimeoutError) else type(exc).__name__
            raise SendFault(kind, sent=not isinstance(exc, _NOT_SENT)) from None

    async def aclose(self) -> None:
        """Close the session if the sender owns it; a borrowed one stays open."""
        if self.owned and not self.session.closed:
            await self.session.close()


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
