"""Names renamed in this release keep working for one release, with a DeprecationWarning."""

from __future__ import annotations

import pytest

import lrpoll


class TestHttpStatus:
    """Python attributes holding an HTTP code are ``http_status``; ``status`` is the document."""

    def test_observation(self) -> None:
        """``Observation(status=)`` and ``obs.status`` warn and mean ``http_status``."""
        with pytest.warns(DeprecationWarning, match="http_status"):
            obs = lrpoll.core.Observation(status=503)
        assert obs.http_status == 503
        assert obs == lrpoll.core.Observation(http_status=503)
        with pytest.warns(DeprecationWarning, match="http_status"):
            assert obs.status == 503  # type: ignore[attr-defined]

    def test_http_status_error(self) -> None:
        """``status_code=`` and ``.status_code`` warn; ``status`` stays the document."""
        with pytest.warns(DeprecationWarning, match="http_status"):
            error = lrpoll.HTTPStatusError("gone wrong", status_code=418, status={"a": 1})
        assert (error.http_status, error.status) == (418, {"a": 1})
        with pytest.warns(DeprecationWarning, match="http_status"):
            assert error.status_code == 418

    def test_http_status_error_needs_a_code(self) -> None:
        """An HTTPStatusError without a code is a programming error, said at once."""
        with pytest.raises(TypeError, match="http_status"):
            lrpoll.HTTPStatusError("no code")

    def test_raw_response(self) -> None:
        """``RawResponse.status`` warns and reads ``http_status``; positional use is unchanged."""
        raw = lrpoll.RawResponse(202, {}, b"")
        assert raw.http_status == 202
        with pytest.warns(DeprecationWarning, match="http_status"):
            assert raw.status == 202


class TestMovedNames:
    """The core and the registry have public modules; the top-level names still resolve."""

    @pytest.mark.parametrize(
        ("name", "module"),
        [("decide", lrpoll.core), ("Observation", lrpoll.core), ("preset", lrpoll.registry)],
    )
    def test_old_name_warns(self, name: str, module: object) -> None:
        """``lrpoll.<name>`` warns, naming the new home, and is the same object."""
        with pytest.warns(DeprecationWarning, match=f"moved to {module.__name__}.{name}"):  # type: ignore[attr-defined]
            old = getattr(lrpoll, name)
        assert old is getattr(module, name)

    def test_unknown_name(self) -> None:
        """A name that never existed is still an AttributeError."""
        with pytest.raises(AttributeError, match="no attribute 'nothing'"):
            lrpoll.nothing  # noqa: B018

    def test_public_names_say_lrpoll(self) -> None:
        """Public classes and functions report their public module, as httpx's do."""
        assert (lrpoll.PollSpec.__module__, lrpoll.AuthError.__module__) == ("lrpoll", "lrpoll")
        assert lrpoll.core.decide.__module__ == "lrpoll.core"
        assert lrpoll.registry.preset.__module__ == "lrpoll.registry"
