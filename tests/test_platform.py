"""The course platform: the student version has no solutions and still runs; the grader collects the checkers'
verdicts from submissions it executes; the learner's progress record."""

import csv
import json
import pathlib
import subprocess
import sys

import pytest

from labkit import checks, progress
from tests.notebook_cells import NOTEBOOK_DIR, all_exercises, cells, notebook_paths, text
from tests.wrong_answers import WRONG

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import grade  # noqa: E402
import student  # noqa: E402


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    student.write_student_version(out)
    return out


def test_student_version_has_no_solution_text(student_dir):
    """Every line that the source notebook holds only in a solution is gone from the student version."""
    for path in notebook_paths():
        source_cells = cells(path)
        solutions = [text(c) for c in source_cells if student.is_solution(c)]
        rest = "\n".join(text(c) for c in source_cells if not student.is_solution(c))
        only_in_solutions = {line.strip() for sol in solutions for line in sol.splitlines()
                             if len(line.strip()) > 12 and line.strip() not in rest}
        ours = "\n".join(text(c) for c in cells(student_dir / "notebooks" / path.name))
        assert "<summary>Solution</summary>" not in ours, path.name
        leaked = [line for line in only_in_solutions if line in ours]
        assert not leaked, f"{path.name}: solution lines left in the student version: {leaked[:2]}"
        assert len(solutions) == len([e for e in all_exercises() if e.notebook == path.name])


def test_student_version_keeps_every_code_cell(student_dir):
    """Same code cells as the source notebooks (which CI runs under nbval), so the student version runs too."""
    for path in notebook_paths():
        ours = [text(c) for c in cells(path) if c["cell_type"] == "code"]
        theirs = [text(c) for c in cells(student_dir / "notebooks" / path.name) if c["cell_type"] == "code"]
        assert ours == theirs, path.name
    assert (student_dir / "README.md").read_text().count("](notebooks/") >= len(notebook_paths())


def test_student_version_runs_and_its_exercise_reads_not_attempted(student_dir):
    """Run the student version of lesson 00 for real: it runs top to bottom and its exercise is 'not attempted'."""
    import nbformat
    from nbclient import NotebookClient

    path = student_dir / "notebooks" / "00_welcome.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.comm_open_handlers = {}
    client.execute()
    outputs = "\n".join(grade._cell_text(c) for c in nb.cells if c.cell_type == "code")
    for ex in (e for e in all_exercises() if e.notebook == "00_welcome.ipynb"):
        assert f"[not attempted] {ex.checker}" in outputs


def test_student_version_refuses_to_overwrite_the_source():
    with pytest.raises(SystemExit, match="refusing"):
        student.write_student_version(NOTEBOOK_DIR)


