"""Ctrl-C (SIGINT to the subprocess): stop and resume, or cancel on the server."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from lrpoll.testing import JobScript

from .helpers import ENV, GENERIC, TIMEOUT, Generic, command, lrpoll_command, read_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(name="fake")
def _fake() -> Iterator[Generic]:
    """A generic fake server of the test's own."""
    with Generic() as served:
        yield served


def _running(line: str) -> bool:
    event = json.loads(line)
    return bool(event["event"] == "update" and event["state"] == "running")


def interrupt_after_first_poll(*args: str) -> tuple[int, list[dict[str, object]], str]:
    """Run ``lrpoll ARGS --json``, send SIGINT once it polled; exit code, events, stderr."""
    with subprocess.Popen(
        command(*args, "--json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    ) as proc:
        lines = read_until(proc, _running)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    events = [json.loads(line) for line in [*lines, *out.splitlines()]]
    return proc.returncode, events, err


def _notes(events: list[dict[str, object]]) -> list[str]:
    return [str(e["text"]) for e in events if e["event"] == "note"]


class TestStop:
    """Without --cancel-on-interrupt, Ctrl-C stops polling; the server job goes on."""

    def test_checkpoint_then_resume(self, fake: Generic, tmp_path: Path) -> None:
        """Ctrl-C writes a resumable checkpoint, sends no cancel, and exits 5; resume ends it."""
        job = fake.job(JobScript.success(polls=20))
        checkpoint = tmp_path / "job.checkpoint"
        code, events, err = interrupt_after_first_poll(
            "watch", fake.status_url(job), *GENERIC, "--checkpoint", str(checkpoint)
        )
        assert code == 5, err
        assert events[-1]["state"] == "stopped"
        assert any(f"lrpoll resume {checkpoint}" in note for note in _notes(events))
        assert fake.server.requests_to("*/cancel") == []
        assert len(checkpoint.read_text().splitlines()) == 1
        polls_before = len(fake.server.requests_to(f"*/{job.id}/status"))

        resumed = lrpoll_command("resume", str(checkpoint), "--json")
        assert resumed.returncode == 0, resumed.stderr
        end = json.loads(resumed.stdout.splitlines()[-1])
        assert end["state"] == "succeeded"
        assert len(fake.server.requests_to(f"*/{job.id}/status")) > polls_before
        assert fake.server.requests_to("*/cancel") == []

    def test_prints_the_command_to_resume(self, fake: Generic) -> None:
        """Without --checkpoint, Ctrl-C prints the exact command, which finishes the job."""
        job = fake.job(JobScript.success(polls=20))
        code, events, _ = interrupt_after_first_poll("watch", fake.status_url(job), *GENERIC)
        assert code == 5
        commands = [n.strip() for n in _notes(events) if n.strip().startswith("lrpoll watch")]
        assert len(commands) == 1
        words = shlex.split(commands[0])
        assert words[2] == fake.status_url(job)
        again = lrpoll_command(*words[1:], "--quiet")
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == {"url": f"/downloads/{job.id}.csv"}


class TestCancelOnInterrupt:
    """With --cancel-on-interrupt, Ctrl-C sends the server cancel and waits for it."""

    def test_confirmed_cancel_exits_4(self, fake: Generic) -> None:
        """One cancel request goes out; the confirmed outcome is shown; the exit code is 4."""
        job = fake.job(JobScript.cancel_async(2, polls=50))
        code, events, err = interrupt_after_first_poll(
            "watch", fake.status_url(job), *GENERIC,
            "--cancel-url", fake.cancel_url(), "--cancel-on-interrupt",
        )  # fmt: skip
        assert code == 4, err
        assert len(fake.server.requests_to(f"*/{job.id}/cancel", "POST")) == 1
        assert any("cancel cancelled (HTTP 202)" in note for note in _notes(events))
        states = [e["state"] for e in events if e["event"] == "update"]
        assert "cancelling" in states
        assert events[-1]["state"] == "cancelled"

    def test_second_interrupt_exits_at_once(self, fake: Generic, tmp_path: Path) -> None:
        """While waiting for a confirmation that never comes, a second Ctrl-C exits 5 at once."""
        job = fake.job(JobScript(polls=50, outcome="never", cancel="ignored"))
        checkpoint = tmp_path / "job.checkpoint"
        with subprocess.Popen(
            command(
                "watch", fake.status_url(job), *GENERIC, "--json", "--checkpoint", str(checkpoint),
                "--cancel-url", fake.cancel_url(), "--cancel-on-interrupt", "--cancel-wait", "50",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=ENV,
            text=True,
        ) as proc:  # fmt: skip
            read_until(proc, _running)
            proc.send_signal(signal.SIGINT)
            read_until(proc, lambda line: "asking the server to cancel" in line)
            deadline = time.monotonic() + TIMEOUT
            while not fake.server.requests_to(f"*/{job.id}/cancel"):
                assert time.monotonic() < deadline, "no cancel request"
                time.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 5
        assert "exiting now" in out
        assert len(checkpoint.read_text().splitlines()) == 1
