"""The command line: ``lrpoll watch | start | resume | demo | serve | fleet``, with options."""

from __future__ import annotations

import argparse
from typing import Final

from .. import __version__
from .._registry import preset_names
from ._display import CLI_EXTRA
from ._exit import EXIT_CODES_HELP
from ._inputs import TOKEN_ENV

__all__ = ["SPEC_OPTIONS", "build_parser"]

_DESCRIPTION: Final = (
    "lrpoll polls long-running HTTP operations (exports, imports, provisioning) from a "
    "declarative spec: watch one by its status URL, start one, or resume one from a "
    "checkpoint, with live progress on a terminal."
)
_EXAMPLES: Final = """\
examples:
  lrpoll demo
  lrpoll serve --dialect generic
  lrpoll watch https://api.example.com/jobs/42 --done "status == 'done'" \\
      --failed "status == 'failed'" --progress progress --result result
  lrpoll start POST https://api.example.com/v1/projects/p/locations/l/exports \\
      --body @request.json --preset google --header-file ~/.config/api-headers
  lrpoll resume job.checkpoint

credentials: a --header whose name is a credential (Authorization, X-Api-Key, any name
with token, secret, password, ...), each line of --header-file, and $LRPOLL_TOKEN
(a bearer token) go only to the origin of the URL on the command line; they are never
printed, saved in checkpoints, or shown in --json output or errors.
"""

#: The options that make up the spec, replayed in the command that resumes a stop.
SPEC_OPTIONS: Final = (
    "done",
    "failed",
    "cancelled",
    "progress",
    "result",
    "error_message",
    "message",
    "interval",
    "timeout",
    "retries",
    "cancel_url",
    "cancel_method",
    "spec",
    "preset",
)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _debug(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error instead of one line",
    )


def _spec_options(parser: argparse.ArgumentParser, *, starting: bool) -> None:
    group = parser.add_argument_group(
        "the protocol",
        "JMESPath expressions over the status document (numbers in backticks: "
        "progress >= `100`), or a spec file or preset instead",
    )
    group.add_argument("--done", metavar="EXPR", help="true when the operation succeeded")
    group.add_argument("--failed", metavar="EXPR", help="true when it failed")
    group.add_argument("--cancelled", metavar="EXPR", help="true when it was cancelled")
    group.add_argument("--progress", metavar="EXPR", help="percent done (0-100)")
    group.add_argument("--result", metavar="EXPR", help="the result (default: the document)")
    group.add_argument("--error-message", metavar="EXPR", help="the server's error message")
    group.add_argument(
        "--message",
        metavar="TEMPLATE",
        help="progress message, with {expression} placeholders: 'Exported {progress}%%'",
    )
    if starting:
        group.add_argument(
            "--status-url",
            metavar="TEMPLATE",
            help="where the status lives, from the start answer: '/jobs/{start.id}' "
            "(default: its Location header, else the start URL)",
        )
    group.add_argument("--cancel-url", metavar="URL", help="the cancel request's URL (a template)")
    group.add_argument(
        "--cancel-method", metavar="M", default="POST", help="its method (default: POST)"
    )
    group.add_argument(
        "--spec", metavar="FILE", help="a spec file (JSON or TOML: lrpoll.load_spec)"
    )
    group.add_argument(
        "--preset", metavar="NAME", help=f"a built-in preset: {', '.join(preset_names())}"
    )
    group.add_argument(
        "--param",
        metavar="K=V",
        action="append",
        help="a preset parameter (V read as JSON when it parses, else a string)",
    )
    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--interval", metavar="S", type=_positive, help="seconds between polls (default: 1)"
    )
    timing.add_argument(
        "--timeout", metavar="S", type=_positive, help="give up after S seconds (exit code 3)"
    )
    timing.add_argument(
        "--retries",
        metavar="N",
        type=_count,
        default=3,
        help="transient errors in a row retried before exit code 6 (default: 3)",
    )


