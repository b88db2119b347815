"""The command's inputs under hostile values: deep bodies, spec files, echoed tokens (issue 17)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from lrpoll.testing import JobScript

from .helpers import GENERIC, Generic, lrpoll_command

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "tok-ECHOED-SECRET-2026"


@pytest.fixture(name="fake", scope="module")
def _fake() -> Iterator[Generic]:
    """A generic fake that wants ``Authorization: Bearer TOKEN``."""
    with Generic(bearer=TOKEN) as served:
        yield served


def test_deep_body_is_a_usage_error(fake: Generic, tmp_path: Path) -> None:
    """A --body nested 100 000 deep is a one-line usage error (2), not a traceback."""
    body = tmp_path / "deep.json"
    body.write_text("[" * 100_000 + "]" * 100_000)
    result = lrpoll_command(
        "start", "POST", fake.server.url("/api/exports"), "--body", f"@{body}", *GENERIC
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "is not JSON" in result.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bigint.json", '{"status_url": "/s", "done": "d", "interval": 1' + "0" * 5000 + "}"),
        ("deep-expr.json", json.dumps({"status_url": "/s", "done": "(" * 3000 + ")" * 3000})),
        ("bigint.toml", 'status_url = "{+request_url}"\ndone = "d"\ninterval = 1' + "0" * 5000),
    ],
)  # fmt: skip
def test_hostile_spec_file_is_a_usage_error(
    fake: Generic, tmp_path: Path, name: str, text: str
) -> None:
    """Spec files with huge integers or deep expressions give exit 2 and no traceback."""
    spec = tmp_path / name
    spec.write_text(text)
    job = fake.job(JobScript.success(polls=1))
    result = lrpoll_command("watch", fake.status_url(job), "--spec", str(spec))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_echoed_token_is_not_shown(fake: Generic) -> None:
    """A 400 whose body echoes the Bearer token shows REDACTED in the command's output."""
    job = fake.job(JobScript.slow())
    body = json.dumps({"error": {"message": f"bad token {TOKEN}"}}).encode()
    fake.call(lambda: fake.server.fail_next(f"*/{job.id}/status", status=400, body=body))
    result = lrpoll_command(
        "watch", fake.status_url(job), *GENERIC, "--json", "-H", f"Authorization: Bearer {TOKEN}"
    )
    assert result.returncode != 0
    shown = result.stdout + result.stderr
    assert TOKEN not in shown
    assert "REDACTED" in shown
