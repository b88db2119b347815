"""The ``lrpoll`` command: ``lrpoll demo``, ``lrpoll --help``, ``lrpoll --version``.

Plain text by default. When the optional ``rich`` package is installed (the ``cli``
extra: ``pip install 'lrpoll[cli]'``) and stdout is a terminal, the output has colour
and a summary table; ``--live`` (progress bars) needs rich and says how to get it when
it is missing. ``rich`` is imported only here, and only inside functions, so the
command works without it.

Exit codes: 0 when every demo operation ended as scripted, 1 when one did not (or the
demo failed), 2 for usage errors (argparse's) and a missing optional dependency, 130
when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any, Final

from . import __version__
from ._demo import PlainReporter, format_percent, run_demo

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._demo import DemoJob, DemoReport, Reporter
    from ._operation import Update

__all__ = ["main"]

_CLI_EXTRA: Final = "pip install 'lrpoll[cli]'"
_STATE_STYLES: Final = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "yellow",
    "cancelled": "magenta",
    "gone": "red",
    "error": "red",
    "stopped": "blue",
    "running": "cyan",
}


class MissingRich(Exception):
    """Raised when a rich-only feature is asked for and rich is not installed."""


def _build_parser(prog: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog or "lrpoll",
        description=(
            "lrpoll polls long-running HTTP operations (exports, imports, provisioning) "
            "from a declarative spec, thousands at once on one asyncio scheduler."
        ),
        epilog="Start with 'lrpoll demo'. Docs: README.md and docs/ in the source tree.",
    )
    parser.add_argument("--version", action="version", version=f"lrpoll {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run a few export jobs against an embedded fake server",
        description=(
            "Start a fake export server on 127.0.0.1 and poll a handful of jobs through "
            "one Scheduler: some succeed, one fails with the server's message, one times "
            "out, one is stopped and resumed. Takes a few seconds. Exits 0 when every "
            "operation ended as scripted, 1 otherwise."
        ),
    )
    style = demo.add_mutually_exclusive_group()
    style.add_argument(
        "--plain",
        action="store_true",
        help="plain text output, even when rich is installed",
    )
    style.add_argument(
        "--live",
        action="store_true",
        help=f"live progress bars (needs rich: {_CLI_EXTRA})",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Run the ``lrpoll`` command.

    Args:
        argv: the arguments (default: ``sys.argv[1:]``).
        prog: the program name shown in help (default: ``lrpoll``).

    Returns:
        The exit code.
    """
    parser = _build_parser(prog)
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 0
    try:
        reporter = _reporter(plain=args.plain, live=args.live)
    except MissingRich:
        print(
            "'lrpoll demo --live' draws progress bars with the optional 'rich' package,\n"
            "which is not installed. Install it with:\n\n"
            f"    {_CLI_EXTRA}\n\n"
            "or run 'lrpoll demo' for plain text output.",
            file=sys.stderr,
        )
        return 2
    try:
        report = asyncio.run(run_demo(reporter))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (BrokenPipeError, ExceptionGroup) as exc:
        if not _only_broken_pipes(exc):
            raise
        # The reader went away (`lrpoll demo | head`): stop quietly, as `cat` would.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return 0 if report.ok else 1


def _only_broken_pipes(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_broken_pipes(e) for e in exc.exceptions)
    return isinstance(exc, BrokenPipeError)


def _reporter(*, plain: bool, live: bool) -> Reporter:
    if plain:
        return PlainReporter()
    try:
        import rich  # type: ignore[import-not-found, unused-ignore]  # noqa: F401 (optional)
    except ImportError:
        if live:
            raise MissingRich from None
        return PlainReporter()
    if live:
        return LiveReporter()
    if sys.stdout.isatty():
        return RichReporter()
    return PlainReporter()


def _state(state: str) -> str:
    return f"[{_STATE_STYLES.get(state, 'white')}]{state:<9}[/]"


class RichReporter:
    """Coloured lines as operations change, then a summary table (needs rich)."""

    def __init__(self) -> None:
        from rich.console import Console  # type: ignore[import-not-found, unused-ignore]

        self.console: Any = Console(highlight=False)
        self._width = 0

    def begin(self, server_url: str, jobs: Sequence[DemoJob]) -> None:
        """Say what the demo will do."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self._width = max(len(j.name) for j in jobs)
        self.console.print(
            f"[bold]lrpoll demo[/]: {len(jobs)} export jobs, one Scheduler, "
            f"fake server {escape(server_url)}\n"
        )
        for job in jobs:
            self.console.print(f"  [bold]{job.name:<{self._width}}[/]  {escape(job.story)}")
        self.console.print()

    def update(self, job: DemoJob, update: Update) -> None:
        """One line: job, state, progress, message."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.console.print(
            f"[bold]{job.name:<{self._width}}[/]  {_state(update.state)}  "
            f"{format_percent(update.progress)}  {escape(update.message or '')}"
        )

    def note(self, job: DemoJob, text: str) -> None:
        """What the client did, dimmed."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.console.print(
            f"[bold]{job.name:<{self._width}}[/]  {'':<9}  {'':>4}  [dim]-> {escape(text)}[/]"
        )

    def end(self, report: DemoReport) -> None:
        """The summary table."""
        _print_summary(self.console, report)


class LiveReporter(RichReporter):
    """One live progress bar per operation (needs rich)."""

    def __init__(self) -> None:
        super().__init__()
        from rich.progress import (  # type: ignore[import-not-found, unused-ignore]
            BarColumn,
            Progress,
            TextColumn,
        )

        self.progress: Any = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[state]}"),
            TextColumn("{task.fields[message]}"),
            console=self.console,
        )
        self._tasks: dict[str, Any] = {}

    def begin(self, server_url: str, jobs: Sequence[DemoJob]) -> None:
        """Say what the demo will do and show one bar per job."""
        super().begin(server_url, jobs)
        for job in jobs:
            self._tasks[job.name] = self.progress.add_task(
                f"{job.name:<{self._width}}", total=100, state=_state("pending"), message=""
            )
        self.progress.start()

    def update(self, job: DemoJob, update: Update) -> None:
        """Move the job's bar and show its state and message."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.progress.update(
            self._tasks[job.name],
            completed=update.progress or 0,
            state=_state(update.state),
            message=escape(update.message or ""),
        )

    def note(self, job: DemoJob, text: str) -> None:
        """Print what the client did above the bars."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.progress.console.print(f"[bold]{job.name}[/] [dim]-> {escape(text)}[/]")

    def end(self, report: DemoReport) -> None:
        """Stop the bars, then print the summary table."""
        self.progress.stop()
        super().end(report)


def _print_summary(console: Any, report: DemoReport) -> None:
    from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]
    from rich.table import Table  # type: ignore[import-not-found, unused-ignore]

    table = Table(title="Summary", title_justify="left")
    table.add_column("state")
    table.add_column("operations", justify="right")
    table.add_column("jobs")
    for state, count, names in report.by_state():
        table.add_row(_state(state), str(count), escape(", ".join(names)))
    console.print()
    console.print(table)
    stats = report.statistics
    console.print(
        f"polls sent {stats.polls_sent}, errors retried {stats.errors_retried}, "
        f"elapsed {report.elapsed:.1f} s"
    )
    for outcome in report.outcomes:
        if outcome.problem is not None:
            console.print(f"[red]UNEXPECTED[/]: {outcome.job.name} {escape(outcome.problem)}")
    if report.ok:
        console.print("[green]every operation ended as scripted[/]")
    else:
        console.print("[red]some operations did not end as scripted[/]")
