"""What the command reads: the spec (options, a file or a preset), headers, credentials, bodies.

Credentials never reach a spec, a checkpoint or the output: a ``--header`` whose name is
on lrpoll's secrets list (`lrpoll._secrets`), every line of ``--header-file`` and
``LRPOLL_TOKEN`` become credential providers for the origin of the URL given on the
command line, which the scheduler attaches per request, to that origin only.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .._auth import BearerToken, Header
from .._exceptions import SpecError
from .._secrets import is_secret_header
from .._spec import CancelSpec, ErrorBudget, Messages, PollSpec
from .._specfile import load_spec
from .._urls import origin_of
from ._exit import CliError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, MutableMapping

    from .._auth import Credential

__all__ = [
    "EXPRESSION_OPTIONS",
    "Credentials",
    "Headers",
    "build_spec",
    "origin_url",
    "read_body",
    "read_headers",
    "read_lines",
]

#: The options that describe the protocol, by the spec field each one fills.
EXPRESSION_OPTIONS: Final = {
    "done": "--done",
    "failed": "--failed",
    "cancelled": "--cancelled",
    "progress": "--progress",
    "result": "--result",
    "error_message": "--error-message",
    "messages.in_progress": "--message",
    "status_url": "--status-url",
    "cancel.url": "--cancel-url",
}
#: The environment variable read as a bearer token for the command line's URL.
TOKEN_ENV: Final = "LRPOLL_TOKEN"


def _read_text(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{what}: no such file: {path}") from None
    except IsADirectoryError:
        raise CliError(f"{what}: is a directory: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"{what}: cannot read {path}: {type(exc).__name__}") from None


def read_lines(path: str, what: str) -> list[str]:
    """The non-blank lines of ``path`` that are not ``#`` comments, stripped."""
    lines = (line.strip() for line in _read_text(path, what).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def read_body(value: str | None) -> Any:
    """``--body``: JSON text, or ``@file`` holding it; None without one."""
    if value is None:
        return None
    what = "--body"
    text = value
    if value.startswith("@"):
        what = f"--body {value}"
        text = _read_text(value[1:], "--body")
    try:
        return json.loads(text)
    except ValueError as exc:
        # The message names the place only: a body may hold something private.
        line, col = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        raise CliError(f"{what} is not JSON (line {line}, column {col})") from None


def origin_url(url: str) -> str:
    """``scheme://host:port`` of an absolute http(s) URL.

    Raises:
        CliError: when ``url`` is not one.
    """
    origin = origin_of(url)
    if origin is None:
        raise CliError(f"not an absolute http(s) URL: {url!r}")
    scheme, host, port = origin
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


@dataclass(frozen=True, slots=True)
class Credentials:
    """Several credential providers for one origin, as one provider."""

    providers: tuple[Credential, ...] = field(repr=False)

    def apply(
        self,
        headers: MutableMapping[str, str],
        query: MutableMapping[str, str],
        form: MutableMapping[str, str] | None,
    ) -> None:
        """Apply every provider."""
        for provider in self.providers:
            provider.apply(headers, query, form)

    def secrets(self) -> tuple[str, ...]:
        """Every provider's secrets."""
        return tuple(s for provider in self.providers for s in provider.secrets())


@dataclass
class Headers:
    """The headers of the command line, split into plain ones and credentials."""

    plain: dict[str, str] = field(default_factory=dict)
    secret: list[Header] = field(default_factory=list, repr=False)
    bearer: str | None = field(default=None, repr=False)

    def credential(self) -> Credential | None:
        """One provider holding every credential, or None when there is none."""
        providers: list[Credential] = list(self.secret)
        if self.bearer is not None and not any(
            h.name.lower() == "authorization" for h in self.secret
        ):
            providers.append(BearerToken(self.bearer))
        return Credentials(tuple(providers)) if providers else None

    def scheduler_credentials(self, urls: list[str]) -> dict[str, Credential]:
        """``Scheduler(credentials=)``: the provider for each URL's origin."""
        credential = self.credential()
        if credential is None:
            return {}
        return {origin_url(url): credential for url in urls}


def _split_header(text: str, what: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        # Never echo the text: it may be a credential with a typo.
        raise CliError(f"{what} wants 'Name: value'")
    return name, value.strip()


def read_headers(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Headers:
    """The headers of ``--header``, ``--header-file`` and ``LRPOLL_TOKEN``.

    ``--header-file`` holds ``Name: value`` lines, all credentials; a ``--header`` is a
    credential when its name is on lrpoll's secrets list, else a plain header kept in
    the operation's spec (and its checkpoints).
    """
    environ = os.environ if environ is None else environ
    out = Headers()
    for text in args.header or ():
        name, value = _split_header(text, "--header")
        if is_secret_header(name):
            out.secret.append(Header(name, value))
        else:
            out.plain[name] = value
    if args.header_file is not None:
        for line in read_lines(args.header_file, "--header-file"):
            out.secret.append(Header(*_split_header(line, f"--header-file {args.header_file}")))
    token = environ.get(TOKEN_ENV)
    if token:
        out.bearer = token
    return out


def _load_spec_file(path: str) -> PollSpec:
    """A spec file, JSON or TOML (`lrpoll.load_spec`)."""
    if not Path(path).is_file():
        _read_text(path, "--spec")  # the one-line error for a missing file
    return load_spec(path)


def _field_text(data: Any, name: str) -> str | None:
    for part in name.split("."):
        if not isinstance(data, dict):
            return None
        data = data.get(part)
    return data if isinstance(data, str) else None


def _caret(text: str | None, position: int | None) -> tuple[str, ...]:
    if text is None or position is None or "\n" in text:
        return ()
    return (f"  {text}", "  " + " " * min(position, len(text)) + "^")


#: A comparison with a bare number: JMESPath wants numbers in backticks.
_BARE_NUMBER: Final = re.compile(r"(==|!=|<=|>=|<|>)\s*-?\d")


def _detail(text: str | None, position: int | None) -> tuple[str, ...]:
    lines = _caret(text, position)
    if text is not None and _BARE_NUMBER.search(text):
        lines += ("  (JMESPath numbers go in backticks: progress >= `100`)",)
    return lines


def spec_error(exc: SpecError, texts: Mapping[str, str | None]) -> CliError:
    """A `CliError` for ``exc``: the option and position, then the text and a caret."""
    where = exc.field if exc.position is None else f"{exc.field} at position {exc.position}"
    reason = exc.message.removeprefix(f"{where}: ")
    option = EXPRESSION_OPTIONS.get(exc.field, exc.field)
    at = "" if exc.position is None else f" at position {exc.position}"
    return CliError(f"{option}{at}: {reason}", detail=_detail(texts.get(exc.field), exc.position))


def _with_overrides(spec: PollSpec, overrides: dict[str, Any]) -> PollSpec:
    if not overrides:
        return spec
    data = spec.to_json()
    if "preset" in data:
        data = {**data, "overrides": {**(data.get("overrides") or {}), **overrides}}
    else:
        data = {**data, **overrides}
    return PollSpec.from_json(data)


def _param(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise CliError(f"--param wants name=value, not {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value


def _timing(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if args.timeout is not None:
        overrides["max_duration"] = args.timeout
    if args.interval is not None:
        overrides.update(interval=args.interval, backoff=None, min_interval=min(1.0, args.interval))
    return overrides


def build_spec(args: argparse.Namespace, *, starting: bool) -> PollSpec:
    """The spec of ``watch`` or ``start``: from ``--spec``, ``--preset`` or the options.

    Raises:
        CliError: for a bad option, file or expression (exit code 2).
    """
    status_url: str | None = getattr(args, "status_url", None)
    given: dict[str, str | None] = {
        "done": args.done,
        "failed": args.failed,
        "cancelled": args.cancelled,
        "progress": args.progress,
        "result": args.result,
        "error_message": args.error_message,
        "messages.in_progress": args.message,
        "status_url": status_url,
        "cancel.url": args.cancel_url,
    }
    expressions = [EXPRESSION_OPTIONS[f] for f, v in given.items() if v is not None]
    if args.spec is not None and args.preset is not None:
        raise CliError("give --spec or --preset, not both")
    if args.spec is not None or args.preset is not None:
        if expressions:
            raise CliError(
                f"{', '.join(expressions)}: the spec comes from "
                f"{'--spec' if args.spec else '--preset'}; give one or the other"
            )
        if args.spec is not None:
            try:
                spec = _load_spec_file(args.spec)
            except SpecError as exc:
                raise _file_spec_error(args.spec, exc) from None
        else:
            params = dict(_param(p) for p in args.param or ())
            try:
                spec = PollSpec.from_json({"preset": args.preset, "params": params})
            except SpecError as exc:
                raise CliError(f"--preset {args.preset}: {exc}") from None
        try:
            return _with_overrides(spec, _timing(args))
        except SpecError as exc:
            raise spec_error(exc, {}) from None
    if args.param:
        raise CliError("--param goes with --preset")
    if args.done is None:
        raise CliError(
            "say when the operation is done: --done EXPR (a JMESPath expression over the "
            "status document, e.g. \"status == 'done'\"), or give --spec FILE or --preset NAME"
        )
    interval = 1.0 if args.interval is None else args.interval
    try:
        return PollSpec(
            status_url=status_url or "{+request_url}",
            status_from=() if status_url or not starting else ("location",),
            interval=interval,
            min_interval=min(1.0, interval),
            max_duration=args.timeout,
            errors=ErrorBudget(max_consecutive=args.retries),
            done=args.done,
            failed=args.failed,
            cancelled=args.cancelled,
            progress=args.progress,
            result=args.result,
            error_message=args.error_message,
            messages=Messages(
                in_progress=args.message,
                completed="completed",
                failed="failed: {error}",
                cancelled="cancelled",
                timed_out="gave up: {error}",
            ),
            cancel=None
            if args.cancel_url is None
            else CancelSpec(url=args.cancel_url, method=args.cancel_method),
        )
    except SpecError as exc:
        raise spec_error(exc, given) from None


def _file_spec_error(path: str, exc: SpecError) -> CliError:
    """``--spec``'s error, naming the file once, with a caret under a bad expression."""
    data: Any = None
    try:
        text = Path(path).read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.lower().endswith(".toml") else json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError):
        data = None
    message = str(exc) if getattr(exc, "file", None) else f"{path}: {exc}"
    return CliError(f"--spec {message}", detail=_detail(_field_text(data, exc.field), exc.position))
