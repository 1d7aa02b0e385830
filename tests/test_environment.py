"""The ways to install the course (pip, conda, Binder, Colab) agree on packages and versions, and the Python
versions the README promises are the ones the code supports."""

import ast
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import environment as envtool  # noqa: E402  (tools/environment.py)


def _project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _conda_pins(env):
    """{pip-style name: ('conda', 'X.Y') or ('pip', 'X.Y.Z')} from a parsed environment.yml."""
    conda_to_pip = {v: k for k, v in envtool.CONDA_NAMES.items()}
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for req in dep.get("pip", []):
                name, _, version = req.partition("==")
                pins[name.strip().lower()] = ("pip", version.strip())
        else:
            name, _, version = dep.partition("=")
            pins[conda_to_pip.get(name.strip(), name.strip())] = ("conda", version.strip())
    return pins


def version_mismatches(env_text, constraints_text, requirements):
    """What environment.yml gets wrong against constraints.txt: a missing package, a missing version, a conda
    pin whose major.minor differs, a pip pin that is not the exact version. Returns a list of messages."""
    pins = _conda_pins(yaml.safe_load(env_text))
    exact = envtool.pinned_versions(constraints_text)
    problems = []
    for name in requirements:
        if name not in pins:
            problems.append(f"{name}: missing from environment.yml")
            continue
        kind, version = pins[name]
        want = exact.get(name)
        if not version:
            problems.append(f"{name}: no version in environment.yml")
        elif want is None:
            problems.append(f"{name}: not pinned in constraints.txt")
        elif kind == "conda" and version != envtool.major_minor(want):
            problems.append(f"{name}: environment.yml has {version}, constraints.txt {want} "
                            f"(expected {envtool.major_minor(want)})")
        elif kind == "pip" and version != want:
            problems.append(f"{name}: environment.yml pip pin {version}, constraints.txt {want}")
    return problems


def test_binder_environment_is_the_root_one():
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()


def test_conda_environment_is_generated_from_pyproject_and_constraints():
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "environment.py"), "--check"], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_conda_versions_match_the_pip_constraints():
    problems = version_mismatches((ROOT / "environment.yml").read_text(), (ROOT / "constraints.txt").read_text(),
                                  envtool.course_requirements())
    assert not problems, problems


def test_a_version_mismatch_is_caught():
    """The check above fails where it should: a different minor version, a missing pin, a missing package."""
    env = "\n".join(["dependencies:", "  - python=3.11", "  - numpy=2.3", "  - scipy", "  - pip:",
                     "      - stardist==0.9.1"])
    constraints = "numpy==2.4.6\nscipy==1.17.1\nstardist==0.9.2\ntqdm==4.70.1\n"
    problems = version_mismatches(env, constraints, ["numpy", "scipy", "stardist", "tqdm"])
    assert len(problems) == 4, problems
    assert any("numpy: environment.yml has 2.3" in p for p in problems)
    assert any("scipy: no version" in p for p in problems)
    assert any("stardist: environment.yml pip pin 0.9.1" in p for p in problems)
    assert any("tqdm: missing" in p for p in problems)
    good = "dependencies:\n  - numpy=2.4\n  - pip:\n      - stardist==0.9.2\n"
    assert version_mismatches(good, constraints, ["numpy", "stardist"]) == []


def test_conda_environment_lists_nothing_extra():
    pins = _conda_pins(yaml.safe_load((ROOT / "environment.yml").read_text()))
    allowed = set(envtool.course_requirements()) | {"python", "pip"}
    assert set(pins) <= allowed, f"environment.yml has {sorted(set(pins) - allowed)} not in pyproject.toml"


def test_constraints_pin_every_dependency():
    pinned = envtool.pinned_versions((ROOT / "constraints.txt").read_text())
    project = _project()
    names = [envtool.requirement_name(r) for r in project["dependencies"]]
    names += [envtool.requirement_name(r) for extra in project["optional-dependencies"].values() for r in extra]
    assert set(names) <= set(pinned), sorted(set(names) - set(pinned))


