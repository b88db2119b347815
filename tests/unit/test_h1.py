"""The HTTP/1.1 response reader and request writer of `LeanSender` (`lrpoll._h1`), bytes only."""

from __future__ import annotations

import functools
import gzip
import tracemalloc
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lrpoll._h1 import MAX_CHUNK_LINE, MAX_HEAD, MAX_HEADERS, ResponseReader, request_head
from lrpoll._sender import BodyTooLarge, SendFault
from tests.unit.support import UNIT

CAP = 1024

Result = tuple[int, dict[str, str], bytes, bool]


def read(*pieces: bytes, head: bool = False, cap: int = CAP, eof: bool = True) -> ResponseReader:
    """A reader fed ``pieces`` in order, then the close (if the response is not done yet)."""
    reader = ResponseReader(head=head, cap=cap)
    for piece in pieces:
        reader.feed(piece)
    if eof and not reader.done:
        reader.feed_eof()
    return reader


def feed_watching(
    reader: ResponseReader, pieces: list[bytes], *, cap: int = CAP, eof: bool = True
) -> None:
    """Feed ``pieces`` (then the close), checking that no more than ``cap`` is ever kept."""
    try:
        for piece in pieces:
            reader.feed(piece)
            assert len(reader.body) <= cap
        if eof:
            reader.feed_eof()
    finally:
        assert len(reader.body) <= cap


def bytewise(data: bytes) -> list[bytes]:
    """``data`` one byte at a time."""
    return [data[i : i + 1] for i in range(len(data))]


def result(reader: ResponseReader) -> Result:
    """What a reader read, as a comparable tuple."""
    assert reader.done
    return reader.status, reader.headers, reader.body, reader.keep_alive


def chunked(*chunks: bytes) -> bytes:
    """``chunks`` in the chunked transfer coding, with the last chunk and no trailers."""
    return b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"


def raw_deflate(data: bytes) -> bytes:
    """``data`` deflated with no zlib header, as some servers send ``deflate``."""
    obj = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return obj.compress(data) + obj.flush()


