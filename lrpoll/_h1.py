"""HTTP/1.1 requests written and responses read as bytes, with no I/O: `LeanSender`'s parser.

`ResponseReader` is fed the bytes a connection receives and says when one response is
complete (RFC 9112 framing: no body for ``HEAD``, ``1xx``, ``204`` and ``304``; a
``chunked`` transfer coding; ``Content-Length``; else the body runs to the close). It
decodes ``gzip`` and ``deflate`` bodies and holds the decoded body to the cap. A response
that breaks the grammar, or that could be framed two ways, raises `SendFault`; one past
the cap raises `BodyTooLarge`. Header names come out lower-cased; where a name repeats,
the last value wins (as `AiohttpSender` reports them).
"""

from __future__ import annotations

import re
import zlib
from typing import Final

from ._sender import BodyTooLarge, SendFault

__all__ = ["ResponseReader", "request_head"]

MAX_HEAD: Final = 64 * 1024
"""Bytes of a response's status line and headers (each interim ``1xx`` head apart)."""
MAX_HEADERS: Final = 128
MAX_CHUNK_LINE: Final = 4096

_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE: Final = re.compile(r"[\x00\r\n]")
# Visible ASCII and nothing else may stand in a request target.
_UNSAFE_TARGET: Final = re.compile(r"[^\x21-\x7e]")
_DIGITS: Final = re.compile(rb"[0-9]+")
_HEX: Final = re.compile(rb"[0-9A-Fa-f]+")

# States of a reader.
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _TO_CLOSE, _DONE = range(8)


def _malformed(reason: str) -> SendFault:
    return SendFault(f"malformed response: {reason}")


def request_head(method: str, target: str, host: str, headers: dict[str, str]) -> bytes:
    """The request line and headers of one request, ending in the blank line.

    ``target`` is the pre-encoded path and query; any byte outside visible ASCII in it is
    percent-encoded, so nothing a server handed over (a ``Location``) can split the line.

    Raises:
        ValueError: for a header name that is not a token, or a value (``host`` too)
            holding CR, LF or NUL.
    """
    if _BAD_VALUE.search(host):
        raise ValueError("invalid request header 'Host'")
    if _UNSAFE_TARGET.search(target):
        target = _UNSAFE_TARGET.sub(
            lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), target
        )
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or _BAD_VALUE.search(value):
            raise ValueError(f"invalid request header {name!r}")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8")