def test_binder_post_build_installs_without_resolving():
    text = (ROOT / "binder" / "postBuild").read_text()
    assert "--no-deps" in text and "pip install" in text


def test_colab_keeps_its_own_torch_and_jupyter():
    """pyproject states ranges (constraints.txt holds the exact pins), so `pip install` on Colab keeps Colab's torch;
    JupyterLab is the `lab` extra, not a runtime need."""
    runtime = _project()["dependencies"]
    for name in ("torch", "torchvision"):
        spec = next(r for r in runtime if envtool.requirement_name(r) == name)
        assert "==" not in spec and ">=" in spec, spec
    assert "jupyterlab" not in [envtool.requirement_name(r) for r in runtime]
    readme = (ROOT / "README.md").read_text()
    colab = readme.split("**Colab**", 1)[1].split("\n- **", 1)[0]
    install = re.search(r"%pip install[^`]*", colab)
    assert install, "README's Colab item must give the %pip install line"
    assert "[lab" not in install.group(0) and "constraints" not in install.group(0), install.group(0)


def test_readme_promises_the_python_the_project_requires():
    minimum = envtool.minimum_python()
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"Python {re.escape(minimum)} or newer", readme), f"README must say 'Python {minimum} or newer'"
    assert sys.version_info[:2] >= tuple(map(int, minimum.split("."))), "tests run on a Python the course supports"


@pytest.mark.parametrize("folder", ["labkit", "tests", "tools"])
def test_code_parses_on_the_oldest_supported_python(folder):
    """Syntax newer than the promised minimum would break there (ast checks with that version's grammar)."""
    version = tuple(map(int, envtool.minimum_python().split(".")))
    for path in sorted((ROOT / folder).rglob("*.py")):
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=version)


def _imported_top_modules():
    """{top-level module: first file that imports it} over labkit, tools, tests and the lessons' code cells."""
    from tests.notebook_cells import cells, notebook_paths, text

    sources = [(p, p.read_text(encoding="utf-8")) for folder in ("labkit", "tools", "tests")
               for p in sorted((ROOT / folder).rglob("*.py"))]
    sources += [(p, "\n".join(text(c) for c in cells(p) if c["cell_type"] == "code"
                              and not text(c).lstrip().startswith(("%", "!")))) for p in notebook_paths()]
    found = {}
    for path, source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:   # an exercise stub with a placeholder; its imports are in the solution
            continue
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                     else [])
            for name in names:
                found.setdefault(name.split(".")[0], path.relative_to(ROOT))
    return found


def test_every_imported_package_is_declared():
    """A fresh install gets every third-party package the course imports: each maps to a distribution that
    pyproject.toml names (dependencies or an extra). A package that was only installed by hand fails here."""
    import importlib.metadata as md

    project = _project()
    declared = {re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].strip().lower().replace("_", "-")
                for req in project["dependencies"] + sum(project["optional-dependencies"].values(), [])}
    local = {"labkit", "tests", "conftest", "notebook_cells"} | {p.stem for p in (ROOT / "tools").glob("*.py")}
    providers = md.packages_distributions()
    missing = []
    for module, where in sorted(_imported_top_modules().items()):
        if module in sys.stdlib_module_names or module in local or module.startswith("_"):
            continue
        dists = {d.lower().replace("_", "-") for d in providers.get(module, [])}
        if not dists:
            missing.append(f"{module} (imported in {where}): not installed")
        elif not dists & declared and not any(_required_by_declared(d, declared) for d in dists):
            missing.append(f"{module} (imported in {where}): from {sorted(dists)}, which pyproject.toml does not name")
    assert not missing, missing


def _required_by_declared(dist, declared):
    """True when ``dist`` is installed as a dependency of a declared package (e.g. torch's numpy); it then
    arrives with any install of the course."""
    import importlib.metadata as md

    for name in declared:
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        if any(re.split(r"[<>=!~\[ ;(]", r, maxsplit=1)[0].strip().lower().replace("_", "-") == dist
               for r in requires if "extra ==" not in r):
            return True
    return False
