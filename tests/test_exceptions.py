"""The exception tree: pickles, says what happened, and matches its docstring."""

from __future__ import annotations

import builtins
import copy
import pickle
import re

import pytest

import lrpoll
from lrpoll import _exceptions
from lrpoll._exceptions import (
    HTTPStatusError,
    LrpollError,
    SpecError,
    UntrustedURL,
)

CLASSES: list[type[LrpollError]] = [getattr(_exceptions, name) for name in _exceptions.__all__]
DOCUMENT = {"status": "failed", "error": {"message": "disk full"}}


def make(cls: type[LrpollError], *, operation_id: str | None = "op-1") -> LrpollError:
    """An instance of ``cls`` with every attribute it takes set."""
    if issubclass(cls, SpecError):
        return cls("invalid JMESPath: unexpected '&'", field="done", position=2)
    if issubclass(cls, UntrustedURL):
        return cls(
            "status URL is off the trusted origins",
            url="https://evil.example/ops/1?sig=REDACTED",
            operation_id=operation_id,
            status=DOCUMENT,
        )
    if issubclass(cls, HTTPStatusError):
        return cls(
            "unexpected HTTP status: 418: teapot",
            http_status=418,
            body_snippet="teapot",
            operation_id=operation_id,
            status=DOCUMENT,
        )
    return cls("something went wrong", operation_id=operation_id, status=DOCUMENT)


def ids(cls: type[LrpollError]) -> str:
    """The class name as a test id."""
    return cls.__name__


class TestPickle:
    """Every exception survives pickling (checkpoints and process pools carry them)."""

    @pytest.mark.parametrize("cls", CLASSES, ids=ids)
    @pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
    def test_roundtrip(self, cls: type[LrpollError], protocol: int) -> None:
        """Type, text, arguments and attributes are kept."""
        error = make(cls)
        back = pickle.loads(pickle.dumps(error, protocol=protocol))
        assert type(back) is cls
        assert str(back) == str(error)
        assert back.args == error.args
        assert vars(back) == vars(error)

    @pytest.mark.parametrize("cls", CLASSES, ids=ids)
    def test_copy(self, cls: type[LrpollError]) -> None:
        """``copy`` and ``deepcopy`` keep the attributes too."""
        error = make(cls)
        for clone in (copy.copy(error), copy.deepcopy(error)):
            assert type(clone) is cls
            assert vars(clone) == vars(error)
            assert str(clone) == str(error)

    def test_notes_kept(self) -> None:
        """Notes added to an exception survive pickling."""
        error = make(HTTPStatusError)
        error.add_note("while polling https://api.example.com/ops/1")
        back = pickle.loads(pickle.dumps(error))
        assert back.__notes__ == ["while polling https://api.example.com/ops/1"]


class TestStr:
    """``str()`` says what happened, and for which operation."""

    @pytest.mark.parametrize("cls", [c for c in CLASSES if not issubclass(c, SpecError)], ids=ids)
    def test_operation_id(self, cls: type[LrpollError]) -> None:
        """With an operation id, the text ends with it."""
        error = make(cls)
        assert str(error) == f"{error.message} (operation op-1)"
        assert error.operation_id == "op-1"
        assert error.status == DOCUMENT

    @pytest.mark.parametrize("cls", [c for c in CLASSES if not issubclass(c, SpecError)], ids=ids)
    def test_without_operation_id(self, cls: type[LrpollError]) -> None:
        """Without one, the text is the message."""
        error = make(cls, operation_id=None)
        assert str(error) == error.message
        assert error.message

    def test_spec_error(self) -> None:
        """A SpecError names the field and the position."""
        error = make(SpecError)
        assert isinstance(error, SpecError)
        assert str(error) == "done at position 2: invalid JMESPath: unexpected '&'"
        assert (error.field, error.position) == ("done", 2)
        assert str(SpecError("must be > 0", field="interval")) == "interval: must be > 0"

    def test_http_status_error(self) -> None:
        """An HTTPStatusError keeps the code and the body snippet."""
        error = make(HTTPStatusError)
        assert isinstance(error, HTTPStatusError)
        assert (error.http_status, error.body_snippet) == (418, "teapot")
        assert "418" in str(error)

    def test_untrusted_url(self) -> None:
        """An UntrustedURL keeps the (redacted) URL."""
        error = make(UntrustedURL)
        assert isinstance(error, UntrustedURL)
        assert error.url == "https://evil.example/ops/1?sig=REDACTED"

    @pytest.mark.parametrize("cls", CLASSES, ids=ids)
    def test_docstring_says_when(self, cls: type[LrpollError]) -> None:
        """Every exception but the root says when it is raised."""
        assert cls.__doc__
        if cls is not LrpollError:
            assert cls.__doc__.startswith("Raised "), cls


TREE_LINE = re.compile(
    r"^(?P<indent>(?:│   |    )*)(?:(?P<branch>[├└]── ))?"
    r"(?P<name>[A-Za-z]+)(?: \((?P<extra>[A-Za-z]+)\))?(?:\s|$)"
)


def drawn_tree() -> dict[str, tuple[str | None, str | None]]:
    """The tree in the module docstring: each name's drawn parent and extra base."""
    doc = _exceptions.__doc__ or ""
    block = doc.split("```")[1]
    tree: dict[str, tuple[str | None, str | None]] = {}
    stack: list[str] = []
    for line in block.strip("\n").splitlines():
        match = TREE_LINE.match(line)
        assert match, f"cannot read tree line {line!r}"
        depth = len(match["indent"]) // 4 + (1 if match["branch"] else 0)
        assert depth <= len(stack), f"line {line!r} skips a level"
        del stack[depth:]
        parent = stack[-1] if stack else None
        assert match["name"] not in tree, f"{match['name']} drawn twice"
        tree[match["name"]] = (parent, match["extra"])
        stack.append(match["name"])
    return tree


class TestHierarchy:
    """The classes match the tree drawn in the module docstring."""

    def test_every_class_drawn(self) -> None:
        """The tree holds exactly the exported exceptions."""
        assert set(drawn_tree()) == set(_exceptions.__all__)

    @pytest.mark.parametrize("cls", CLASSES, ids=ids)
    def test_bases(self, cls: type[LrpollError]) -> None:
        """Each class derives from its drawn parent (and drawn extra base) only."""
        parent, extra = drawn_tree()[cls.__name__]
        expected: list[type[BaseException]] = [
            getattr(_exceptions, parent) if parent else Exception
        ]
        if extra:
            expected.append(getattr(builtins, extra))
        assert list(cls.__bases__) == expected

    @pytest.mark.parametrize("cls", CLASSES, ids=ids)
    def test_rooted(self, cls: type[LrpollError]) -> None:
        """Everything lrpoll raises is an LrpollError, and exported from lrpoll."""
        assert issubclass(cls, LrpollError)
        assert LrpollError in cls.__mro__
        assert getattr(lrpoll, cls.__name__) is cls

    def test_value_errors(self) -> None:
        """Spec and checkpoint errors are also ValueErrors, nothing else is."""
        value_errors = {c.__name__ for c in CLASSES if issubclass(c, ValueError)}
        assert value_errors == {"SpecError", "CheckpointError"}

    def test_drawing_parsed(self) -> None:
        """The parser reads nesting: AuthError sits under HTTPStatusError under TransportError."""
        tree = drawn_tree()
        assert tree["AuthError"] == ("HTTPStatusError", None)
        assert tree["HTTPStatusError"] == ("TransportError", None)
        assert tree["SpecError"] == ("LrpollError", "ValueError")
        assert tree["LrpollError"] == (None, None)
