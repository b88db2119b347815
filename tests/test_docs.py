"""The documentation runs: README.md, docs/ and examples/ are tested like code.

- Every ```python block in README.md and docs/**/*.md runs as a script of its own (a
  fresh interpreter, warnings as errors) and must exit 0 with nothing on stderr. A
  block defining ``test_*`` functions runs under pytest instead. A ```text block right
  after a python block (with at most one line such as "It prints:" between) is its
  exact expected output. Illustrations that cannot run use another info string
  (```python-sketch).
- The same blocks, and examples/*.py, pass mypy with the project's (strict) settings.
- examples/*.py run against the embedded fake server.
- Relative links resolve; specs.md documents every spec field and errors.md every
  exception; README's two commands match what .ci/run runs.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import lrpoll

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
RUN_TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    """One ```python block of a Markdown file, with its expected output if any."""

    path: Path
    line: int
    code: str
    expected: str | None

    @property
    def id(self) -> str:
        """``docs/specs.md:42``."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def module_name(self) -> str:
        """A unique, importable file stem for this block."""
        stem = re.sub(r"\W", "_", str(self.path.relative_to(ROOT).with_suffix("")))
        return f"block_{stem}_{self.line}"

    @property
    def is_test_module(self) -> bool:
        """Whether the block is a pytest module (defines ``test_*`` functions)."""
        return re.search(r"^(async )?def test_", self.code, re.M) is not None


def _blocks(path: Path) -> list[Block]:
    text = path.read_text()
    fences = list(FENCE.finditer(text))
    out = []
    for i, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        expected = None
        if i + 1 < len(fences) and fences[i + 1].group(1) == "text":
            between = text[fence.end() : fences[i + 1].start()].strip().splitlines()
            if len(between) == 0 or (len(between) == 1 and between[0].endswith(":")):
                expected = fences[i + 1].group(2)
        line = text.count("\n", 0, fence.start()) + 1
        out.append(Block(path, line, fence.group(2), expected))
    return out


BLOCKS = [block for path in MARKDOWN for block in _blocks(path)]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "NO_COLOR": "1"}
    # The lrpoll under test, not whichever one is installed.
    path = [str(Path(lrpoll.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in path if p)
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def test_blocks_found() -> None:
    """The collector finds the README example and the docs' blocks."""
    files = {b.path.name for b in BLOCKS}
    assert {"README.md", "quickstart.md", "specs.md", "testing.md"} <= files
    assert any(b.expected is not None for b in BLOCKS if b.path.name == "README.md")


def _run_block(block: Block, where: Path) -> subprocess.CompletedProcess[str]:
    where.mkdir()
    if block.is_test_module:
        script = where / f"test_{block.module_name}.py"
        script.write_text(block.code)
        args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:looptime_plugin"]
        return _run([*args, "--rootdir", str(where), script.name], where)
    script = where / f"{block.module_name}.py"
    script.write_text(block.code)
    return _run([script.name], where)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_block_runs(block: Block, tmp_path: Path) -> None:
    """The block runs cleanly, and prints what the text block after it shows."""
    result = _run_block(block, tmp_path / "block")
    assert result.returncode == 0, result.stdout + result.stderr
    if block.is_test_module:
        return
    assert result.stderr == ""
    if block.expected is not None:
        assert _lines(result.stdout) == _lines(block.expected)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


@pytest.mark.timeout(600)  # a cold mypy cache takes a while
def test_blocks_and_examples_type_check(tmp_path: Path) -> None:
    """The blocks and examples/*.py pass mypy with the project's strict settings."""
    from mypy import api

    files = [str(p) for p in EXAMPLES]
    for block in BLOCKS:
        path = tmp_path / f"{block.module_name}.py"
        path.write_text(block.code)
        files.append(str(path))
    stdout, stderr, status = api.run(
        [
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(ROOT / ".mypy_cache"),
            "--no-error-summary",
            *files,
        ]
    )
    assert status == 0, stdout + stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    """The example script runs cleanly against the embedded fake server."""
    result = _run([str(example)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip(), "an example shows what it did"


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link points at a file or directory that exists."""
    text = FENCE.sub("", path.read_text())
    broken = [
        target
        for target in LINK.findall(text)
        if "://" not in target
        and not target.startswith(("#", "mailto:"))
        and not (path.parent / target.split("#", 1)[0]).exists()
    ]
    assert broken == []


@pytest.mark.parametrize(
    "cls",
    [
        lrpoll.PollSpec,
        lrpoll.Backoff,
        lrpoll.ErrorBudget,
        lrpoll.Messages,
        lrpoll.CancelSpec,
        lrpoll.BodyError,
        lrpoll.Batch,
    ],
)
def test_specs_md_documents_every_field(cls: type) -> None:
    """docs/specs.md has a table row for every field of the spec classes."""
    text = (ROOT / "docs" / "specs.md").read_text()
    fields = [f.name for f in dataclasses.fields(cls) if f.init and not f.name.startswith("_")]
    missing = [name for name in fields if f"| `{name}`" not in text]
    assert missing == []


def test_errors_md_documents_every_exception() -> None:
    """docs/errors.md names every exported exception, in the tree and in a section."""
    text = (ROOT / "docs" / "errors.md").read_text()
    names = [
        name
        for name in lrpoll.__all__
        if isinstance(getattr(lrpoll, name), type)
        and issubclass(getattr(lrpoll, name), lrpoll.LrpollError)
    ]
    assert [n for n in names if f"`{n}`" not in text] == []


def test_readme_commands_match_ci() -> None:
    """README's two fresh-machine commands are the demo and the install + test that .ci/run runs."""
    readme = (ROOT / "README.md").read_text()
    commands = [m.group(2).strip() for m in FENCE.finditer(readme) if m.group(1) == "sh"]
    assert commands == [
        "pip install -e . && lrpoll demo",
        "pip install -e '.[test]' && python -m pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^python -m pip install (--quiet )?-e '\.\[test\]'$", ci, re.M)
    steps = re.findall(r"^(ruff format --check \.|ruff check \.|mypy|python -m pytest)$", ci, re.M)
    assert steps == ["ruff format --check .", "ruff check .", "mypy", "python -m pytest"]
