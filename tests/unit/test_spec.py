"""PollSpec and its parts: validated at construction, frozen, and plain JSON end to end."""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given

from lrpoll import (
    Backoff,
    CancelSpec,
    ErrorBudget,
    Messages,
    PollSpec,
    SpecError,
)
from lrpoll._registry import _PRESETS, preset_names
from lrpoll.registry import (
    PresetRef,
    preset,
    resolve_preset,
)
from tests.unit.support import UNIT, poll_specs

if TYPE_CHECKING:
    from collections.abc import Iterator

BASE: dict[str, Any] = {"status_url": "/api/exports/{start.jobId}/status", "done": "done"}


def make(**changes: Any) -> PollSpec:
    """A minimal valid spec with ``changes`` applied."""
    return PollSpec(**{**BASE, **changes})


def spec_error(**changes: Any) -> SpecError:
    """The SpecError building a spec with ``changes`` raises."""
    with pytest.raises(SpecError) as info:
        make(**changes)
    return info.value


def roundtrip(spec: PollSpec) -> PollSpec:
    """``spec`` through its JSON form and a real JSON text."""
    return PollSpec.from_json(json.loads(json.dumps(spec.to_json())))


class TestExpressionFields:
    """A bad expression in any expression field fails at construction, naming the field."""

    @pytest.mark.parametrize(
        "name", ["done", "failed", "cancelled", "progress", "result", "error_message"]
    )
    @pytest.mark.parametrize(
        ("source", "position"),
        [("status ==", 9), ("nope(status)", 0), ("percent(a)", 0), ("", None), ("a ~", 2)],
    )
    def test_bad(self, name: str, source: str, position: int | None) -> None:
        """The error names the field and, for syntax, the position."""
        error = spec_error(**{name: source})
        assert error.field == name
        assert error.position == position
        assert str(error).startswith(name)

    def test_compiled_once(self) -> None:
        """The compiled expressions are kept on the spec."""
        spec = make(progress="percent(a, b)")
        expression = spec.expression("progress")
        assert expression is not None
        assert expression is spec.expression("progress")
        assert expression.search({"a": 1, "b": 2}) == 50.0
        assert spec.expression("failed") is None


class TestTemplateFields:
    """Bad templates fail at construction, naming the field."""

    @pytest.mark.parametrize(
        "source", ["/a/{start.id", "/a}/b", "/a/{foo}", "/a/{}", "/a/{start.a b}", "/a/\n"]
    )
    def test_status_url(self, source: str) -> None:
        """A bad ``status_url`` names ``status_url`` (and its placeholder, for expressions)."""
        assert spec_error(status_url=source).field.startswith("status_url")

    def test_status_url_not_a_string(self) -> None:
        """A non-string ``status_url`` is refused."""
        assert spec_error(status_url=5).field == "status_url"

    @pytest.mark.parametrize("source", ["/a/{start.id", "/a/{nope}", "{"])
    def test_cancel_url(self, source: str) -> None:
        """A bad cancel URL names ``cancel.url``."""
        with pytest.raises(SpecError) as info:
            CancelSpec(url=source)
        assert info.value.field.startswith("cancel.url")

    @pytest.mark.parametrize(
        "name", ["in_progress", "completed", "failed", "cancelled", "timed_out"]
    )
    @pytest.mark.parametrize("source", ["{progress", "x}", "{+progress}", "{nope(x)}", 7])
    def test_messages(self, name: str, source: Any) -> None:
        """A bad message template names ``messages.<kind>``."""
        with pytest.raises(SpecError) as info:
            Messages(**{name: source})
        assert info.value.field.startswith(f"messages.{name}")

    def test_where_is_required(self) -> None:
        """A spec must say where the status lives."""
        assert spec_error(status_url=None).field == "status_url"
        make(status_url=None, status_from=("Location",))


BAD_NUMBERS = [-1, -0.001, math.nan, math.inf, -math.inf, "1", None, True]


class TestNumbers:
    """Timing fields take finite, non-negative numbers."""

    @pytest.mark.parametrize("value", BAD_NUMBERS)
    @pytest.mark.parametrize("name", ["min_interval", "max_retry_after", "first_poll_jitter"])
    def test_bad(self, name: str, value: Any) -> None:
        """Negative, NaN, infinite, non-numeric and boolean values are refused."""
        assert spec_error(**{name: value}).field == name

    @pytest.mark.parametrize("value", [v for v in BAD_NUMBERS if v is not None])
    def test_bad_interval(self, value: Any) -> None:
        """``interval`` takes a finite non-negative number."""
        assert spec_error(interval=value).field == "interval"

    @pytest.mark.parametrize("value", [0, 0.0, *[v for v in BAD_NUMBERS if v is not None]])
    def test_bad_max_duration(self, value: Any) -> None:
        """``max_duration`` is positive (or None)."""
        assert spec_error(max_duration=value).field == "max_duration"

    @pytest.mark.parametrize("value", [0, -1, True, False, 1.5, 2.0, "3"])
    def test_bad_max_attempts(self, value: Any) -> None:
        """``max_attempts`` is a whole number from 1 (or None)."""
        assert spec_error(max_attempts=value).field == "max_attempts"

    def test_max_retry_after_below_min_interval(self) -> None:
        """``max_retry_after`` may not be below ``min_interval``."""
        error = spec_error(min_interval=10, max_retry_after=5)
        assert error.field == "max_retry_after"
        make(min_interval=5, max_retry_after=5)

    def test_zero_for_tests(self) -> None:
        """Zero intervals and floors are allowed (tests set them)."""
        spec = make(interval=0, min_interval=0, max_retry_after=0)
        assert spec.effective_backoff == Backoff.fixed(0.0)

    def test_interval_and_backoff(self) -> None:
        """``interval`` and ``backoff`` cannot both be given."""
        assert spec_error(interval=1.0, backoff=Backoff.fixed(1.0)).field == "interval"

    def test_effective_backoff(self) -> None:
        """``interval`` reads as a fixed backoff; neither means 1 s."""
        assert make(interval=5).effective_backoff == Backoff.fixed(5.0)
        assert make().effective_backoff == Backoff.fixed(1.0)
        backoff = Backoff.exponential(1.0)
        assert make(backoff=backoff).effective_backoff is backoff


