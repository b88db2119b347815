"""``lrpoll demo``, help and version, run as users run them."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import lrpoll
from lrpoll import _cli, _demo
from lrpoll._cli import _demo_cmd
from lrpoll._cli._exit import EXIT_CODES_HELP

from .helpers import ENV, TIMEOUT, lrpoll_command

if TYPE_CHECKING:
    from lrpoll._demo import Reporter

# Hides rich, whether or not it is installed: `import rich` then raises ImportError.
WITHOUT_RICH = "import sys; sys.modules['rich'] = None; from lrpoll._cli import main; "


@pytest.fixture(name="demo", scope="module")
def _demo_run() -> subprocess.CompletedProcess[str]:
    """One run of ``python -m lrpoll demo`` (plain text: stdout is not a terminal)."""
    return lrpoll_command("demo")


class TestDemo:
    """``lrpoll demo``."""

    def test_runs_every_scripted_job_and_exits_zero(
        self, demo: subprocess.CompletedProcess[str]
    ) -> None:
        """The demo finishes, shows each scripted ending and the summary, and exits 0."""
        result = demo
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        out = result.stdout
        assert out.startswith(
            "lrpoll demo: 7 export jobs, one Scheduler, fake server http://127.0.0.1:"
        )
        for expected in [
            "customers  succeeded  100%  Export completed: /downloads/job-1.csv",
            "invoices   failed",
            "Export failed: disk full on /exports",
            "audit-log  timed_out",
            "Gave up waiting: no terminal state within 1.5 s",
            "-> op.stop(): the client stops polling; the server job goes on",
            "inventory  stopped",
            "-> op.resume(): polling again where it left off",
            "inventory  succeeded",
            "products   succeeded",
            "Summary",
            "  succeeded  4  customers, orders, inventory, products",
            "  failed     1  invoices",
            "  timed_out  1  audit-log",
            "  cancelled  1  shipments",
            "-> await op.cancel(): one cancel request, then polling until the server confirms",
            "shipments  cancelling",
            "-> cancel outcome: cancelled (HTTP 202)",
            "errors retried 1",
            "every operation ended as scripted",
        ]:
            assert expected in out
        assert out.isascii()

    def test_progress_lines_are_in_order(self, demo: subprocess.CompletedProcess[str]) -> None:
        """Each job's progress only grows, and its terminal line is its last state line."""
        out = demo.stdout
        body = out.split("\n\n")[2]  # between the plan and the summary
        for job in _demo.JOBS:
            lines = [line.split() for line in body.splitlines() if line.startswith(job.name + " ")]
            states = [parts[1] for parts in lines if parts[1] != "->"]
            assert states[-1] == job.expect
            percents = [int(p[2].rstrip("%")) for p in lines if p[1] == "running" and p[2] != "-"]
            assert percents == sorted(percents)

    def test_exits_one_when_a_job_ends_otherwise(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An operation that does not end as scripted is reported, and the exit code is 1."""
        wrong = dataclasses.replace(_demo.JOBS[0], expect="failed")

        async def run_wrong(reporter: Reporter) -> _demo.DemoReport:
            return await _demo.run_demo(reporter, jobs=[wrong], interval=0.01)

        monkeypatch.setattr(_demo_cmd, "run_demo", run_wrong)
        assert _cli.main(["demo", "--plain"]) == 1
        out = capsys.readouterr().out
        assert "UNEXPECTED: customers ended succeeded, expected failed" in out
        assert "some operations did not end as scripted" in out

    def test_report_checks_the_error_text(self) -> None:
        """A failure with another message than scripted does not count as scripted."""
        job = dataclasses.replace(_demo.JOBS[2], expect_error="a different message")
        lines: list[str] = []
        report = asyncio.run(_demo.run_demo(_demo.PlainReporter(lines.append), jobs=[job]))
        assert not report.ok
        assert report.outcomes[0].state == "failed"
        assert "lacks 'a different message'" in (report.outcomes[0].problem or "")

    def test_live_without_rich_says_how_to_get_it(self) -> None:
        """``--live`` without rich explains the ``cli`` extra on stderr and exits 2."""
        code = WITHOUT_RICH + "sys.exit(main(['demo', '--live']))"
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 2
        assert result.stdout == ""  # nothing was started
        assert "pip install 'lrpoll[cli]'" in result.stderr
        assert "lrpoll demo" in result.stderr

    def test_plain_without_rich(self) -> None:
        """Without rich, the demo falls back to plain text and still exits 0."""
        code = WITHOUT_RICH + "sys.exit(main(['demo']))"
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=ENV,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "every operation ended as scripted" in result.stdout

    def test_live_with_rich(self) -> None:
        """With rich installed, ``--live`` draws bars and exits 0."""
        pytest.importorskip("rich")
        result = lrpoll_command("demo", "--live")
        assert result.returncode == 0, result.stderr
        assert "every operation ended as scripted" in result.stdout

    def test_closed_pipe_ends_quietly(self) -> None:
        """When the reader goes away (``| head``), the demo stops without a traceback."""
        with subprocess.Popen(
            [sys.executable, "-m", "lrpoll", "demo", "--plain"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
        ) as proc:
            assert proc.stdout is not None
            assert proc.stderr is not None
            assert proc.stdout.readline().startswith(b"lrpoll demo:")
            proc.stdout.close()
            err = proc.stderr.read()
            assert proc.wait(timeout=TIMEOUT) == 1
        assert b"Traceback" not in err

    def test_interrupt_exits_130(self) -> None:
        """Ctrl-C stops the demo cleanly with exit code 130."""
        with subprocess.Popen(
            [sys.executable, "-m", "lrpoll", "demo", "--plain"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            proc.stdout.readline()  # the server is up
            masks = _signal_masks(proc.pid)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=TIMEOUT)
        # SigIgn shows SIGINT (bit 1) ignored when the suite's own process ignores it.
        assert proc.returncode == 130, f"{masks} {out[-300:]!r}"
        assert err == "interrupted\n"


def _signal_masks(pid: int) -> dict[str, str]:
    """The signal masks of process ``pid`` (SIGINT is bit 1), for an assertion's message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if line.startswith("Sig"))


class TestHelpAndVersion:
    """``--help``, ``--version`` and usage errors."""

    def test_help(self) -> None:
        """``--help`` lists the demo command."""
        result = lrpoll_command("--help")
        assert result.returncode == 0
        assert result.stdout.startswith("usage: python -m lrpoll")
        assert "demo" in result.stdout

    def test_demo_help(self) -> None:
        """``demo --help`` describes the demo, its exit codes and its options."""
        result = lrpoll_command("demo", "--help")
        assert result.returncode == 0
        for expected in ["--plain", "--live", "pip install 'lrpoll[cli]'", "Exits 0"]:
            assert expected in result.stdout

    def test_version(self) -> None:
        """``--version`` prints the package version."""
        result = lrpoll_command("--version")
        assert result.returncode == 0
        assert result.stdout == f"lrpoll {lrpoll.__version__}\n"

    def test_no_command_prints_help(self) -> None:
        """Without a command, the help is shown."""
        result = lrpoll_command()
        assert result.returncode == 0
        assert "demo" in result.stdout

    def test_unknown_option_is_a_usage_error(self) -> None:
        """An unknown option exits 2 with argparse's message."""
        result = lrpoll_command("demo", "--bogus")
        assert result.returncode == 2
        assert "unrecognized arguments: --bogus" in result.stderr

    def test_console_script_is_declared(self) -> None:
        """The installed distribution declares ``lrpoll = lrpoll._cli:main``."""
        scripts = importlib.metadata.entry_points(group="console_scripts")
        assert [ep.value for ep in scripts if ep.name == "lrpoll"] == ["lrpoll._cli:main"]

    @pytest.mark.parametrize("command", [[], ["watch"], ["start"], ["resume"]])
    def test_help_lists_the_exit_codes(self, command: list[str]) -> None:
        """``--help`` of the command and of watch, start and resume lists the exit codes."""
        result = lrpoll_command(*command, "--help")
        assert result.returncode == 0
        assert EXIT_CODES_HELP in result.stdout

    def test_docs_list_the_same_exit_codes(self) -> None:
        """docs/cli.md lists the exit codes as ``--help`` does, and keeps a screen capture."""
        text = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
        assert EXIT_CODES_HELP in text
        assert "✓ customers ━" in text
