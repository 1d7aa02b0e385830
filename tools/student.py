"""Write the student version of the course: every notebook without its folded solutions.

    python tools/student.py              # writes student/ (git-ignored): notebooks/, README.md
    python tools/student.py --out DIR    # somewhere else

Everything else stays as it is: exercise stubs, checkers (with their hints), text, code, the generated navigation.
Each solution cell (a Markdown cell holding ``<details><summary>Solution</summary>``) is replaced by a short note,
so the code cells are exactly those of the source notebooks, which CI runs under nbval. The source notebooks in
notebooks/ are the instructor version.
"""

import argparse
import json
import pathlib
import re
import shutil
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTION_RE = re.compile(r"<details>\s*<summary>\s*Solution\s*</summary>", re.I)
NOTE = ("*The solution is not part of the student version. Run the checker above: it says what differs and gives "
        "a hint, and a second hint after a second try.*")
STUDENT_README = """# Deep Learning for Medical Image Analysis: student version

The lessons with their exercises, without the solutions. Start with `notebooks/00_welcome.ipynb`. Every exercise
has a checker that says *passed*, *failed* (with what differed and a hint) or *not attempted*.

## Course map

{course_map}
"""


def source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def is_solution(cell):
    return cell["cell_type"] == "markdown" and bool(SOLUTION_RE.search(source(cell)))


def student_notebook(nb):
    """A copy of the notebook dict with every solution cell replaced by a note (same cell count and order)."""
    cells = []
    for cell in nb["cells"]:
        if is_solution(cell):
            cell = {"cell_type": "markdown", "id": cell.get("id", "solution") + "-removed",
                    "metadata": {"tags": ["solution-removed"]}, "source": NOTE}
        cells.append(cell)
    return dict(nb, cells=cells)


def course_map():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("<!-- course-map:start -->", 1)[1].split("<!-- course-map:end -->", 1)[0].strip()


def write_student_version(out):
    """Write the student notebooks and README under ``out``; return the notebook paths written."""
    out = pathlib.Path(out)
    if out.resolve() == ROOT.resolve() or out.resolve() == (ROOT / "notebooks").resolve():
        raise SystemExit(f"refusing to write the student version over the source ({out})")
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    written = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = student_notebook(json.loads(path.read_text(encoding="utf-8")))
        target = out / "notebooks" / path.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(target)
    (out / "README.md").write_text(STUDENT_README.format(course_map=course_map()), encoding="utf-8")
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "student", help="default: student/")
    args = parser.parse_args(argv)
    written = write_student_version(args.out)
    print(f"wrote {len(written)} student notebooks to {args.out / 'notebooks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