def _follow_options(parser: argparse.ArgumentParser) -> None:
    http = parser.add_argument_group("requests")
    http.add_argument(
        "--header",
        "-H",
        metavar="'K: V'",
        action="append",
        help="a header for every request; a credential name makes it a credential",
    )
    http.add_argument(
        "--header-file",
        metavar="FILE",
        help=f"'Name: value' lines, all credentials (also: ${TOKEN_ENV} for a bearer token)",
    )
    http.add_argument(
        "--allow-origin",
        metavar="ORIGIN",
        action="append",
        default=[],
        help="another origin the status may move to, polled without credentials",
    )
    output = parser.add_argument_group("output and Ctrl-C")
    shown = output.add_mutually_exclusive_group()
    shown.add_argument(
        "--json", action="store_true", help="one JSON object per line for each update"
    )
    shown.add_argument("--quiet", "-q", action="store_true", help="print only the result")
    shown.add_argument(
        "--plain", action="store_true", help="plain lines, even on a terminal with rich"
    )
    output.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="on a stop (Ctrl-C), write a checkpoint here for 'lrpoll resume FILE'",
    )
    output.add_argument(
        "--cancel-on-interrupt",
        action="store_true",
        help="Ctrl-C asks the server to cancel (and waits for its confirmation)",
    )
    output.add_argument(
        "--cancel-wait",
        metavar="S",
        type=_positive,
        default=10.0,
        help="seconds to wait for the server to confirm a cancel (default: 10)",
    )
    _debug(parser)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``lrpoll`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=prog or "lrpoll",
        description=_DESCRIPTION,
        epilog=EXIT_CODES_HELP + "\n\n" + _EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"lrpoll {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error instead of one line"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    raw = argparse.RawDescriptionHelpFormatter

    watch = commands.add_parser(
        "watch",
        help="poll an operation that exists, by its status URL",
        description="Poll the status URL until the operation ends; print its result "
        "(JSON) on stdout.",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    watch.add_argument("url", metavar="URL", nargs="?", help="the status URL")
    watch.add_argument(
        "--from-file",
        metavar="FILE",
        help="status URLs, one per line: follow them all at once",
    )
    _spec_options(watch, starting=False)
    _follow_options(watch)

    start = commands.add_parser(
        "start",
        help="send the start request, then watch the operation it starts",
        description="Send METHOD URL, find the status URL in the answer, and poll it "
        "until the operation ends; print its result (JSON) on stdout.",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    start.add_argument("method", metavar="METHOD", nargs="?", help="POST, PUT, ...")
    start.add_argument("url", metavar="URL", nargs="?", help="the start URL")
    start.add_argument("--body", metavar="JSON", help="the JSON body, or @FILE holding it")
    start.add_argument(
        "--from-file",
        metavar="FILE",
        help="start requests, one per line: METHOD URL [JSON body]; follow them all at once",
    )
    _spec_options(start, starting=True)
    _follow_options(start)

    resume = commands.add_parser(
        "resume",
        help="continue operations from a checkpoint file written on a stop",
        description="Resume the operations of a checkpoint file (written by --checkpoint "
        "on a stop) and poll them until they end. A new stop writes the file again.",
        epilog=EXIT_CODES_HELP,
        formatter_class=raw,
    )
    resume.add_argument("checkpoint_file", metavar="CHECKPOINT_FILE")
    _follow_options(resume)

    demo = commands.add_parser(
        "demo",
        help="several export jobs at once against an embedded fake server",
        description=(
            "Start a fake export server on 127.0.0.1 and poll a handful of jobs through "
            "one Scheduler, with live progress bars on a terminal: some succeed, one "
            "fails with the server's message, one times out, one is stopped and resumed, "
            "one is cancelled on the server and confirmed. Takes a few seconds. Exits 0 "
            "when every operation ended as scripted, 1 otherwise."
        ),
    )
    style = demo.add_mutually_exclusive_group()
    style.add_argument(
        "--plain", action="store_true", help="plain text output, even when rich is installed"
    )
    style.add_argument(
        "--live", action="store_true", help=f"live progress bars (needs rich: {CLI_EXTRA})"
    )
    _debug(demo)

    serve = commands.add_parser(
        "serve",
        help="run a fake server of one dialect, for your own integration tests",
        description="Serve a fake long-running-operation API on a loopback address until "
        "Ctrl-C; print its URL and curl lines to try it.",
    )
    serve.add_argument(
        "--dialect", default="generic", metavar="NAME", help="which fake (default: generic)"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="a loopback address (default: %(default)s)"
    )
    serve.add_argument("--port", type=_count, default=0, help="the port (default: a free one)")
    serve.add_argument("--list", action="store_true", help="list the dialects and exit")
    _debug(serve)

    fleet = commands.add_parser(
        "fleet",
        help="run a fleet worker on Redis: lrpoll fleet worker --redis URL (see docs/fleet.md)",
        description="The same command as python -m lrpoll.fleet; lrpoll fleet worker --help "
        "lists its options.",
        add_help=False,
    )
    fleet.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser
