"""The shared front-end table (`metadata/tests/frontend_cases.json`) through the decorators: the
same cases run through the Rust macros and Node's `app.*`, and must get the same verdicts."""

import json
import pathlib

import pytest

import fnwire
from fnwire import FunctionDefinitionError

TABLE = pathlib.Path(__file__).resolve().parents[2] / "metadata" / "tests" / "frontend_cases.json"
CASES = [case for case in json.loads(TABLE.read_text())["cases"] if "python" in case.get("languages", ["python"])]


def _function(case):
    params = [p if isinstance(p, str) else f"{p['name']}: fnwire.Out[str]" for p in case["parameters"]]
    namespace = {"fnwire": fnwire}
    exec(f"def {case['function']}({', '.join(params)}):\n    return None\n", namespace)
    return namespace[case["function"]]


def _bindings(case):
    app = fnwire.App()
    func = _function(case)
    for binding in reversed(case["bindings"]):  # decorators apply bottom-up
        getattr(app, binding["kind"])(**binding["options"])(func)
    (info,) = app.functions()
    return info.bindings


def _by_name(bindings):
    return sorted(bindings, key=lambda b: b["name"])


def test_the_table_has_its_cases():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[case["case"] for case in CASES])
def test_case(case):
    if "ok" in case:
        assert _by_name(_bindings(case)) == _by_name(case["ok"])
        return
    with pytest.raises(FunctionDefinitionError) as raised:
        _bindings(case)
    problems = raised.value.problems
    assert len(problems) == len(case["problems"]), problems
    for want in case["problems"]:
        assert any(p.key == want["key"] and want["message"] in p.message for p in problems), (want, problems)
    for problem in problems:
        assert problem.message in str(raised.value)
