"""Credentials and origins (RELIABILITY A1-A12, G52): pure rules first, then end to end.

Documented decisions pinned here:

- An origin is ``(scheme, host, port)`` with scheme and host lower-cased and the default
  port filled in; nothing else is normalized. ``api.example.com.`` (trailing dot) and
  ``http://2130706433/`` are origins of their own, trusted only where written as such.
- ``trusted_origins`` makes an origin trusted (polled, a borrowed session's defaults
  allowed) but attaches no credential provider: providers are keyed by origin in
  ``credentials``.
- lrpoll's own session keeps no cookies; a borrowed session whose jar holds cookies for
  an anonymous origin is refused for it.
"""

from __future__ import annotations

import json

import aiohttp
import pytest
from yarl import URL

import lrpoll
from lrpoll._urls import TrustPolicy, origin_of, redact_url, resolve
from lrpoll.testing import FakeLROServer, JobScript
from tests.helpers import EXPORTS, export_spec

API = ("https", "api.example.com", 443)


class TestOriginOf:
    """`origin_of` normalizes scheme, host case and default port, and nothing else."""

    @pytest.mark.parametrize(
        ("url", "origin"),
        [
            ("https://api.example.com/x", API),
            ("https://api.example.com:443/x", API),  # A5: explicit default port
            ("HTTPS://API.Example.COM/x", API),  # A6: case
            ("https://api.example.com./x", ("https", "api.example.com.", 443)),  # A6: dot
            ("http://api.example.com/x", ("http", "api.example.com", 80)),
            ("http://api.example.com:443/x", ("http", "api.example.com", 443)),
            ("https://api.example.com@evil.example/", ("https", "evil.example", 443)),  # A9
            ("http://2130706433/", ("http", "2130706433", 80)),  # A12
            ("http://0x7f000001/", ("http", "0x7f000001", 80)),  # A12
            ("http://[::1]:8080/", ("http", "::1", 8080)),
            ("https://xn--bcher-kva.example/", ("https", "bücher.example", 443)),
        ],
    )
    def test_origin_of(self, url: str, origin: tuple[str, str, int]) -> None:
        """Each URL maps to the normalized origin shown."""
        assert origin_of(url) == origin
        assert origin_of(URL(url)) == origin

    @pytest.mark.parametrize(
        "url",
        [
            "file:///etc/passwd",
            "data:application/json,{}",
            "javascript:alert(1)",
            "ftp://api.example.com/x",
            "ws://api.example.com/x",
            "//api.example.com/x",
            "/relative/path",
            "",
            "http://",
        ],
    )
    def test_no_origin_for_anything_but_absolute_http(self, url: str) -> None:
        """A8: other schemes, relative and scheme-relative URLs have no origin (None)."""
        assert origin_of(url) is None


class TestTrustPolicy:
    """`TrustPolicy.check` says trusted, anonymous, or raises UntrustedURL."""

    policy = TrustPolicy(frozenset({API}), frozenset({("https", "files.example", 443)}))

    @pytest.mark.parametrize(
        "url",
        [
            "https://api.example.com/op/1",
            "https://api.example.com:443/op/1",
            "https://API.EXAMPLE.COM/op/1",
        ],
    )
    def test_trusted(self, url: str) -> None:
        """A5/A6: the same origin, however written, is trusted."""
        assert self.policy.check(URL(url)) == "trusted"

    def test_allowed_origin_is_anonymous(self) -> None:
        """A2: an allow-listed origin is polled without credentials."""
        assert self.policy.check(URL("https://files.example/x")) == "anonymous"

    @pytest.mark.parametrize(
        "url",
        [
            "http://api.example.com/op/1",  # A4: https -> http downgrade
            "https://api.example.com:8443/op/1",  # another port
            "https://api.example.com./op/1",  # A6: trailing dot is another origin
            "https://api.example.com@evil.example/op/1",  # A9: userinfo trick
            "https://evil.example/op/1?token=s3cret",  # A1
            "https://sub.api.example.com/op/1",
            "http://2130706433/op/1",  # A12: not normalized into a trusted IP
        ],
    )
    def test_refused_origins(self, url: str) -> None:
        """A1/A4/A6/A9/A12: other origins raise UntrustedURL with a redacted URL."""
        with pytest.raises(lrpoll.UntrustedURL) as info:
            self.policy.check(URL(url))
        assert info.value.url == redact_url(url)
        assert "s3cret" not in str(info.value)

    @pytest.mark.parametrize(
        "url", ["file:///etc/passwd", "data:,{}", "javascript:alert(1)", "ftp://api.example.com/"]
    )
    def test_refused_schemes(self, url: str) -> None:
        """A8: non-http(s) URLs raise UntrustedURL naming the scheme, never another error."""
        with pytest.raises(lrpoll.UntrustedURL, match="refused URL scheme"):
            self.policy.check(URL(url))

    @pytest.mark.parametrize(
        "url",
        [
            "https://user:pw@api.example.com/op/1",
            "https://user@api.example.com/op/1",
            "https://:pw@files.example/x",
        ],
    )
    def test_userinfo_is_refused(self, url: str) -> None:
        """A URL with userinfo is refused even on a trusted origin; the error hides it."""
        with pytest.raises(lrpoll.UntrustedURL, match="userinfo") as info:
            self.policy.check(URL(url))
        assert "pw" not in str(info.value)
        assert "user@" not in str(info.value)

    def test_any_allows_every_http_origin_anonymously(self) -> None:
        """`allow_origins="any"` makes every http(s) origin anonymous, never trusted."""
        policy = TrustPolicy(frozenset({API}), "any")
        assert policy.check(URL("http://evil.example/")) == "anonymous"
        assert policy.check(URL("https://api.example.com/")) == "trusted"
        with pytest.raises(lrpoll.UntrustedURL):
            policy.check(URL("file:///etc/passwd"))