class ResponseReader:
    """One response, read from the bytes fed to it.

    Args:
        head: the request was ``HEAD`` (the response has no body, whatever it says).
        cap: the most body bytes kept, after decoding.

    Attributes:
        status: the HTTP status (after any interim ``1xx``).
        headers: the final response's headers, names lower-cased.
        keep_alive: the connection may carry another request once this one is done.
        started: a byte of the response has arrived.
        done: the response is complete.
    """

    __slots__ = (
        "_buf",
        "_cap",
        "_chunks",
        "_decoder",
        "_head",
        "_remaining",
        "_scanned",
        "_size",
        "_state",
        "done",
        "headers",
        "keep_alive",
        "started",
        "status",
    )

    def __init__(self, *, head: bool = False, cap: int) -> None:
        self._head = head
        self._cap = cap
        self._buf = b""
        self._state = _HEAD
        self._remaining = 0
        self._scanned = 0
        self._chunks: list[bytes] = []
        self._size = 0
        self._decoder: _Decoder | None = None
        self.status = 0
        self.headers: dict[str, str] = {}
        self.keep_alive = False
        self.started = False
        self.done = False

    @property
    def body(self) -> bytes:
        """The body as read so far, decoded."""
        return b"".join(self._chunks)

    def feed(self, data: bytes) -> bool:
        """Read ``data``; True once the response is complete.

        Raises:
            SendFault: the bytes are not a valid HTTP/1.1 response.
            BodyTooLarge: the body passed the cap.
        """
        if not data:
            return self.done
        self.started = True
        if self.done:
            # Bytes past the end of a response nobody asked for: the connection is spent.
            self.keep_alive = False
            return True
        buf = self._buf + data if self._buf else data
        self._buf = b""
        while buf:
            state = self._state
            if state == _HEAD:
                buf = self._read_head(buf)
            elif state == _LENGTH:
                buf = self._take(buf)
                if self._remaining == 0:
                    self._finish()
            elif state == _TO_CLOSE:
                self._add(buf)
                buf = b""
            elif state == _CHUNK_DATA:
                buf = self._take(buf)
                if self._remaining == 0:
                    self._state = _CHUNK_END
            elif state == _DONE:
                self.keep_alive = False  # more bytes than the response: do not reuse
                break
            else:
                buf = self._read_line_state(buf)
        return self.done

    def feed_eof(self) -> bool:
        """The connection closed; True if that completes the response.

        Raises:
            SendFault: the response was cut short (or never began).
            BodyTooLarge: the rest of the body passed the cap.
        """
        self.keep_alive = False
        if self.done:
            return True
        if self._state == _TO_CLOSE:
            self._finish()
            return True
        if not self.started:
            raise SendFault("server closed the connection before answering")
        raise _malformed("connection closed mid-response")

    # -- the head -------------------------------------------------------------------

    def _read_head(self, buf: bytes) -> bytes:
        # Search only the bytes not searched yet (and the 3 before them, where a split
        # terminator starts): a head trickled a byte at a time must not cost its square.
        # The head ends at its first empty line, after a CRLF or a bare LF (as lenient
        # clients accept): "\n\r\n" (within "\r\n\r\n") or "\n\n".
        start = max(self._scanned - 3, 0)
        end, sep = buf.find(b"\n\r\n", start), 3
        bare = buf.find(b"\n\n", start)
        if bare >= 0 and (end < 0 or bare < end):
            end, sep = bare, 2
        if end < 0:
            # MAX_HEAD bytes of head may be followed by 3 bytes of a terminator not whole yet.
            if len(buf) > MAX_HEAD + 3:
                raise _malformed(f"response head over {MAX_HEAD} bytes")
            self._buf = buf
            self._scanned = len(buf)
            return b""
        self._scanned = 0
        if end > MAX_HEAD + 1:  # the block keeps the CR of its last CRLF
            raise _malformed(f"response head over {MAX_HEAD} bytes")
        self._parse_head(buf[:end])
        return buf[end + sep :]

    def _parse_head(self, block: bytes) -> None:
        lines = block.split(b"\n")
        if len(lines) > MAX_HEADERS + 1:
            raise _malformed(f"more than {MAX_HEADERS} headers")
        line = _line(lines[0])
        version, _, rest = line.partition(b" ")
        code = rest[:3]
        if (
            version not in (b"HTTP/1.1", b"HTTP/1.0")
            or len(code) != 3
            or not code.isdigit()
            or (len(rest) > 3 and rest[3:4] != b" ")
        ):
            raise _malformed(f"bad status line {line[:60]!r}")
        status = int(code)
        if status < 100:
            raise _malformed(f"bad status code {status}")
        headers: dict[str, str] = {}
        lengths: set[bytes] = set()
        for raw in lines[1:]:
            raw = _line(raw)
            name, colon, value = raw.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                # Also an obsolete folded line (leading whitespace) and "Name : value".
                raise _malformed(f"bad header line {raw[:60]!r}")
            value = value.strip(b" \t")
            key = name.decode("ascii").lower()
            if key == "content-length":
                lengths.add(value)
            headers[key] = value.decode("latin-1")
        if 100 <= status < 200:
            if status == 101:
                raise _malformed("101 Switching Protocols, no upgrade was asked for")
            return  # an interim response: the real one follows
        self.status = status
        self.headers = headers
        keep = version == b"HTTP/1.1" and "close" not in _tokens(headers.get("connection"))
        self._frame(status, headers, lengths, keep)

    def _frame(self, status: int, headers: dict[str, str], lengths: set[bytes], keep: bool) -> None:
        transfer = headers.get("transfer-encoding")
        if self._head or status in (204, 304):
            self.keep_alive = keep
            self._finish()
            return
        if transfer is not None:
            if lengths:
                raise _malformed("both Transfer-Encoding and Content-Length")
            codings = _tokens(transfer)
            if codings and codings[-1] == "chunked":
                self.keep_alive = keep
                self._state = _CHUNK_SIZE
            else:
                self._state = _TO_CLOSE
        elif lengths:
            if len(lengths) > 1:
                raise _malformed("conflicting Content-Length values")
            (length,) = lengths
            if not _DIGITS.fullmatch(length):
                raise _malformed(f"bad Content-Length {length[:30]!r}")
            size = int(length)
            if size > self._cap:
                raise BodyTooLarge(
                    f"Content-Length {size} is over the {self._cap}-byte cap", headers
                )
            self.keep_alive = keep
            self._remaining = size
            self._state = _LENGTH
        else:
            self._state = _TO_CLOSE
        self._decoder = _decoder_for(headers.get("content-encoding"))
        if self._state == _LENGTH and self._remaining == 0:
            self._finish()

    # -- chunked bodies ----------------------------------------------------------------

    def _read_line_state(self, buf: bytes) -> bytes:
        end = buf.find(b"\n")
        if end < 0:
            if len(buf) > MAX_CHUNK_LINE:
                raise _malformed("chunk line too long")
            self._buf = buf
            return b""
        line = buf[:end].rstrip(b"\r")
        rest = buf[end + 1 :]
        state = self._state
        if end > MAX_CHUNK_LINE:
            raise _malformed("chunk line too long")
        if state == _CHUNK_SIZE:
            size_text = line.split(b";", 1)[0].strip(b" \t")
            if not _HEX.fullmatch(size_text) or len(size_text) > 16:
                raise _malformed(f"bad chunk size {line[:30]!r}")
            size = int(size_text, 16)
            if size == 0:
                self._state = _TRAILERS
                self._remaining = MAX_HEAD
            else:
                self._remaining = size
                self._state = _CHUNK_DATA
        elif state == _CHUNK_END:
            if line:
                raise _malformed("chunk not followed by CRLF")
            self._state = _CHUNK_SIZE
        else:  # trailers, ignored, up to MAX_HEAD bytes
            self._remaining -= end + 1
            if self._remaining < 0:
                raise _malformed(f"trailers over {MAX_HEAD} bytes")
            if not line:
                self._finish()
                return rest
        return rest

    # -- the body ------------------------------------------------------------------

    def _take(self, buf: bytes) -> bytes:
        """Add what ``buf`` holds of the ``_remaining`` body bytes; the rest of ``buf``."""
        take = buf[: self._remaining]
        self._remaining -= len(take)
        self._add(take)
        return buf[len(take) :]

    def _add(self, data: bytes) -> None:
        if self._decoder is not None:
            data = self._decoder.decode(data, self._cap - self._size)
        if not data:
            return
        self._size += len(data)
        if self._size > self._cap:
            raise BodyTooLarge(f"body is over the {self._cap}-byte cap", self.headers)
        self._chunks.append(data)

    def _finish(self) -> None:
        if self._decoder is not None:
            tail = self._decoder.flush(self._cap - self._size)
            if tail:
                self._size += len(tail)
                if self._size > self._cap:
                    raise BodyTooLarge(f"body is over the {self._cap}-byte cap", self.headers)
                self._chunks.append(tail)
        self._state = _DONE
        self.done = True


