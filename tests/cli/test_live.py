"""The live display as a person sees it: the command on a pseudo-terminal, read by pyte."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import pytest

from lrpoll.testing import JobScript

from .helpers import GENERIC, Generic, command, run_in_terminal

if TYPE_CHECKING:
    from pathlib import Path

pytest.importorskip("rich")


def test_demo_shows_bars_and_final_states() -> None:
    """On a terminal, the demo draws a bar per job and leaves each at its final state."""
    code, screen = run_in_terminal(command("demo"), columns=110, rows=50)
    assert code == 0
    lines = [line.rstrip() for line in screen.display]
    bars = {line.split()[1]: line for line in lines if "━" in line and line[:1] in "✓✗■"}
    assert sorted(bars) == sorted(
        ["customers", "orders", "invoices", "audit-log", "inventory", "products", "shipments"]
    )
    assert bars["customers"].startswith("✓ customers ━")
    assert " 100% succeeded " in bars["customers"]
    assert "failed" in bars["invoices"]
    assert "Export failed: disk full on /exports" in bars["invoices"]
    assert "timed_out" in bars["audit-log"]
    assert "cancelled" in bars["shipments"]
    assert "succeeded" in bars["inventory"]
    text = "\n".join(lines)
    assert "inventory -> op.stop(): the client stops polling" in text
    assert "shipments -> cancel outcome: cancelled (HTTP 202)" in text
    assert "every operation ended as scripted" in text


def test_watch_shows_a_bar_then_the_result() -> None:
    """On a terminal, watch draws a live bar, then prints the result under it."""
    with Generic() as fake:
        job = fake.job(JobScript(polls=3, progress=(30, 60, 90)))
        code, screen = run_in_terminal(
            command("watch", fake.status_url(job), *GENERIC), columns=100, rows=12
        )
    assert code == 0
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert lines[0].startswith("✓ ")
    assert f"/api/exports/{job.id}/status " in lines[0]  # the end of the URL
    assert " 100% succeeded " in lines[0]
    assert json.loads("\n".join(lines[1:])) == {"url": f"/downloads/{job.id}.csv"}


def test_interrupted_watch_shows_the_stop_and_how_to_resume(tmp_path: Path) -> None:
    """Ctrl-C on a terminal leaves the bar stopped and says how to resume."""
    checkpoint = tmp_path / "job.checkpoint"
    with Generic() as fake:
        job = fake.job(JobScript.success(polls=100))
        code, screen = run_in_terminal(
            command("watch", fake.status_url(job), *GENERIC, "--checkpoint", str(checkpoint)),
            columns=150,
            rows=12,
            interrupt_when=lambda screen: any("running" in line for line in screen.display),
        )
    assert code == 5
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert "Ctrl-C: polling stopped; the server job goes on" in lines[0]
    # Rich wraps long lines at the terminal's width, between words.
    assert f"resume with: lrpoll resume {checkpoint}" in " ".join(lines)
    (bar,) = [line for line in lines if line.startswith("■ ")]
    assert f"/api/exports/{job.id}/status " in bar
    assert " stopped " in bar


def test_without_rich_a_terminal_gets_lines_and_a_hint() -> None:
    """On a terminal without rich, watch prints plain lines and says how to get the bars."""
    with Generic() as fake:
        job = fake.job(JobScript.success(polls=2))
        args = ["watch", fake.status_url(job), *GENERIC]
        code = (
            "import sys; sys.modules['rich'] = None; from lrpoll._cli import main; "
            f"sys.exit(main({args!r}))"
        )
        status, screen = run_in_terminal([sys.executable, "-c", code], columns=100, rows=12)
    assert status == 0
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert (
        lines[0]
        == "(live progress bars need the optional 'rich' package: pip install 'lrpoll[cli]')"
    )
    start = lines.index("{")
    assert lines[start - 1].startswith("succeeded  100%")
    assert json.loads("\n".join(lines[start:])) == {"url": f"/downloads/{job.id}.csv"}


def test_demo_without_rich_says_how_to_get_the_bars() -> None:
    """On a terminal without rich, the demo prints lines, then how to get the live bars."""
    code = (
        "import sys; sys.modules['rich'] = None; from lrpoll._cli import main; "
        "sys.exit(main(['demo']))"
    )
    status, screen = run_in_terminal([sys.executable, "-c", code], columns=100, rows=40)
    assert status == 0
    lines = [line.rstrip() for line in screen.display if line.strip()]
    assert lines[-2] == "  every operation ended as scripted"
    assert (
        lines[-1]
        == "Live progress bars need the optional 'rich' package: pip install 'lrpoll[cli]'"
    )
