"""The public API: what `lrpoll`, `lrpoll.testing`, `lrpoll.presets` and `lrpoll.compat` export.

Each public package has a sorted `__all__` of names that resolve. The names its private
modules list in their own `__all__` are exported, unless listed below as internal with
a reason: a name added to a private module's `__all__` is a decision to make, exported
or internal, not an accident. Every exported class and function, and every public
method of an exported class, has a docstring.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import inspect
import pkgutil
from typing import TYPE_CHECKING

import pytest

import lrpoll
import lrpoll.compat
import lrpoll.fleet
import lrpoll.presets
import lrpoll.testing

if TYPE_CHECKING:
    from types import ModuleType

#: Names in private modules' `__all__` that are deliberately not exported, and why.
INTERNAL: dict[str, dict[str, str]] = {
    "lrpoll": {
        # runtime plumbing
        "_aiohttp.AiohttpSender": "the default sender; Scheduler(session=) configures it",
        "_cancel.CancelHost": "the runtime's side of the cancel driver",
        "_h1.*": "LeanSender's request heads and response reader",
        "_cancel.drive_cancel": "reached through op.cancel()",
        "_checkpoint.spec_of": "reached through scheduler.resume()",
        "_json.*": "the transport's JSON parse and the compact form of a kept document",
        "_checkpoint.to_record": "reached through scheduler.resume() and lrpoll.step()",
        "_core.BodyFault": "what the core found with a spec's BodyError",
        "_expr.Choice": "a spec's end expressions as one lookup, compiled by PollSpec",
        "_spec.OUTCOME_EXPRESSIONS": "the order decide() tries the end expressions in",
        "_core.body_error": "the core's rule behind BodyError",
        "_core.cancel_outcome": "the core's rule behind CancelOutcome.kind",
        "_core.classify_cancel": "the core's rule behind CancelOutcome.kind",
        "_core.deadline": "runtime helper of the core",
        "_core.header_ref": "runtime helper of the core",
        "_core.past_deadline": "runtime helper of the core",
        "_core.result_decision": "runtime helper of the core",
        "_core.resume_delay": "runtime helper of the core",
        "_core.retry_after": "runtime helper of the core",
        "_core.start_decision": "the core's start-retry rule, run by Scheduler.start",
        "_heap.*": "runtime machinery (timer heap and request slots)",
        "_machine.POLLED": "state sets; OperationState is public",
        "_machine.TERMINAL": "state sets; OperationState is public",
        "_machine.TRANSITIONS": "the transition table, rendered in docs/architecture.md",
        "_machine.Ending": "the terminal states; OperationState is public",
        "_machine.Event": "the transition table's events",
        "_machine.InvalidTransition": "an lrpoll bug, never a user error",
        "_machine.next_state": "the transition table's lookup",
        "_operation.Runner": "the handle's narrow protocol to the runtime",
        "_operation.record_of": "the runtime's view of a handle",
        "_pacing.*": "runtime machinery (host gates and retry buckets)",
        "_public.claim": "what public modules do to the names they export",
        "_record.*": "the runtime's per-operation record",
        "_runtime.*": "runtime machinery (the in-process runner)",
        "_start.*": "the start request, run by Scheduler.start and Scheduler.watch",
        "_step.Advance": "what one internal step did; lrpoll.step returns StepResult",
        "_step.advance": "the per-operation step; lrpoll.step is its public form",
        "_step.apply": "applies a decision to a record (the step and start share it)",
        "_step.conclude": "decides a record from its status answer (step and batch share it)",
        "_batch.*": "the batched step the runtime runs for specs with batch=",
        "_step.headers_for": "the headers of one request of an operation",
        "_step.observation": "what the core sees of one answer",
        "_step.status_url": "checks and completes a status URL",
        "_step.step_recent": "lrpoll.step through a cache of recent checkpoints (fleet workers)",
        "_checkpoint.Recent": "the checkpoints a fleet worker wrote last, parsed",
        "_checkpoint.MAX_SIZE": "checkpoint format detail",
        "_checkpoint.VERSION": "checkpoint format detail",
        "_checkpoint.document": "reached through StepResult.document",
        "_checkpoint.dump": "reached through op.checkpoint()",
        "_checkpoint.encode": "reached through StepResult.checkpoint",
        "_checkpoint.last_json": "the fleet worker's status field: the text a checkpoint holds",
        "_checkpoint.load": "reached through scheduler.resume()",
        "_checkpoint.spec_from_text": "a fleet's stored spec, checked against its digest",
        "_checkpoint.spec_digest": "how a detached checkpoint (a fleet's) names its spec",
        "_core.first_delay": "runtime helper of the core",
        "_core.start_error": "runtime helper of the core",
        "_core.timed_out": "runtime helper of the core",
        "_expr.json_snippet": "error-message helper",
        "_expr.MAX_EXPRESSION_DEPTH": "input limit, documented in docs/security.md",
        "_expr.MAX_EXPRESSION_LENGTH": "input limit, documented in docs/security.md",
        "_expr.MAX_JSON_DEPTH": "input limit, documented in docs/security.md",
        "_expr.MAX_TEMPLATE_LENGTH": "input limit, documented in docs/security.md",
        "_expr.json_depth": "input-limit helper",
        "_jsexpr.*": "the XMLUI expression translator; lrpoll.presets.xmlui re-exports it",
        "_jsvalues.*": "JavaScript's reading of values, behind the js_* JMESPath functions",
        "_log.Redactor": "logging internals",
        "_log.get_logger": "logging internals",
        "_log.redact_text": "logging internals",
        # lookups the runtime uses; users register with `decoder` / `discovery`
        "_registry.decoder_names": "registry lookup",
        "_registry.get_decoder": "registry lookup",
        "_registry.discovery_names": "registry lookup",
        "_registry.get_discovery": "registry lookup",
        "_retry_after.backoff_delay": "core helper; Backoff documents the rule",
        "_retry_after.clamp": "core helper",
        "_retry_after.parse_http_date": "core helper; parse_retry_after is public",
        "_transport.Answer": "the transport seam's own type",
        "_transport.build_trust": "the Scheduler's trust settings, parsed",
        "_secrets.*": "the one list of sensitive names, read by specs, transport, redaction, fakes",
        "_urls.Origin": "URL internals",
        "_urls.TrustPolicy": "URL internals; the Scheduler takes origins as strings",
        "_urls.origin_of": "URL internals",
        "_urls.redact_url": "URL internals",
        "_urls.resolve": "URL internals",
        # the command line (the package lrpoll._cli, not read here) and its demo: not an API
        "_demo.*": "the demo's scenario",
    },
    "lrpoll.testing": {
        "_jobs.CancelReply": "Literal alias returned by FakeJob.request_cancel",
        "_dialects.shell_line": "shell quoting for the lines 'lrpoll serve' prints",
    },
    "lrpoll.presets": {
        "_params.error_budget": "reads the presets' errors parameter; ErrorBudget is public",
        "_params.api_root": "reads the presets' api_root parameter",
    },
    "lrpoll.compat": {},
    "lrpoll.fleet": {
        "_keys.*": "the key layout, drawn in docs/fleet.md",
        "_scripts.*": "the Lua scripts behind Fleet and Worker",
        "_client.check_shards": "the namespace's shard check, run by Fleet and Worker",
    },
}

PACKAGES = [lrpoll, lrpoll.testing, lrpoll.presets, lrpoll.compat, lrpoll.fleet]


def _submodules(package: ModuleType, *, private: bool) -> list[ModuleType]:
    """The private (``_name``) or public modules directly inside ``package``."""
    return [
        importlib.import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
        if not info.ispkg and info.name != "__main__" and info.name.startswith("_") == private
    ]


#: Public packages, and the public modules inside them (`lrpoll.testing.pytest_plugin`,
#: `lrpoll.presets.google`, ...): each is a namespace users import from.
PUBLIC_MODULES = PACKAGES + [m for p in PACKAGES for m in _submodules(p, private=False)]


def _listed_names(package: ModuleType) -> dict[str, str]:
    """Every name in a private submodule's ``__all__``, as ``module.name`` keyed by name."""
    out: dict[str, str] = {}
    for module in _submodules(package, private=True):
        short = module.__name__.rsplit(".", 1)[1]
        for name in getattr(module, "__all__", ()):
            out[name] = f"{short}.{name}"
    return out


