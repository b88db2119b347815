"""``lrpoll watch`` and ``lrpoll start`` in a subprocess against the fake: exit codes, output."""

from __future__ import annotations

import json
import socket
from typing import TYPE_CHECKING

import pytest

import lrpoll.registry
from lrpoll.testing import JobScript

from .helpers import GENERIC, Generic, lrpoll_command

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(name="fake", scope="module")
def _fake() -> Iterator[Generic]:
    """One generic fake server for the module's tests."""
    with Generic() as served:
        yield served


def watch(fake: Generic, script: JobScript, *args: str) -> subprocess.CompletedProcess[str]:
    """``lrpoll watch`` a new job of ``script`` with the generic options and ``args``."""
    job = fake.job(script)
    return lrpoll_command("watch", fake.status_url(job), *GENERIC, *args)


class TestExitCodes:
    """Each ending has its exit code, and a result or a one-line reason."""

    def test_succeeded_prints_the_result(self, fake: Generic) -> None:
        """A succeeded operation exits 0 with its result as JSON on stdout."""
        result = watch(fake, JobScript.success(polls=2))
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"url": "/downloads/" + _last_job(fake) + ".csv"}
        assert "succeeded" in result.stderr  # the progress lines (not a terminal)

    def test_failed(self, fake: Generic) -> None:
        """A failed operation exits 1 and says the server's message on one line."""
        result = watch(fake, JobScript.fail_at(2, "disk full on /exports"))
        assert result.returncode == 1
        assert result.stdout == ""
        assert result.stderr.splitlines()[-1] == "lrpoll: failed: disk full on /exports"

    def test_timed_out(self, fake: Generic) -> None:
        """Past --timeout the command exits 3."""
        result = watch(fake, JobScript.slow(), "--timeout", "0.3")
        assert result.returncode == 3
        assert result.stderr.splitlines()[-1].startswith("lrpoll: timed_out: ")

    def test_cancelled_on_the_server(self, fake: Generic) -> None:
        """An operation the server reports cancelled exits 4."""
        job = fake.job(JobScript.slow())
        fake.call(job.request_cancel)
        result = lrpoll_command("watch", fake.status_url(job), *GENERIC)
        assert result.returncode == 4
        assert "lrpoll: cancelled" in result.stderr

    def test_unreachable_url(self) -> None:
        """A URL nobody listens on exits 6 with one line, no traceback."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        url = f"http://127.0.0.1:{port}/jobs/1"
        result = lrpoll_command("watch", url, *GENERIC, "--retries", "0")
        assert result.returncode == 6
        assert "Traceback" not in result.stderr
        assert result.stderr.splitlines()[-1].startswith("lrpoll: error: ")

    def test_start_unreachable(self) -> None:
        """A start request nobody answers exits 6 with one line."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        result = lrpoll_command(
            "start", "POST", f"http://127.0.0.1:{port}/jobs", *GENERIC, "--retries", "0"
        )
        assert result.returncode == 6
        lines = result.stderr.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("lrpoll: error: RequestError: ")

    def test_non_json_status(self, fake: Generic) -> None:
        """A status answer that is not JSON exits 6 with one line."""
        job = fake.job(JobScript.slow())
        fake.server.fail_next(
            f"*/{job.id}/status", status=200, body=b"<html>", headers={"Content-Type": "text/html"}
        )
        result = lrpoll_command("watch", fake.status_url(job), *GENERIC, "--retries", "0")
        assert result.returncode == 6
        assert "Traceback" not in result.stderr
        assert "lrpoll: error: " in result.stderr.splitlines()[-1]

    def test_debug_shows_the_traceback(self, fake: Generic) -> None:
        """--debug shows the traceback instead of one line."""
        result = lrpoll_command("--debug", "watch", "http://127.0.0.1:1/x", "--done", "a |")
        assert result.returncode == 2
        assert "Traceback (most recent call last)" in result.stderr


class TestUsageErrors:
    """Bad input exits 2 with a one-line reason."""

    def test_bad_expression_has_a_caret(self) -> None:
        """A bad expression names its option and points at the position with a caret."""
        result = lrpoll_command("watch", "http://127.0.0.1:1/x", "--done", "status == 'done")
        assert result.returncode == 2
        assert result.stderr.splitlines() == [
            'lrpoll: error: --done at position 10: invalid JMESPath: unexpected "\'done"',
            "  status == 'done",
            "            ^",
        ]

    def test_unknown_function(self) -> None:
        """An unknown function is refused before anything is sent."""
        result = lrpoll_command("watch", "http://127.0.0.1:1/x", "--done", "size(x)")
        assert result.returncode == 2
        assert result.stderr.startswith("lrpoll: error: --done at position 0: unknown function")

    def test_missing_spec_file(self, tmp_path: Path) -> None:
        """A missing --spec file is one line."""
        missing = tmp_path / "nope.json"
        result = lrpoll_command("watch", "http://127.0.0.1:1/x", "--spec", str(missing))
        assert result.returncode == 2
        assert result.stderr == f"lrpoll: error: --spec: no such file: {missing}\n"

    def test_bad_expression_in_a_spec_file(self, tmp_path: Path) -> None:
        """An expression error in a spec file names the file and field, with a caret."""
        path = tmp_path / "spec.json"
        path.write_text(json.dumps({"status_url": "{+request_url}", "done": "a ||"}))
        result = lrpoll_command("watch", "http://127.0.0.1:1/x", "--spec", str(path))
        assert result.returncode == 2
        first, text, caret = result.stderr.splitlines()
        assert first.startswith(f"lrpoll: error: --spec {path}: done at position")
        assert text == "  a ||"
        assert caret.endswith("^")

    def test_no_done_expression(self) -> None:
        """Without --done, --spec or --preset, the command says what it needs."""
        result = lrpoll_command("watch", "http://127.0.0.1:1/x")
        assert result.returncode == 2
        assert "--done EXPR" in result.stderr

    def test_unknown_preset(self) -> None:
        """An unknown preset lists the known ones."""
        result = lrpoll_command("watch", "http://127.0.0.1:1/x", "--preset", "nope")
        assert result.returncode == 2
        assert f"(known: {', '.join(lrpoll.registry.preset_names())})" in result.stderr

    def test_body_not_json(self) -> None:
        """A --body that is not JSON is refused without echoing it."""
        result = lrpoll_command(
            "start", "POST", "http://127.0.0.1:1/x", "--done", "a", "--body", "{secret"
        )
        assert result.returncode == 2
        assert "secret" not in result.stderr
        assert "--body is not JSON" in result.stderr

    def test_cancel_on_interrupt_needs_a_cancel(self, fake: Generic) -> None:
        """--cancel-on-interrupt without a cancel request is a usage error."""
        result = watch(fake, JobScript.success(), "--cancel-on-interrupt")
        assert result.returncode == 2
        assert "no cancel request" in result.stderr


