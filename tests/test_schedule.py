"""The suite's scheduling aids: modules longest first, their seconds read from a JUnit report."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from schedule import heaviest_first, load_seconds, module_of

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Item:
    nodeid: str


def _script():
    spec = importlib.util.spec_from_file_location(
        "test_durations", ROOT / "scripts/test_durations.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modules_go_longest_first_whole_and_in_order_unknown_ones_last():
    ids = ["a.py::x", "a.py::y", "b.py::x", "c.py::x[1]", "c.py::x[2]", "d.py::x", "e.py::x"]
    seconds = {"a.py": 1.0, "b.py": 30.0, "c.py": 5.0, "e.py": 1.0}
    ordered = [i.nodeid for i in heaviest_first([Item(i) for i in ids], seconds)]
    assert ordered == [
        "b.py::x",
        "c.py::x[1]",
        "c.py::x[2]",
        "a.py::x",
        "a.py::y",
        "e.py::x",
        "d.py::x",
    ]
    assert module_of("tests/x/test_y.py::test_z[a::b]") == "tests/x/test_y.py"


def test_without_a_seconds_file_the_collection_order_is_kept(tmp_path):
    assert load_seconds(tmp_path / "missing.json") == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert load_seconds(tmp_path / "bad.json") == {}
    ids = [Item(i) for i in ("b.py::x", "a.py::x", "b.py::y")]
    assert heaviest_first(ids, {}) == [ids[0], ids[2], ids[1]]  # modules stay whole


def test_the_seconds_are_summed_per_module_from_a_junit_report(tmp_path):
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_schedule" name="a" time="1.25"/>'
        '<testcase classname="tests.test_schedule" name="b" time="2.5"/>'
        '<testcase classname="tests.test_schedule.TestGroup" name="c" time="0.5"/>'
        '<testcase classname="tests.test_cli" name="d" time="10"/>'
        "</testsuite></testsuites>"
    )
    script = _script()
    assert script.module_seconds(report) == {
        "tests/test_cli.py": 10.0,
        "tests/test_schedule.py": 4.2,
    }
    out = tmp_path / "seconds.json"
    assert script.main([str(report), str(out)]) == 0
    assert load_seconds(out) == json.loads(out.read_text()) == script.module_seconds(report)


def test_the_shipped_seconds_name_modules_that_exist():
    seconds = load_seconds()
    assert seconds, "tests/module_seconds.json is missing: run `make durations`"
    missing = [module for module in seconds if not (ROOT / module).is_file()]
    assert not missing, (
        f"tests/module_seconds.json names removed modules {missing}: `make durations`"
    )