class TestNested:
    """Backoff, ErrorBudget, Messages and CancelSpec validate their own fields."""

    @pytest.mark.parametrize(
        ("fields", "name"),
        [
            ({"kind": "random"}, "backoff.kind"),
            ({"delay": -1}, "backoff.delay"),
            ({"delay": math.nan}, "backoff.delay"),
            ({"step": math.inf}, "backoff.step"),
            ({"factor": 0.5}, "backoff.factor"),
            ({"factor": "2"}, "backoff.factor"),
            ({"min_delay": -1}, "backoff.min_delay"),
            ({"max_delay": -1}, "backoff.max_delay"),
            ({"min_delay": 5, "max_delay": 1}, "backoff.max_delay"),
            ({"jitter": 1.5}, "backoff.jitter"),
            ({"jitter": -0.1}, "backoff.jitter"),
            ({"jitter": True}, "backoff.jitter"),
        ],
    )
    def test_backoff(self, fields: dict[str, Any], name: str) -> None:
        """Each bad Backoff field is named."""
        with pytest.raises(SpecError) as info:
            Backoff(**fields)
        assert info.value.field == name

    @pytest.mark.parametrize(
        ("fields", "name"),
        [
            ({"max_consecutive": -1}, "errors.max_consecutive"),
            ({"max_consecutive": True}, "errors.max_consecutive"),
            ({"max_consecutive": 2.5}, "errors.max_consecutive"),
            ({"max_failing_time": -1}, "errors.max_failing_time"),
            ({"max_failing_time": math.nan}, "errors.max_failing_time"),
            ({"backoff": {"delay": math.inf}}, "backoff.delay"),
            ({"backoff": {"max_delay": -5}}, "backoff.max_delay"),
            ({"backoff": {"pace": 1}}, "errors.backoff"),
            ({"backoff": 5}, "errors.backoff"),
        ],
    )
    def test_error_budget(self, fields: dict[str, Any], name: str) -> None:
        """Each bad ErrorBudget field is named."""
        with pytest.raises(SpecError) as info:
            ErrorBudget(**fields)
        assert info.value.field == name

    @pytest.mark.parametrize(
        ("fields", "name"),
        [
            ({"initial_delay": math.inf}, "errors.initial_delay"),
            ({"max_delay": -5}, "errors.max_delay"),
        ],
    )
    def test_error_budget_legacy_names(self, fields: dict[str, Any], name: str) -> None:
        """The names before ``backoff`` still validate, with a deprecation warning."""
        with pytest.warns(DeprecationWarning, match="backoff"), pytest.raises(SpecError) as info:
            ErrorBudget(**fields)
        assert info.value.field == name

    @pytest.mark.parametrize(
        ("fields", "name"),
        [
            ({"method": "FETCH"}, "cancel.method"),
            ({"method": 5}, "cancel.method"),
            ({"json": {}, "form": {}}, "cancel.form"),
            ({"form": {"a": 1}}, "cancel.form"),
            ({"confirm_timeout": -1}, "cancel.confirm_timeout"),
            ({"headers": {"X-Trace": "a\r\nb"}}, "cancel.headers"),
            ({"headers": "Accept: x"}, "cancel.headers"),
            ({"statuses": {200: "maybe"}}, "cancel.statuses"),
            ({"statuses": {200: ["accepted"]}}, "cancel.statuses"),
            ({"statuses": {99: "accepted"}}, "cancel.statuses"),
        ],
    )
    def test_cancel(self, fields: dict[str, Any], name: str) -> None:
        """Each bad CancelSpec field is named."""
        with pytest.raises(SpecError) as info:
            CancelSpec(url="/ops/{start.id}:cancel", **fields)
        assert info.value.field == name

    @pytest.mark.parametrize(
        ("name", "value"),
        [("backoff", "fast"), ("errors", {"max_consecutive": 3}), ("messages", "x"), ("cancel", 1)],
    )
    def test_wrong_types(self, name: str, value: Any) -> None:
        """A nested field of the wrong type is named."""
        assert spec_error(**{name: value}).field == name

    def test_cancel_normalized(self) -> None:
        """A CancelSpec upper-cases its method and freezes its mappings."""
        cancel = CancelSpec(url="/ops/{start.id}:cancel", method="delete", headers={"A": "b"})
        assert cancel.method == "DELETE"
        assert cancel.headers == {"A": "b"}
        with pytest.raises(TypeError):
            cancel.headers["A"] = "c"  # type: ignore[index]


class TestErrorBudgetBackoff:
    """ErrorBudget takes a Backoff; the names before it keep working for one release."""

    def test_legacy_names_map_to_backoff(self) -> None:
        """``initial_delay``/``max_delay`` set the backoff's delay and ceiling, with a warning."""
        with pytest.warns(DeprecationWarning, match="backoff=Backoff.exponential"):
            old = ErrorBudget(initial_delay=0.5, max_delay=4.0)
        assert old == ErrorBudget(backoff=Backoff.exponential(0.5, max_delay=4.0, jitter=1.0))
        with pytest.warns(DeprecationWarning, match="backoff.delay"):
            assert old.initial_delay == 0.5
        with pytest.warns(DeprecationWarning, match="backoff.max_delay"):
            assert old.max_delay == 4.0

    def test_json_form(self) -> None:
        """The backoff is a nested object in JSON; the older keys still read, silently."""
        budget = ErrorBudget(max_consecutive=3, backoff=Backoff.exponential(0.2, max_delay=9.0))
        spec = PollSpec(status_url="/s", done="done", errors=budget)
        data = spec.to_json()
        assert data["errors"]["backoff"]["delay"] == 0.2
        assert PollSpec.from_json(data) == spec
        legacy = ErrorBudget.from_json({"max_consecutive": 3, "initial_delay": 0.2})
        assert legacy.backoff == Backoff.exponential(0.2, max_delay=30.0, jitter=1.0)


