"""Coverage-guided fuzzing of lrpoll's parsers with atheris (RELIABILITY L73). Not run in CI.

Install the extra and run one target for a while::

    pip install -e '.[fuzz]'
    python tests/fuzz/atheris_parsers.py -atheris_runs=200000           # all targets, in turn
    python tests/fuzz/atheris_parsers.py checkpoint -max_total_time=600  # one target

Each target feeds the bytes to one parser and lets through only the exceptions that
parser documents; anything else is a crash atheris saves as ``crash-<sha1>``. A crash
found here becomes a regression test in ``tests/`` (the hypothesis suites in
``tests/unit/test_fuzz.py`` and ``test_core_properties.py`` hold the bounded CI versions).
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING

import atheris

if TYPE_CHECKING:
    from collections.abc import Callable

with atheris.instrument_imports():
    from lrpoll import CheckpointError, PollSpec, SpecError, TemplateError
    from lrpoll._checkpoint import load, spec_of
    from lrpoll._expr import UrlTemplate
    from lrpoll._retry_after import parse_retry_after


def retry_after(data: bytes) -> None:
    """Retry-After: never raises; a delay is None or a finite number >= 0."""
    fdp = atheris.FuzzedDataProvider(data)
    value = fdp.ConsumeUnicodeNoSurrogates(64)
    date = fdp.ConsumeUnicodeNoSurrogates(40) if fdp.ConsumeBool() else None
    delay, _ = parse_retry_after(
        value, received_at=1.7e9, date=date, milliseconds=fdp.ConsumeBool()
    )
    assert delay is None or 0.0 <= delay < float("inf")


def checkpoint(data: bytes) -> None:
    """Checkpoint loading: only CheckpointError."""
    with contextlib.suppress(CheckpointError):
        spec_of(load(data))


def spec(data: bytes) -> None:
    """Spec from JSON: only SpecError (bad JSON is the fuzzer's, not the spec's)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return
    with contextlib.suppress(SpecError):
        PollSpec.from_json(value)


def url_template(data: bytes) -> None:
    """URL templates: SpecError at construction, TemplateError at fill; output one segment."""
    fdp = atheris.FuzzedDataProvider(data)
    source = "/a/{last.v}/b"
    if fdp.ConsumeBool():
        source = fdp.ConsumeUnicodeNoSurrogates(80)
    try:
        template = UrlTemplate(source, field="status_url")
    except SpecError:
        return
    value = fdp.ConsumeUnicodeNoSurrogates(80)
    try:
        url = template.fill({"last": {"v": value}})
    except TemplateError:
        return
    if source == "/a/{last.v}/b":
        assert url.startswith("/a/"), url
        assert url.endswith("/b"), url
        assert url.count("/") == 3, url


TARGETS: dict[str, Callable[[bytes], None]] = {
    "retry_after": retry_after,
    "checkpoint": checkpoint,
    "spec": spec,
    "url_template": url_template,
}


def _all(data: bytes) -> None:
    if not data:
        return
    TARGETS[sorted(TARGETS)[data[0] % len(TARGETS)]](data[1:])


def main() -> None:
    """Run the target named first on the command line (all of them by default)."""
    args = sys.argv[:]
    target: Callable[[bytes], None] = _all
    if len(args) > 1 and args[1] in TARGETS:
        target = TARGETS[args.pop(1)]
    atheris.Setup(args, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
