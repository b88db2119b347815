"""The parameters every built-in preset takes: ``request_headers`` and ``errors``.

Both are plain JSON values, so a preset's spec still serialises as
``{"preset": name, "params": {...}}`` and reads back equal.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pytest

import lrpoll
from lrpoll._registry import get_discovery
from lrpoll.presets import azure_lro, google_operation, odata_async
from lrpoll.testing.google import FakeGoogleOperations

if TYPE_CHECKING:
    from collections.abc import Callable

PRESETS: dict[str, Callable[..., lrpoll.PollSpec]] = {
    "google": google_operation,
    "azure": azure_lro,
    "odata": odata_async,
}
HEADERS = {"X-Trace": "t-1", "Accept-Language": "en"}
ERRORS = {"max_consecutive": 8, "max_failing_time": 120}


def roundtrip(spec: lrpoll.PollSpec) -> lrpoll.PollSpec:
    """``spec`` through its JSON form and a real JSON text."""
    return lrpoll.PollSpec.from_json(json.loads(json.dumps(spec.to_json())))


@pytest.fixture(name="name", params=sorted(PRESETS))
def _name(request: pytest.FixtureRequest) -> str:
    """Each built-in preset's registered name."""
    name: str = request.param
    return name


class TestRequestHeaders:
    """``request_headers`` become the spec's ``request_headers``."""

    def test_set_on_the_spec(self, name: str) -> None:
        """The headers reach the spec, read-only; without them the spec has none."""
        spec = PRESETS[name](request_headers=HEADERS)
        assert spec.request_headers == HEADERS
        assert isinstance(spec.request_headers, MappingProxyType)
        assert PRESETS[name]().request_headers == {}

    def test_json_form(self, name: str) -> None:
        """The spec serialises as the preset and its params, and reads back equal."""
        spec = PRESETS[name](request_headers=HEADERS)
        data = json.loads(json.dumps(spec.to_json()))
        assert data == {"preset": name, "params": {"request_headers": HEADERS}}
        back = lrpoll.PollSpec.from_json(data)
        assert back == spec
        assert back.request_headers == HEADERS

    def test_a_read_only_mapping_serialises(self, name: str) -> None:
        """A MappingProxyType parameter is written as a plain object."""
        spec = PRESETS[name](request_headers=MappingProxyType(HEADERS))
        assert spec.to_json() == {"preset": name, "params": {"request_headers": HEADERS}}
        assert roundtrip(spec) == spec

    @pytest.mark.parametrize("header", ["Authorization", "cookie", "X-Api-Key"])
    def test_credentials_are_refused(self, name: str, header: str) -> None:
        """A credential header is refused, naming the field and pointing at the Scheduler."""
        with pytest.raises(lrpoll.SpecError) as info:
            PRESETS[name](request_headers={header: "s3cret"})
        assert info.value.field == "request_headers"
        assert "Scheduler's credentials" in str(info.value)
        assert "s3cret" not in str(info.value)

    def test_control_characters_are_refused(self, name: str) -> None:
        """A header value with CR/LF is refused."""
        with pytest.raises(lrpoll.SpecError) as info:
            PRESETS[name](request_headers={"X-Trace": "a\r\nHost: evil"})
        assert info.value.field == "request_headers"