class TestOutput:
    """--json, --quiet, start, spec files and presets."""

    def test_json_lines(self, fake: Generic) -> None:
        """--json prints one JSON object per update, then the end with its exit code."""
        result = watch(fake, JobScript(polls=3, progress=(20, 40, 60)), "--json")
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        updates = [e for e in events if e["event"] == "update"]
        assert [u["progress"] for u in updates if u["state"] == "running"] == [20, 40, 60]
        assert updates[-1]["state"] == "succeeded"
        assert events[-1]["event"] == "end"
        assert events[-1]["state"] == "succeeded"
        assert events[-1]["exit_code"] == 0
        assert events[-1]["result"]["url"].startswith("/downloads/")
        assert result.stderr == ""

    def test_quiet_prints_only_the_result(self, fake: Generic) -> None:
        """--quiet prints the result and nothing else."""
        result = watch(fake, JobScript.success(polls=2), "--quiet")
        assert result.returncode == 0
        assert result.stderr == ""
        assert list(json.loads(result.stdout)) == ["url"]

    def test_start_with_a_body_file(self, fake: Generic, tmp_path: Path) -> None:
        """start sends the body (from @file) and follows the status URL of the answer."""
        body = tmp_path / "body.json"
        body.write_text('{"table": "orders"}')
        fake.call(lambda: fake.server.script_next(JobScript.success(polls=1)))
        result = lrpoll_command(
            "start", "POST", fake.server.url("/api/exports"), "--body", f"@{body}",
            "--status-url", "/api/exports/{start.jobId}/status", *GENERIC, "--quiet",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        created = fake.server.requests_to("/api/exports", "POST")[-1]
        assert created.json() == {"table": "orders"}

    def test_spec_file(self, fake: Generic, tmp_path: Path) -> None:
        """--spec FILE reads the protocol from a JSON spec."""
        path = tmp_path / "spec.json"
        spec = {"status_url": "{+request_url}", "done": "status == 'done'", "interval": 0.05,
                "min_interval": 0, "result": "result"}  # fmt: skip
        path.write_text(json.dumps(spec))
        job = fake.job(JobScript.success(polls=1))
        result = lrpoll_command("watch", fake.status_url(job), "--spec", str(path), "-q")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"url": f"/downloads/{job.id}.csv"}

    def test_toml_spec_file(self, fake: Generic, tmp_path: Path) -> None:
        """--spec reads TOML too (through lrpoll.load_spec)."""
        path = tmp_path / "spec.toml"
        path.write_text(
            'status_url = "{+request_url}"\ndone = "status == \'done\'"\n'
            'interval = 0.05\nmin_interval = 0\nresult = "result"\n'
        )
        job = fake.job(JobScript.success(polls=1))
        result = lrpoll_command("watch", fake.status_url(job), "--spec", str(path), "-q")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"url": f"/downloads/{job.id}.csv"}

    def test_several_from_a_file(self, fake: Generic, tmp_path: Path) -> None:
        """--from-file follows every URL at once; the highest exit code wins."""
        good = fake.job(JobScript.success(polls=2))
        bad = fake.job(JobScript.fail_at(2, "no space"))
        listing = tmp_path / "ops.txt"
        listing.write_text(f"# two jobs\n{fake.status_url(good)}\n\n{fake.status_url(bad)}\n")
        result = lrpoll_command("watch", "--from-file", str(listing), *GENERIC, "-q")
        assert result.returncode == 1
        ends = [json.loads(line) for line in result.stdout.splitlines()]
        assert [(e["state"], e["exit_code"]) for e in ends] == [("succeeded", 0), ("failed", 1)]
        assert ends[1]["error"] == "no space"

    def test_several_starts_from_a_file(self, fake: Generic, tmp_path: Path) -> None:
        """start --from-file sends each line's request and follows every operation."""
        create = fake.server.url("/api/exports")
        fake.call(
            lambda: fake.server.script_next(JobScript.success(polls=1), JobScript.success(polls=2))
        )
        listing = tmp_path / "starts.txt"
        listing.write_text(f'POST {create} {{"table": "a"}}\npost {create}\n')
        result = lrpoll_command(
            "start", "--from-file", str(listing),
            "--status-url", "/api/exports/{start.jobId}/status", *GENERIC, "-q",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        ends = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e["state"] for e in ends] == ["succeeded", "succeeded"]
        bodies = [r.body for r in fake.server.requests_to("/api/exports", "POST")[-2:]]
        assert bodies == [b'{"table": "a"}', b""]


def _last_job(fake: Generic) -> str:
    return list(fake.server.jobs)[-1]
