"""The ``lrpoll`` command: ``watch``, ``start``, ``resume``, ``demo``, ``serve``, ``fleet``.

One module per concern: `_parser` (the options), `_inputs` (spec, headers, credentials,
bodies), `_run` (the scheduler, Ctrl-C), `_display` (live bars, lines, JSON),
`_exit` (exit codes, one-line errors), `_demo_cmd` and `_serve`. ``rich`` (the ``cli``
extra) is imported only inside functions, so the command works without it.

Errors are one line on stderr (an expression's error adds the expression and a caret
under the position); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import TYPE_CHECKING

from .._exceptions import LrpollError
from .._urls import redact_url
from ..testing._dialects import shell_line
from ._display import choose
from ._exit import CliError, ExitCode, code_for_error
from ._inputs import build_spec, read_body, read_headers, read_lines
from ._parser import SPEC_OPTIONS, build_parser
from ._run import Job, Plan, job_from_checkpoint, run

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from ._display import Watched

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the ``lrpoll`` command.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        prog: the program name shown in help (default: ``lrpoll``).

    Returns:
        The exit code.
    """
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    debug = bool(getattr(args, "debug", False))
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("lrpoll: interrupted", file=sys.stderr)
        return ExitCode.STOPPED
    except (LrpollError, OSError) as exc:
        if debug:
            traceback.print_exc()
        else:
            _one_line(exc)
        return code_for_error(exc) if isinstance(exc, LrpollError) else ExitCode.USAGE


def _one_line(exc: BaseException) -> None:
    if isinstance(exc, CliError):
        print(f"lrpoll: error: {exc.message}", file=sys.stderr)
        for line in exc.detail:
            print(line, file=sys.stderr)
        return
    kind = type(exc).__name__
    text = str(exc) if isinstance(exc, LrpollError) else (getattr(exc, "strerror", "") or kind)
    print(f"lrpoll: error: {kind}: {text}", file=sys.stderr)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "fleet":
        from ..fleet import main as fleet_main

        return fleet_main(args.rest)
    if args.command == "demo":
        from ._demo_cmd import demo_command

        return demo_command(args)
    if args.command == "serve":
        from ._serve import serve_command

        return serve_command(args)
    plan = _plan(args)
    display = choose(json_lines=args.json, quiet=args.quiet, plain=args.plain)
    return asyncio.run(run(plan, display))


def _plan(args: argparse.Namespace) -> Plan:
    headers = read_headers(args)
    common = {
        "headers": headers,
        "allow_origins": args.allow_origin,
        "cancel_on_interrupt": args.cancel_on_interrupt,
        "cancel_wait": args.cancel_wait,
    }
    if args.command == "resume":
        texts = read_lines(args.checkpoint_file, "CHECKPOINT_FILE")
        if not texts:
            raise CliError(f"{args.checkpoint_file}: no checkpoint in it")
        jobs = [job_from_checkpoint(text) for text in texts]
        path = args.checkpoint or args.checkpoint_file
        return Plan(jobs=jobs, spec=None, checkpoint_path=path, **common)
    if args.command == "start":
        jobs = []
        if args.method is not None:
            if args.url is None:
                raise CliError("start needs METHOD and URL (or --from-file FILE)")
            body = read_body(args.body)
            jobs.append(Job(kind="start", url=args.url, method=args.method.upper(), body=body))
        if args.from_file is not None:
            jobs += [_start_line(line) for line in read_lines(args.from_file, "--from-file")]
        if not jobs:
            raise CliError("start needs METHOD and URL (or --from-file FILE)")
    else:
        urls = [args.url] if args.url else []
        if args.from_file is not None:
            urls += read_lines(args.from_file, "--from-file")
        if not urls:
            raise CliError("watch needs a status URL (or --from-file FILE)")
        jobs = [Job(kind="watch", url=url) for url in urls]
    spec = build_spec(args, starting=args.command == "start")
    return Plan(
        jobs=jobs,
        spec=spec,
        checkpoint_path=args.checkpoint,
        replay=lambda watched: _replay(args, watched),
        **common,
    )


def _start_line(line: str) -> Job:
    """``METHOD URL [JSON body]``: one start request of a ``--from-file``."""
    method, _, rest = line.partition(" ")
    url, _, body = rest.strip().partition(" ")
    if not method or not url:
        raise CliError(f"--from-file: want 'METHOD URL [JSON body]', not {line[:40]!r}")
    return Job(kind="start", url=url, method=method.upper(), body=read_body(body.strip() or None))


def _replay(args: argparse.Namespace, watched: Watched) -> str:
    """The ``lrpoll watch`` command that picks up ``watched`` where it stopped.

    Credentials are left out (give them again); a token-like query value is hidden.
    """
    words = ["lrpoll", "watch", redact_url(watched.op.status_url)]
    for name in SPEC_OPTIONS:
        value = getattr(args, name, None)
        if value is None or (name == "retries" and value == 3):
            continue
        if name == "cancel_method" and (value == "POST" or args.cancel_url is None):
            continue
        words += [
            f"--{name.replace('_', '-')}",
            f"{value:g}" if isinstance(value, float) else str(value),
        ]
    for param in args.param or ():
        words += ["--param", param]
    for name, value in read_headers(args, environ={}).plain.items():
        words += ["--header", f"{name}: {value}"]
    if args.header_file is not None:
        words += ["--header-file", args.header_file]
    for origin in args.allow_origin:
        words += ["--allow-origin", origin]
    line = shell_line(*words)
    if words[2] != watched.op.status_url:
        line += "   # put back the query values shown as REDACTED"
    return line
