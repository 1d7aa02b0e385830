"""Build the course's static site: every notebook executed once, rendered with its figures by Sphinx + MyST-NB.

    python tools/site.py                 # build/site/html/index.html (README's course map is the front page)
    python tools/site.py --jobs 1        # one notebook at a time (default: 2 in parallel)

Offline from start to end. Each notebook runs top to bottom in a fresh kernel, as a learner would (a notebook that
raises fails the build). Widgets are kept as static snapshots: without a widget frontend, what a widget draws when
it is built lands in the cell's output, and the site shows that first view; readers run the notebook to interact.
Every figure gets alt text made from its titles and axis labels (labkit.plots.figure_alt). Sphinx runs with
warnings as errors, so a broken internal link (to a lesson, a heading or a data card) fails the build. The site
has Sphinx's search box. `make site` runs this; CI builds the site after the tests.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "site"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ALT_HOOK = """\
import matplotlib_inline.backend_inline as _site_inline
from labkit.plots import figure_alt as _site_alt
_site_fetch = _site_inline._fetch_figure_metadata
_site_inline._fetch_figure_metadata = lambda fig: {**(_site_fetch(fig) or {}), "alt": _site_alt(fig)}
"""
CONF = '''\
# Sphinx configuration of the course's static site (written by tools/site.py).
project = "Deep Learning for Medical Image Analysis"
copyright = "the course's contributors. Code: MIT. Text and figures: CC BY 4.0. Images: see the data cards"
extensions = ["myst_nb"]
root_doc = "README"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
nb_execution_mode = "off"          # executed once by tools/site.py
nb_output_stderr = "remove"        # progress bars and warnings
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
html_theme = "sphinx_book_theme"
html_title = project
html_theme_options = {{
    "repository_url": "https://github.com/{repository}",
    "use_repository_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "extra_footer": "Code: MIT. Text and figures: CC BY 4.0. Images keep their own licences (data cards); the "
                    "head CT (CQ500) is CC BY-NC-SA 4.0, non-commercial use only.",
}}
'''


def execute(path, target):
    """Run one notebook in a fresh kernel (with the alt-text hook); write the executed copy to ``target``.
    Returns (name, seconds, error or None)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(ALT_HOOK))
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.comm_open_handlers = {}   # no widget frontend: a widget's first drawing lands in the cell's output
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except Exception as err:  # report it; the build fails at the end
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:300] if str(err).strip() else ''}"
    nb.cells.pop(0)
    target.write_text(json.dumps(finish(nb), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path.name, time.perf_counter() - start, error


def _section(cells, index):
    for cell in reversed(cells[:index]):
        match = re.search(r"^#{1,3} (.+)$", cell.get("source", ""), re.M) if cell["cell_type"] == "markdown" else None
        if match:
            return match.group(1).strip()
    return "this lesson"


def finish(nb):
    """Outputs made for a static page: widget views dropped (their first drawing is already in the outputs), the
    execution counts kept, each image's alt text moved where MyST-NB reads it (cell metadata)."""
    nb = json.loads(json.dumps(nb))   # plain dicts
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        outputs, alts = [], []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                continue
            if "image/png" in data:
                alts.append(out.get("metadata", {}).get("alt") or f"Figure in section '{_section(nb['cells'], index)}'")
            outputs.append(out)
        cell["outputs"] = outputs
        if alts:
            cell.setdefault("metadata", {})["mystnb"] = {"image": {"alt": " | ".join(dict.fromkeys(alts))}}
    return nb


def untitled_figures(folder):
    """'notebook (cell N)' for every figure whose alt text found no title or axis label."""
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
            if "Figure without a title" in alt:
                found.append(f"{path.name} (cell {index})")
    return found


def write_sources(src, executed_names):
    """The Sphinx source folder: README (with a table of contents), data cards, instructor guide, licences."""
    sys.path.insert(0, str(ROOT / "tools"))
    import course

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pages = [f"notebooks/{pathlib.Path(n).stem}" for n in executed_names]
    extra = [p for p in ("INSTRUCTORS", "data/README", "LICENSE-CONTENT") if (ROOT / f"{p}.md").exists()]
    toc = "\n\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n" + "\n".join(pages + extra) + "\n```\n"
    (src / "README.md").write_text(readme + toc, encoding="utf-8")
    (src / "data").mkdir(exist_ok=True)
    for name in ("data/README.md", "INSTRUCTORS.md", "LICENSE", "LICENSE-CONTENT.md", "CITATION.cff"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    (src / "conf.py").write_text(CONF.format(repository=course.REPOSITORY), encoding="utf-8")


def build(jobs=2, out=OUT, only=None):
    src, html = out / "src", out / "html"
    shutil.rmtree(out, ignore_errors=True)
    (src / "notebooks").mkdir(parents=True)
    paths = [p for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) if not only or p.name in only]
    os.environ["LABKIT_PROGRESS"] = "off"   # the kernels (which inherit this) keep no progress record
    os.environ.setdefault("OMP_NUM_THREADS", "1" if jobs > 1 else os.environ.get("OMP_NUM_THREADS", "2"))
    start = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(execute, paths, [src / "notebooks" / p.name for p in paths]))
    for name, seconds, error in runs:
        print(f"{name:<34} {seconds:6.1f} s  {error or 'ok'}", flush=True)
    failed = [name for name, _, error in runs if error]
    if failed:
        raise SystemExit(f"notebooks that raised an error: {failed}")
    untitled = untitled_figures(src / "notebooks")
    if untitled:
        raise SystemExit("every figure needs a title (its alt text is made from it); untitled: " + ", ".join(untitled))
    write_sources(src, [p.name for p in paths])
    result = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src),
                             str(html)])
    if result.returncode:
        raise SystemExit("the site did not build cleanly (warnings are errors: broken links, bad markup); see above")
    size = sum(f.stat().st_size for f in html.rglob("*") if f.is_file()) / 2**20
    print(f"site: {html / 'index.html'} ({size:.1f} MB, {len(paths)} lessons, {time.perf_counter() - start:.0f} s)")
    return html


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed in parallel (default 2)")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="just these notebooks (a partial site)")
    args = parser.parse_args(argv)
    build(args.jobs, args.out, set(args.only) if args.only else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
