"""``lrpoll demo``: the scripted jobs of `lrpoll._demo`, shown with live bars when it can.

On a terminal with rich installed, one live progress bar per job, then a summary
table. Without rich, plain lines, and one line saying how to get the bars (the ``cli``
extra); ``--live`` without rich says so and exits 2. Not a terminal: plain lines.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING, Any

from .._demo import PlainReporter, format_percent, run_demo
from ._display import CLI_EXTRA, Bars, has_rich, live_terminal, styled_state
from ._exit import CliError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

    from .._demo import DemoJob, DemoReport, Reporter
    from .._record import Update

__all__ = ["LiveReporter", "RichReporter", "demo_command"]


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
            f"[bold]{job.name:<{self._width}}[/]  {styled_state(update.state)} "
            f"{format_percent(update.progress)}  {escape(update.message or '')}"
        )

    def note(self, job: DemoJob, text: str) -> None:
        """What the client did, dimmed."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.console.print(f"[bold]{job.name:<{self._width}}[/]  [dim]-> {escape(text)}[/]")

    def end(self, report: DemoReport) -> None:
        """The summary table."""
        _print_summary(self.console, report)


class LiveReporter(RichReporter):
    """One live progress bar per job (needs rich); what the client does printed above."""

    def __init__(self) -> None:
        super().__init__()
        self.bars = Bars(self.console)

    def begin(self, server_url: str, jobs: Sequence[DemoJob]) -> None:
        """Say what the demo will do and show one bar per job."""
        super().begin(server_url, jobs)
        for job in jobs:
            self.bars.add(job.name, f"{job.name:<{self._width}}")
        self.bars.progress.start()

    def update(self, job: DemoJob, update: Update) -> None:
        """Move the job's bar and show its state and message."""
        ended = update.state not in ("pending", "running", "cancelling", "stopped")
        self.bars.show(job.name, update, ended=ended)

    def note(self, job: DemoJob, text: str) -> None:
        """Print what the client did above the bars."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.bars.progress.console.print(f"[bold]{job.name}[/] [dim]-> {escape(text)}[/]")

    def end(self, report: DemoReport) -> None:
        """Stop the bars, then print the summary table."""
        self.bars.progress.stop()
        super().end(report)


def _print_summary(console: Any, report: DemoReport) -> None:
    from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]
    from rich.table import Table  # type: ignore[import-not-found, unused-ignore]

    table = Table(title="Summary", title_justify="left")
    table.add_column("state")
    table.add_column("operations", justify="right")
    table.add_column("jobs")
    for state, count, names in report.by_state():
        table.add_row(styled_state(state), str(count), escape(", ".join(names)))
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


def _reporter(*, plain: bool, live: bool) -> Reporter:
    if plain:
        return PlainReporter()
    if not has_rich():
        if live:
            raise CliError(
                "'lrpoll demo --live' draws progress bars with the optional 'rich' package, "
                f"which is not installed. Install it with: {CLI_EXTRA} "
                "(or run 'lrpoll demo' for plain text)"
            )
        return PlainReporter()
    if live or live_terminal():
        return LiveReporter()
    return PlainReporter()


def demo_command(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every job ended as scripted, 1 otherwise (130 on Ctrl-C)."""
    reporter = _reporter(plain=args.plain, live=args.live)
    hint = isinstance(reporter, PlainReporter) and live_terminal() and not has_rich()
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
    if hint:
        print(f"\nLive progress bars need the optional 'rich' package: {CLI_EXTRA}")
    return 0 if report.ok else 1


def _only_broken_pipes(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return all(_only_broken_pipes(e) for e in exc.exceptions)
    return isinstance(exc, BrokenPipeError)