class TestOnePacing:
    """``interval`` and ``backoff`` say the same thing: overriding one replaces the other."""

    def test_override_interval_on_a_backoff_preset(self) -> None:
        """A preset built with a Backoff (Google) takes an ``interval`` override."""
        data = {"preset": "google", "params": {}, "overrides": {"interval": 5}}
        spec = PollSpec.from_json(data)
        assert (spec.interval, spec.backoff) == (5, None)
        assert spec.effective_backoff == Backoff.fixed(5)
        assert PollSpec.from_json(spec.to_json()) == spec

    def test_replace(self) -> None:
        """``replace(backoff=...)`` on an interval spec, and the reverse, need no clearing."""
        spec = PollSpec(status_url="/s", done="done", interval=2)
        slower = spec.replace(backoff=Backoff.exponential(1.0))
        assert (slower.interval, slower.backoff) == (None, Backoff.exponential(1.0))
        assert slower.replace(interval=3).effective_backoff == Backoff.fixed(3)

    def test_both_still_refused(self) -> None:
        """Giving both at once is still the error it was."""
        with pytest.raises(SpecError, match="not both"):
            PollSpec(status_url="/s", done="done").replace(interval=2, backoff=Backoff())


class TestStatusRules:
    """``status_rules`` maps HTTP codes to fixed meanings."""

    @pytest.mark.parametrize(
        "rules",
        [
            {99: "running"},
            {600: "running"},
            {"200": "running"},
            {True: "running"},
            {200.0: "running"},
            {200: "done"},
            {200: "Running"},
            {200: None},
            {200: ["evaluate"]},
            {200: {"rule": "evaluate"}},
        ],
    )
    def test_bad(self, rules: dict[Any, Any]) -> None:
        """A code outside 100-599 or an unknown rule is refused, naming ``status_rules``."""
        assert spec_error(status_rules=rules).field == "status_rules"

    def test_all_rules(self) -> None:
        """Every rule value is accepted and kept, read-only."""
        rules = {
            200: "evaluate",
            202: "running",
            204: "succeeded",
            409: "failed",
            404: "cancelled",
            410: "gone",
            418: "transient",
        }
        spec = make(status_rules=rules)
        assert spec.status_rules == rules
        with pytest.raises(TypeError):
            spec.status_rules[500] = "failed"  # type: ignore[index]

    @pytest.mark.parametrize("rule", ["succeeded", "failed", "cancelled"])
    def test_terminal_rule_is_enough(self, rule: str) -> None:
        """A rule with a terminal outcome is a way to end polling."""
        make(done=None, status_rules={200: rule})

    @pytest.mark.parametrize("rules", [None, {}, {202: "running"}, {404: "gone"}])
    def test_no_terminal_condition(self, rules: dict[int, str] | None) -> None:
        """Without done, failed, cancelled or a terminal rule nothing would end polling."""
        error = spec_error(done=None, status_rules=rules)
        assert error.field == "done"
        assert "nothing would ever end polling" in str(error)

    @pytest.mark.parametrize("name", ["failed", "cancelled"])
    def test_failed_or_cancelled_is_enough(self, name: str) -> None:
        """``failed`` or ``cancelled`` alone can end polling."""
        make(done=None, **{name: "x"})


