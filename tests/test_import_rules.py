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
PURE = [
    "lrpoll._spec",
    "lrpoll._expr",
    "lrpoll._core",
    "lrpoll._retry_after",
    "lrpoll._jsexpr",
    "lrpoll._jsvalues",
]
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


def _in_cli(module: str) -> bool:
    """Whether ``module`` is the command line's package or one of its modules."""
    return module == "lrpoll._cli" or module.startswith("lrpoll._cli.")


#: What preset modules may import of lrpoll, ``if TYPE_CHECKING:`` included: presets are
#: data (DESIGN.md principle 6), built from specs and expressions only.
PRESET_ALLOWED = {
    "lrpoll._spec",
    "lrpoll._expr",
    "lrpoll._jsexpr",
    "lrpoll._registry",
    "lrpoll._exceptions",
}
#: What ``lrpoll.compat`` modules may import of lrpoll: the public API only (the package
#: and its public preset modules: importing a preset module, not the package, keeps the
#: deprecation shim in ``lrpoll.presets`` from closing an import circle).
COMPAT_ALLOWED = {
    "lrpoll",
    "lrpoll.presets",
    "lrpoll.presets.odata",
    "lrpoll.presets.azure",
    "lrpoll.presets.google",
}
#: Imports that run only on a deprecated attribute access (a module ``__getattr__``),
#: never when the module is imported: left out of the graph until the shim goes.
DEPRECATED_SHIMS = {"lrpoll.presets": {"lrpoll.compat.odata"}}


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
    found = _resolve(module, _runtime_imports(ast.parse(path.read_text(), str(path))))
    return found - DEPRECATED_SHIMS.get(module, set())


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
    assert "lrpoll._core" in direct_imports("lrpoll._start")
    assert "lrpoll._step" in direct_imports("lrpoll._runtime")
    assert "lrpoll._log" in direct_imports("lrpoll._runtime")
    assert "aiohttp" in closure("lrpoll._scheduler")
    assert "lrpoll._spec" in all_imports("lrpoll._core")  # under TYPE_CHECKING
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
        if m not in FAKE_RUNNERS
        and not _in_cli(m)
        and m != "lrpoll.testing"
        and not m.startswith("lrpoll.testing.")
    ],
)
def test_library_never_imports_testing(module: str) -> None:
    """No library module reaches lrpoll.testing; only the CLI and the demo run the fakes."""
    assert not _reaches(closure(module), "lrpoll.testing")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_nothing_imports_the_cli(module: str) -> None:
    """Only ``python -m lrpoll`` imports the CLI, and only the CLI imports the demo."""
    imported = direct_imports(module)
    if module != "lrpoll.__main__" and not _in_cli(module):
        assert not _reaches(imported, "lrpoll._cli")
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
    if not _in_cli(module):
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


def _is_stdlib(name: str) -> bool:
    return name.split(".")[0] in sys.stdlib_module_names


@pytest.mark.parametrize("module", PRESETS)
def test_presets_import_only_specs_and_expressions(module: str) -> None:
    """Preset modules import only ``_spec``, ``_expr``, ``_registry``, ``_exceptions``.

    Imports under ``if TYPE_CHECKING:`` count too; beside these, only the standard
    library and the presets' own modules. The one exception is the deprecation shim in
    ``lrpoll.presets``, which imports the moved conveniences on first access only.
    """
    imported = all_imports(module)
    own = {m for m in PRESETS if m != module}
    allowed = PRESET_ALLOWED | own | DEPRECATED_SHIMS.get(module, set())
    assert sorted(_lrpoll_names(imported) - allowed) == []
    assert sorted(m for m in imported - _lrpoll_names(imported) if not _is_stdlib(m)) == []


COMPAT = [m for m in MODULES if m == "lrpoll.compat" or m.startswith("lrpoll.compat.")]


