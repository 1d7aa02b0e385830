"""Grade a folder of submitted notebooks: run each in a fresh kernel and collect the checkers' own verdicts.

    python tools/grade.py SUBMISSIONS                 # prints a summary, writes SUBMISSIONS/grades.csv
    python tools/grade.py SUBMISSIONS --timeout 900 --csv grades.csv

SUBMISSIONS holds one folder per student (``alice/05_classification.ipynb``) or files named
``<student>_<lesson>.ipynb`` (``alice_05_classification.ipynb``). Each notebook is executed top to bottom in a
fresh kernel with a time limit (cells after an error still run, as they do for the learner); the verdict of every
exercise of that lesson is what its checker printed: passed, failed, not attempted, or error (the exercise cell
raised, or was never reached). A file that is not a readable notebook, or a notebook that is not one of the
course's lessons, gets a row saying so. Learners' code runs on this machine: grade in a container or a throw-away
account. The CSV has one row per student, lesson and exercise.
"""

import argparse
import csv
import json
import os
import pathlib
import re
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
VERDICT_RE = re.compile(r"^\[(passed|failed|not attempted)\] (\w+):(.*)$", re.M)
TITLE_RE = re.compile(r"^# (\d\d) · ", re.M)
EXERCISE_RE = re.compile(r"^### Exercise \d+\.\d+: ", re.M)
CALL_RE = re.compile(r"^checks\.(\w+)\(\w+\)\s*$", re.M)
STATUSES = ("passed", "failed", "not attempted", "error")


def lessons():
    """{number: lesson entry} from labkit/course.json (written by tools/course.py)."""
    data = json.loads((ROOT / "labkit" / "course.json").read_text(encoding="utf-8"))
    return {entry["number"]: entry for entry in data["lessons"]}


def student_of(path, folder):
    """'alice' for alice/05_x.ipynb or alice_05_x.ipynb (relative to the submissions folder)."""
    rel = path.relative_to(folder)
    if len(rel.parts) > 1:
        return rel.parts[0]
    match = re.match(r"^(.*?)[_-]?\d\d_[a-z0-9_]+$", path.stem)
    return match.group(1) if match and match.group(1) else path.stem


def lesson_of(nb, path, known):
    """The lesson number of a notebook: its title cell '# NN · ...' or, failing that, its file name."""
    for cell in nb.cells:
        match = TITLE_RE.search(cell.source) if cell.cell_type == "markdown" else None
        if match and match.group(1) in known:
            return match.group(1)
    match = re.search(r"(\d\d)_[a-z0-9_]+$", path.stem)
    return match.group(1) if match and match.group(1) in known else None


def _cell_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        text = out.get("text", "")
        parts.append("".join(text) if isinstance(text, list) else text)
    return "\n".join(parts)


def execute(nb, path, timeout):
    """Run the notebook (errors allowed) in a fresh kernel; returns the notes on what went wrong (a list)."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    client.comm_open_handlers = {}   # no widget state needed (and nbclient's Output-widget handler can stall)
    notes, start = [], time.monotonic()
    saved = os.environ.get("LABKIT_PROGRESS")
    os.environ["LABKIT_PROGRESS"] = "off"   # the grading kernel (which inherits this) keeps no progress record
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if time.monotonic() - start > timeout:
                    notes.append(f"time limit of {timeout} s reached at cell {index}; later cells were not run")
                    break
                client.execute_cell(cell, index)
    except Exception as err:  # a dead kernel or a cell over the limit: grade what ran
        notes.append(f"execution stopped: {type(err).__name__}: {str(err).strip().splitlines()[-1][:200]}")
    finally:
        os.environ.pop("LABKIT_PROGRESS") if saved is None else os.environ.update(LABKIT_PROGRESS=saved)
    return notes


def _exercise_cells(nb):
    """{checker name: the exercise's own stub cell}: the code cell after a '### Exercise' heading that ends with
    ``checks.NAME(NAME)`` (a lesson may call a checker elsewhere too, e.g. to show a wrong answer)."""
    found, cells = {}, nb.cells
    for i, cell in enumerate(cells[:-1]):
        if cell.cell_type == "markdown" and EXERCISE_RE.search(cell.source) and cells[i + 1].cell_type == "code":
            call = CALL_RE.search(cells[i + 1].source)
            if call:
                found[call.group(1)] = cells[i + 1]
    return found


def verdicts(nb, entry):
    """[(exercise number, checker, status, detail)] for every exercise of the lesson ``entry``."""
    own = _exercise_cells(nb)
    rows = []
    for ex in entry["exercises"]:
        name, cell = ex["checker"], own.get(ex["checker"])
        if cell is None:
            rows.append((ex["number"], name, "error", "the exercise's cell is missing from the submission"))
            continue
        printed = [(status, detail.strip()) for status, who, detail in VERDICT_RE.findall(_cell_text(cell))
                   if who == name]
        if any(out.get("output_type") == "error" for out in cell.get("outputs", [])):
            rows.append((ex["number"], name, "error", "the exercise cell raised an error"))
        elif printed:
            rows.append((ex["number"], name, *printed[-1]))
        else:
            rows.append((ex["number"], name, "error", "the checker never ran (the cell was not reached)"))
    return rows


def grade_file(path, folder, known, timeout):
    """Rows (student, lesson, exercise, checker, status, detail) for one submitted file."""
    import nbformat

    student = student_of(path, folder)
    try:
        nb = nbformat.read(str(path), as_version=4)
    except Exception as err:  # not JSON, not a notebook, unreadable
        return [(student, "", "", "", "error", f"{path.name}: not a readable notebook ({type(err).__name__})")]
    number = lesson_of(nb, path, known)
    if number is None:
        return [(student, "", "", "", "error", f"{path.name}: not one of the course's lessons")]
    notes = execute(nb, path, timeout)
    rows = [(student, number, ex, name, status, detail) for ex, name, status, detail in verdicts(nb, known[number])]
    return [(s, n, e, c, st, "; ".join(filter(None, [d, *notes]))) for s, n, e, c, st, d in rows]


def summary(rows):
    """Printed table: per student and lesson, how many exercises in each state."""
    lines = [f"{'student':<16} {'lesson':<7} " + " ".join(f"{s:>13}" for s in STATUSES)]
    keys = sorted({(r[0], r[1]) for r in rows})
    for student, lesson in keys:
        mine = [r for r in rows if r[0] == student and r[1] == lesson]
        counts = [sum(r[4] == s for r in mine) for s in STATUSES]
        lines.append(f"{student:<16} {lesson or '-':<7} " + " ".join(f"{c:>13}" for c in counts)
                     + ("" if lesson else f"  {mine[0][5]}"))
    return "\n".join(lines)


def grade(folder, timeout=600, csv_path=None):
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise SystemExit(f"{folder} is not a folder of submitted notebooks")
    paths = sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        raise SystemExit(f"no .ipynb files under {folder}")
    known, rows = lessons(), []
    for path in paths:
        rows += grade_file(path, folder, known, timeout)
        print(f"graded {path.relative_to(folder)}", flush=True)
    csv_path = pathlib.Path(csv_path) if csv_path else folder / "grades.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "lesson", "exercise", "checker", "status", "detail"])
        writer.writerows(rows)
    print(summary(rows))
    print(f"\nwrote {csv_path}")
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submissions", type=pathlib.Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per notebook (and per cell)")
    parser.add_argument("--csv", type=pathlib.Path, help="default: SUBMISSIONS/grades.csv")
    args = parser.parse_args(argv)
    grade(args.submissions, args.timeout, args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