class TestHeadersAndBodies:
    """Specs hold no credentials, and one body kind at most."""

    @pytest.mark.parametrize(
        "name",
        [
            "Authorization",
            "authorization",
            "Cookie",
            "X-Api-Key",
            "X-API-KEY",
            "Proxy-Authorization",
            "X-Esri-Authorization",
            "Ocp-Apim-Subscription-Key",
        ],
    )
    def test_secret_status_headers(self, name: str) -> None:
        """Credential headers are refused in ``status_headers``."""
        error = spec_error(status_headers={name: "secret"})
        assert error.field == "status_headers"
        assert "secret" not in str(error)

    @pytest.mark.parametrize("name", ["Authorization", "Cookie", "X-Api-Key"])
    def test_secret_cancel_headers(self, name: str) -> None:
        """Credential headers are refused in ``cancel.headers``."""
        with pytest.raises(SpecError) as info:
            CancelSpec(url="/x/{start.id}", headers={name: "secret"})
        assert info.value.field == "cancel.headers"

    @pytest.mark.parametrize(
        "headers", [{"Accept": 1}, {1: "x"}, {"X-A": "a\nb"}, {"X\r\n": "v"}, {"X": "\x00"}]
    )
    def test_bad_status_headers(self, headers: dict[Any, Any]) -> None:
        """Non-string and control-character headers are refused."""
        assert spec_error(status_headers=headers).field == "status_headers"

    def test_plain_headers_kept(self) -> None:
        """Ordinary headers are kept, read-only."""
        spec = make(status_headers={"Accept": "application/json", "api-version": "2024"})
        assert spec.status_headers == {"Accept": "application/json", "api-version": "2024"}

    def test_json_and_form(self) -> None:
        """``status_json`` and ``status_form`` cannot both be given."""
        assert spec_error(status_json={"a": 1}, status_form={"b": "2"}).field == "status_form"

    @pytest.mark.parametrize(("name", "value"), [("status_query", {"a": 1}), ("status_form", [])])
    def test_string_mappings(self, name: str, value: Any) -> None:
        """Query and form fields are string-to-string mappings."""
        assert spec_error(**{name: value}).field == name

    @pytest.mark.parametrize("method", ["FETCH", "", 5, None])
    def test_bad_method(self, method: Any) -> None:
        """Only known HTTP methods are accepted."""
        assert spec_error(status_method=method).field == "status_method"

    @pytest.mark.parametrize(
        ("name", "value"),
        [
            ("status_from", "location"),
            ("status_from", ("",)),
            ("status_from", (5,)),
            ("status_url_updates", "location"),
            ("retry_after_headers", "retry-after"),
            ("retry_after_headers", (None,)),
        ],
    )
    def test_header_name_lists(self, name: str, value: Any) -> None:
        """Header-name lists are sequences of non-empty strings, not one string."""
        assert spec_error(**{name: value}).field == name

    def test_normalized(self) -> None:
        """Header names are lower-cased and the method upper-cased."""
        spec = make(
            status_from=("Operation-Location",),
            status_url_updates=["Location"],
            retry_after_headers=("Retry-After-Ms",),
            status_method="post",
        )
        assert spec.status_from == ("operation-location",)
        assert spec.status_url_updates == ("location",)
        assert spec.retry_after_headers == ("retry-after-ms",)
        assert spec.status_method == "POST"


class TestRequestAndStartHeaders:
    """``request_headers`` (every request) and ``start_headers`` (the start request only)."""

    @pytest.mark.parametrize("name", ["request_headers", "start_headers"])
    def test_kept_read_only(self, name: str) -> None:
        """Ordinary headers are kept as given, read-only; the default is empty."""
        spec = make(**{name: {"Prefer": "respond-async", "X-Trace": "t-1"}})
        assert getattr(spec, name) == {"Prefer": "respond-async", "X-Trace": "t-1"}
        with pytest.raises(TypeError):
            getattr(spec, name)["X-Trace"] = "t-2"
        assert getattr(make(), name) == {}

    @pytest.mark.parametrize("name", ["request_headers", "start_headers"])
    @pytest.mark.parametrize("header", ["Authorization", "cookie", "X-API-KEY"])
    def test_secret_refused(self, name: str, header: str) -> None:
        """A credential header is refused, naming the field and the Scheduler's credentials."""
        error = spec_error(**{name: {header: "s3cret"}})
        assert error.field == name
        assert "Scheduler's credentials" in str(error)
        assert "s3cret" not in str(error)

    @pytest.mark.parametrize("name", ["request_headers", "start_headers"])
    @pytest.mark.parametrize(
        "headers",
        [{"X-A": "a\r\nHost: evil"}, {"X\n": "v"}, {"X": "\x00"}, {"X": 1}, ["X: 1"]],
    )
    def test_bad_refused(self, name: str, headers: Any) -> None:
        """Control characters, non-strings and non-mappings are refused, naming the field."""
        assert spec_error(**{name: headers}).field == name

    def test_json_round_trip(self) -> None:
        """Both travel in the JSON form as plain objects and read back equal."""
        spec = make(request_headers={"X-Trace": "t-1"}, start_headers={"Prefer": "respond-async"})
        data = spec.to_json()
        assert data["request_headers"] == {"X-Trace": "t-1"}
        assert data["start_headers"] == {"Prefer": "respond-async"}
        assert type(data["request_headers"]) is dict
        assert roundtrip(spec) == spec
        assert roundtrip(make()).request_headers == {}

    def test_part_of_equality(self) -> None:
        """Two specs differing only in these headers are different specs."""
        assert make(start_headers={"Prefer": "respond-async"}) != make()
        assert make(request_headers={"X-Trace": "1"}) != make(request_headers={"X-Trace": "2"})