@pytest.mark.parametrize("module", COMPAT)
def test_compat_uses_the_public_api_only(module: str) -> None:
    """``lrpoll.compat`` imports ``lrpoll`` and ``lrpoll.presets``, never a private module."""
    imported = _lrpoll_names(all_imports(module))
    own = {m for m in COMPAT if m != module}
    assert sorted(imported - COMPAT_ALLOWED - own) == []


def test_registry_is_a_leaf() -> None:
    """``_registry`` imports nothing of lrpoll but ``_exceptions``, TYPE_CHECKING included."""
    assert _lrpoll_names(all_imports("lrpoll._registry")) == {"lrpoll._exceptions"}


def test_the_deprecation_shims_are_current() -> None:
    """Each import left out of the graph is still in its module's source (else drop it)."""
    for module, names in DEPRECATED_SHIMS.items():
        assert names <= all_imports(module)
        assert not names & direct_imports(module)


def test_importing_lrpoll_registers_the_presets() -> None:
    """After ``import lrpoll`` alone, the registry and the spec find the built-in presets.

    Importing them does not load ``lrpoll.compat``.
    """
    code = (
        "import sys, lrpoll\n"
        "print(lrpoll.registry.preset_names())\n"
        "print([m for m in sys.modules if m.startswith('lrpoll.compat')])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    names, compat = (ast.literal_eval(line) for line in out.stdout.split("\n")[:2])
    assert {"arcgis", "azure", "google", "odata", "oracle", "xmlui"} <= set(names)
    assert compat == []


#: The layers of docs/architecture.md, bottom first. A module imports only modules of
#: lower layers (``if TYPE_CHECKING:`` and function-level imports included), or modules of
#: its own package (``lrpoll.presets``, ``lrpoll.testing``, ``lrpoll.compat``).
LAYERS: list[set[str]] = [
    {"_secrets"},
    {"_exceptions", "_auth", "_machine", "_heap", "_public", "_jsvalues"},
    {"_json", "_loop"},
    {"_urls", "_expr", "_jsexpr", "_registry", "_log", "_sender", "_store", "testing"},
    {"_spec", "_aiohttp", "_h1"},
    {"_retry_after", "presets", "_specfile", "_lean"},
    {"_core", "_transport"},
    {"_record"},
    {"_checkpoint", "_pacing"},
    {"_step"},
    {"_batch", "_cancel"},
    {"_operation"},
    {"_runtime"},
    {"_start"},
    {"_scheduler", "core", "registry", "fleet"},
    {"lrpoll", "_demo"},
    {"compat", "_cli"},
    {"__main__"},
]


def _layer_key(module: str) -> str:
    """The LAYERS name of ``module``: its private module, or its subpackage."""
    if module == "lrpoll":
        return "lrpoll"
    part = module.split(".")[1]
    return part


def layer_of(module: str) -> int:
    """The index of ``module``'s layer in LAYERS."""
    key = _layer_key(module)
    for index, names in enumerate(LAYERS):
        if key in names:
            return index
    raise AssertionError(f"{module} is in no layer of LAYERS: place it in docs and here")


def test_every_module_has_a_layer() -> None:
    """Every module of the package is placed in a layer (a new one fails until placed)."""
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers(module: str) -> None:
    """A module imports only from lower layers or its own package: no import runs upward,
    so there is no import cycle, not even one through ``if TYPE_CHECKING:``."""
    own = layer_of(module)
    upward = []
    for target in sorted(_lrpoll_names(all_imports(module)) & MODULES.keys()):
        if target == module or _layer_key(target) == _layer_key(module):
            continue
        if target in DEPRECATED_SHIMS.get(module, set()):
            continue
        if layer_of(target) >= own:
            upward.append(target)
    assert upward == []


def test_type_checking_imports_are_counted() -> None:
    """The layer rule sees imports under ``if TYPE_CHECKING:``, which run-time rules skip."""
    hidden = {
        module: sorted(_lrpoll_names(all_imports(module)) - _lrpoll_names(direct_imports(module)))
        for module in MODULES
    }
    assert "lrpoll._spec" in hidden["lrpoll._step"]
    assert sum(len(v) for v in hidden.values()) > 10