@functools.cache
def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes, gzipped (about a thousandth of ``size`` on the wire)."""
    obj = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [obj.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + obj.compress(bytes(size & ((1 << 20) - 1))) + obj.flush()


DOC = b'{"status": "running", "progress": 40}'

# Valid responses, each with what it reads as (status, headers, body, keep_alive).
VALID: list[tuple[bytes, bool, Result]] = [
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/json\r\n\r\n%s"
        % (len(DOC), DOC),
        False,
        (200, {"content-length": str(len(DOC)), "content-type": "application/json"}, DOC, True),
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5;ext=1;q="a b"\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0;end\r\nX-Trailer: t\r\n\r\n',
        False,
        (200, {"transfer-encoding": "chunked"}, b"hello world", True),
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close",
        False,
        (200, {"content-type": "text/plain"}, b"until the close", False),
    ),
    (
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}",
        False,
        (202, {"content-length": "2"}, b"{}", True),
    ),
    (b"HTTP/1.1 204 No Content\r\n\r\n", False, (204, {}, b"", True)),
    (
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        False,
        (304, {"content-length": "10"}, b"", True),
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n",
        True,
        (200, {"content-length": "10", "transfer-encoding": "chunked"}, b"", True),
    ),
    (
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
        False,
        (200, {"content-length": "2"}, b"ok", False),
    ),
    (
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
        False,
        (200, {"connection": "keep-alive, Close", "content-length": "2"}, b"ok", False),
    ),
    (
        b"HTTP/1.1 404\nX-A: 1\nx-a:  2 \n\nnot found",
        False,
        (404, {"x-a": "2"}, b"not found", False),
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
        % len(gzip.compress(DOC))
        + gzip.compress(DOC),
        False,
        (
            200,
            {"content-encoding": "gzip", "content-length": str(len(gzip.compress(DOC)))},
            DOC,
            True,
        ),
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked(*bytewise(raw_deflate(DOC))),
        False,
        (200, {"content-encoding": "deflate", "transfer-encoding": "chunked"}, DOC, True),
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: x-gzip\r\n\r\n" + gzip.compress(DOC),
        False,
        (200, {"content-encoding": "x-gzip"}, DOC, False),
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        False,
        (200, {"content-length": "0"}, b"", True),
    ),
]
VALID_IDS = [f"{i}-{expected[0]}" for i, (_, _, expected) in enumerate(VALID)]


class TestFraming:
    """Where a response ends (RFC 9112 §6.3), and what it reads as."""

    @pytest.mark.parametrize(("data", "head", "expected"), VALID, ids=VALID_IDS)
    def test_valid_response_whole(self, data: bytes, head: bool, expected: Result) -> None:
        """Each valid response, fed in one piece, reads as expected."""
        assert result(read(data, head=head)) == expected

    @pytest.mark.parametrize(("data", "head", "expected"), VALID, ids=VALID_IDS)
    def test_valid_response_byte_by_byte(self, data: bytes, head: bool, expected: Result) -> None:
        """Each valid response, fed one byte at a time, reads as in one piece."""
        assert result(read(*bytewise(data), head=head)) == expected

    @UNIT
    @given(st.sampled_from(VALID), st.lists(st.integers(min_value=0), max_size=12))
    def test_any_split_reads_the_same(
        self, case: tuple[bytes, bool, Result], cuts: list[int]
    ) -> None:
        """Split at any points, a valid response reads as fed whole."""
        data, head, expected = case
        points = sorted({c % (len(data) + 1) for c in cuts})
        pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        assert result(read(*pieces, head=head)) == expected

    @pytest.mark.parametrize(
        "head",
        [
            b"HTTP/1.1 200 OK\nContent-Length: 2\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\n",
            b"HTTP/1.1 200 OK\nContent-Length: 2\n\n",
        ],
    )
    def test_mixed_line_ends_end_the_head(self, head: bytes) -> None:
        """An empty line ends the head after a CRLF or a bare LF, whichever ends it."""
        for pieces in ([head + b"ok"], bytewise(head + b"ok")):
            reader = read(*pieces, eof=False)
            assert result(reader) == (200, {"content-length": "2"}, b"ok", True)

    def test_content_length_ends_the_response(self) -> None:
        """A Content-Length body is done at its last byte, with no close needed."""
        reader = ResponseReader(cap=CAP)
        assert not reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
        assert not reader.done
        assert reader.feed(b"lo")
        assert (reader.body, reader.keep_alive) == (b"hello", True)

    def test_read_to_close_needs_the_close(self) -> None:
        """A body with neither Content-Length nor chunked is done only at the close."""
        reader = ResponseReader(cap=CAP)
        assert not reader.feed(b"HTTP/1.1 200 OK\r\n\r\nsome")
        assert not reader.feed(b" more")
        assert reader.feed_eof()
        assert (reader.body, reader.keep_alive) == (b"some more", False)

    @pytest.mark.parametrize("status", [204, 304])
    def test_no_body_statuses_are_done_at_the_head(self, status: int) -> None:
        """204 and 304 have no body, whatever Content-Length or Transfer-Encoding say."""
        reader = ResponseReader(cap=CAP)
        head = b"HTTP/1.1 %d X\r\nContent-Length: 7\r\nTransfer-Encoding: chunked\r\n\r\n" % status
        assert reader.feed(head)
        assert (reader.status, reader.body, reader.keep_alive) == (status, b"", True)

    def test_head_request_has_no_body(self) -> None:
        """The answer to HEAD is done at its head; its Content-Length is kept as said."""
        reader = ResponseReader(head=True, cap=CAP)
        assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n")
        assert (reader.body, reader.headers["content-length"]) == (b"", "5000")

    def test_interim_responses_are_skipped(self) -> None:
        """1xx heads are read past; the status and headers are the final response's."""
        reader = ResponseReader(cap=CAP)
        assert not reader.feed(b"HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n")
        assert reader.status == 0
        assert not reader.done
        assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        assert (reader.status, reader.headers) == (200, {"content-length": "0"})

    def test_switching_protocols_is_refused(self) -> None:
        """A 101 nobody asked for is malformed: the connection would stop being HTTP."""
        with pytest.raises(SendFault, match="malformed response: 101 Switching Protocols"):
            read(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n")

    def test_chunk_extensions_and_trailers(self) -> None:
        """Chunk extensions are ignored; trailers end the body and are not headers."""
        data = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;a=b\r\nabc\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\n"
        )
        reader = read(data)
        assert (reader.body, reader.keep_alive) == (b"abc", True)
        assert "expires" not in reader.headers

    def test_chunked_size_in_any_case_of_hex(self) -> None:
        """Chunk sizes are hex digits of either case."""
        body = b"x" * 0xAB
        data = (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\naB\r\n" + body + b"\r\n0\r\n\r\n"
        )
        assert read(data).body == body

    def test_transfer_coding_not_ending_in_chunked_reads_to_the_close(self) -> None:
        """A Transfer-Encoding whose last coding is not chunked means the body runs to the close."""
        reader = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n")
        assert (reader.body, reader.keep_alive) == (b"0\r\n\r\n", False)

    def test_equal_repeated_content_length_is_accepted(self) -> None:
        """Two identical Content-Length headers frame the body once (RFC 9110 §8.6)."""
        reader = read(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok")
        assert (reader.body, reader.keep_alive) == (b"ok", True)

    def test_header_names_lower_cased_last_duplicate_wins(self) -> None:
        """Header names come out lower-cased; the last of a repeated name wins; values trimmed."""
        reader = read(b"HTTP/1.1 200 OK\r\nX-Job: a\r\nx-JOB:\t b \t\r\nContent-Length: 0\r\n\r\n")
        assert reader.headers == {"x-job": "b", "content-length": "0"}

    def test_latin1_header_value_is_kept(self) -> None:
        """A header value with bytes past ASCII is decoded as Latin-1, not refused."""
        reader = read(b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n")
        assert reader.headers["x-name"] == "caf\xe9"

    def test_started_after_the_first_byte(self) -> None:
        """``started`` turns True with the first byte, before the head is whole."""
        reader = ResponseReader(cap=CAP)
        assert not reader.started
        assert not reader.feed(b"")
        assert not reader.feed(b"H")
        assert (reader.started, reader.done) == (True, False)


class TestKeepAlive:
    """When the connection may carry the next request."""

    @pytest.mark.parametrize(
        ("data", "keep"),
        [
            (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
            (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"ok"), True),
            (b"HTTP/1.1 204 No Content\r\n\r\n", True),
            (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", False),
            (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", False),
            (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", False),
            (b"HTTP/1.1 200 OK\r\nConnection: CLOSE\r\nContent-Length: 2\r\n\r\nok", False),
            (b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", False),
            (b"HTTP/1.1 200 OK\r\n\r\nok", False),
        ],
    )
    def test_rules(self, data: bytes, keep: bool) -> None:
        """HTTP/1.1 keeps the connection unless it says close or the body runs to the close."""
        assert read(data).keep_alive is keep

    @pytest.mark.parametrize(
        "data",
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(b"ok"),
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ],
    )
    def test_extra_bytes_after_the_response_spend_the_connection(self, data: bytes) -> None:
        """Bytes past a complete response, in the same read or later, forbid reuse."""
        assert not read(data + b"HTTP/1.1 200 OK\r\n").keep_alive
        later = ResponseReader(cap=CAP)
        assert later.feed(data)
        assert later.keep_alive
        assert later.feed(b"X")
        assert not later.keep_alive

    def test_close_after_a_complete_response_forbids_reuse(self) -> None:
        """The server closing after a complete response leaves it complete but not reusable."""
        reader = ResponseReader(cap=CAP)
        assert reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        assert reader.feed_eof()
        assert (reader.body, reader.keep_alive) == (b"ok", False)


# A malformed response, and the reason its SendFault gives.
MALFORMED: list[tuple[bytes, str]] = [
    (b"HTTP/1.1 OK\r\n\r\n", "bad status line"),
    (b"HTTP/2 200 OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 20x OK\r\n\r\n", "bad status line"),
    (b"ICY 200 OK\r\n\r\n", "bad status line"),
    (b"http/1.1 200 OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1  200 OK\r\n\r\n", "bad status line"),
    (b"<html>hello</html>\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 099 Early\r\n\r\n", "bad status code 99"),
    (b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\tfolded: x\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "bare CR or NUL"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", "bare CR or NUL"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\r\r\n\r\n", "bare CR or NUL"),
    (b"HTTP/1.1 200\rOK\r\n\r\n", "bare CR or NUL"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \xd9\xa1\r\n\r\n", "bad Content-Length"),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "conflicting Content-Length values",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello",
        "both Transfer-Encoding and Content-Length",
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\nhello",
        "both Transfer-Encoding and Content-Length",
    ),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", "bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size"),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 17 + b"\r\n",
        "bad chunk size",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
        "chunk not followed by CRLF",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello5\r\nworld\r\n",
        "chunk not followed by CRLF",
    ),
    (
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * MAX_HEAD + b"\r\n\r\n",
        f"response head over {MAX_HEAD} bytes",
    ),
    (
        b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * MAX_HEAD,
        f"response head over {MAX_HEAD} bytes",
    ),
    (
        b"HTTP/1.1 200 OK\r\n" + b"X-A: 1\r\n" * (MAX_HEADERS + 1) + b"\r\n",
        f"more than {MAX_HEADERS} headers",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"x" * MAX_CHUNK_LINE,
        "chunk line too long",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;"
        + b"x" * MAX_CHUNK_LINE
        + b"\r\nhello\r\n",
        "chunk line too long",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: "
        + b"t" * MAX_CHUNK_LINE
        + b"\r\n\r\n",
        "chunk line too long",
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nnot gzip!",
        "undecodable body",
    ),
    (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: deflate\r\nContent-Length: 4\r\n\r\n"
        b"\x78\x9c\xff\xff",
        "undecodable body",
    ),
]
MALFORMED_IDS = [f"{i}-{reason}" for i, (_, reason) in enumerate(MALFORMED)]


class TestMalformed:
    """Responses that break the grammar, or could be framed two ways, raise SendFault."""

    @pytest.mark.parametrize(("data", "reason"), MALFORMED, ids=MALFORMED_IDS)
    def test_refused_whole(self, data: bytes, reason: str) -> None:
        """Fed in one piece, the response raises SendFault naming the problem."""
        with pytest.raises(SendFault, match=f"^malformed response: {reason}"):
            read(data)

    @pytest.mark.parametrize(("data", "reason"), MALFORMED, ids=MALFORMED_IDS)
    def test_refused_in_pieces(self, data: bytes, reason: str) -> None:
        """Fed in small pieces, the same response raises the same SendFault."""
        pieces = [data[i : i + 3] for i in range(0, len(data), 3)]
        with pytest.raises(SendFault, match=f"^malformed response: {reason}"):
            read(*pieces)

    def test_trailers_spread_over_many_lines_are_bounded(self) -> None:
        """Many short trailer lines are bounded like a head: MAX_HEAD bytes in all."""
        reader = ResponseReader(cap=CAP)
        reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n")
        with pytest.raises(SendFault, match="trailers over"):
            feed_watching(reader, [b"X-T: 1\r\n"] * (MAX_HEAD // 8 + 1), eof=False)

    @pytest.mark.parametrize(
        "data",
        [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"H",
        ],
    )
    def test_eof_mid_response(self, data: bytes) -> None:
        """The connection closing before the response's end is a SendFault, not a short body."""
        reader = ResponseReader(cap=CAP)
        assert not reader.feed(data)
        with pytest.raises(SendFault, match=r"^malformed response: connection closed mid-response"):
            reader.feed_eof()
        assert not reader.keep_alive

    def test_eof_before_any_byte(self) -> None:
        """The connection closing before any byte says the server answered nothing."""
        reader = ResponseReader(cap=CAP)
        with pytest.raises(SendFault, match=r"^server closed the connection before answering$"):
            reader.feed_eof()
        assert not reader.started

    @pytest.mark.parametrize("extra", [0, 1, 2, 3])
    def test_head_at_the_limit_reads_the_same_in_any_pieces(self, extra: int) -> None:
        """A head of exactly MAX_HEAD bytes is read, whole or byte by byte; one more is not."""
        start = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Pad: "
        head = start + b"a" * (MAX_HEAD - len(start) + extra)
        data = head + b"\r\n\r\n"
        for pieces in ([data], bytewise(data)):
            if extra:
                with pytest.raises(SendFault, match="response head over"):
                    read(*pieces)
            else:
                assert read(*pieces).headers["x-pad"] == "a" * (MAX_HEAD - len(start))


class TestCaps:
    """Bodies are held to the cap after decoding; a compression bomb is never inflated whole."""

    def test_content_length_over_the_cap_is_refused_at_the_head(self) -> None:
        """A Content-Length over the cap raises BodyTooLarge before any byte of the body."""
        reader = ResponseReader(cap=CAP)
        with pytest.raises(BodyTooLarge, match=f"Content-Length {CAP + 1} is over") as info:
            reader.feed(b"HTTP/1.1 200 OK\r\nX-Job: 1\r\nContent-Length: %d\r\n\r\n" % (CAP + 1))
        assert info.value.headers == {"x-job": "1", "content-length": str(CAP + 1)}

    def test_content_length_at_the_cap_is_read(self) -> None:
        """A body of exactly the cap is read whole."""
        body = b"b" * CAP
        assert read(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % CAP + body).body == body

    def test_huge_content_length_is_too_large_not_a_crash(self) -> None:
        """A 40-digit Content-Length is over the cap, not an overflow."""
        with pytest.raises(BodyTooLarge):
            read(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 40 + b"\r\n\r\n")

    @pytest.mark.parametrize("encoding", ["chunked", "to-close"])
    def test_unframed_body_over_the_cap(self, encoding: str) -> None:
        """A chunked or read-to-close body raises BodyTooLarge past the cap; no more is kept."""
        reader = ResponseReader(cap=CAP)
        if encoding == "chunked":
            reader.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"100\r\n" + b"c" * 256 + b"\r\n"
        else:
            reader.feed(b"HTTP/1.1 200 OK\r\n\r\n")
            piece = b"c" * 256
        with pytest.raises(BodyTooLarge, match=f"body is over the {CAP}-byte cap"):
            feed_watching(reader, [piece] * (CAP // 256 + 1))

    def test_chunked_body_at_the_cap_is_read(self) -> None:
        """A chunked body of exactly the cap is read whole."""
        data = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        data += chunked(b"c" * (CAP // 2), b"c" * (CAP // 2))
        assert read(data).body == b"c" * CAP

    @pytest.mark.parametrize("framing", ["length", "chunked", "to-close"])
    @pytest.mark.parametrize("piece", [1 << 10, 1 << 30])
    def test_gzip_bomb_stops_at_the_cap(self, framing: str, piece: int) -> None:
        """50 MB of zeros gzipped raise BodyTooLarge with at most the cap held, never inflated.

        The peak of memory allocated while feeding the bomb (tracemalloc, deterministic)
        stays within a few caps of the wire size: 50 MB were never produced.
        """
        cap = 64 * 1024
        wire = gzip_bomb(50 * 1000 * 1000)
        if framing == "length":
            head = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
            data = head % len(wire) + wire
        elif framing == "chunked":
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
            )
            data = head + chunked(wire[: len(wire) // 2], wire[len(wire) // 2 :])
        else:
            data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + wire
        reader = ResponseReader(cap=cap)
        tracemalloc.start()
        try:
            pieces = [data[start : start + piece] for start in range(0, len(data), piece)]
            with pytest.raises(BodyTooLarge, match=f"body is over the {cap}-byte cap"):
                feed_watching(reader, pieces, cap=cap)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(reader.body) <= cap
        assert peak < 2 * len(data) + 8 * cap

    @pytest.mark.parametrize("encoding", ["gzip", "deflate"])
    def test_compressed_body_trickled_is_held_to_the_cap(self, encoding: str) -> None:
        """A compressed read-to-close body fed a byte at a time is held to the cap."""
        body = b"z" * (CAP + 1)
        wire = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
        reader = ResponseReader(cap=CAP)
        reader.feed(b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n\r\n" % encoding.encode())
        with pytest.raises(BodyTooLarge):
            feed_watching(reader, bytewise(wire))

    @pytest.mark.parametrize(
        ("encoding", "wire"),
        [
            ("gzip", gzip.compress(DOC)),
            ("x-gzip", gzip.compress(DOC)),
            ("GZip", gzip.compress(DOC)),
            ("deflate", zlib.compress(DOC)),
            ("deflate", raw_deflate(DOC)),
            ("identity", DOC),
        ],
    )
    def test_decoded(self, encoding: str, wire: bytes) -> None:
        """gzip, x-gzip, zlib-wrapped and raw deflate are decoded; identity is as sent."""
        for framing in (b"Content-Length: %d\r\n\r\n" % len(wire) + wire, b"\r\n" + wire):
            reader = read(
                b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\n" % encoding.encode() + framing
            )
            assert reader.body == DOC

    @pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip", "compress"])
    def test_unknown_encoding_passed_through(self, encoding: str) -> None:
        """A content coding lrpoll did not ask for is passed through undecoded."""
        wire = b"\x8b\x00opaque"
        data = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (
            encoding.encode(),
            len(wire),
        )
        assert read(data + wire).body == wire

    def test_compressed_body_over_the_cap_on_the_wire_is_refused(self) -> None:
        """The cap is on the decoded body; a Content-Length over it still refuses at the head."""
        with pytest.raises(BodyTooLarge, match="Content-Length"):
            read(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 99999\r\n\r\n")


class TestRequestHead:
    """The request line and headers written for one request."""

    def test_bytes(self) -> None:
        """Request line, Host first, the headers as given, then the blank line."""
        head = request_head("GET", "/a/b?c=1", "api.example:8080", {"Accept": "*/*", "X-A": "1"})
        assert head == (
            b"GET /a/b?c=1 HTTP/1.1\r\nHost: api.example:8080\r\nAccept: */*\r\nX-A: 1\r\n\r\n"
        )

    @pytest.mark.parametrize(
        ("target", "sent"),
        [
            ("/a b", "/a%20b"),
            ("/a\r\nX-Injected: 1", "/a%0D%0AX-Injected:%201"),
            ("/a\nb", "/a%0Ab"),
            ("/caf\u00e9", "/caf%C3%A9"),
            ("/\u2603?q=\u00e9", "/%E2%98%83?q=%C3%A9"),
            ("/a\tb\x00\x7f", "/a%09b%00%7F"),
            ("/already%20encoded?x=%2F", "/already%20encoded?x=%2F"),
        ],
    )
    def test_target_is_percent_encoded(self, target: str, sent: str) -> None:
        """Spaces, CR, LF, controls and non-ASCII in the target are percent-encoded."""
        head = request_head("GET", target, "h", {})
        assert head.split(b"\r\n")[0] == b"GET " + sent.encode("ascii") + b" HTTP/1.1"
        assert head.count(b"\r\n") == 3

    @pytest.mark.parametrize("name", ["Bad Name", "X:Y", "", "caf\u00e9", "X\r\nY", "X\x00"])
    def test_bad_header_name_is_refused(self, name: str) -> None:
        """A header name that is not a token raises ValueError."""
        with pytest.raises(ValueError, match="invalid request header"):
            request_head("GET", "/", "h", {name: "v"})

    @pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\r\nX-Injected: 1", "a\x00b", "\n"])
    def test_bad_header_value_is_refused(self, value: str) -> None:
        """A header value holding CR, LF or NUL raises ValueError."""
        with pytest.raises(ValueError, match="invalid request header 'X-A'"):
            request_head("GET", "/", "h", {"X-A": value})

    @pytest.mark.parametrize("host", ["h\r\nX-Injected: 1", "h\n", "h\x00"])
    def test_bad_host_is_refused(self, host: str) -> None:
        """A Host (the caller may name its own) holding CR, LF or NUL raises ValueError."""
        with pytest.raises(ValueError, match="invalid request header 'Host'"):
            request_head("GET", "/", host, {})