class TestViewAndFrozen:
    """The view is one of two, and a spec cannot change after construction."""

    @pytest.mark.parametrize("view", ["body", "Response", "", None])
    def test_unknown_view(self, view: Any) -> None:
        """Only ``document`` and ``response`` are views."""
        assert spec_error(view=view).field == "view"

    def test_frozen(self) -> None:
        """Assigning to a spec or its parts raises."""
        spec = make(backoff=Backoff.fixed(1.0), cancel=CancelSpec(url="/x/{start.id}"))
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.done = "x"  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.effective_backoff.delay = 2.0  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.errors.max_consecutive = 1  # type: ignore[misc]
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.messages.completed = "x"  # type: ignore[misc]
        assert spec.cancel is not None
        with pytest.raises(dataclasses.FrozenInstanceError):
            spec.cancel.url = "/y"  # type: ignore[misc]

    def test_replace_validates(self) -> None:
        """``replace`` builds a new spec and validates it again."""
        spec = make()
        changed = spec.replace(done="status == 'ok'")
        assert changed.done == "status == 'ok'"
        assert spec.done == "done"
        with pytest.raises(SpecError):
            spec.replace(done="status ==")

    def test_equality_ignores_compiled(self) -> None:
        """Two specs built from the same data are equal."""
        assert make(progress="p") == make(progress="p")
        assert make(progress="p") != make(progress="q")


SPECS = [
    make(),
    make(
        status_url="/api/exports/{start.jobId}/status",
        interval=1.0,
        max_duration=60,
        done="status == 'done'",
        failed="status == 'failed'",
        progress="progress",
        error_message="error.message",
        cancel=CancelSpec(url="/api/exports/{start.jobId}/cancel", method="POST"),
        messages=Messages(in_progress="Export progress: {progress}%", completed="Export finished!"),
        name="export",
    ),
    make(
        status_url="{+request_url}",
        view="response",
        done="status != `202`",
        status_rules={202: "running", 404: "cancelled", 410: "gone"},
        status_url_updates=("Location",),
        retry_after_headers=("retry-after-ms", "retry-after"),
        cancel=CancelSpec(url="{+status_url}", method="DELETE", statuses={404: "not_found"}),
    ),
    make(
        status_url="https://api.example.com/v1/{+start.name}",
        backoff=Backoff.exponential(1.0, factor=1.5, max_delay=20.0, jitter=0.2),
        errors=ErrorBudget(max_consecutive=None, max_failing_time=120.0),
        done="done",
        failed="error != null",
        result="response",
        status_headers={"Accept": "application/json"},
        status_query={"api-version": "2024-01-01"},
        max_attempts=500,
        first_poll_jitter=1.0,
        min_interval=0.0,
        max_retry_after=0.0,
    ),
    make(
        status_url=None,
        status_from=("Azure-AsyncOperation", "Operation-Location", "Location"),
        status_method="POST",
        status_json={"filter": [1, 2.5, None, True, {"x": "y"}]},
        cancel=CancelSpec(
            url="/jobs/{start.id}/cancel", form={"f": "json"}, headers={"X-Trace": "1"}
        ),
    ),
]


