"""XMLUI's ``APICall`` in deferred mode, as a `PollSpec`.

XMLUI (https://xmlui.org) describes a long-running call with attributes of its ``APICall``
component: where to poll (``statusUrl``), how often (``pollingInterval``,
``pollingBackoff``), when it is over (``completionCondition``, ``errorCondition``), the
progress (``progressExtractor``), how to cancel (``cancelUrl``) and what to tell the user
(``*NotificationMessage``). `xmlui_apicall` takes those attributes by name and returns the
spec; `xmlui_from_attributes` takes them as a dict, and `xmlui_from_xml` reads them from the
``<APICall …/>`` element text itself. docs/presets/xmlui.md has the mapping, the translation
rules of the conditions (a JavaScript subset, `lrpoll._jsexpr`) and every place where lrpoll
does more than XMLUI does.

Reference: xmlui-org/xmlui 0.14.18 (commit 8d9846f), ``APICallReact.tsx`` and
``APICall.tsx``; PROTOCOLS.md §1.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import SpecError
from .._jsexpr import member_path, translate_condition, translate_progress
from .._registry import preset
from .._spec import Backoff, CancelSpec, Messages, PollSpec
from ._params import error_budget

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "XmluiApiCall",
    "translate_condition",
    "translate_progress",
    "xmlui_apicall",
    "xmlui_from_attributes",
    "xmlui_from_xml",
]

#: XMLUI's documented default interval, taken where XMLUI itself would poll only once.
DEFAULT_INTERVAL_MS: Final = 2000
DEFAULT_MAX_DURATION_MS: Final = 300_000
DEFAULT_MAX_INTERVAL_MS: Final = 30_000
#: XMLUI's linear backoff adds one second per poll (``calculateNextInterval``).
_LINEAR_STEP: Final = 1.0
_BACKOFFS: Final = ("none", "linear", "exponential")

#: The attributes `xmlui_apicall` takes, by XMLUI name.
POLLING_ATTRIBUTES: Final = (
    "statusUrl",
    "statusMethod",
    "pollingInterval",
    "maxPollingDuration",
    "pollingBackoff",
    "maxPollingInterval",
    "completionCondition",
    "errorCondition",
    "progressExtractor",
    "cancelUrl",
    "cancelMethod",
    "cancelBody",
    "inProgressNotificationMessage",
    "completedNotificationMessage",
    "errorNotificationMessage",
)
#: Attributes of the start request, returned as they are (the caller sends it).
_START_ATTRIBUTES: Final = ("id", "url", "method", "body", "deferredMode")
#: Other ``APICall`` attributes: the start request's details and the UI's; kept aside.
_OTHER_ATTRIBUTES: Final = frozenset(
    {
        "rawBody",
        "queryParams",
        "headers",
        "credentials",
        "payloadType",
        "confirmTitle",
        "confirmMessage",
        "confirmButtonLabel",
        "cancelButtonLabel",
        "invalidates",
        "updates",
        "optimisticValue",
        "getOptimisticValue",
        "when",
        "uid",
        "testId",
        "mockExecute",
    }
)

_PLACEHOLDER: Final = re.compile(
    r"\{\$(?P<root>result|statusData|progress)(?P<keys>(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)\}"
)
_WHOLE_MS: Final = re.compile(r"[0-9]{1,12}")
_METHODS: Final = ("get", "post", "put", "patch", "delete", "head")


# -- attribute values ------------------------------------------------------------------------


def _millis(value: object, name: str, *, default: int | None) -> float | None:
    """Milliseconds (a number or its text, as XMLUI's ``parseInt`` reads) as seconds."""
    if value is None:
        return None if default is None else default / 1000.0
    number: float
    if isinstance(value, str) and _WHOLE_MS.fullmatch(value.strip()):
        number = float(value.strip())
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise SpecError(f"must be a number of milliseconds, not {value!r}", field=name)
    if not math.isfinite(number) or number <= 0:
        raise SpecError(f"must be a positive number of milliseconds, not {value!r}", field=name)
    return number / 1000.0


def _method(value: object, name: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in _METHODS:
        raise SpecError(f"must be one of {', '.join(_METHODS)}, not {value!r}", field=name)
    return value.strip().upper()


def _text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise SpecError(f"must be a string, not {value!r}", field=name)


def _template(
    text: str, name: str, *, roots: tuple[str, ...], progress: str | None, strict: bool = False
) -> str:
    """XMLUI's ``{$result.k}``, ``{$statusData.k}`` and ``{$progress}`` as lrpoll placeholders.

    Every other brace is literal text (XMLUI leaves it so), written ``{{`` / ``}}``.
    ``strict`` reads ``{$result.a.b}`` as XMLUI does, the top-level key ``"a.b"``; by
    default it is the member ``b`` of ``a``.
    """
    out: list[str] = []
    at = 0
    for match in _PLACEHOLDER.finditer(text):
        out.append(text[at : match.start()].replace("{", "{{").replace("}", "}}"))
        root = match.group("root")
        keys = tuple(k for k in match.group("keys").split(".") if k)
        if strict and keys:
            keys = (".".join(keys),)
        if root not in roots:
            raise SpecError(
                f"{{${root}…}} is not available here (only "
                + ", ".join(f"{{${r}…}}" for r in roots)
                + ")",
                field=name,
                position=match.start(),
            )
        if root == "progress":
            if keys:
                raise SpecError("$progress is a number: it has no members", field=name)
            # The message context's ``progress`` is the extractor's value (None: unknown);
            # without an extractor XMLUI's $progress stays 0.
            out.append("{progress}" if progress else "{`0`}")
        else:
            if not keys:
                raise SpecError(
                    f"name a member: {{${root}.key}}", field=name, position=match.start()
                )
            context = "start" if root == "result" else "last"
            out.append("{" + context + "." + member_path(keys) + "}")
        at = match.end()
    out.append(text[at:].replace("{", "{{").replace("}", "}}"))
    return "".join(out)


# -- the preset ------------------------------------------------------------------------------


@preset("xmlui")
def xmlui_apicall(
    *,
    statusUrl: str,
    statusMethod: str = "get",
    pollingInterval: int | str | None = None,
    maxPollingDuration: int | str | None = DEFAULT_MAX_DURATION_MS,
    pollingBackoff: str = "none",
    maxPollingInterval: int | str = DEFAULT_MAX_INTERVAL_MS,
    completionCondition: str | None = None,
    errorCondition: str | None = None,
    progressExtractor: str | None = None,
    cancelUrl: str | None = None,
    cancelMethod: str = "post",
    cancelBody: Any = None,
    inProgressNotificationMessage: str | None = None,
    completedNotificationMessage: str | None = None,
    errorNotificationMessage: str | None = None,
    cancelledCondition: str | None = None,
    error_message: str | None = "message",
    confirm_timeout: float = 60.0,
    request_headers: Mapping[str, str] | None = None,
    errors: Mapping[str, Any] | None = None,
    xmlui_strict: bool = False,
) -> PollSpec:
    """The spec for an XMLUI ``APICall`` in deferred mode, from its attributes.

    Durations are XMLUI's milliseconds, as numbers or their text (``"1000"``). Conditions
    and the extractor are XMLUI expressions, with or without their outer braces
    (``"{$statusData.status === 'done'}"``); they are translated to JMESPath
    (`translate_condition`) and anything outside the subset raises `SpecError` naming the
    attribute and the position.

    | XMLUI                          | lrpoll                                             |
    |--------------------------------|----------------------------------------------------|
    | ``statusUrl`` (``{$result.k}``) | ``status_url`` (``{start.k}``), ``statusMethod``  |
    | ``pollingInterval`` ms         | first poll at once, then every interval (2000 ms   |
    |                                | when absent, where XMLUI polls only once)          |
    | ``pollingBackoff``, ``maxPollingInterval`` | ``Backoff``: linear +1 s per poll,     |
    |                                | exponential x2 per poll, capped (not for none)     |
    | ``maxPollingDuration`` ms      | ``max_duration`` (default 300 s)                   |
    | ``errorCondition``             | ``failed`` (it wins over completion)               |
    | ``completionCondition``        | ``done``; absent: ``$progress >= 100``             |
    | ``progressExtractor``          | ``progress``: ``Number()``, clamped to 0..100     |
    | ``cancelUrl``, ``cancelMethod``, ``cancelBody`` | ``CancelSpec`` (JSON body)        |
    | ``*NotificationMessage``       | ``Messages`` in_progress / completed / failed      |

    Args:
        statusUrl: the status URL template; ``{$result.k}`` reads the start response.
        statusMethod: the method of each poll.
        pollingInterval: milliseconds between polls; None takes XMLUI's documented
            default of 2000.
        maxPollingDuration: milliseconds before `PollTimeout`; None: no limit.
        pollingBackoff: ``none``, ``linear`` or ``exponential``.
        maxPollingInterval: the cap of a linear or exponential backoff, milliseconds.
        completionCondition: XMLUI expression: the operation succeeded.
        errorCondition: XMLUI expression: the operation failed.
        progressExtractor: XMLUI expression over ``$statusData`` for the percent done.
        cancelUrl: the cancel URL template (``{$result.k}``); None: no server cancel.
        cancelMethod: the cancel request's method.
        cancelBody: a JSON value sent as the cancel request's body.
        inProgressNotificationMessage: the message of each running update
            (``{$progress}``, ``{$statusData.k}``, ``{$result.k}``).
        completedNotificationMessage: the message on success.
        errorNotificationMessage: the message on failure.
        cancelledCondition: lrpoll's own: an XMLUI expression saying the server reports
            the operation cancelled, so ``op.cancel()`` can confirm it.
        error_message: JMESPath over the status document for the failure's text (the
            `OperationFailed` message); None for a generic text.
        confirm_timeout: seconds ``op.cancel()`` polls for the server's confirmation.
        request_headers: non-secret headers for every request of the operation.
        errors: keyword arguments for `ErrorBudget`; None keeps the default budget.
        xmlui_strict: read a placeholder's dotted keys as XMLUI does, as one top-level
            key (``{$result.job.id}`` is the member ``"job.id"``), instead of a path to a
            nested member. A value that is not there is still an error (a
            `TemplateError` in a URL, an absent message), where XMLUI leaves the
            placeholder's text.

    Returns:
        The spec; its JSON form is ``{"preset": "xmlui", "params": {...}}``.

    Raises:
        SpecError: naming the attribute (and the position in its text), for a value
            XMLUI would not accept, an expression outside the subset, or neither a
            ``completionCondition`` nor a ``progressExtractor`` (nothing would complete).
    """
    status_url = _text(statusUrl, "statusUrl")
    if not status_url:
        raise SpecError("deferred mode needs a statusUrl to poll", field="statusUrl")
    interval = _millis(pollingInterval, "pollingInterval", default=DEFAULT_INTERVAL_MS)
    assert interval is not None
    max_duration = _millis(maxPollingDuration, "maxPollingDuration", default=None)
    cap = _millis(maxPollingInterval, "maxPollingInterval", default=DEFAULT_MAX_INTERVAL_MS)
    assert cap is not None
    if pollingBackoff not in _BACKOFFS:
        raise SpecError(
            f"must be one of {', '.join(_BACKOFFS)}, not {pollingBackoff!r}", field="pollingBackoff"
        )
    # XMLUI waits base·2^k or base + k·1 s after the k-th poll; lrpoll's backoff counts
    # from the first poll (k - 1), so it starts one step further.
    if pollingBackoff == "linear":
        backoff = Backoff(
            kind="linear", delay=interval + _LINEAR_STEP, step=_LINEAR_STEP, max_delay=cap
        )
    elif pollingBackoff == "exponential":
        backoff = Backoff(kind="exponential", delay=interval * 2, factor=2.0, max_delay=cap)
    else:
        backoff = Backoff.fixed(interval)

    progress = None
    if progressExtractor is not None:
        progress = translate_progress(_text(progressExtractor, "progressExtractor") or "")
    done: str
    if completionCondition is not None:
        done = translate_condition(
            _text(completionCondition, "completionCondition") or "",
            attribute="completionCondition",
            progress=progress,
        )
    elif progress is not None:
        done = f"{progress} >= `100`"
    else:
        raise SpecError(
            "nothing would complete: give completionCondition, or progressExtractor "
            "(progress reaching 100 completes)",
            field="completionCondition",
        )
    failed = None
    if errorCondition is not None:
        failed = translate_condition(
            _text(errorCondition, "errorCondition") or "",
            attribute="errorCondition",
            progress=progress,
        )
    cancelled = None
    if cancelledCondition is not None:
        cancelled = translate_condition(
            _text(cancelledCondition, "cancelledCondition") or "",
            attribute="cancelledCondition",
            progress=progress,
        )

    def message(value: object, name: str) -> str | None:
        text = _text(value, name)
        if text is None:
            return None
        return _template(
            text,
            name,
            roots=("result", "statusData", "progress"),
            progress=progress,
            strict=xmlui_strict,
        )

    cancel = None
    if cancelUrl is not None:
        cancel = CancelSpec(
            url=_template(
                _text(cancelUrl, "cancelUrl") or "",
                "cancelUrl",
                roots=("result",),
                progress=None,
                strict=xmlui_strict,
            ),
            method=_method(cancelMethod, "cancelMethod"),
            json=cancelBody,
            confirm_timeout=confirm_timeout,
        )
    return PollSpec(
        name="xmlui",
        status_url=_template(
            status_url, "statusUrl", roots=("result",), progress=None, strict=xmlui_strict
        ),
        status_method=_method(statusMethod, "statusMethod"),
        request_headers=request_headers,
        backoff=backoff,
        max_duration=max_duration,
        errors=error_budget(errors),
        done=done,
        failed=failed,
        cancelled=cancelled,
        progress=progress,
        error_message=error_message,
        messages=Messages(
            in_progress=message(inProgressNotificationMessage, "inProgressNotificationMessage"),
            completed=message(completedNotificationMessage, "completedNotificationMessage"),
            failed=message(errorNotificationMessage, "errorNotificationMessage"),
        ),
        cancel=cancel,
    )


# -- from a dict, from the element text ------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class XmluiApiCall:
    """An ``APICall`` read from its attributes: the polling spec, and the start request.

    lrpoll does not send the start request by itself: pass ``method`` and ``url`` to
    ``scheduler.start`` with a body of your own (``body`` is XMLUI markup, such as
    ``{{ format: 'csv' }}``, kept as written and not evaluated).

    Attributes:
        spec: the polling spec (`xmlui_apicall` of the polling attributes).
        method: the start request's method, upper case (XMLUI's default is GET).
        url: the start request's URL, if given.
        body: the ``body`` attribute as written, if given.
        id: the component's ``id``, if given.
        ignored: the attributes that mean nothing to polling (event handlers such as
            ``onStatusUpdate``, confirmation dialogs, ``queryParams``, child elements),
            sorted.
    """

    spec: PollSpec
    method: str
    url: str | None
    body: str | None
    id: str | None
    ignored: tuple[str, ...] = ()


def xmlui_from_attributes(attributes: Mapping[str, Any], **extra: Any) -> XmluiApiCall:
    """Read an ``APICall`` from its attributes, as a dict of XMLUI names to values.

    Args:
        attributes: the element's attributes (``{"statusUrl": ..., "pollingInterval":
            "1000", ...}``); ``deferredMode`` must be true.
        extra: lrpoll's own parameters of `xmlui_apicall` (``cancelledCondition``,
            ``error_message``, ``errors``, ...).

    Returns:
        The spec and the start request.

    Raises:
        SpecError: for an unknown attribute (naming it, with the closest known name),
            ``deferredMode`` not true, or any value `xmlui_apicall` refuses.
    """
    params: dict[str, Any] = {}
    start: dict[str, Any] = {}
    ignored: list[str] = []
    for name, value in attributes.items():
        if name in POLLING_ATTRIBUTES:
            params[name] = value
        elif name in _START_ATTRIBUTES:
            start[name] = value
        elif name in _OTHER_ATTRIBUTES or re.fullmatch(r"on[A-Z]\w*", name):
            ignored.append(name)
        else:
            known = [*POLLING_ATTRIBUTES, *_START_ATTRIBUTES, *sorted(_OTHER_ATTRIBUTES)]
            close = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise SpecError(f"unknown APICall attribute {name!r}{hint}", field=name)
    deferred = start.get("deferredMode")
    if deferred not in (True, "true"):
        raise SpecError(
            f'is {deferred!r}: only deferredMode="true" polls a status URL',
            field="deferredMode",
        )
    twice = sorted(set(extra) & set(params))
    if twice:
        raise SpecError(f"{twice} given both as attributes and as extra", field="extra")
    spec = xmlui_apicall(**params, **extra)
    return XmluiApiCall(
        spec=spec,
        method=_method(start.get("method", "get"), "method"),
        url=_text(start.get("url"), "url"),
        body=None if start.get("body") is None else str(start["body"]),
        id=_text(start.get("id"), "id"),
        ignored=tuple(sorted(ignored)),
    )


# The five entities XML predefines, and character references; nothing else is expanded.
_ENTITY: Final = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6}));")
_OTHER_ENTITY: Final = re.compile(r"&[A-Za-z_:][\w.:-]*;")
_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_ATTRIBUTE: Final = re.compile(r"\s+([A-Za-z_:][-\w.:]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_SKIP: Final = re.compile(r"(?:\s+|<!--.*?-->)*", re.S)
MAX_XML_CHARS: Final = 100_000


def _unescape(value: str, at: int) -> str:
    bad = _OTHER_ENTITY.search(_ENTITY.sub("", value))
    if bad:
        raise SpecError(
            f"entity {bad.group(0)} refused: only &lt; &gt; &amp; &quot; &apos; and &#...; "
            "are read",
            field="xml",
            position=at,
        )

    def one(match: re.Match[str]) -> str:
        name, dec, hexa = match.groups()
        if name:
            return _NAMED[name]
        code = int(dec) if dec else int(hexa, 16)
        if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise SpecError(f"invalid character reference {match.group(0)}", field="xml")
        return chr(code)

    return _ENTITY.sub(one, value)


def xmlui_from_xml(text: str, **extra: Any) -> XmluiApiCall:
    """Read an ``APICall`` from its element text: ``<APICall deferredMode="true" …/>``.

    The text is read by a small parser of one element, not an XML library: there is no
    DTD, so no entity can be declared, expanded or fetched (a ``<!DOCTYPE``, ``<!ENTITY``
    or ``&name;`` other than XML's five predefined entities is refused). Values are read
    as XMLUI markup is written: ``&&`` and ``<`` may stand unescaped inside quotes.
    Comments around the element and its child elements (``<event>``) are skipped;
    children are listed in ``ignored``.

    Args:
        text: the element, at most `MAX_XML_CHARS` characters.
        extra: lrpoll's own parameters, as for `xmlui_from_attributes`.

    Returns:
        The spec and the start request.

    Raises:
        SpecError: naming ``xml`` and the position for text that is not one ``APICall``
            element, a duplicate attribute or a refused entity; otherwise as
            `xmlui_from_attributes`.
    """
    if not isinstance(text, str):
        raise SpecError("must be a string", field="xml")
    if len(text) > MAX_XML_CHARS:
        raise SpecError(f"longer than {MAX_XML_CHARS} characters", field="xml")
    at = _SKIP.match(text, 0)
    pos = at.end() if at else 0
    if not text.startswith("<APICall", pos) or re.match(r"[-\w.:]", text[pos + 8 : pos + 9]):
        found = text[pos : pos + 20]
        raise SpecError(f"expected <APICall, found {found!r}", field="xml", position=pos)
    pos += len("<APICall")
    attributes: dict[str, str] = {}
    while True:
        match = _ATTRIBUTE.match(text, pos)
        if match is None:
            break
        name = match.group(1)
        if name in attributes:
            raise SpecError(f"attribute {name} given twice", field="xml", position=match.start(1))
        raw = match.group(2) if match.group(2) is not None else match.group(3)
        attributes[name] = _unescape(raw, match.start(1))
        pos = match.end()
    rest = re.compile(r"\s*(/?)>").match(text, pos)
    if rest is None:
        raise SpecError(
            "expected an attribute (name=\"value\"), '/>' or '>'", field="xml", position=pos
        )
    pos = rest.end()
    children: list[str] = []
    if not rest.group(1):
        close = text.find("</APICall>", pos)
        if close < 0:
            raise SpecError("no </APICall> closes the element", field="xml", position=pos)
        inner = text[pos:close]
        if "<!" in re.sub(r"<!--.*?-->", "", inner, flags=re.S):
            raise SpecError(
                "declarations are refused inside the element", field="xml", position=pos
            )
        children = [f"<{tag}>" for tag in re.findall(r"<([A-Za-z_][-\w.:]*)", inner)]
        pos = close + len("</APICall>")
    tail = _SKIP.match(text, pos)
    end = tail.end() if tail else pos
    if end != len(text):
        raise SpecError("text after the APICall element", field="xml", position=end)
    body: Any = attributes.pop("cancelBody", None)
    if body is not None:
        try:
            body = json.loads(body)
        except ValueError:
            raise SpecError(
                "lrpoll reads cancelBody as JSON (XMLUI binding expressions are not evaluated)",
                field="cancelBody",
            ) from None
        extra = {**extra, "cancelBody": body}
    call = xmlui_from_attributes(attributes, **extra)
    if children:
        ignored = tuple(sorted({*call.ignored, *children}))
        call = XmluiApiCall(
            spec=call.spec,
            method=call.method,
            url=call.url,
            body=call.body,
            id=call.id,
            ignored=ignored,
        )
    return call
