"""The runtime's tests again, over `LeanSender`: every request through lrpoll's own HTTP/1.1.

``LRPOLL_TEST_HTTP=lean`` (see ``tests/conftest.py``) makes every sender lrpoll builds
itself a `LeanSender`; the tests of aiohttp's sender itself (``aiohttp_sender``) skip.
The cancel, preset and runtime tests speak to the same fakes, so each behaviour they pin
(retries, caps, redirects, origins, credentials, every protocol) holds under either
sender.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_runtime_suite_passes_over_the_lean_sender() -> None:
    """tests/cancel, tests/presets and tests/with_server pass with ``http="lean"``."""
    env = {**os.environ, "LRPOLL_TEST_HTTP": "lean"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"]
    cmd += ["tests/cancel", "tests/presets", "tests/with_server"]
    done = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=590
    )
    tail = "\n".join(done.stdout.splitlines()[-40:])
    assert done.returncode == 0, tail
    assert " passed" in tail
