"""Credentials on the command line go to the URL's origin only and never into any output."""

from __future__ import annotations

import json
import signal
import subprocess
from typing import TYPE_CHECKING

import pytest

from lrpoll.testing import JobScript

from .helpers import ENV, GENERIC, TIMEOUT, Generic, command, lrpoll_command, read_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "tok-SECRET-4711"
API_KEY = "key-SECRET-0815"


@pytest.fixture(name="fake", scope="module")
def _fake() -> Iterator[Generic]:
    """A generic fake that wants ``Authorization: Bearer TOKEN``."""
    with Generic(bearer=TOKEN) as served:
        yield served


def _shown(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


class TestSecrets:
    """A --header on lrpoll's secrets list becomes a credential; nothing prints it."""

    def test_header_is_sent_and_never_shown(self, fake: Generic) -> None:
        """Credential headers reach the server and appear in no --json output."""
        job = fake.job(JobScript.success(polls=2))
        result = lrpoll_command(
            "watch", fake.status_url(job), *GENERIC, "--json",
            "-H", f"Authorization: Bearer {TOKEN}", "-H", f"X-Api-Key: {API_KEY}",
            "-H", "X-Client: cli-test",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        for secret in (TOKEN, API_KEY):
            assert secret not in _shown(result)
        polls = fake.server.requests_to(f"*/{job.id}/status")
        assert {p.headers["x-api-key"] for p in polls} == {"REDACTED"}  # sent (and redacted)
        assert {p.headers["x-client"] for p in polls} == {"cli-test"}

    def test_rejected_credential_is_not_in_the_error(self, fake: Generic) -> None:
        """A refused token gives exit 6 and an error line without the token."""
        job = fake.job(JobScript.success(polls=2))
        wrong = "tok-WRONG-SECRET-99"
        result = lrpoll_command(
            "watch", fake.status_url(job), *GENERIC, "-H", f"Authorization: Bearer {wrong}"
        )
        assert result.returncode == 6
        assert "AuthError" in result.stderr
        assert wrong not in _shown(result)

    def test_header_file_and_environment(self, fake: Generic, tmp_path: Path) -> None:
        """--header-file lines and LRPOLL_TOKEN are credentials too, never shown."""
        headers = tmp_path / "headers"
        headers.write_text(f"X-Api-Key: {API_KEY}\n")
        job = fake.job(JobScript.success(polls=1))
        result = lrpoll_command(
            "watch", fake.status_url(job), *GENERIC, "--json", "--header-file", str(headers),
            env={**ENV, "LRPOLL_TOKEN": TOKEN},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert TOKEN not in _shown(result)
        assert API_KEY not in _shown(result)

    def test_not_in_checkpoint_nor_resume_hints(self, fake: Generic, tmp_path: Path) -> None:
        """On Ctrl-C, neither the checkpoint nor the resume command holds a credential."""
        job = fake.job(JobScript.success(polls=40))
        checkpoint = tmp_path / "cp"
        for extra in (["--checkpoint", str(checkpoint)], []):
            with subprocess.Popen(
                command(
                    "watch", fake.status_url(job), *GENERIC, "--json", *extra,
                    "-H", f"Authorization: Bearer {TOKEN}",
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=ENV,
                text=True,
            ) as proc:  # fmt: skip
                first = read_until(proc, lambda line: json.loads(line)["state"] == "running")
                proc.send_signal(signal.SIGINT)
                out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 5, err
            assert TOKEN not in "".join(first) + out + err
            assert "credentials are never saved" in out
        assert TOKEN not in checkpoint.read_text()

    def test_secret_headers_never_go_to_another_origin(self, fake: Generic) -> None:
        """The credential is for the URL's origin: a status URL elsewhere is refused unsent."""
        job = fake.job(JobScript.success(polls=1))
        other = fake.status_url(job).replace("127.0.0.1", "localhost")
        result = lrpoll_command(
            "start", "POST", fake.server.url("/api/exports"),
            "--status-url", other, *GENERIC, "-H", f"Authorization: Bearer {TOKEN}",
        )  # fmt: skip
        assert result.returncode == 6
        assert "UntrustedURL" in result.stderr
        assert TOKEN not in _shown(result)


def test_token_in_the_url_is_never_shown(fake: Generic) -> None:
    """A token-like query value of the status URL is hidden in --json output and hints."""
    job = fake.job(JobScript.success(polls=40))
    url = fake.status_url(job) + "?access_token=" + TOKEN
    with subprocess.Popen(
        command("watch", url, *GENERIC, "--json", "-H", f"Authorization: Bearer {TOKEN}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
        text=True,
    ) as proc:
        first = read_until(proc, lambda line: json.loads(line)["state"] == "running")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 5, err
    assert TOKEN not in "".join(first) + out + err
    assert "access_token=REDACTED" in out
    assert "put back the query values shown as REDACTED" in out