def _is_internal(package: ModuleType, qualified: str) -> bool:
    internal = INTERNAL[package.__name__]
    module = qualified.split(".", 1)[0]
    return qualified in internal or f"{module}.*" in internal


@pytest.mark.parametrize("module", PUBLIC_MODULES, ids=lambda m: m.__name__)
class TestNamespace:
    """`__all__` of each public package and public module (such as `lrpoll.presets.google`)."""

    def test_resolves(self, module: ModuleType) -> None:
        """Every exported name resolves to an object."""
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == []

    def test_no_private_names(self, module: ModuleType) -> None:
        """No exported name starts with an underscore."""
        assert [n for n in module.__all__ if n.startswith("_")] == []

    def test_documented(self, module: ModuleType) -> None:
        """Every exported class and function, and their public methods, have a docstring."""
        undocumented: list[str] = []
        for name in module.__all__:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue  # type aliases and constants carry attribute docstrings in source
            if not (obj.__doc__ or "").strip():
                undocumented.append(name)
            if inspect.isclass(obj):
                undocumented += [f"{name}.{m}" for m in _undocumented_members(obj)]
        assert undocumented == []


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
class TestPackage:
    """Each public package: a sorted `__all__` of what its private modules list."""

    def test_sorted(self, package: ModuleType) -> None:
        """`__all__` is sorted (plain code-point order) and has no duplicates."""
        names = list(package.__all__)
        assert names == sorted(set(names))

    def test_complete(self, package: ModuleType) -> None:
        """Every name a submodule lists in its `__all__` is exported or listed as internal."""
        listed = _listed_names(package)
        # A lower tier's public module (`lrpoll.core`, `lrpoll.registry`) exports it too.
        public = {n for m in _submodules(package, private=False) for n in m.__all__}
        forgotten = sorted(
            qualified
            for name, qualified in listed.items()
            if name not in package.__all__
            and name not in public
            and not _is_internal(package, qualified)
        )
        assert forgotten == [], "export these, or add them to INTERNAL with a reason"

    def test_exports_come_from_submodules(self, package: ModuleType) -> None:
        """Every exported name comes from one of the package's own submodules."""
        listed = set(_listed_names(package))
        # Type aliases carry no module of their own: a public submodule's `__all__` counts.
        listed |= {n for m in _submodules(package, private=False) for n in m.__all__}
        prefix = package.__name__ + "."
        strays = [
            n
            for n in package.__all__
            if n not in listed
            and not getattr(getattr(package, n), "__module__", "").startswith(prefix)
        ]
        assert strays == []

    def test_internal_list_is_current(self, package: ModuleType) -> None:
        """Every name in INTERNAL still exists in its module and is not exported."""
        listed = set(_listed_names(package).values())
        stale = [
            q
            for q in INTERNAL[package.__name__]
            if not q.endswith(".*") and (q not in listed or q.split(".", 1)[1] in package.__all__)
        ]
        assert stale == []


def _undocumented_members(cls: type) -> list[str]:
    """Public methods and properties defined on ``cls`` itself without a docstring."""
    out = []
    for member, value in vars(cls).items():
        if member.startswith("_"):
            continue
        func = value.fget if isinstance(value, property) else value
        if isinstance(func, classmethod | staticmethod):
            func = func.__func__
        if inspect.isfunction(func) and not (func.__doc__ or "").strip():
            out.append(member)
    return out


def test_version_matches_metadata() -> None:
    """`lrpoll.__version__` is the installed distribution's version."""
    assert lrpoll.__version__ == importlib.metadata.version("lrpoll")


def test_typing_usage_runs() -> None:
    """The type-checked usage file `tests/typing/api.py` also runs against the fake server."""
    from tests.typing import api

    asyncio.run(api.main())
