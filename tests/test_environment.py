"""The three ways to install the course (pip, conda, Binder) must list the same runtime dependencies."""

import pathlib
import re
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch-cpu", "matplotlib": "matplotlib-base"}  # pip name -> conda-forge name


def _name(requirement):
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def _pyproject_runtime():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def _conda_names(path):
    env = yaml.safe_load(path.read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep.get("pip", [])}
        else:
            names.add(_name(dep))
    return env, names


def test_binder_environment_is_the_root_one():
    assert (ROOT / "binder" / "environment.yml").read_text() == (ROOT / "environment.yml").read_text()


def test_conda_environment_lists_every_runtime_dependency():
    env, names = _conda_names(ROOT / "environment.yml")
    missing = {dep for dep in _pyproject_runtime() if CONDA_NAMES.get(dep, dep) not in names}
    assert not missing, f"environment.yml lacks {sorted(missing)} from pyproject.toml"
    assert "conda-forge" in env["channels"]


def test_conda_environment_lists_nothing_extra():
    _, names = _conda_names(ROOT / "environment.yml")
    allowed = {CONDA_NAMES.get(d, d) for d in _pyproject_runtime()} | {"python", "pip"}
    assert names <= allowed, f"environment.yml has {sorted(names - allowed)} not in pyproject.toml"


def test_constraints_pin_every_runtime_dependency():
    pinned = {_name(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert _pyproject_runtime() <= pinned, sorted(_pyproject_runtime() - pinned)


def test_binder_post_build_installs_without_resolving():
    text = (ROOT / "binder" / "postBuild").read_text()
    assert "--no-deps" in text and "pip install" in text
