"""``lrpoll.load_spec`` and ``lrpoll.loads_spec``: specs from JSON and TOML documents.

Good documents give the same spec as `PollSpec.from_json`; every bad one gives a
`SpecError` naming the file, the key path and the problem.
"""

from __future__ import annotations

import json
import pickle
import re
from typing import TYPE_CHECKING, Any

import pytest

import lrpoll
from lrpoll import PollSpec, SpecError, load_spec, loads_spec
from lrpoll.presets import google_operation, oracle_export

if TYPE_CHECKING:
    from pathlib import Path

PLAIN_TOML = """
name = "exports"
status_url = "/api/exports/{start.jobId}/status"
interval = 2
max_duration = 600
done = "status == 'done'"
failed = "status == 'failed'"
progress = "progress"
status_from = ["location"]

[status_rules]
404 = "cancelled"

[errors]
max_consecutive = 3

[messages]
in_progress = "Export progress: {progress}%"

[cancel]
url = "/api/exports/{start.jobId}/cancel"
method = "post"

[cancel.statuses]
409 = "refused"
"""

PLAIN = {
    "name": "exports",
    "status_url": "/api/exports/{start.jobId}/status",
    "interval": 2,
    "max_duration": 600,
    "done": "status == 'done'",
    "failed": "status == 'failed'",
    "progress": "progress",
    "status_from": ["location"],
    "status_rules": {"404": "cancelled"},
    "errors": {"max_consecutive": 3},
    "messages": {"in_progress": "Export progress: {progress}%"},
    "cancel": {
        "url": "/api/exports/{start.jobId}/cancel",
        "method": "post",
        "statuses": {"409": "refused"},
    },
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    """Write ``text`` to ``tmp_path / name`` and return the path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(text: str, format: lrpoll.SpecFormat = "toml") -> SpecError:
    """The SpecError ``loads_spec`` raises for ``text`` (source ``spec.toml``)."""
    with pytest.raises(SpecError) as info:
        loads_spec(text, format=format, source=f"spec.{format}")
    return info.value


class TestGoodFiles:
    """Documents that load, and what they give."""

    def test_plain_toml_and_json_give_the_same_spec(self, tmp_path: Path) -> None:
        """A TOML file and a JSON file of the same JSON form give the spec from_json gives."""
        from_toml = load_spec(write(tmp_path, "export.toml", PLAIN_TOML))
        from_json = load_spec(str(write(tmp_path, "export.json", json.dumps(PLAIN))))
        assert from_toml == from_json == PollSpec.from_json(PLAIN)
        assert from_toml.status_rules == {404: "cancelled"}
        assert from_toml.cancel is not None
        assert from_toml.cancel.statuses == {409: "refused"}
        assert from_toml.status_from == ("location",)

    def test_every_to_json_loads_back(self, tmp_path: Path) -> None:
        """What to_json writes as a JSON file loads back equal, presets included."""
        for spec in [PollSpec.from_json(PLAIN), oracle_export(interval=2), google_operation()]:
            path = write(tmp_path, "spec.json", json.dumps(spec.to_json()))
            assert load_spec(path) == spec

    def test_preset_with_params_overrides_and_nulls(self, tmp_path: Path) -> None:
        """A TOML preset reference; ``null`` switches off fields that have a default."""
        text = """
preset = "google"
null = ["params.max_duration", "params.progress"]

[params]
api_root = "/v1beta"
errors = { max_consecutive = 8 }

[overrides]
max_attempts = 10
"""
        spec = load_spec(write(tmp_path, "google.TOML", text))
        expected = google_operation(
            api_root="/v1beta", errors={"max_consecutive": 8}, max_duration=None, progress=None
        ).replace(max_attempts=10)
        assert spec == expected
        assert spec.max_duration is None
        assert spec.progress is None
        assert spec.preset is not None
        assert spec.preset.name == "google"

    def test_nested_null_creates_its_table(self) -> None:
        """``null`` reaches into nested tables, creating them when absent."""
        text = """
status_url = "/x/{start.id}"
done = "done"
null = ["errors.max_consecutive", "max_duration"]
"""
        spec = loads_spec(text, format="toml")
        assert spec.errors.max_consecutive is None
        assert spec.max_duration is None

    def test_json_with_a_byte_order_mark(self, tmp_path: Path) -> None:
        """A UTF-8 byte order mark (as some editors write) is accepted."""
        path = tmp_path / "bom.json"
        path.write_bytes(b"\xef\xbb\xbf" + json.dumps(PLAIN).encode())
        assert load_spec(path) == PollSpec.from_json(PLAIN)

    def test_the_oracle_preset_from_toml(self) -> None:
        """The Oracle preset loads by name with its parameters."""
        text = 'preset = "oracle"\n[params]\napi_root = "https://otm.example.com/data/v1"\n'
        assert loads_spec(text, format="toml") == oracle_export(
            api_root="https://otm.example.com/data/v1"
        )


class TestErrors:
    """Every class of error names the file, the key and the problem."""

    @pytest.mark.parametrize(
        ("name", "content", "message"),
        [
            ("spec.yaml", b"{}", "unknown spec file suffix '.yaml': use .json or .toml"),
            ("spec", b"{}", "unknown spec file suffix '(none)'"),
            ("latin1.json", b'{"name": "caf\xe9"}', "the file is not UTF-8 text (byte 13)"),
        ],
    )
    def test_file_level_errors(
        self, tmp_path: Path, name: str, content: bytes, message: str
    ) -> None:
        """A bad suffix or a non-UTF-8 file is refused, naming the file."""
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(SpecError, match=re.escape(message)) as info:
            load_spec(path)
        assert info.value.file == str(path)
        assert str(info.value).startswith(f"{path}: ")

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that cannot be read is a SpecError naming it, with the OS's reason."""
        path = tmp_path / "missing.toml"
        with pytest.raises(SpecError, match="cannot read the file: No such file") as info:
            load_spec(path)
        assert isinstance(info.value.__cause__, FileNotFoundError)
        assert info.value.file == str(path)

    @pytest.mark.parametrize(
        ("text", "format", "message"),
        [
            ('{"done": "x",\n "status_url": }', "json", "invalid JSON at line 2, column 16"),
            ('done = "x"\nstatus_url = \n', "toml", "invalid TOML: Invalid value (at line 2"),
            ("[1, 2]", "json", "the document must be an object (a table), not list"),
            ('{"done": "a", "done": "b"}', "json", "duplicate key 'done'"),
            ('{"interval": NaN}', "json", "NaN is not JSON: numbers must be finite"),
        ],
    )
    def test_document_errors(self, text: str, format: lrpoll.SpecFormat, message: str) -> None:
        """Syntax errors give their line and column; the root must be an object."""
        exc = error(text, format)
        assert message in str(exc)
        assert str(exc).startswith(f"spec.{format}: ")
        assert exc.field == ""

    @pytest.mark.parametrize(
        ("text", "field", "problem"),
        [
            (
                'status_url = "/x/{start.id}"\ndone = "a"\nintreval = 5\n',
                "intreval",
                "unknown key (did you mean 'interval'?)",
            ),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\n[backoff]\ndealy = 3\n',
                "backoff.dealy",
                "unknown key (did you mean 'delay'?)",
            ),
            (
                'preset = "oracle"\n[params]\n[overrides]\nfoo = 1\n',
                "overrides.foo",
                "unknown key",
            ),
            ('preset = "oracle"\nparam = {}\n', "param", "did you mean 'params'?"),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\n[cancel]\npreset = "x"\n',
                "cancel.preset",
                "unknown key",
            ),
        ],
    )
    def test_unknown_keys(self, text: str, field: str, problem: str) -> None:
        """An unknown key is named by its path, with the closest known key."""
        exc = error(text)
        assert (exc.field, exc.file) == (field, "spec.toml")
        assert str(exc).startswith(f"spec.toml: {field}: ")
        assert problem in str(exc)

    @pytest.mark.parametrize(
        ("text", "field", "problem"),
        [
            (
                'status_url = "/x/{start.id}"\ndone = "status = 1"\n',
                "done at position 7",
                "invalid JMESPath: unexpected '='",
            ),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\ninterval = "5"\n',
                "interval",
                "must be a finite number, not '5'",
            ),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\n[errors]\nmax_consecutive = -1\n',
                "errors.max_consecutive",
                "must be a whole number >= 0, not -1",
            ),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\n[status_rules]\n404 = "vanished"\n',
                "status_rules",
                "'vanished' for 404 is not one of",
            ),
            ('preset = "oracle"\n[params]\ninterval = -1\n', "params.interval", "must be >= 0.0"),
            ('preset = "oracle"\n[params]\napi_root = 5\n', "params.api_root", "must be a string"),
            ('preset = "nope"\n', "preset", "unknown preset 'nope'"),
            ("preset = 5\n", "preset", "must be a preset name"),
            ('preset = "oracle"\nparams = 5\n', "params", "must be an object"),
            ('preset = "oracle"\n[params]\nintervl = 5\n', "params", "unexpected keyword"),
            (
                'preset = "oracle"\n[overrides]\nmax_attempts = 0\n',
                "overrides.max_attempts",
                "must be a whole number >= 1",
            ),
            ('done = "a"\n', "status_url", "say where the status lives"),
        ],
    )
    def test_invalid_values(self, text: str, field: str, problem: str) -> None:
        """A bad value names its key path (params. and overrides. for presets)."""
        exc = error(text)
        assert str(exc).startswith(f"spec.toml: {field}: ")
        assert problem in str(exc)
        assert exc.file == "spec.toml"

    @pytest.mark.parametrize(
        ("text", "field", "problem"),
        [
            ('status_url = "/x/{start.id}"\ndone = "a"\nname = 1979-05-27\n', "name", "a date"),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\nstatus_json = {at = 07:32:00}\n',
                "status_json.at",
                "a time has no JSON form",
            ),
            ('status_url = "/x/{start.id}"\ndone = "a"\ninterval = inf\n', "interval", "inf"),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\nstatus_from = [nan]\n',
                "status_from[0]",
                "nan is not a finite number",
            ),
        ],
    )
    def test_toml_values_without_json_form(self, text: str, field: str, problem: str) -> None:
        """TOML dates, times, inf and nan have no JSON form: refused, naming the key."""
        exc = error(text)
        assert exc.field == field
        assert problem in str(exc)

    @pytest.mark.parametrize(
        ("text", "field", "problem"),
        [
            ('null = "max_duration"\n', "null", "must be an array of dotted key paths"),
            ('null = [""]\n', "null[0]", "'' is not a dotted key path"),
            ('null = ["a..b"]\n', "null[0]", "is not a dotted key path"),
            ('done = "a"\nnull = ["done.x"]\n', "null[0]", "done is not a table"),
            ('done = "a"\nnull = ["done"]\n', "done", "is set and also listed in null"),
            (
                'status_url = "/x/{start.id}"\ndone = "a"\nnull = ["backoff.kindd"]\n',
                "backoff.kindd",
                "unknown key",
            ),
        ],
    )
    def test_bad_null_lists(self, text: str, field: str, problem: str) -> None:
        """The TOML null list must be dotted paths to keys that are not set."""
        exc = error(text)
        assert exc.field == field
        assert problem in str(exc)

    def test_null_key_in_json(self) -> None:
        """JSON has null: a ``null`` key there is unknown, with a hint."""
        exc = error('{"status_url": "/x/{start.id}", "done": "a", "null": ["x"]}', "json")
        assert exc.field == "null"
        assert "JSON writes null values directly" in str(exc)

    def test_unknown_format(self) -> None:
        """loads_spec refuses a format it does not know."""
        with pytest.raises(SpecError, match="unknown format 'yaml'"):
            loads_spec("{}", format="yaml")  # type: ignore[arg-type]

    def test_errors_pickle_with_their_file(self) -> None:
        """A file's SpecError keeps file, field and position through pickling."""
        exc = error('status_url = "/x/{start.id}"\ndone = "status = 1"\n')
        copy = pickle.loads(pickle.dumps(exc))
        assert (copy.file, copy.field, copy.position, str(copy)) == (
            exc.file,
            exc.field,
            exc.position,
            str(exc),
        )


def test_round_trip_of_a_written_file(tmp_path: Path) -> None:
    """A spec written with to_json to a JSON file is what load_spec reads back."""
    spec: Any = oracle_export(target_url="https://bucket.example.com/o/", max_duration=None)
    path = write(tmp_path, "oracle.json", json.dumps(spec.to_json(), indent=2))
    assert load_spec(path) == spec