def _line(raw: bytes) -> bytes:
    """One line of a head without its line end; a bare CR or a NUL in it is refused."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if b"\r" in raw or b"\0" in raw:
        raise _malformed(f"bare CR or NUL in {raw[:60]!r}")
    return raw


def _tokens(value: str | None) -> list[str]:
    if not value:
        return []
    return [t.strip().lower() for t in value.split(",") if t.strip()]


class _Decoder:
    """A ``gzip`` or ``deflate`` body, decoded as it comes, never past the cap."""

    __slots__ = ("_deflate", "_obj", "_started")

    def __init__(self, wbits: int, deflate: bool) -> None:
        self._obj = zlib.decompressobj(wbits)
        self._deflate = deflate
        self._started = False

    def decode(self, data: bytes, room: int) -> bytes:
        if self._deflate and not self._started:
            self._started = True
            # "deflate" is meant as zlib-wrapped; some servers send it raw.
            if data and (data[0] & 0x0F) != 8:
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            out = self._obj.decompress(data, room + 1)
        except zlib.error as exc:
            raise _malformed(f"undecodable body ({exc})") from None
        return out  # room + 1 bytes when there is more: the caller's cap check fires

    def flush(self, room: int) -> bytes:
        try:
            out = self._obj.flush()
        except zlib.error as exc:
            raise _malformed(f"undecodable body ({exc})") from None
        return out[: room + 1]


def _decoder_for(encoding: str | None) -> _Decoder | None:
    codings = _tokens(encoding)
    if not codings or codings == ["identity"]:
        return None
    if codings == ["gzip"] or codings == ["x-gzip"]:
        return _Decoder(16 + zlib.MAX_WBITS, deflate=False)
    if codings == ["deflate"]:
        return _Decoder(zlib.MAX_WBITS, deflate=True)
    # Not asked for (Accept-Encoding names gzip and deflate only): passed through.
    return None