class TestResolve:
    """`resolve` follows RFC 3986 for references from Location headers and templates."""

    base = URL("https://api.example.com/api/exports?x=1")

    @pytest.mark.parametrize(
        ("ref", "expected"),
        [
            ("status/1", "https://api.example.com/api/status/1"),  # B17: against the URL
            ("/status/1", "https://api.example.com/status/1"),  # B17: against the origin
            ("../x", "https://api.example.com/x"),
            ("?page=2", "https://api.example.com/api/exports?page=2"),
            ("//evil.example/x", "https://evil.example/x"),  # A7: takes the base's scheme
            ("http://other.example/x", "http://other.example/x"),
            ("/a%2Fb/status", "https://api.example.com/a%2Fb/status"),  # kept encoded
        ],
    )
    def test_resolve(self, ref: str, expected: str) -> None:
        """Each reference resolves to the URL shown (encoding kept as written)."""
        assert str(resolve(self.base, ref)) == expected

    def test_redact_url_drops_userinfo_and_token_values(self) -> None:
        """Redaction drops userinfo and replaces token-like query values."""
        url = "https://u:pw@api.example.com/x?token=t&sig=s&api_key=k&page=2"
        assert redact_url(url) == (
            "https://api.example.com/x?token=REDACTED&sig=REDACTED&api_key=REDACTED&page=2"
        )


def _start_answer(server: FakeLROServer, location: str) -> None:
    """Make the next start request answer 202 with ``location``."""
    body = json.dumps({"jobId": "x"}).encode()
    server.fail_next(EXPORTS, status=202, body=body, headers={"Location": location})


