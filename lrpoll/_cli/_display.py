"""How ``watch``, ``start`` and ``resume`` show operations: live bars, lines, JSON or quiet.

`choose` picks one: ``--json`` (one JSON object per update on stdout), ``--quiet`` (only
the result), live progress bars when stdout is a terminal and rich is installed (the
``cli`` extra), else plain lines on stderr. Whatever the display, the result goes to
stdout and messages for the person to stderr; nothing shown holds a credential (URLs
are redacted, headers never shown).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from .._urls import redact_url
from ._exit import code_for_state

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._operation import Operation
    from .._record import Update

__all__ = [
    "CLI_EXTRA",
    "Display",
    "JsonDisplay",
    "LiveDisplay",
    "PlainDisplay",
    "QuietDisplay",
    "Watched",
    "choose",
    "format_percent",
    "has_rich",
    "live_terminal",
    "outcome_of",
]

#: How to get the optional live display.
CLI_EXTRA: Final = "pip install 'lrpoll[cli]'"


def live_terminal() -> bool:
    """Whether stdout is a terminal that can show live bars (UTF-8: spinners, marks)."""
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return sys.stdout.isatty() and encoding.startswith("utf")


def has_rich() -> bool:
    """Whether the optional ``rich`` package can be imported."""
    try:
        import rich  # type: ignore[import-not-found, unused-ignore]  # noqa: F401 (optional)
    except ImportError:
        return False
    return True


def format_percent(progress: float | None) -> str:
    """Progress in four columns: `` 40%``, or ``   -`` when unknown."""
    return "   -" if progress is None else f"{progress:3.0f}%"


@dataclass
class Watched:
    """One operation the command follows, with the label it is shown under."""

    label: str
    op: Operation


def outcome_of(watched: Watched) -> dict[str, Any]:
    """How the operation ended, as the JSON the command prints."""
    op = watched.op
    out: dict[str, Any] = {"operation": watched.label, "state": op.state}
    if op.state == "succeeded":
        out["result"] = op.result()
    elif op.error is not None:
        out["error"] = op.error.message
    out["exit_code"] = int(code_for_state(op.state))
    return out


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Display(Protocol):
    """Shows operations as they go."""

    def begin(self, watched: Sequence[Watched]) -> None:
        """The operations are about to be followed."""

    def update(self, watched: Watched, update: Update) -> None:
        """An operation changed."""

    def note(self, text: str) -> None:
        """Something the person should read (a stop, a cancel outcome, how to resume)."""

    def end(self, watched: Sequence[Watched]) -> None:
        """Every operation ended or stopped: show the results."""


class _Results:
    """The result on stdout (one JSON line per operation when several), errors on stderr."""

    def end(self, watched: Sequence[Watched]) -> None:
        """Print each result (or why there is none)."""
        if len(watched) == 1:
            op = watched[0].op
            if op.state == "succeeded":
                indent = 2 if sys.stdout.isatty() else None
                print(json.dumps(op.result(), indent=indent), flush=True)
            elif op.state != "stopped":
                error = op.error
                reason = op.state if error is None else error.message
                if op.state in ("error", "gone") and error is not None:
                    reason = f"{type(error).__name__}: {reason}"
                _err(f"lrpoll: {op.state}: {reason}")
            return
        for one in watched:
            print(json.dumps(outcome_of(one)), flush=True)


class QuietDisplay(_Results):
    """``--quiet``: only the result (and how to resume after Ctrl-C, on stderr)."""

    def begin(self, watched: Sequence[Watched]) -> None:
        """Nothing."""

    def update(self, watched: Watched, update: Update) -> None:
        """Nothing."""

    def note(self, text: str) -> None:
        """On stderr."""
        _err(text)


class PlainDisplay(_Results):
    """One line per change on stderr; the result on stdout."""

    def __init__(self, hint: str | None = None) -> None:
        self._hint = hint
        self._width = 0
        self._last: dict[int, tuple[object, ...]] = {}

    def begin(self, watched: Sequence[Watched]) -> None:
        """Remember the label width; say how to get live bars where that helps."""
        self._width = max(len(w.label) for w in watched) if len(watched) > 1 else 0
        if self._hint:
            _err(self._hint)

    def update(self, watched: Watched, update: Update) -> None:
        """One line: (label,) state, progress, message; repeats are left out."""
        shown = (update.state, update.progress, update.message)
        if self._last.get(id(watched)) == shown:
            return
        self._last[id(watched)] = shown
        head = f"{watched.label:<{self._width}}  " if self._width else ""
        line = f"{head}{update.state:<10} {format_percent(update.progress)}  {update.message or ''}"
        _err(line.rstrip())

    def note(self, text: str) -> None:
        """On stderr."""
        _err(text)


class JsonDisplay:
    """``--json``: one JSON object per line on stdout, for each update, note and end."""

    def begin(self, watched: Sequence[Watched]) -> None:
        """Nothing yet: the first poll gives the first update."""

    def _emit(self, event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    def update(self, watched: Watched, update: Update) -> None:
        """``{"event": "update", "operation", "state", "progress", "message", "elapsed"}``."""
        self._emit(
            {
                "event": "update",
                "operation": watched.label,
                "state": update.state,
                "progress": update.progress,
                "message": update.message,
                "elapsed": round(watched.op.elapsed, 3),
            }
        )

    def note(self, text: str) -> None:
        """``{"event": "note", "text"}``."""
        self._emit({"event": "note", "text": text})

    def end(self, watched: Sequence[Watched]) -> None:
        """``{"event": "end", "operation", "state", "result" or "error", "exit_code"}``."""
        for one in watched:
            self._emit({"event": "end", **outcome_of(one)})


_STATE_STYLES: Final = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "yellow",
    "cancelled": "magenta",
    "cancelling": "magenta",
    "gone": "red",
    "error": "red",
    "stopped": "blue",
    "running": "cyan",
}


def styled_state(state: str) -> str:
    """``state`` in rich markup, in its colour, padded to 10 columns."""
    return f"[{_STATE_STYLES.get(state, 'white')}]{state:<10}[/]"


#: What an ended bar shows where its spinner was (else ``■``).
_MARKS: Final = {"succeeded": "✓", "failed": "✗", "error": "✗", "gone": "✗"}


def progress_bars(console: Any) -> Any:
    """A rich ``Progress`` with the columns lrpoll shows (needs rich).

    A spinner (a mark once ended), the label, a bar (pulsing while progress is
    unknown), percent, state, elapsed time, time left, message.
    """
    from rich.progress import (  # type: ignore[import-not-found, unused-ignore]
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Column  # type: ignore[import-not-found, unused-ignore]
    from rich.text import Text  # type: ignore[import-not-found, unused-ignore]

    class Mark(SpinnerColumn):  # type: ignore[misc, unused-ignore]
        """The spinner while an operation runs; its mark once it ended."""

        def render(self, task: Any) -> Any:
            mark = task.fields.get("mark")
            return Text(mark) if mark else super().render(task)

    class Left(TimeRemainingColumn):  # type: ignore[misc, unused-ignore]
        """The time left while an operation runs; nothing once it ended."""

        def render(self, task: Any) -> Any:
            return Text("") if task.fields.get("mark") else super().render(task)

    return Progress(
        Mark(),
        TextColumn("[bold]{task.description}"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[percent]}"),
        TextColumn("{task.fields[state]}"),
        TimeElapsedColumn(table_column=Column(min_width=7, no_wrap=True)),
        Left(table_column=Column(min_width=7, no_wrap=True)),
        TextColumn(
            "{task.fields[message]}",
            table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
        ),
        console=console,
        expand=True,
    )


class Bars:
    """One rich progress bar per key; an ended operation's bar stops where it ended."""

    def __init__(self, console: Any) -> None:
        self.progress: Any = progress_bars(console)
        self._tasks: dict[object, Any] = {}

    def add(self, key: object, label: str) -> None:
        """A bar for ``key``, pending, with unknown progress."""
        self._tasks[key] = self.progress.add_task(
            label, total=None, percent="   -", state=styled_state("pending"), message="", mark=""
        )

    def show(self, key: object, update: Update, *, ended: bool) -> None:
        """Move ``key``'s bar to ``update``."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        task = self._tasks[key]
        fields: dict[str, Any] = {
            "percent": format_percent(update.progress),
            "state": styled_state(update.state),
            "message": escape(update.message or ""),
        }
        if update.progress is not None:
            fields.update(total=100, completed=update.progress)
        if update.state == "succeeded":
            fields.update(total=100, completed=100, percent=format_percent(100))
        elif ended and update.progress is None:
            fields.update(total=100, completed=0)
        if ended:
            fields["mark"] = _MARKS.get(update.state, "■")
        self.progress.update(task, **fields)
        if ended:
            self.progress.stop_task(task)


class LiveDisplay(_Results):
    """Live progress bars on the terminal (needs rich); the result printed after them."""

    def __init__(self) -> None:
        from rich.console import Console  # type: ignore[import-not-found, unused-ignore]

        self.console: Any = Console(highlight=False)
        self.bars = Bars(self.console)

    def begin(self, watched: Sequence[Watched]) -> None:
        """One bar per operation, labelled with the end of its URL."""
        labels = [_short(w.label) for w in watched]
        width = max(len(label) for label in labels)
        for one, label in zip(watched, labels, strict=True):
            self.bars.add(id(one), f"{label:<{width}}")
        self.bars.progress.start()

    def update(self, watched: Watched, update: Update) -> None:
        """Move the operation's bar."""
        ended = watched.op.done or update.state == "stopped"
        self.bars.show(id(watched), update, ended=ended)

    def note(self, text: str) -> None:
        """Printed above the bars."""
        from rich.markup import escape  # type: ignore[import-not-found, unused-ignore]

        self.bars.progress.console.print(escape(text))

    def end(self, watched: Sequence[Watched]) -> None:
        """Stop the bars, then print the results."""
        self.bars.progress.stop()
        super().end(watched)


def _short(label: str, width: int = 40) -> str:
    """``label`` in at most ``width`` columns, its start cut off first (URLs end in the id)."""
    return label if len(label) <= width else "…" + label[-(width - 1) :]


def choose(*, json_lines: bool, quiet: bool, plain: bool) -> Display:
    """The display the options and the terminal ask for."""
    if json_lines:
        return JsonDisplay()
    if quiet:
        return QuietDisplay()
    if plain or not live_terminal():
        return PlainDisplay()
    if has_rich():
        return LiveDisplay()
    return PlainDisplay(hint=f"(live progress bars need the optional 'rich' package: {CLI_EXTRA})")


def label_for(url: str) -> str:
    """How an operation is labelled: its URL, credentials and token-like values hidden."""
    return redact_url(url)