class TestJson:
    """The declarative JSON form."""

    @pytest.mark.parametrize("spec", SPECS)
    def test_roundtrip(self, spec: PollSpec) -> None:
        """A spec read back from its JSON text equals the original."""
        assert roundtrip(spec) == spec

    @pytest.mark.parametrize("spec", SPECS)
    def test_plain_json(self, spec: PollSpec) -> None:
        """The JSON form is plain data: dumping needs no ``default``, keys are strings."""
        data = spec.to_json()
        assert json.loads(json.dumps(data)) == data
        assert "preset" not in data

    @UNIT
    @given(spec=poll_specs())
    def test_roundtrip_property(self, spec: PollSpec) -> None:
        """Any valid spec survives its JSON form."""
        assert roundtrip(spec) == spec
        assert roundtrip(roundtrip(spec)).to_json() == spec.to_json()

    def test_status_rules_keys(self) -> None:
        """``status_rules`` codes are strings in JSON and ints again when read."""
        spec = make(status_rules={202: "running"})
        assert spec.to_json()["status_rules"] == {"202": "running"}
        assert dict(roundtrip(spec).status_rules or {}) == {202: "running"}

    @pytest.mark.parametrize(
        ("data", "name"),
        [
            ({**BASE, "colour": "red"}, "spec"),
            ({**BASE, "backoff": {"kind": "fixed", "speed": 2}}, "backoff"),
            ({**BASE, "errors": {"retries": 3}}, "errors"),
            ({**BASE, "messages": {"started": "x"}}, "messages"),
            ({**BASE, "cancel": {"url": "/x/{start.id}", "verb": "POST"}}, "cancel"),
        ],
    )
    def test_unknown_keys(self, data: dict[str, Any], name: str) -> None:
        """Unknown keys at any level are refused, naming where."""
        with pytest.raises(SpecError, match="unknown keys") as info:
            PollSpec.from_json(data)
        assert info.value.field == name

    @pytest.mark.parametrize(
        ("data", "name"),
        [
            ({**BASE, "backoff": "fast"}, "backoff"),
            ({**BASE, "backoff": [1, 2]}, "backoff"),
            ({**BASE, "backoff": {"delay": "1"}}, "backoff.delay"),
            ({**BASE, "errors": 5}, "errors"),
            ({**BASE, "errors": None}, "errors"),
            ({**BASE, "messages": {"in_progress": 5}}, "messages.in_progress"),
            ({**BASE, "cancel": {"url": 5}}, "cancel.url"),
            ({**BASE, "cancel": {"method": "POST"}}, "cancel"),
            ({**BASE, "status_rules": [[200, "running"]]}, "status_rules"),
            ({**BASE, "status_rules": {"abc": "running"}}, "status_rules"),
            ({**BASE, "status_rules": {"200": 5}}, "status_rules"),
            ({**BASE, "status_rules": {"200": ["running"]}}, "status_rules"),
            ({**BASE, "status_from": "location"}, "status_from"),
            ({**BASE, "retry_after_headers": {"a": 1}}, "retry_after_headers"),
            ({**BASE, "status_headers": ["Accept"]}, "status_headers"),
            ({**BASE, "interval": "1"}, "interval"),
            ({**BASE, "done": 5}, "done"),
            ({**BASE, "done": ["status"]}, "done"),
            ({**BASE, "view": 1}, "view"),
        ],
    )
    def test_wrong_types(self, data: dict[str, Any], name: str) -> None:
        """Wrong types at any level are refused, naming where."""
        with pytest.raises(SpecError) as info:
            PollSpec.from_json(data)
        assert info.value.field == name

    @pytest.mark.parametrize("data", [[], "spec", 5, None])
    def test_not_an_object(self, data: Any) -> None:
        """A spec's JSON form is an object."""
        with pytest.raises(SpecError) as info:
            PollSpec.from_json(data)
        assert info.value.field == "spec"


