"""Read the lesson notebooks for the structure and exercise tests (no kernel needed)."""

import json
import pathlib
import re
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
EXERCISE_RE = re.compile(r"^### Exercise (\d+)\.(\d+): \S", re.M)
CHECK_CALL_RE = re.compile(r"^checks\.(\w+)\((\w+)\)\s*$", re.M)
SOLUTION_RE = re.compile(r"<details><summary>Solution</summary>\s*```python\n(.*?)```\s*</details>", re.S)


def notebook_paths():
    return sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


@dataclass
class Exercise:
    notebook: str
    heading: str
    checker: str
    answer_name: str
    stub: str
    solution: str

    @property
    def id(self):
        return f"{self.notebook}::{self.checker}"


def exercises(path):
    """Each exercise: heading cell, then the stub code cell with `checks.NAME(ANSWER)`, then the solution cell."""
    found, all_cells = [], cells(path)
    for i, cell in enumerate(all_cells):
        if cell["cell_type"] != "markdown" or not EXERCISE_RE.search(text(cell)):
            continue
        stub_cell, solution_cell = all_cells[i + 1], all_cells[i + 2]
        call = CHECK_CALL_RE.search(text(stub_cell)) if stub_cell["cell_type"] == "code" else None
        solution = SOLUTION_RE.search(text(solution_cell)) if solution_cell["cell_type"] == "markdown" else None
        heading = EXERCISE_RE.search(text(cell)).group(0)
        if call is None or solution is None:
            raise AssertionError(f"{path.name}: '{heading}' must be followed by a code cell ending in "
                                 "checks.NAME(answer) and a <details><summary>Solution</summary> cell")
        stub = CHECK_CALL_RE.sub("", text(stub_cell))
        found.append(Exercise(path.name, heading, call.group(1), call.group(2), stub, solution.group(1)))
    return found


def all_exercises():
    return [ex for path in notebook_paths() for ex in exercises(path)]
