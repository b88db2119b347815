"""The translator against JavaScript itself: random conditions, evaluated by Node.js and by lrpoll.

Skipped where ``node`` is not installed. Conditions are drawn from the accepted subset with a
fixed seed; each is evaluated the way XMLUI does (``Boolean(value)``, optional member access,
false on a falsy status document) and compared with lrpoll's JMESPath on the same document.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from typing import Any

import pytest

from lrpoll import SpecError
from lrpoll._expr import Expression, is_truthy
from lrpoll._jsexpr import translate_condition, translate_progress

NODE = shutil.which("node")
OPS = ["===", "!==", "==", "!=", "<", "<=", ">", ">="]
PATHS = ["$statusData.a", "$statusData.b", "$statusData.a.c", "$statusData", "$statusData['b']"]
LITERALS = ["0", "1", "-1", "'1'", "''", "'a'", "true", "false", "null", "undefined", "2.5"]
LITERALS += ["'[object Object]'", "'1,2'"]
VALUES: list[Any] = [None, 0, 1, "1", "", "a", [], [1], [1, 2], {}, {"c": 1}, {"c": "1"}]
VALUES += [True, False, "0", -0.5, "[object Object]", "1,2", " 1 ", "40%", 150]
ABSENT = object()

JS = r"""
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
function progress(S) {
  if (!S) return 0;
  const v = S?.progress;
  return v === null || v === undefined ? 0 : Math.max(0, Math.min(100, Number(v)));
}
const out = cases.map(([js, S]) => {
  const P = progress(S);
  return S ? Boolean(eval(js)) : false;
});
process.stdout.write(JSON.stringify(out));
"""


def _operand(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return rng.choice(PATHS)
    if r < 0.6:
        return "$progress"
    return rng.choice(LITERALS)


def _condition(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if depth > 2 or r < 0.5:
        if rng.random() < 0.2:
            return rng.choice(PATHS)
        return f"{_operand(rng)} {rng.choice(OPS)} {_operand(rng)}"
    if r < 0.65:
        return f"!({_condition(rng, depth + 1)})"
    op = rng.choice(["&&", "||"])
    return f"({_condition(rng, depth + 1)}) {op} ({_condition(rng, depth + 1)})"


def _document(rng: random.Random) -> Any:
    if rng.random() < 0.05:
        return rng.choice([None, 0, "", "x", 1, []])
    doc = {}
    for key in ("a", "b", "progress"):
        value = rng.choice([ABSENT, *VALUES])
        if value is not ABSENT:
            doc[key] = value
    return doc


def _as_javascript(source: str) -> str:
    """XMLUI's member access never throws: every ``.`` and ``[`` is optional."""
    body = source.replace("$statusData", "S").replace("$progress", "P")
    body = re.sub(r"(?<!\?)\.(?=[A-Za-z_$])", "?.", body)
    return re.sub(r"(?<=[\w\]])\[", "?.[", body)


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_random_conditions_agree_with_javascript() -> None:
    """On 2000 random conditions and documents, lrpoll's value is JavaScript's."""
    assert NODE is not None
    rng = random.Random(20261206)
    progress = translate_progress("$statusData.progress")
    cases: list[tuple[str, Any, str, bool]] = []
    while len(cases) < 2000:
        source, doc = _condition(rng), _document(rng)
        try:
            jp = translate_condition(source, attribute="c", progress=progress)
        except SpecError:
            continue
        got = is_truthy(Expression(jp, field="c").search(json.loads(json.dumps(doc))))
        cases.append((source, doc, jp, got))
    payload = json.dumps([[_as_javascript(s), d] for s, d, _, _ in cases])
    run = subprocess.run(
        [NODE, "-e", JS], input=payload, capture_output=True, text=True, check=True, timeout=60
    )
    expected = json.loads(run.stdout)
    wrong = [
        (source, doc, jp, got)
        for (source, doc, jp, got), js in zip(cases, expected, strict=True)
        if got != js
    ]
    assert wrong == []
