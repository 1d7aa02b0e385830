"""`import labkit` and each of its modules stay cheap: numpy and torch at module top, the heavy optional libraries
(MONAI, Captum, scikit-learn, scikit-image, ipywidgets, ...) only inside the functions that need them."""

import ast
import re
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ("monai", "captum", "sklearn", "skimage", "ipywidgets", "cleanlab", "opacus", "highdicom", "onnxruntime",
         "onnx", "SimpleITK", "flwr", "dicognito", "deid", "nilearn", "pandas", "matplotlib.pyplot")
PATHS = sorted((ROOT / "labkit").rglob("*.py"))


def _top_level_imports(tree):
    """Module names imported at module level (not inside a function or class)."""
    names = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_heavy_libraries_are_imported_inside_functions(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    heavy = [name for name in _top_level_imports(tree) if name.split(".")[0] in HEAVY or name in HEAVY]
    assert not heavy, f"import {heavy} inside the functions that need them, so that `import labkit` stays cheap"


def test_importing_every_module_loads_no_heavy_library():
    modules = [p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
               for p in PATHS]
    code = ("import sys, importlib\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"importing labkit's modules loads {out.stdout.strip()}"


def test_no_private_name_is_imported_across_modules():
    """A helper that another module needs is public (named without a leading underscore, in __all__)."""
    offenders = []
    for path in PATHS:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
                offenders += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names
                              if a.name.startswith("_") and not a.name.startswith("__")]
    assert not offenders, offenders


def test_every_public_function_is_used_by_a_lesson_or_another_module():
    """labkit carries no dead code: each name in a module's __all__ is used by a lesson, a tool, or another
    labkit module (a unit test alone does not count). Checkers and wrong answers are exempt (their use is the
    exercise)."""
    import importlib
    import json

    lessons = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                        for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
                        for c in json.loads(p.read_text(encoding="utf-8"))["cells"])
    tools = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tools").glob("*.py"))
    unused = []
    for path in PATHS:
        module = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        if module.startswith("labkit.checks") or module == "labkit":
            continue
        others = "\n".join(p.read_text(encoding="utf-8") for p in PATHS if p != path)
        own = path.read_text(encoding="utf-8")
        for name in getattr(importlib.import_module(module), "__all__", []):
            pattern = re.compile(rf"\b{re.escape(name)}\b")
            used_here = len(pattern.findall(own)) > 2   # defined, listed in __all__, and called inside its module
            if not (pattern.search(lessons) or pattern.search(tools) or pattern.search(others) or used_here):
                unused.append(f"{module}.{name}")
    assert not unused, f"public names that no lesson, tool or other module uses (use them or remove them): {unused}"
