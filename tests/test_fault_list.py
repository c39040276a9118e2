"""docs/inputs.md lists the kinds of bad input and fault the tests cover, by category, as the tests declare
them (``@pytest.mark.fault(category, kind)``): no hand count. This test reads the marks from the test files
(every file, whatever is collected) and fails when the list in the docs is not current
(``SVFR_WRITE_DOCS=1`` rewrites it).
"""
from __future__ import annotations

import ast
from collections import defaultdict

from conftest import REPO_ROOT
from sweep.report import check_or_write

TESTS = REPO_ROOT / "tests"


def fault_marks() -> list[tuple[str, str, str]]:
    """(category, kind, "path::test") of every ``pytest.mark.fault`` decorator, in file order."""
    out = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute) and dec.func.attr == "fault"
                        and len(dec.args) == 2):
                    category, kind = (ast.literal_eval(a) for a in dec.args)
                    out.append((category, kind, f"{path.relative_to(REPO_ROOT).as_posix()}::{node.name}"))
    return out


def render(marks) -> str:
    by = defaultdict(list)
    for category, kind, where in marks:
        by[category].append((kind, where))
    lines = [f"{len(marks)} kinds in {len(by)} categories.", "", "| category | kinds |", "|---|---|"]
    lines += [f"| {c} | {len(by[c])} |" for c in sorted(by)]
    for c in sorted(by):
        lines += ["", f"**{c}**", ""] + [f"- {kind} (`{where}`)" for kind, where in by[c]]
    return "\n".join(lines) + "\n"


def test_every_fault_mark_has_a_category_and_a_kind():
    marks = fault_marks()
    assert marks and all(c and k for c, k, _ in marks)
    assert len({(c, k) for c, k, _ in marks}) == len(marks), "two tests declare the same kind"


def test_the_fault_list_in_the_docs_is_current():
    check_or_write(render(fault_marks()), name="faults")
