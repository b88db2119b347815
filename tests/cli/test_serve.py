"""``lrpoll serve``: each fake dialect on loopback, with lines to try it."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import urllib.request

import pytest

from lrpoll.testing import dialects

from .helpers import ENV, TIMEOUT, command, lrpoll_command


@pytest.mark.parametrize("name", sorted(dialects()))
def test_serves_until_interrupted(name: str) -> None:
    """serve prints its URL and curl lines, answers them, and stops cleanly on Ctrl-C."""
    with subprocess.Popen(
        command("serve", "--dialect", name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        proc.stdout.readline()  # the summary
        listening = proc.stdout.readline()
        assert listening.startswith("listening on http://127.0.0.1:")
        base = listening.split()[2]
        lines = []
        for line in proc.stdout:
            if line.strip().startswith("lrpoll "):
                lines.append(line.strip())
                break
            lines.append(line.strip())
        assert any(line.startswith("curl ") for line in lines)
        if name == "generic":
            request = urllib.request.Request(base + "/api/exports", data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:
                assert json.load(answer)["jobId"] == "job-1"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert "stopped;" in out


@pytest.mark.parametrize("name", sorted(dialects()))
def test_the_printed_lrpoll_line_works(name: str) -> None:
    """The ``lrpoll start`` line that serve prints runs to success against that fake."""
    with subprocess.Popen(
        command("serve", "--dialect", name),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        line = next(x.strip() for x in proc.stdout if x.strip().startswith("lrpoll start"))
        result = subprocess.run(
            ["bash", "-c", line.replace("lrpoll ", shlex.join(command()) + " ", 1)
             + " --interval 0.05 --quiet"],
            capture_output=True, text=True, env=ENV, timeout=TIMEOUT, check=False,
        )  # fmt: skip
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) is not None  # the result, as JSON


def test_unknown_dialect() -> None:
    """An unknown dialect is a usage error naming the known ones."""
    result = lrpoll_command("serve", "--dialect", "nope")
    assert result.returncode == 2
    assert f"known: {', '.join(sorted(dialects()))})" in result.stderr


def test_list() -> None:
    """--list names every dialect."""
    result = lrpoll_command("serve", "--list")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines()] == sorted(dialects())


def test_fleet_worker_command() -> None:
    """``lrpoll fleet worker`` is ``python -m lrpoll.fleet worker``: same options, same help."""
    result = lrpoll_command("fleet", "worker", "--help")
    assert result.returncode == 0, result.stderr
    assert "--redis" in result.stdout
    assert "--slots" in result.stdout
    listed = lrpoll_command("--help")
    assert "fleet" in listed.stdout
