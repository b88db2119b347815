"""Versioned JSON checkpoints of an operation's polling state. Never pickle.

A checkpoint holds what another process needs to continue polling, or to know how an
operation ended: the URLs in use, the spec in its declarative JSON form, the counters,
the deadline, the last status (when small), the cancel state and, once ended, the
terminal state with its result or error. It holds no credentials: the resuming
scheduler (or the transport given to `lrpoll.step`) supplies them, by origin.
Start-response headers are kept only where they are not credentials. An optional
HMAC-SHA256 signature, keyed by the caller, detects tampering.

Format (version 2; version 1, without the fields marked ², still loads)::

    {"v": 2, "kind": "lrpoll.checkpoint", "id": str, "spec": {...},
     "status_url": str, "request_url": str,
     "state": "running"|"stopped"|"cancelling"|"succeeded"|"failed"|...,
     "attempts": int, "errors": int, "elapsed": float, "progress": float|null,
     "start": any, "start_headers": {str: str}, "last": any, "cancel_sent": bool,
     "saved_at": float,
     "started_at"²: float, "deadline"²: float|null, "due"²: float|null,
     "failing_since"²: float|null, "message"²: str|null,
     "pending"²: {"result", "progress", "message"}|null,
     "result"²: any, "error"²: {"type", "message", "status_code"?}|null,
     "sig"?: hex}

A *detached* checkpoint (``document(..., detached=True)``, what a fleet stores) has
``"spec_digest": <sha256 hex of the spec's canonical JSON>`` in place of ``"spec"``: the
spec is kept once elsewhere, and loading needs it given back (`spec_of`, `lrpoll.step`'s
``spec``), checked against the digest. A signature covers the digest, so it covers the
spec too.

Times are epoch seconds. ``elapsed`` is the time polled so far, stops left out. A
running or cancelling operation's ``deadline`` (``started_at + max_duration``) is
absolute: the time between saving and resuming counts against it. A stopped one's does
not move while it is stopped: resuming it gives it the ``max_duration - elapsed`` it had
left. Version 1 checkpoints resume with the time they had left when saved.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
from typing import TYPE_CHECKING, Any, Final

from yarl import URL

from . import _exceptions
from ._core import Succeeded
from ._exceptions import CheckpointError, LrpollError, SpecError, rebuild
from ._expr import MAX_JSON_DEPTH, json_depth
from ._json import RawJSON, compact, dumps_ascii, parse_json
from ._machine import TERMINAL
from ._record import CancelSent, OpRecord
from ._secrets import scrub_values
from ._spec import PollSpec

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._spec import CancelResult

__all__ = [
    "MAX_SIZE",
    "VERSION",
    "Recent",
    "document",
    "dump",
    "encode",
    "last_json",
    "load",
    "spec_digest",
    "spec_from_text",
    "spec_of",
    "to_record",
]

VERSION: Final = 2
MAX_SIZE: Final = 256 * 1024
_LAST_MAX: Final = 16 * 1024
_KIND: Final = "lrpoll.checkpoint"
# Start-response headers worth keeping for templates; anything else (cookies, auth) is dropped.
_KEPT_HEADERS: Final = frozenset(
    {
        "location",
        "operation-location",
        "azure-asyncoperation",
        "content-location",
        "retry-after",
        "odata-entityid",
        "preference-applied",
    }
)
_NUMBER: Final = (int, float)
_OPTIONAL_NUMBER: Final = (int, float, type(None))
_FIELDS: Final[dict[str, tuple[type, ...]]] = {
    "v": (int,),
    "kind": (str,),
    "id": (str,),
    "status_url": (str,),
    "request_url": (str,),
    "state": (str,),
    "attempts": (int,),
    "errors": (int,),
    "elapsed": _NUMBER,
    "progress": _OPTIONAL_NUMBER,
    "start_headers": (dict,),
    "cancel_sent": (bool,),
    "saved_at": _NUMBER,
}
_FIELDS_V2: Final[dict[str, tuple[type, ...]]] = {
    "started_at": _NUMBER,
    "deadline": _OPTIONAL_NUMBER,
    "due": _OPTIONAL_NUMBER,
    "failing_since": _OPTIONAL_NUMBER,
    "message": (str, type(None)),
    "pending": (dict, type(None)),
    "error": (dict, type(None)),
}
# The same, as the exact types each version's fields may hold (JSON parsers make no
# subclasses; bool, a subclass of int, is allowed only where it is listed).
_TYPES_V1: Final = {name: frozenset(types) for name, types in _FIELDS.items()}
_TYPES_V2: Final = {**_TYPES_V1, **{name: frozenset(t) for name, t in _FIELDS_V2.items()}}
_FINITE_V1: Final = ("elapsed", "progress", "saved_at")
_FINITE_V2: Final = (*_FINITE_V1, *_FIELDS_V2)
_RESUMABLE: Final = frozenset({"running", "stopped", "cancelling"})
_DIGEST: Final = re.compile(r"[0-9a-f]{64}")


# json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False), without
# building an encoder at every call (it is called several times per step).
_json: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode


def _no_constant(name: str) -> Any:
    raise CheckpointError(f"checkpoint holds {name}, which is not a JSON number")


def _canonical(doc: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _small(value: Any) -> Any:
    # Too deep a document (one the transport parsed fine, ~950 levels) is left out like
    # too large a one: json.dumps would recurse past the interpreter's limit below.
    if value is None:
        return None
    if json_depth(value) > MAX_JSON_DEPTH:
        return None
    try:
        # allow_nan=False: NaN (which a status body may hold) is not JSON and load refuses it.
        text = _json(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if len(text) > _LAST_MAX:
        return None
    clean = scrub_values(text)  # a server that echoed a credential back
    return value if clean is text else json.loads(clean)


def _last(rec: OpRecord) -> Any:
    """``_small(rec.last)``, without a walk and a second encode for a document kept as text."""
    kept = rec.kept_last
    if type(kept) is RawJSON:
        raw = kept.raw
        # A document is at most as deep as it has brackets: under the cap, no walk. A
        # text of orjson's is at most 4/5 of the standard encoder's (which writes 1e-07
        # where it writes 1e-7): under 4/5 of the size cap, both are under it.
        if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
            found = compact(raw)
            if found is not None and len(found[1]) * 5 // 4 <= _LAST_MAX:
                value, text = found
                if scrub_values(text) is text:
                    return value
    return _small(rec.last)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _cancel_sent(rec: OpRecord) -> bool:
    # A cancel still in flight may have reached the server; one refused before sending
    # (untrusted URL, closed scheduler) has not, so a resumed operation may still send it.
    request = rec.extras.cancel if rec.extras is not None else None
    return request is not None and (not request.done() or bool(request.result().sent))


def _error_doc(error: LrpollError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    doc: dict[str, Any] = {"type": type(error).__name__, "message": error.message}
    code = getattr(error, "http_status", None)
    if isinstance(code, int):
        doc["status_code"] = code
    return doc


def _error_of(doc: Mapping[str, Any] | None, op_id: str, last: Any) -> LrpollError | None:
    if doc is None:
        return None
    cls = getattr(_exceptions, str(doc.get("type")), None)
    message = doc.get("message")
    if not (isinstance(cls, type) and issubclass(cls, LrpollError)) or not isinstance(message, str):
        raise CheckpointError("checkpoint field 'error' is not an lrpoll error")
    state: dict[str, Any] = {"message": message, "operation_id": op_id, "status": last}
    if "status_code" in doc:
        state.update(http_status=doc["status_code"], body_snippet="")
    return rebuild(cls, message, state)


def dump(
    rec: OpRecord,
    *,
    now: float,
    wall: float,
    key: bytes | None = None,
    detached: bool = False,
) -> str:
    """The checkpoint of ``rec`` as a JSON string (signed when ``key`` is given).

    Args:
        rec: the operation's record, in the runtime's clock.
        now: the runtime's clock now.
        wall: the epoch time now (the checkpoint's clock).
        key: signs the checkpoint (HMAC-SHA256).
        detached: leave the spec out, named by its digest (see the module's docstring).
    """
    return encode(document(rec, now=now, wall=wall, key=key, detached=detached))


def encode(doc: Mapping[str, Any]) -> str:
    """A checkpoint document (from `document`) as the JSON string `dump` returns.

    Compact ASCII JSON: orjson writes it when it is installed (a tenth of the standard
    encoder's cost on a fleet's checkpoint; floats may be spelled ``1e-7`` where the
    standard encoder writes ``1e-07``, the same number). Otherwise, or when orjson
    cannot (an integer past 64 bits, a non-string key, a non-ASCII text), the standard
    encoder does, and a spec that `spec_of` loaded is written from its cached JSON
    text: most of a whole checkpoint is its spec, and it is the same at every step.
    """
    # orjson writes NaN and infinity as null where the standard encoder raises: the values
    # `document` takes from elsewhere are checked there (`_small`, `_finite`), its clocks
    # here (a sum is finite only if every term is; one that overflows takes the standard
    # encoder, which writes it all the same).
    clocks = doc["elapsed"] + doc["saved_at"] + doc["started_at"]
    clocks += (doc["deadline"] or 0.0) + (doc["due"] or 0.0) + (doc["failing_since"] or 0.0)
    if math.isfinite(clocks) and (text := dumps_ascii(doc)) is not None:
        return text
    spec = doc.get("spec")
    known = _SPEC_TEXT.get(id(spec))
    if known is None or known[0] is not spec:
        return _json(doc)
    # Inside a JSON string every quote is escaped, so the only `,"spec":0,` is the key's.
    return _json({**doc, "spec": 0}).replace(',"spec":0,', f',"spec":{known[1]},', 1)


def last_json(doc: Mapping[str, Any]) -> str:
    """The last status document of a checkpoint document (from `document`), as compact JSON.

    ASCII, without spaces: the text `encode` writes for it.
    """
    last = doc.get("last")
    text = dumps_ascii(last)
    if text is not None:
        return text
    return _json(last)


def document(
    rec: OpRecord,
    *,
    now: float,
    wall: float,
    key: bytes | None = None,
    detached: bool = False,
) -> dict[str, Any]:
    """The checkpoint of ``rec`` as a JSON object: what `dump` encodes (same arguments).

    ``detached`` leaves the spec out and names it by its digest (`spec_digest`).
    """
    base = rec.base or {}
    headers = base.get("start_headers") or {}
    stopped_at = rec.extras.stopped_at if rec.extras is not None else None
    elapsed = stopped_at if rec.state == "stopped" and stopped_at is not None else now
    elapsed -= rec.started
    offset = wall - now  # runtime clock → epoch
    started_at = wall - elapsed if rec.state == "stopped" else rec.started + offset
    max_duration = rec.spec.max_duration
    pending = rec.pending
    state = "running" if rec.state == "pending" else rec.state
    doc: dict[str, Any] = {
        "v": VERSION,
        "kind": _KIND,
        "id": rec.op_id,
        "spec": 0,  # placed here, filled below
        "status_url": rec.url,
        "request_url": base.get("request_url", rec.url),
        "state": state,
        "attempts": rec.attempts,
        "errors": rec.errors,
        "elapsed": max(0.0, elapsed),
        "progress": _finite(rec.progress),
        "start": _small(base.get("start")),
        "start_headers": {k: v for k, v in headers.items() if k in _KEPT_HEADERS},
        "last": _last(rec),
        "cancel_sent": _cancel_sent(rec),
        "saved_at": wall,
        "started_at": started_at,
        "deadline": None if max_duration is None else started_at + max_duration,
        "due": None if rec.due is None else rec.due + offset,
        "failing_since": None if rec.failing_since is None else rec.failing_since + offset,
        "message": rec.message,
        "pending": None
        if pending is None
        else {
            "result": _small(pending.result),
            "progress": _finite(pending.progress),
            "message": pending.message,
        },
        "result": _small(rec.result) if rec.state == "succeeded" else None,
        "error": _error_doc(rec.error),
    }
    if detached:
        del doc["spec"]
        doc["spec_digest"] = spec_digest(rec.spec)[0]
    else:
        doc["spec"] = _spec_json(rec.spec)
    if key is not None:
        doc["sig"] = hmac.new(key, _canonical(doc), hashlib.sha256).hexdigest()
    return doc


def load(token: str | bytes, *, key: bytes | None = None) -> dict[str, Any]:
    """Parse and check a checkpoint (version 1 or 2); the validated document.

    Raises:
        CheckpointError: for a size over the cap, bad JSON, an unknown version or kind,
            wrong field types, a missing or wrong signature (when ``key`` is given), or a
            signature without a key.
    """
    if not isinstance(token, str | bytes):
        raise CheckpointError(f"a checkpoint is a JSON string, not {type(token).__name__}")
    # Check the cap before decoding, and in bytes, whatever the input type.
    size = len(token)
    if isinstance(token, bytes):
        raw, text = token, None
    elif size <= MAX_SIZE:
        raw, text = token.encode("utf-8", "surrogatepass"), token
        size = len(raw)
    if size > MAX_SIZE:
        raise CheckpointError(f"checkpoint is {size} bytes, over the {MAX_SIZE}-byte cap")
    if text is None:
        text = raw.decode("utf-8", "replace")
    try:
        # NaN and Infinity are not JSON: a NaN "elapsed" would disable max_duration.
        doc = parse_json(raw, text=text, parse_constant=_no_constant)
    except CheckpointError:
        raise
    except (ValueError, RecursionError):
        raise CheckpointError("checkpoint is not valid JSON") from None
    if not isinstance(doc, dict):
        raise CheckpointError("checkpoint is not a JSON object")
    version = doc.get("v")
    if version not in (1, VERSION) or isinstance(version, bool):
        raise CheckpointError(
            f"unknown checkpoint version {version!r} (this lrpoll reads 1 and {VERSION})"
        )
    if doc.get("kind") != _KIND:
        raise CheckpointError(f"not an lrpoll checkpoint (kind {doc.get('kind')!r})")
    fields = _TYPES_V1 if version == 1 else _TYPES_V2
    get = doc.get
    for name, types in fields.items():
        if type(get(name)) not in types:
            raise CheckpointError(f"checkpoint field {name!r} has the wrong type")
    if not isinstance(doc.get("spec"), dict):
        digest = doc.get("spec_digest")
        if version == 1 or "spec" in doc or not isinstance(digest, str):
            raise CheckpointError("checkpoint field 'spec' has the wrong type")
        if _DIGEST.fullmatch(digest) is None:
            raise CheckpointError("checkpoint field 'spec_digest' is not a SHA-256 digest")
    states = _RESUMABLE if version == 1 else _RESUMABLE | TERMINAL
    if doc["state"] not in states:
        raise CheckpointError(f"checkpoint state {doc['state']!r} is not resumable")
    if doc["attempts"] < 0 or doc["errors"] < 0 or doc["elapsed"] < 0:
        raise CheckpointError("checkpoint counters are negative")
    # 1e400 parses as inf: an infinite elapsed or progress is as wrong as a NaN.
    for name in _FINITE_V1 if version == 1 else _FINITE_V2:
        value = get(name)
        if type(value) is float and not math.isfinite(value):
            raise CheckpointError(f"checkpoint field {name!r} is not a finite number")
    for name in ("status_url", "request_url"):
        if name == "request_url" and doc[name] == doc["status_url"]:
            break  # the same text, checked already
        try:
            URL(doc[name], encoded=True)
        except (ValueError, TypeError):
            raise CheckpointError(f"checkpoint field {name!r} is not a URL") from None
    sig = doc.get("sig")
    if key is not None:
        expected = hmac.new(key, _canonical(doc), hashlib.sha256).hexdigest()
        if not isinstance(sig, str) or not hmac.compare_digest(sig, expected):
            raise CheckpointError("checkpoint signature does not match")
    elif sig is not None:
        raise CheckpointError("checkpoint is signed: pass the key to check it")
    for name in fields:
        # An optional field left out reads as null (after the signature: it covers the text).
        doc.setdefault(name, None)
    return doc


class Recent:
    """The last checkpoints a caller wrote, with the documents they encode: a bounded cache.

    Loading a checkpoint read back exactly as it was kept (the same text, character for
    character, and the same signing key) returns the document it was encoded from, with
    no parse and no checks: `load` of that text would give the same document. Anything
    else is loaded by `load`. An entry serves one load (it is taken out): the step that
    loads it writes the next checkpoint, which it keeps in its place.

    The documents are shared, not copied: nothing may change them.

    Args:
        size: the entries kept at most (the oldest go first).
    """

    __slots__ = ("_docs", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._docs: dict[str, tuple[bytes | None, dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def keep(self, text: str, doc: dict[str, Any], *, key: bytes | None) -> None:
        """Keep ``doc`` (from `document`, signed with ``key``) as what ``text`` loads to."""
        if len(text) > MAX_SIZE:  # ASCII (ensure_ascii): characters are bytes
            return  # `load` refuses it: so must the next step
        docs = self._docs
        if len(docs) >= self._size:
            docs.pop(next(iter(docs)))  # the oldest
        docs[text] = (key, doc)

    def load(self, token: str | bytes, *, key: bytes | None = None) -> dict[str, Any]:
        """`load` of ``token``, from the kept document when it is one kept with ``key``.

        Raises:
            CheckpointError: as `load`.
        """
        entry = self._docs.pop(token, None) if type(token) is str else None
        if entry is not None and entry[0] == key:
            return entry[1]
        return load(token, key=key)


# Specs loaded from checkpoints, by the repr of their JSON object, with their JSON form: a
# loop of steps over one kind of operation (`lrpoll.step`, a fleet worker) compiles each spec once
# instead of at every step. Specs are frozen, so one object serves every checkpoint.
_SPECS: Final[dict[str, tuple[PollSpec, dict[str, Any]]]] = {}
_SPECS_BY_ID: Final[dict[int, tuple[PollSpec, dict[str, Any]]]] = {}
# The same JSON objects' text, by the object's id: `encode` writes it as it is.
_SPEC_TEXT: Final[dict[int, tuple[dict[str, Any], str]]] = {}
_SPECS_MAX: Final = 256


def _spec_json(spec: PollSpec) -> dict[str, Any]:
    """``spec.to_json()``, computed once for a spec that `spec_of` loaded."""
    known = _SPECS_BY_ID.get(id(spec))
    return known[1] if known is not None and known[0] is spec else spec.to_json()


# Digests of specs, by the spec object's id: a detached checkpoint names its spec at every
# step, and hashing its canonical JSON each time would cost what detaching saves.
_DIGESTS: Final[dict[int, tuple[PollSpec, str, str]]] = {}


def spec_digest(spec: PollSpec) -> tuple[str, str]:
    """The digest that names ``spec`` in a detached checkpoint, and the text it is taken of.

    The text is the spec's declarative JSON form, canonical (sorted keys, no spaces,
    ASCII); the digest is its SHA-256 in hex. A spec the text loads back into
    (``PollSpec.from_json(json.loads(text))``) has the same digest.
    """
    known = _DIGESTS.get(id(spec))
    if known is not None and known[0] is spec:
        return known[1], known[2]
    text = json.dumps(
        _spec_json(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    digest = hashlib.sha256(text.encode()).hexdigest()
    if len(_DIGESTS) >= _SPECS_MAX:
        _DIGESTS.pop(next(iter(_DIGESTS)))  # the oldest
    _DIGESTS[id(spec)] = (spec, digest, text)
    return digest, text


def spec_from_text(text: str | bytes, digest: str) -> PollSpec:
    """The spec whose canonical JSON ``text`` (from `spec_digest`) has ``digest``.

    Raises:
        CheckpointError: when the text does not have that digest, or is not a valid spec.
    """
    raw = text if isinstance(text, bytes) else text.encode()
    if hashlib.sha256(raw).hexdigest() != digest:
        raise CheckpointError(f"the spec stored as {digest} does not have that digest")
    try:
        spec = PollSpec.from_json(json.loads(text))
    except SpecError as exc:
        raise CheckpointError(f"the spec stored as {digest} is invalid: {exc}") from None
    except (ValueError, RecursionError):
        raise CheckpointError(f"the spec stored as {digest} is not JSON") from None
    if len(_DIGESTS) >= _SPECS_MAX:
        _DIGESTS.pop(next(iter(_DIGESTS)))
    _DIGESTS[id(spec)] = (spec, digest, raw.decode())
    return spec


def spec_of(doc: Mapping[str, Any], spec: PollSpec | None = None) -> PollSpec:
    """The spec of a loaded checkpoint (one object per distinct spec, cached).

    Args:
        doc: the checkpoint, from `load`.
        spec: the spec to use instead of the stored one; required for a detached
            checkpoint, whose digest it must match.

    Raises:
        CheckpointError: when the stored spec is not valid, or a detached checkpoint's
            spec is not given or is another one.
    """
    digest = doc.get("spec_digest") if doc.get("spec") is None else None
    if digest is not None:
        if spec is None:
            raise CheckpointError(
                f"checkpoint was saved without its spec (digest {digest}): pass the spec"
            )
        if spec_digest(spec)[0] != digest:
            raise CheckpointError(f"the spec given is not the checkpoint's (digest {digest})")
        return spec
    if spec is not None:
        return spec
    try:
        # repr tells JSON values apart as exactly as canonical JSON does (1, 1.0 and True
        # differ), at half the cost; the same spec in another key order is one more entry.
        key = repr(doc["spec"])
        known = _SPECS.get(key)
        if known is not None:
            return known[0]
        loaded = PollSpec.from_json(doc["spec"])
        if len(_SPECS) >= _SPECS_MAX:
            old, old_json = _SPECS.pop(next(iter(_SPECS)))  # the oldest
            _SPECS_BY_ID.pop(id(old), None)
            _SPEC_TEXT.pop(id(old_json), None)
        spec_json = loaded.to_json()
        _SPECS[key] = _SPECS_BY_ID[id(loaded)] = (loaded, spec_json)
        _SPEC_TEXT[id(spec_json)] = (spec_json, _json(spec_json))
        return loaded
    except SpecError as exc:
        raise CheckpointError(f"checkpoint spec is invalid: {exc}") from None
    except RecursionError:
        raise CheckpointError("checkpoint spec is nested too deeply") from None


def to_record(doc: Mapping[str, Any], spec: PollSpec, *, now: float, wall: float) -> OpRecord:
    """The record a loaded checkpoint describes, in the runtime's clock.

    A stopped checkpoint's record is stopped at ``now``. The checkpoint's ``due`` is for
    the caller's schedule: the runtime decides when the record is polled next.
    """
    base = {
        "start": doc.get("start"),
        "start_headers": dict(doc["start_headers"]),
        "request_url": doc["request_url"],
        "operation": doc["id"],
    }
    state = doc["state"]
    offset = now - wall  # epoch → runtime clock
    if doc["v"] == 1 or state == "stopped":
        # Version 1 promised that the time between saving and resuming does not count;
        # a stop never counts.
        started = now - doc["elapsed"]
    else:
        started = doc["started_at"] + offset
    rec = OpRecord(spec, doc["id"], doc["status_url"], started, base)
    rec.attempts, rec.errors = doc["attempts"], doc["errors"]
    rec.progress, rec.last = doc["progress"], doc.get("last")
    rec.state = state
    if doc["v"] == 2:
        rec.message = doc["message"]
        if doc["failing_since"] is not None:
            rec.failing_since = doc["failing_since"] + offset
        pending = doc["pending"]
        if pending is not None:
            rec.pending = Succeeded(pending.get("result"), pending.get("progress"), None)
        if state == "succeeded":
            rec.result = doc.get("result")
        rec.error = _error_of(doc["error"], rec.op_id, rec.last)
    if state == "stopped":
        rec.more().stopped_at = now
    if doc["cancel_sent"]:
        sent = asyncio.get_running_loop().create_future()
        result: CancelResult = "accepted" if state == "cancelling" else "refused"
        sent.set_result(CancelSent(result, "sent before the checkpoint", None, True))
        rec.more().cancel = sent
    return rec
