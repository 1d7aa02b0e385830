"""Every notebook follows the course anatomy (STYLE.md); navigation and the course map are up to date."""

import re
import subprocess
import sys

import pytest

from tests.notebook_cells import ROOT, cells, exercises, notebook_paths, text

PATHS = notebook_paths()
NAME_RE = re.compile(r"^(\d\d)_[a-z0-9]+(_[a-z0-9]+)*\.ipynb$")
MAX_CODE_LINES = 18


def test_notebooks_are_numbered_contiguously_from_00():
    assert PATHS, "no notebooks found"
    numbers = []
    for path in PATHS:
        match = NAME_RE.match(path.name)
        assert match, f"{path.name} is not NN_snake_case.ipynb"
        numbers.append(int(match.group(1)))
    assert numbers == list(range(len(PATHS))), numbers


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_anatomy(path):
    cs = cells(path)
    assert cs[0].get("id") == "nav-header" and cs[-1].get("id") == "nav-footer", "generated header/footer missing"
    own = [c for c in cs if c.get("id") not in ("nav-header", "nav-progress", "nav-footer")]   # not generated
    markdown = [text(c) for c in own if c["cell_type"] == "markdown"]
    code = [text(c) for c in own if c["cell_type"] == "code"]
    title = text(cs[1]).splitlines()
    assert re.match(rf"^# {path.name[:2]} · \S", title[0]), f"title line: {title[0]!r}"
    assert re.match(r"^\*About \d+ min · \w+ · .+\*$", title[1]), f"time/level/prerequisites line: {title[1]!r}"
    assert any(line.startswith("**Key terms:** ") for line in title), "missing **Key terms:** line"
    objectives = next((m for m in markdown if m.startswith("## Learning objectives")), None)
    assert objectives, "missing '## Learning objectives'"
    assert 3 <= len(re.findall(r"^- [A-Z][a-z]+ ", objectives, re.M)) <= 5, "3-5 objectives starting with a verb"
    setup_cells = [c for c in code if "labkit.setup(" in c]
    assert len(setup_cells) == 1 and code[0] == setup_cells[0], "the first code cell is the one setup cell"
    assert "cfg = labkit.setup(seed=0)" in code[0]
    for heading in ("## Summary", "## Further reading"):
        assert any(re.search(rf"^{heading}\s*$", m, re.M) for m in markdown), f"missing '{heading}'"
    assert len(markdown) >= len(code), f"{len(markdown)} markdown cells < {len(code)} code cells"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_no_outputs_and_hygiene(path):
    for cell in cells(path):
        if cell["cell_type"] != "code":
            continue
        src = text(cell)
        assert not cell.get("outputs") and cell.get("execution_count") is None, "commit notebooks without outputs"
        assert not re.search(r"^\s*[!%]\s*pip\s+install", src, re.M), "no pip install in notebooks"
        assert not re.search(r"\.cuda\(\)|device\s*=\s*['\"]cuda", src), "use cfg.device, not a hard-coded GPU"
        assert len(src.strip().splitlines()) <= MAX_CODE_LINES, f"code cell over {MAX_CODE_LINES} lines:\n{src}"


LITERAL_SEED_RE = re.compile(r"\b(seed|random_state)\s*=\s*\d|(default_rng|manual_seed|RandomState|\.seed)\(\s*\[?\s*\d")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_every_seed_follows_cfg_seed(path):
    """Seeds come from cfg.seed (cfg.seed + k), so LABKIT_SEED changes every one of them (tools/seeds.py)."""
    code = [text(c) for c in cells(path) if c["cell_type"] == "code"]
    literal = [line.strip() for cell in code[1:] for line in cell.splitlines() if LITERAL_SEED_RE.search(line)]
    assert not literal, f"use seed=cfg.seed (or cfg.seed + k) instead of a fixed seed: {literal}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_exercises_are_well_formed(path):
    found = exercises(path)   # raises with a clear message when an exercise lacks its stub or solution
    numbers = [ex.heading.split()[2].rstrip(":") for ex in found]
    assert all(n.split(".")[0] == str(int(path.name[:2])) for n in numbers), numbers
    assert len(set(ex.checker for ex in found)) == len(found), "one checker per exercise"


@pytest.mark.parametrize("tool", ["course.py", "instructors.py"])
def test_generated_files_are_up_to_date(tool):
    """Navigation, progress cells, course map, labkit/course.json (course.py) and INSTRUCTORS.md (instructors.py)."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / tool), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_introduced_in_points_to_a_notebook():
    """labkit docstrings say where a function is taught ("Introduced in NN_name.ipynb"); that notebook must exist."""
    names = {p.name for p in PATHS}
    missing = []
    for module in sorted((ROOT / "labkit").rglob("*.py")):
        for found in re.findall(r"Introduced in\s+`?(\d\d_[a-z0-9_]+\.ipynb)", module.read_text(encoding="utf-8"), re.I):
            if found not in names:
                missing.append(f"{module.relative_to(ROOT)}: {found}")
    assert not missing, f"'Introduced in' points to notebooks that do not exist: {missing}"