@pytest.fixture(name="preset_name")
def _preset_name() -> Iterator[str]:
    """A test preset registered under a unique name, removed afterwards."""
    name = f"test-export-{uuid.uuid4().hex}"

    def export(*, base: str = "/api", interval: float = 1.0) -> PollSpec:
        return PollSpec(
            status_url=base + "/exports/{start.jobId}/status",
            done="status == 'done'",
            failed="status == 'failed'",
            interval=interval,
        )

    preset(name)(export)
    yield name
    _PRESETS.pop(name, None)


class TestPresets:
    """A preset is referenced as ``{"preset": name, "params": {...}}``."""

    def test_reference(self, preset_name: str) -> None:
        """A preset's spec serialises as its name and parameters, and reads back."""
        spec = resolve_preset(preset_name, {"base": "/v2", "interval": 5})
        assert spec.preset == PresetRef(preset_name, {"base": "/v2", "interval": 5})
        data = spec.to_json()
        assert data == {"preset": preset_name, "params": {"base": "/v2", "interval": 5}}
        back = PollSpec.from_json(json.loads(json.dumps(data)))
        assert back == spec
        assert back.preset == spec.preset
        assert back.status_url == "/v2/exports/{start.jobId}/status"

    def test_decorated_function_tags(self, preset_name: str) -> None:
        """Calling the registered function directly tags the spec the same way."""
        fn = _PRESETS[preset_name]
        tagged = preset(preset_name)(fn)
        spec = tagged(interval=3)
        assert spec.to_json() == {"preset": preset_name, "params": {"interval": 3}}

    def test_overrides(self, preset_name: str) -> None:
        """A replaced field is written as an override and applied when read back."""
        spec = resolve_preset(preset_name, {}).replace(
            done="status == 'finished'", max_duration=30.0, progress=None
        )
        data = spec.to_json()
        assert data == {
            "preset": preset_name,
            "params": {},
            "overrides": {"done": "status == 'finished'", "max_duration": 30.0},
        }
        back = PollSpec.from_json(json.loads(json.dumps(data)))
        assert back == spec
        assert back.preset == spec.preset

    def test_override_back_to_null(self, preset_name: str) -> None:
        """Clearing a field the preset sets is an override to null."""
        spec = resolve_preset(preset_name, {}).replace(failed=None)
        data = spec.to_json()
        assert data["overrides"] == {"failed": None}
        assert roundtrip(spec) == spec

    def test_unknown_preset(self) -> None:
        """An unknown preset name is refused, naming ``preset``."""
        with pytest.raises(SpecError) as info:
            PollSpec.from_json({"preset": f"nope-{uuid.uuid4().hex}"})
        assert info.value.field == "preset"

    def test_bad_params(self, preset_name: str) -> None:
        """Parameters the preset does not take are refused, naming ``params``."""
        with pytest.raises(SpecError) as info:
            PollSpec.from_json({"preset": preset_name, "params": {"colour": "red"}})
        assert info.value.field == "params"
        with pytest.raises(SpecError) as info:
            PollSpec.from_json({"preset": preset_name, "params": ["x"]})
        assert info.value.field == "params"

    def test_unknown_keys_beside_preset(self, preset_name: str) -> None:
        """Only ``preset``, ``params`` and ``overrides`` go together."""
        with pytest.raises(SpecError) as info:
            PollSpec.from_json({"preset": preset_name, "done": "x"})
        assert info.value.field == "spec"

    def test_name_taken(self, preset_name: str) -> None:
        """Another function cannot take a registered name."""

        def other() -> PollSpec:
            return make()

        with pytest.raises(ValueError, match="already registered"):
            preset(preset_name)(other)

    def test_listed(self, preset_name: str) -> None:
        """Registered presets are listed by name."""
        assert preset_name in preset_names()
