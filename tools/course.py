"""Generate the course's navigation and map from the notebooks themselves.

    python tools/course.py          # rewrite notebook header/footer cells, strip outputs, update README
    python tools/course.py --check  # change nothing; exit 1 and list what is out of date
    python tools/course.py --only 05_classification.ipynb   # just that notebook

Each notebook's first markdown cell after the header gives what the map shows:

    # 05 · Classification
    *About 45 min · beginner · needs 04_cnns*
    **Key terms:** classification, end-to-end learning

The header (badges, previous | contents | next), the progress cell of a lesson with exercises, and the footer
(navigation and licences) are written here and nowhere else; so are labkit/course.json (the lessons and their
exercises, read by labkit.progress) and the course map in README.md. Running the tool twice changes nothing the
second time.
"""

import argparse
import json
import pathlib
import re
import sys

REPOSITORY = "dl-medical-imaging/course"  # GitHub owner/name: the one place the repository is named
BRANCH = "main"
ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
README = ROOT / "README.md"
MAP_START, MAP_END = "<!-- course-map:start -->", "<!-- course-map:end -->"
BADGE_START, BADGE_END = "<!-- badges:start -->", "<!-- badges:end -->"
KERNEL_METADATA = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
NAME_RE = re.compile(r"^(\d\d)_([a-z0-9_]+)\.ipynb$")
TITLE_RE = re.compile(r"^# (\d\d) · (.+)$")
EXERCISE_RE = re.compile(r"^### Exercise (\d+\.\d+): (.+)$", re.M)
CHECK_CALL_RE = re.compile(r"^checks\.(\w+)\(\w+\)\s*$", re.M)
GENERATED = ("nav-header", "nav-progress", "nav-footer")
CATALOGUE = ROOT / "labkit" / "course.json"
LICENCE_LINE = ("<small>Code: [MIT](../LICENSE). Text and figures: [CC BY 4.0](../LICENSE-CONTENT.md). Images keep "
                "their own licences ([data cards](../data/README.md)); the head CT (CQ500, qure.ai) is CC BY-NC-SA "
                "4.0: non-commercial use only.</small>")


def notebook_paths():
    """Lesson notebooks in course order."""
    return sorted(p for p in NOTEBOOKS.glob("*.ipynb") if not p.name.startswith("."))


def read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def dumps(nb):
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def describe(nb, path):
    """Number, title, time line and key terms, read from the notebook's intro cell."""
    for cell in nb["cells"]:
        text = source(cell).strip()
        if cell["cell_type"] != "markdown" or not text.startswith("# "):
            continue
        lines = text.splitlines()
        match = TITLE_RE.match(lines[0])
        if not match:
            raise ValueError(f"{path.name}: title line must read '# NN · Title', got {lines[0]!r}")
        meta = lines[1].strip().strip("*") if len(lines) > 1 else ""
        terms = next((ln.split(":**", 1)[1].strip() for ln in lines if ln.startswith("**Key terms:**")), "")
        return {"number": match.group(1), "title": match.group(2).strip(), "time": meta.split("·")[0].strip(),
                "meta": meta, "terms": terms}
    raise ValueError(f"{path.name}: no title cell ('# NN · Title') found")


def binder_url(name):
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}?urlpath=lab/tree/notebooks/{name}"


def colab_url(name):
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/notebooks/{name}"


def badges(name):
    return (f"[![Open in Binder](https://mybinder.org/badge_logo.svg)]({binder_url(name)}) "
            f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(name)})")


def nav_line(paths, i, infos):
    prev = f"[< {infos[i - 1]['number']} · {infos[i - 1]['title']}]({paths[i - 1].name})" if i > 0 else "< start"
    nxt = (f"[{infos[i + 1]['number']} · {infos[i + 1]['title']} >]({paths[i + 1].name})"
           if i + 1 < len(paths) else "end >")
    return f"{prev} | [Contents](../README.md#course-map) | {nxt}"


def nav_cell(cell_id, text):
    return {"cell_type": "markdown", "id": cell_id, "metadata": {"tags": [cell_id]}, "source": text}