def _submission(source_path, edits):
    """A submitted copy of a lesson: ``edits`` maps a checker name to the code to put in its stub cell."""
    nb = json.loads(source_path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        src = text(cell)
        for name, code in edits.items():
            if cell["cell_type"] == "code" and src.rstrip().endswith(f"checks.{name}({name})"):
                cell["source"] = code + f"\n\nchecks.{name}({name})\n"
    return json.dumps(nb)


def test_grader_collects_verdicts_and_names_broken_and_foreign_files(tmp_path):
    welcome = NOTEBOOK_DIR / "00_welcome.ipynb"
    exercise = next(ex for ex in all_exercises() if ex.notebook == welcome.name)
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / welcome.name).write_text(_submission(welcome, {exercise.checker: exercise.solution}))
    (tmp_path / f"bob_{welcome.name}").write_text(_submission(welcome, {exercise.checker: WRONG[exercise.checker]}))
    (tmp_path / f"carol_{welcome.name}").write_text(_submission(welcome, {exercise.checker: "def broken(:"}))
    (tmp_path / "dave_05_classification.ipynb").write_text("{ this is not a notebook")
    foreign = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "erin_99_homework.ipynb").write_text(json.dumps(foreign))
    rows = grade.grade(tmp_path, timeout=300)
    by_student = {r[0]: r for r in rows}
    assert by_student["alice"][4] == "passed" and by_student["alice"][3] == exercise.checker
    assert by_student["bob"][4] == "failed"
    assert by_student["carol"][4] == "error" and "raised" in by_student["carol"][5]
    assert by_student["dave"][4] == "error" and "not a readable notebook" in by_student["dave"][5]
    assert by_student["erin"][4] == "error" and "not one of the course's lessons" in by_student["erin"][5]
    with open(tmp_path / "grades.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert {r["student"] for r in table} == {"alice", "bob", "carol", "dave", "erin"}


def test_grader_reports_a_partly_solved_lesson_per_exercise(tmp_path):
    """A lesson with several exercises: one solved, one wrong, the rest untouched -> one verdict each."""
    lesson = next(p for p in notebook_paths() if len([e for e in all_exercises() if e.notebook == p.name]) >= 3)
    first, second, *rest = [e for e in all_exercises() if e.notebook == lesson.name]
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / lesson.name).write_text(_submission(lesson, {first.checker: first.solution,
                                                                     second.checker: WRONG[second.checker]}))
    rows = grade.grade(tmp_path, timeout=600)
    statuses = {r[3]: r[4] for r in rows}
    assert statuses[first.checker] == "passed" and statuses[second.checker] == "failed"
    assert all(statuses[e.checker] == "not attempted" for e in rest)


def test_grader_refuses_an_empty_or_missing_folder(tmp_path):
    with pytest.raises(SystemExit, match="no .ipynb"):
        grade.grade(tmp_path)
    with pytest.raises(SystemExit, match="not a folder"):
        grade.grade(tmp_path / "missing")


def test_progress_record_keeps_a_pass_and_never_raises(tmp_path, monkeypatch):
    record = tmp_path / "progress.json"
    monkeypatch.setenv("LABKIT_PROGRESS", str(record))
    first = next(iter(checks.REGISTRY))
    assert progress.record(first, "failed") and progress.load_record()[first]["status"] == "failed"
    progress.record(first, "passed")
    progress.record(first, "failed")
    assert progress.load_record()[first]["status"] == "passed"
    monkeypatch.setenv("LABKIT_PROGRESS", str(tmp_path / "a_file" / "x.json"))
    (tmp_path / "a_file").write_text("not a folder")
    assert progress.record(first, "passed") is False            # cannot write: no exception
    monkeypatch.setenv("LABKIT_PROGRESS", "off")
    assert progress.record_path() is None and progress.record(first, "passed") is False
    with pytest.raises(ValueError, match="status"):
        progress.record(first, "done")


def test_a_checker_call_updates_the_progress_shown(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABKIT_PROGRESS", str(tmp_path / "progress.json"))
    exercise = all_exercises()[0]
    namespace = {}
    exec(compile(exercise.solution, "<solution>", "exec"), namespace)
    checks.REGISTRY[exercise.checker](namespace[exercise.answer_name])
    progress.show(lesson=exercise.notebook[:2])
    out = capsys.readouterr().out
    assert f"{exercise.checker} (passed)" in out
    progress.show(lesson="99")
    assert "no lesson '99'" in capsys.readouterr().out


def test_progress_reads_saved_notebooks(tmp_path):
    nb = {"cells": [{"cell_type": "code", "source": "", "metadata": {}, "execution_count": 1,
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": "[passed] to_hu: well done.\n"}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "01_medical_images.ipynb").write_text(json.dumps(nb))
    assert progress.from_notebooks(tmp_path) == {"to_hu": {"status": "passed"}}
    with pytest.raises(ValueError, match="folder"):
        progress.from_notebooks(tmp_path / "missing")


def test_course_catalogue_lists_every_exercise():
    listed = {ex["checker"] for lesson in progress.course_exercises() for ex in lesson["exercises"]}
    assert listed == {ex.checker for ex in all_exercises()}, "run tools/course.py to regenerate labkit/course.json"


def test_make_student_and_grade_are_commands():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "grade.py"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "SUBMISSIONS" in out.stdout