class TestCrossOriginStatusUrls:
    """Status URLs on another origin, end to end, with the other server's log as witness."""

    async def test_untrusted_location_fails_fast(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A1: a Location on another origin raises UntrustedURL at start; nothing is sent there."""
        _start_answer(server, other.status_url("job-1") + "?token=s3cret")
        async with lrpoll.Scheduler(
            base_url=server.base_url, credentials={server.base_url: lrpoll.BearerToken("t1")}
        ) as scheduler:
            with pytest.raises(lrpoll.UntrustedURL) as info:
                await scheduler.start("POST", EXPORTS, spec=export_spec())
        assert info.value.url == other.status_url("job-1") + "?token=REDACTED"
        assert "s3cret" not in str(info.value)
        assert other.requests == []
        assert [r.method for r in server.requests] == ["POST"]

    async def test_allowed_origin_is_polled_without_credentials(self, other: FakeLROServer) -> None:
        """A2: with allow_origins, the other host gets the polls without Authorization."""
        async with FakeLROServer(bearer="t1") as server:
            job = other.add_job(JobScript.success(polls=1))
            _start_answer(server, other.status_url(job.id))
            async with lrpoll.Scheduler(
                base_url=server.base_url,
                credentials={server.base_url: lrpoll.BearerToken("t1")},
                allow_origins=[other.base_url],
            ) as scheduler:
                op = await scheduler.start("POST", EXPORTS, spec=export_spec())
                assert await op == {"url": f"/downloads/{job.id}.csv"}
        assert server.requests[0].headers["authorization"] == "REDACTED"
        assert len(other.requests) == 2
        for record in other.requests:
            assert "authorization" not in record.headers
            assert "cookie" not in record.headers

    async def test_credentials_for_the_other_origin_are_sent_there(
        self, server: FakeLROServer
    ) -> None:
        """A3: with a provider for the other origin, it gets its own credentials."""
        async with FakeLROServer(host="127.0.0.2", bearer="t2") as other:
            job = other.add_job(JobScript.success(polls=1))
            _start_answer(server, other.status_url(job.id))
            creds = {
                server.base_url: lrpoll.BearerToken("t1"),
                other.base_url: lrpoll.BearerToken("t2"),
            }
            async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
                await (await scheduler.start("POST", EXPORTS, spec=export_spec()))
        assert [r.status for r in other.requests] == [200, 200]

    async def test_trusted_origin_without_a_provider_gets_the_base_credentials(
        self, other: FakeLROServer
    ) -> None:
        """A3: an origin in trusted_origins with no provider of its own gets the base URL's."""
        async with FakeLROServer(bearer="t1") as server:
            job = other.add_job(JobScript.success(polls=0))
            _start_answer(server, other.status_url(job.id))
            async with lrpoll.Scheduler(
                base_url=server.base_url,
                credentials={server.base_url: lrpoll.BearerToken("t1")},
                trusted_origins=[other.base_url],
            ) as scheduler:
                await (await scheduler.start("POST", EXPORTS, spec=export_spec()))
        assert other.requests[0].headers["authorization"] == "REDACTED"

    async def test_scheme_relative_location_takes_the_request_scheme(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A7: `//other-host/x` is resolved to http://other-host/x, then judged as that origin."""
        job = other.add_job(JobScript.success(polls=0))
        location = f"//{other.host}:{other.port}/api/exports/{job.id}/status"
        _start_answer(server, location)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.UntrustedURL) as info:
                await scheduler.start("POST", EXPORTS, spec=export_spec())
        assert info.value.url == other.status_url(job.id)
        assert other.requests == []
        _start_answer(server, location)
        async with lrpoll.Scheduler(
            base_url=server.base_url, allow_origins=[other.base_url]
        ) as scheduler:
            await (await scheduler.start("POST", EXPORTS, spec=export_spec()))
        assert len(other.requests) == 1

    @pytest.mark.parametrize(
        "location",
        ["javascript:alert(1)", "file:///etc/passwd", "data:application/json,{}", "ftp://h/x"],
    )
    async def test_non_http_location_is_refused(self, server: FakeLROServer, location: str) -> None:
        """A8: a Location with another scheme raises UntrustedURL, no other exception."""
        _start_answer(server, location)
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.UntrustedURL, match="refused URL scheme"):
                await scheduler.start("POST", EXPORTS, spec=export_spec())
        assert len(server.requests) == 1

    async def test_userinfo_trick_is_refused(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A9: `http://trusted@other/` names the other host: refused, nothing sent anywhere."""
        url = f"http://{server.host}:{server.port}@{other.host}:{other.port}/api/exports/j/status"
        async with lrpoll.Scheduler(base_url=server.base_url) as scheduler:
            with pytest.raises(lrpoll.UntrustedURL) as info:
                await scheduler.watch(url, export_spec())
        assert info.value.url == other.status_url("j")
        assert server.requests == other.requests == []

    @pytest.mark.aiohttp_sender
    async def test_decimal_ip_host_is_its_own_origin(self, server: FakeLROServer) -> None:
        """A12: `http://2130706433:port` (127.0.0.1) is not the trusted origin: refused."""
        job = server.add_job(JobScript.success(polls=0))
        decimal = f"http://2130706433:{server.port}"
        url = f"{decimal}/api/exports/{job.id}/status"
        creds = {server.base_url: lrpoll.BearerToken("t1")}
        async with lrpoll.Scheduler(base_url=server.base_url, credentials=creds) as scheduler:
            with pytest.raises(lrpoll.UntrustedURL):
                await scheduler.watch(url, export_spec())
        # Listed anonymously it passes lrpoll's check, and aiohttp then refuses the host
        # itself (InvalidUrlClientError): nothing ever reaches the socket.
        spec = export_spec(errors=lrpoll.ErrorBudget(max_consecutive=0))
        async with lrpoll.Scheduler(
            base_url=server.base_url, credentials=creds, allow_origins=[decimal]
        ) as scheduler:
            with pytest.raises(lrpoll.RequestError, match="InvalidUrlClientError"):
                await (await scheduler.watch(url, spec))
        assert server.requests == []


class TestBorrowedSessions:
    """A borrowed session's defaults cannot be stripped per request (A11, G52)."""

    async def test_default_authorization_is_refused_cross_origin(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A11: a session with a default Authorization may not poll an anonymous origin."""
        job = other.add_job()
        async with aiohttp.ClientSession(headers={"Authorization": "Bearer b0rrowed"}) as session:
            async with lrpoll.Scheduler(
                base_url=server.base_url, session=session, allow_origins=[other.base_url]
            ) as scheduler:
                with pytest.raises(lrpoll.UntrustedURL, match="borrowed session") as info:
                    await scheduler.watch(other.status_url(job.id), export_spec())
                assert "b0rrowed" not in str(info.value)
                await (await scheduler.watch(server.status_url(server.add_job().id), export_spec()))
            assert not session.closed  # G52
        assert other.requests == []
        assert server.requests[0].headers["authorization"] == "REDACTED"

    @pytest.mark.parametrize(
        "name", ["X-Api-Key", "Api-Key", "Ocp-Apim-Subscription-Key", "X-Vendor-Token", "Cookie"]
    )
    async def test_any_default_credential_header_is_refused_cross_origin(
        self, server: FakeLROServer, other: FakeLROServer, name: str
    ) -> None:
        """A11: every header on the secrets list (not only Authorization) keeps a borrowed
        session off anonymous origins: nothing is sent there."""
        job = other.add_job()
        session = aiohttp.ClientSession(headers={name: "s3cr3t-value"})
        async with (
            session,
            lrpoll.Scheduler(
                base_url=server.base_url, session=session, allow_origins=[other.base_url]
            ) as scheduler,
        ):
            with pytest.raises(lrpoll.UntrustedURL, match="borrowed session") as info:
                await scheduler.watch(other.status_url(job.id), export_spec())
            assert "s3cr3t-value" not in str(info.value)
        assert other.requests == []

    async def test_default_authorization_is_allowed_to_trusted_origins(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A11: the same session may poll an origin listed in trusted_origins."""
        job = other.add_job(JobScript.success(polls=0))
        session = aiohttp.ClientSession(headers={"Authorization": "Bearer b0rrowed"})
        async with (
            session,
            lrpoll.Scheduler(
                base_url=server.base_url, session=session, trusted_origins=[other.base_url]
            ) as scheduler,
        ):
            await (await scheduler.watch(other.status_url(job.id), export_spec()))
        assert other.requests[0].headers["authorization"] == "REDACTED"

    async def test_cookie_jar_with_cookies_is_refused_cross_origin(
        self, server: FakeLROServer, other: FakeLROServer
    ) -> None:
        """A borrowed session whose jar would send cookies is refused for anonymous origins."""
        job = other.add_job()
        session = aiohttp.ClientSession(cookies={"sid": "c00kie"})
        async with (
            session,
            lrpoll.Scheduler(
                base_url=server.base_url, session=session, allow_origins=[other.base_url]
            ) as scheduler,
        ):
            with pytest.raises(lrpoll.UntrustedURL, match="cookie jar"):
                await scheduler.watch(other.status_url(job.id), export_spec())
        assert other.requests == []


class TestOwnedSessionCookies:
    """lrpoll's own session keeps no cookies (they ignore ports and schemes)."""

    @pytest.mark.aiohttp_sender
    async def test_cookie_from_a_trusted_origin_never_reaches_another_port(self) -> None:
        """A2: a cookie set by the trusted host is not replayed to the same host on another port."""
        async with FakeLROServer() as trusted, FakeLROServer() as elsewhere:
            # "localhost", not an IP: aiohttp's default jar keeps cookies only for names.
            trusted_url = f"http://localhost:{trusted.port}"
            other_url = f"http://localhost:{elsewhere.port}"
            job = elsewhere.add_job(JobScript.success(polls=1))
            trusted.fail_next(
                EXPORTS,
                status=202,
                body=b"{}",
                headers={
                    "Location": f"{other_url}/api/exports/{job.id}/status",
                    "Set-Cookie": "sid=c00kie; Path=/",
                },
            )
            async with lrpoll.Scheduler(
                base_url=trusted_url, allow_origins=[other_url]
            ) as scheduler:
                await (await scheduler.start("POST", EXPORTS, spec=export_spec()))
                assert len(scheduler.transport.session.cookie_jar) == 0
        assert len(elsewhere.requests) == 2
        assert all("cookie" not in r.headers for r in elsewhere.requests)