def exercises(nb):
    """[(number 'N.k', title, checker name)] of a notebook: each exercise heading and the checker its stub calls."""
    cells, found = nb["cells"], []
    for i, cell in enumerate(cells):
        match = EXERCISE_RE.search(source(cell)) if cell["cell_type"] == "markdown" else None
        if match and i + 1 < len(cells):
            call = CHECK_CALL_RE.search(source(cells[i + 1]))
            found.append((match.group(1), match.group(2).strip(), call.group(1) if call else None))
    return found


def progress_cell(number, has_exercises):
    """The generated code cell before the footer: the learner's progress (whole course in 00, else the lesson)."""
    if number == "00":
        text = "from labkit import progress\nprogress.show()   # exercises passed so far, course-wide (a local record)"
    elif has_exercises:
        text = (f"from labkit import progress\nprogress.show(lesson=\"{number}\")   # your exercises in this lesson "
                "(a local record, see 00)")
    else:
        return None
    return {"cell_type": "code", "execution_count": None, "id": "nav-progress", "metadata": {"tags": ["nav-progress"]},
            "outputs": [], "source": text}


def strip(cell):
    """Remove outputs and execution counts from a code cell (in place)."""
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
        cell.get("metadata", {}).pop("execution", None)
    return cell


def rebuilt(nb, paths, i, infos):
    """The notebook with fresh header/footer cells and no outputs."""
    body = [strip(c) for c in nb["cells"] if c.get("id") not in GENERATED]
    nav = nav_line(paths, i, infos)
    header = nav_cell("nav-header", f"{badges(paths[i].name)}\n\n{nav}")
    footer = nav_cell("nav-footer", f"---\n{nav}\n\n{LICENCE_LINE}")
    progress = progress_cell(infos[i]["number"], bool(exercises(nb)))
    meta = {k: v for k, v in nb["metadata"].items() if k not in ("widgets", "jupytext")}
    meta.update(KERNEL_METADATA)
    return dict(nb, cells=[header, *body, *([progress] if progress else []), footer], metadata=meta)


def course_map(paths, infos):
    rows = ["| # | Notebook | Time | Key terms |", "|---|---|---|---|"]
    for path, info in zip(paths, infos):
        rows.append(f"| {info['number']} | [{info['title']}](notebooks/{path.name}) | {info['time']} | {info['terms']} |")
    return "\n".join(rows)


def replace_between(text, start, end, body):
    if start not in text or end not in text:
        raise ValueError(f"README.md must contain the markers {start} and {end}")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{body}\n{end}{rest.split(end, 1)[1]}"


def catalogue(paths, notebooks, infos):
    """labkit/course.json: every lesson with its exercises (read by labkit.progress and tools/grade.py)."""
    lessons = [{"number": info["number"], "file": path.name, "title": info["title"], "time": info["time"],
                "exercises": [{"number": n, "title": t, "checker": c} for n, t, c in exercises(nb)]}
               for path, nb, info in zip(paths, notebooks, infos)]
    return json.dumps({"generated_by": "tools/course.py", "lessons": lessons}, indent=1, ensure_ascii=False) + "\n"


def plan():
    """Map each file to the text it should have: {path: new_text}."""
    paths = notebook_paths()
    notebooks = [read(p) for p in paths]
    infos = [describe(nb, p) for nb, p in zip(notebooks, paths)]
    wanted = {p: dumps(rebuilt(nb, paths, i, infos)) for i, (p, nb) in enumerate(zip(paths, notebooks))}
    wanted[CATALOGUE] = catalogue(paths, notebooks, infos)
    readme = README.read_text(encoding="utf-8")
    readme = replace_between(readme, MAP_START, MAP_END, course_map(paths, infos))
    readme = replace_between(readme, BADGE_START, BADGE_END, badges("00_welcome.ipynb"))
    wanted[README] = readme
    return wanted


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report out-of-date files, change nothing")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="rewrite just these notebooks (not README)")
    args = parser.parse_args(argv)
    wanted = plan()
    if args.only:
        names = {pathlib.Path(n).name for n in args.only}
        wanted = {p: text for p, text in wanted.items() if p.name in names}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)} (run: python tools/course.py)")
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p], encoding="utf-8")
        print(f"updated {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