class TestErrors:
    """``errors`` are `ErrorBudget` keyword arguments."""

    def test_set_on_the_spec(self, name: str) -> None:
        """The budget is built from the mapping; without it the spec keeps the default."""
        spec = PRESETS[name](errors=ERRORS)
        assert spec.errors == lrpoll.ErrorBudget(max_consecutive=8, max_failing_time=120)
        assert PRESETS[name]().errors == lrpoll.ErrorBudget()

    def test_json_form(self, name: str) -> None:
        """The spec serialises as the preset and its params, and reads back equal."""
        spec = PRESETS[name](errors=ERRORS, request_headers=HEADERS)
        data = json.loads(json.dumps(spec.to_json()))
        assert data == {"preset": name, "params": {"errors": ERRORS, "request_headers": HEADERS}}
        back = lrpoll.PollSpec.from_json(data)
        assert back == spec
        assert back.errors == spec.errors

    def test_unlimited_budget(self, name: str) -> None:
        """JSON nulls lift both limits."""
        spec = PRESETS[name](errors={"max_consecutive": None, "max_failing_time": None})
        assert spec.errors == lrpoll.ErrorBudget(max_consecutive=None, max_failing_time=None)
        assert roundtrip(spec) == spec

    @pytest.mark.parametrize(
        ("errors", "words"),
        [
            ({"colour": "red"}, "unknown keys ['colour']"),
            ({"max_consecutive": -1}, "max_consecutive: must be a whole number >= 0"),
            ({"max_consecutive": 2.5}, "max_consecutive"),
            ({"max_failing_time": "soon"}, "max_failing_time: must be a finite number"),
            ({"initial_delay": float("inf")}, "initial_delay"),
            ([8], "must be an object"),
            ("max_consecutive=8", "must be an object"),
        ],
    )
    def test_bad_budget(self, name: str, errors: Any, words: str) -> None:
        """A bad key or value raises SpecError naming ``params.errors``."""
        with pytest.raises(lrpoll.SpecError) as info:
            PRESETS[name](errors=errors)
        assert info.value.field == "params.errors"
        assert words in str(info.value)

    def test_bad_budget_from_json(self, name: str) -> None:
        """The same error comes from the JSON form."""
        with pytest.raises(lrpoll.SpecError) as info:
            lrpoll.PollSpec.from_json({"preset": name, "params": {"errors": {"nope": 1}}})
        assert info.value.field == "params.errors"


class TestAzureDiscovery:
    """The azure discovery step returns the preset again: both parameters carry over."""

    def test_discovered_spec_keeps_them(self) -> None:
        """The monitor spec the start answer calls for has the headers and the budget."""
        spec = azure_lro(request_headers=HEADERS, errors=ERRORS)
        start = {
            "method": "PUT",
            "request_url": "https://management.example/things/1",
            "status": 201,
            "headers": {"azure-asyncoperation": "https://management.example/ops/1"},
            "body": None,
        }
        found = get_discovery("azure.lro")(spec, start)
        assert found.preset.params["mode"] == "monitor"
        assert (found.request_headers, found.errors) == (HEADERS, spec.errors)
        assert roundtrip(found) == found


class TestBudgetAtWork:
    """The budget the parameter builds is the one the scheduler spends."""

    async def test_one_fault_allowed(self) -> None:
        """With ``max_consecutive`` 1, the second 503 in a row ends the operation."""
        async with (
            FakeGoogleOperations() as server,
            lrpoll.Scheduler(base_url=server.base_url) as scheduler,
        ):
            server.fail_next("/v1/projects/p/locations/l/operations/*", status=503, times=2)
            spec = google_operation(interval=0.01, errors={"max_consecutive": 1})
            op = await scheduler.start(
                "POST",
                "/v1/projects/p/locations/l/exports",
                json={"outputUriPrefix": "gs://b"},
                spec=spec,
            )
            with pytest.raises(lrpoll.HTTPStatusError) as info:
                await op
            assert scheduler.statistics().errors_retried == 1
        assert info.value.http_status == 503


class TestBackoffNames:
    """Presets speak Backoff's names; the older ones keep working for one release."""

    def test_google_factor_and_max_delay(self) -> None:
        """``factor`` and ``max_delay`` reach the spec's Backoff."""
        backoff = google_operation(factor=3.0, max_delay=7.0).effective_backoff
        assert (backoff.factor, backoff.max_delay) == (3.0, 7.0)

    @pytest.mark.parametrize(
        ("old", "new"),
        [({"multiplier": 3.0}, {"factor": 3.0}), ({"max_interval": 7.0}, {"max_delay": 7.0})],
    )
    def test_google_deprecated_names(self, old: dict[str, float], new: dict[str, float]) -> None:
        """``multiplier`` and ``max_interval`` warn and mean ``factor`` and ``max_delay``."""
        with pytest.warns(DeprecationWarning, match=next(iter(new))):
            spec = google_operation(**old)  # type: ignore[arg-type]
        assert spec.effective_backoff == google_operation(**new).effective_backoff  # type: ignore[arg-type]
