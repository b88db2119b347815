"""The import rules of docs/architecture.md, read from the source with `ast`.

Each module's imports are followed transitively through lrpoll's own modules. An import
under ``if TYPE_CHECKING:`` does not count (it never runs); an import inside a function
does (it runs when the function does). Importing ``lrpoll._core`` also runs
``lrpoll/__init__.py``, as Python imports parents first; the rules are about each
module's own dependencies, so the graph follows import statements only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

import lrpoll

PACKAGE_DIR = Path(lrpoll.__file__).parent

#: Modules that decide, and must stay sans-I/O (no sockets, no event loop, no logging,
#: no clock): DESIGN.md principle 2.
PURE = ["lrpoll._spec", "lrpoll._expr", "lrpoll._core", "lrpoll._retry_after"]
#: What the pure modules may not reach.
IO_MODULES = [
    "aiohttp",
    "anyio",
    "asyncio",
    "httpx",
    "logging",
    "requests",
    "selectors",
    "socket",
    "ssl",
    "structlog",
    "time",
    "trio",
    "urllib.request",
    "http.client",
]
#: Modules that run the fakes: they, and only they, may import lrpoll.testing.
FAKE_RUNNERS = ["lrpoll._cli", "lrpoll._demo", "lrpoll.__main__"]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: dict[str, Path] = {
    _module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py")) if "__pycache__" not in p.parts
}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that can run: all of them but those under ``if TYPE_CHECKING``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


@cache
def direct_imports(module: str) -> frozenset[str]:
    """Absolute names of the modules ``module`` imports at run time."""
    path = MODULES[module]
    return _resolve(module, _runtime_imports(ast.parse(path.read_text(), str(path))))


@cache
def all_imports(module: str) -> frozenset[str]:
    """Absolute names of every module ``module`` imports, ``if TYPE_CHECKING:`` included."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    return _resolve(
        module, [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    )


def _resolve(module: str, nodes: list[ast.Import | ast.ImportFrom]) -> frozenset[str]:
    """The absolute module names the import statements ``nodes`` of ``module`` name."""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        # `from . import _log` imports the submodule lrpoll._log (the package's
        # __init__ has run already); `from . import __version__` reads the package.
        submodules = {f"{target}.{a.name}" for a in node.names} & MODULES.keys()
        out.update(submodules)
        if len(submodules) < len(node.names):
            out.add(target)
    return frozenset(out)


@cache
def closure(module: str) -> frozenset[str]:
    """Everything ``module`` imports, following lrpoll's own modules transitively."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in direct_imports(todo.pop()):
            if name in seen:
                continue
            seen.add(name)
            if name in MODULES:
                todo.append(name)
    return frozenset(seen)


def _reaches(imported: frozenset[str], banned: str) -> bool:
    return any(name == banned or name.startswith(banned + ".") for name in imported)


def test_the_graph_is_read() -> None:
    """The parser sees the obvious edges (a guard against a rule passing vacuously)."""
    assert "lrpoll._core" in direct_imports("lrpoll._scheduler")
    assert "lrpoll._log" in direct_imports("lrpoll._scheduler")
    assert "aiohttp" in closure("lrpoll._scheduler")
    assert "lrpoll.testing" in closure("lrpoll._demo")


PRESETS = [m for m in MODULES if m == "lrpoll.presets" or m.startswith("lrpoll.presets.")]


@pytest.mark.parametrize("module", PURE + PRESETS)
def test_pure_modules_import_no_io(module: str) -> None:
    """The spec, expression, core, Retry-After and preset modules reach no I/O, loop or clock.

    Presets are held to the same rule: they are data, imported with lrpoll itself.
    """
    reached = closure(module)
    assert [m for m in IO_MODULES if _reaches(reached, m)] == []


@pytest.mark.parametrize(
    "module",
    [
        m
        for m in MODULES
        if m not in FAKE_RUNNERS and m != "lrpoll.testing" and not m.startswith("lrpoll.testing.")
    ],
)
def test_library_never_imports_testing(module: str) -> None:
    """No library module reaches lrpoll.testing; only the CLI and the demo run the fakes."""
    assert not _reaches(closure(module), "lrpoll.testing")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_the_cli(module: str) -> None:
    """Only ``python -m lrpoll`` imports the CLI, and only the CLI imports the demo."""
    imported = direct_imports(module)
    if module != "lrpoll.__main__":
        assert "lrpoll._cli" not in imported
    if module not in ("lrpoll._cli", "lrpoll.__main__"):
        assert "lrpoll._demo" not in imported


@pytest.mark.parametrize("module", sorted(MODULES))
def test_rich_is_optional(module: str) -> None:
    """Only the CLI imports rich, and only inside functions, so it runs without rich."""
    tree = ast.parse(MODULES[module].read_text())
    top_level = {
        alias.name if isinstance(node, ast.Import) else (node.module or "")
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not _reaches(frozenset(top_level), "rich")
    if module != "lrpoll._cli":
        assert not _reaches(direct_imports(module), "rich")


def test_importing_lrpoll_loads_no_fakes() -> None:
    """At run time, ``import lrpoll`` loads neither the fakes, the CLI nor aiohttp.web."""
    # (Not rich: structlog imports it by itself when it is installed.)
    code = (
        "import sys, lrpoll, lrpoll.presets\n"
        "bad = ('lrpoll.testing', 'lrpoll._cli', 'lrpoll._demo', 'aiohttp.web')\n"
        "print([m for m in sys.modules if m.startswith(bad)])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def _lrpoll_names(imported: frozenset[str]) -> set[str]:
    return {m for m in imported if m == "lrpoll" or m.startswith("lrpoll.")}


def test_registry_is_a_leaf() -> None:
    """``_registry`` imports nothing of lrpoll but ``_exceptions``, TYPE_CHECKING included."""
    assert _lrpoll_names(all_imports("lrpoll._registry")) == {"lrpoll._exceptions"}


def test_importing_lrpoll_registers_the_presets() -> None:
    """After ``import lrpoll`` alone, the registry and the spec find the built-in presets."""
    code = "import lrpoll\nprint(lrpoll.preset_names())\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "['azure', 'google', 'odata']"
