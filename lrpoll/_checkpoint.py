"""Versioned JSON checkpoints of an operation's polling state. Never pickle.

A checkpoint holds what another process needs to continue polling: the URLs in use, the
spec in its declarative JSON form, the counters, the time left, the last status (when
small) and the cancel state. It holds no credentials: the resuming scheduler supplies
them, by origin. Start-response headers are kept only where they are not credentials.
An optional HMAC-SHA256 signature, keyed by the caller, detects tampering.

Format (version 1)::

    {"v": 1, "kind": "lrpoll.checkpoint", "id": str, "spec": {...},
     "status_url": str, "request_url": str, "state": "running"|"stopped"|"cancelling",
     "attempts": int, "errors": int, "elapsed": float, "progress": float|null,
     "start": any, "start_headers": {str: str}, "last": any, "cancel_sent": bool,
     "saved_at": float, "sig"?: hex}
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from typing import TYPE_CHECKING, Any, Final

from yarl import URL

from ._exceptions import CheckpointError, SpecError
from ._spec import PollSpec

if TYPE_CHECKING:
    from ._operation import Operation

__all__ = ["MAX_SIZE", "VERSION", "dump", "load"]

VERSION: Final = 1
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
_FIELDS: Final[dict[str, tuple[type, ...]]] = {
    "v": (int,),
    "kind": (str,),
    "id": (str,),
    "spec": (dict,),
    "status_url": (str,),
    "request_url": (str,),
    "state": (str,),
    "attempts": (int,),
    "errors": (int,),
    "elapsed": (int, float),
    "progress": (int, float, type(None)),
    "start_headers": (dict,),
    "cancel_sent": (bool,),
    "saved_at": (int, float),
}


def _no_constant(name: str) -> Any:
    raise CheckpointError(f"checkpoint holds {name}, which is not a JSON number")


def _canonical(doc: dict[str, Any]) -> bytes:
    body = {k: v for k, v in doc.items() if k != "sig"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _small(value: Any) -> Any:
    try:
        # allow_nan=False: NaN (which a status body may hold) is not JSON and load refuses it.
        text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None
    return value if len(text) <= _LAST_MAX else None


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _cancel_sent(op: Operation) -> bool:
    # A cancel still in flight may have reached the server; one refused before sending
    # (untrusted URL, closed scheduler) has not, so a resumed operation may still send it.
    request = op._extra.get("cancel_request") if op._extra else None
    return request is not None and (not request.done() or bool(request.result().sent))


def dump(op: Operation, *, key: bytes | None = None) -> str:
    """The checkpoint of ``op`` as a JSON string (signed when ``key`` is given).

    Raises:
        CheckpointError: when the operation has already ended.
    """
    if op.done:
        raise CheckpointError(f"operation {op.id} already ended ({op.state})", operation_id=op.id)
    base = op._base or {}
    headers = base.get("start_headers") or {}
    doc: dict[str, Any] = {
        "v": VERSION,
        "kind": _KIND,
        "id": op.id,
        "spec": op.spec.to_json(),
        "status_url": op._url,
        "request_url": base.get("request_url", op._url),
        "state": op.state if op.state in ("stopped", "cancelling") else "running",
        "attempts": op.attempts,
        "errors": op.errors,
        "elapsed": op.elapsed,
        "progress": op.progress if _finite(op.progress) else None,
        "start": _small(base.get("start")),
        "start_headers": {k: v for k, v in headers.items() if k in _KEPT_HEADERS},
        "last": _small(op.status),
        "cancel_sent": _cancel_sent(op),
        "saved_at": time.time(),
    }
    if key is not None:
        doc["sig"] = hmac.new(key, _canonical(doc), hashlib.sha256).hexdigest()
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def load(token: str | bytes, *, key: bytes | None = None) -> dict[str, Any]:
    """Parse and check a checkpoint; the validated document.

    Raises:
        CheckpointError: for a size over the cap, bad JSON, an unknown version or kind,
            wrong field types, a missing or wrong signature (when ``key`` is given), or a
            signature without a key.
    """
    if not isinstance(token, str | bytes):
        raise CheckpointError(f"a checkpoint is a JSON string, not {type(token).__name__}")
    # Check the cap before decoding, and in bytes, whatever the input type.
    size = len(token)
    if isinstance(token, str) and size <= MAX_SIZE:
        size = len(token.encode("utf-8", "surrogatepass"))
    if size > MAX_SIZE:
        raise CheckpointError(f"checkpoint is {size} bytes, over the {MAX_SIZE}-byte cap")
    if isinstance(token, bytes):
        token = token.decode("utf-8", "replace")
    try:
        # NaN and Infinity are not JSON: a NaN "elapsed" would disable max_duration.
        doc = json.loads(token, parse_constant=_no_constant)
    except CheckpointError:
        raise
    except (ValueError, RecursionError):
        raise CheckpointError("checkpoint is not valid JSON") from None
    if not isinstance(doc, dict):
        raise CheckpointError("checkpoint is not a JSON object")
    if doc.get("v") != VERSION or isinstance(doc.get("v"), bool):
        raise CheckpointError(f"unknown checkpoint version {doc.get('v')!r} (this lrpoll reads 1)")
    if doc.get("kind") != _KIND:
        raise CheckpointError(f"not an lrpoll checkpoint (kind {doc.get('kind')!r})")
    for name, types in _FIELDS.items():
        value = doc.get(name)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise CheckpointError(f"checkpoint field {name!r} has the wrong type")
    if doc["state"] not in ("running", "stopped", "cancelling"):
        raise CheckpointError(f"checkpoint state {doc['state']!r} is not resumable")
    if doc["attempts"] < 0 or doc["errors"] < 0 or doc["elapsed"] < 0:
        raise CheckpointError("checkpoint counters are negative")
    # 1e400 parses as inf: an infinite elapsed or progress is as wrong as a NaN.
    for name in ("elapsed", "progress", "saved_at"):
        if isinstance(doc[name], float) and not math.isfinite(doc[name]):
            raise CheckpointError(f"checkpoint field {name!r} is not a finite number")
    for name in ("status_url", "request_url"):
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
    return doc


def spec_of(doc: dict[str, Any]) -> PollSpec:
    """The spec stored in a loaded checkpoint.

    Raises:
        CheckpointError: when the stored spec is not valid.
    """
    try:
        return PollSpec.from_json(doc["spec"])
    except SpecError as exc:
        raise CheckpointError(f"checkpoint spec is invalid: {exc}") from None
