"""Course set-up: seeds, device choice, plot style and a printout of versions.

Introduced in 00_welcome.ipynb. Every notebook calls ``cfg = labkit.setup(seed=0)`` once.
"""

import os
import platform
import random
from dataclasses import dataclass, field

import numpy as np
import torch

__all__ = ["Config", "EnvironmentReport", "SEED_VARIABLE", "setup", "pick_device", "seed_everything",
           "seed_from_environment", "set_plot_style", "versions", "check_environment", "course_map", "report_metrics"]

PACKAGES = ("torch", "torchvision", "monai", "captum", "numpy", "matplotlib", "pydicom", "nibabel")
REQUIRED = PACKAGES + ("ipywidgets", "scipy", "scikit-image", "scikit-learn", "nilearn", "pydicom-data",
                       "stardist", "tifffile", "tqdm")


@dataclass(frozen=True)
class Config:
    """What ``setup`` chose: the seed, the torch device and the versions it found."""

    seed: int
    device: torch.device
    versions: dict = field(default_factory=dict)

    def __repr__(self):
        return f"Config(seed={self.seed}, device={self.device})"


SEED_VARIABLE = "LABKIT_SEED"


def seed_everything(seed):
    """Seed Python's, NumPy's and torch's global generators (the only place labkit does so)."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def seed_from_environment(seed):
    """``seed``, or the value of the environment variable LABKIT_SEED when it is set (a non-negative int).

    Every lesson passes ``cfg.seed`` (and ``cfg.seed + k``) to everything random, so running a notebook with
    LABKIT_SEED=3 changes every seed in it: data draw, split, initialisation, batch order. ``tools/seeds.py``
    uses this to check that a lesson's claims hold for other seeds than 0.
    """
    value = os.environ.get(SEED_VARIABLE)
    if value is None or value.strip() == "":
        return seed
    if not value.strip().isdigit():
        raise ValueError(f"{SEED_VARIABLE} must be a non-negative integer, got {value!r}")
    return int(value)


def pick_device(device=None):
    """Return ``device`` if given, else CUDA, then Apple MPS, then CPU, whichever is available first."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def set_plot_style():
    """One plot style for the whole course: gray images, readable fonts, no named style sheets."""
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (6.0, 4.0), "figure.dpi": 90, "savefig.dpi": 120,
        "image.cmap": "gray", "image.interpolation": "nearest",
        "axes.grid": False, "axes.spines.top": False, "axes.spines.right": False,
        "axes.titlesize": 10, "axes.labelsize": 9, "font.size": 9, "legend.fontsize": 8,
        "axes.prop_cycle": mpl.cycler(color=["#0072B2", "#E69F00", "#009E73", "#CC79A7",
                                             "#56B4E9", "#D55E00", "#F0E442", "#000000"]),
    })


def versions():
    """Versions of Python and the course's main packages, as a dict name -> version string."""
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


@dataclass(frozen=True)
class EnvironmentReport:
    """Rows (what, status, detail) of the environment check; ``ok`` is True when nothing is missing."""

    rows: tuple

    @property
    def ok(self):
        return all(status == "ok" for _, status, _ in self.rows)

    def __str__(self):
        width = max(len(what) for what, _, _ in self.rows)
        return "\n".join(f"{what:<{width}}  {status:<7}  {detail}" for what, status, detail in self.rows)


def check_environment(verbose=True):
    """Check every required package and every real data file (sha256); print and return a report."""
    from importlib import metadata

    rows = []
    for name in REQUIRED:
        try:
            rows.append((name, "ok", metadata.version(name)))
        except metadata.PackageNotFoundError:
            rows.append((name, "MISSING", f"pip install {name}"))
    from labkit import realdata

    for key, package, *_ in realdata.list_sources():
        try:
            realdata.source_path(key)
            rows.append((f"data: {key}", "ok", f"sha256 verified ({package})"))
        except realdata.DataError as err:
            rows.append((f"data: {key}", "MISSING", str(err)))
    report = EnvironmentReport(tuple(rows))
    if verbose:
        print(report)
        print("all good: the course can run offline" if report.ok else "fix the MISSING rows before going on")
    return report


def report_metrics(**values):
    """Print a lesson's key numbers on one line, ``key metrics: name=value, ...`` (read by tools/bench.py)."""
    if not values:
        raise ValueError("report_metrics needs at least one name=value pair")
    parts = [f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}" for name, value in values.items()]
    print("key metrics: " + ", ".join(parts))


def course_map():
    """The course map (Markdown table) that tools/course.py writes into README.md."""
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1] / "README.md"
    start, end = "<!-- course-map:start -->", "<!-- course-map:end -->"
    if not readme.is_file():
        return "The course map is in README.md of the course repository."
    text = readme.read_text(encoding="utf-8")
    table = text.split(start, 1)[1].split(end, 1)[0].strip()
    return table.replace("](notebooks/", "](")  # links relative to the notebooks folder


def setup(seed=0, device=None, verbose=True):
    """Seed python/numpy/torch, choose the device, set the plot style; return a :class:`Config`.

    The device is ``device`` if given, otherwise CUDA, then Apple MPS, then CPU. The environment variable
    LABKIT_SEED, when set, replaces ``seed`` (see :func:`seed_from_environment`); ``cfg.seed`` is the seed used.
    Deterministic algorithms are requested from torch so that two CPU runs give the same numbers.
    """
    requested, seed = seed, seed_from_environment(seed)
    seed_everything(seed)
    chosen = pick_device(device)
    _use_deterministic_algorithms()
    if chosen.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    set_plot_style()
    cfg = Config(seed=seed, device=chosen, versions=versions())
    if verbose:
        listed = ", ".join(f"{k} {v}" for k, v in cfg.versions.items())
        note = f" ({SEED_VARIABLE} overrides {requested})" if seed != requested else ""
        print(f"labkit {_version()} | seed {seed}{note} | device {chosen} | threads {torch.get_num_threads()}")
        print(listed)
    return cfg


def _use_deterministic_algorithms():
    """Ask torch for deterministic kernels (a warning, not an error, where one has none).

    ``torch.use_deterministic_algorithms`` also imports torch._inductor to configure ``torch.compile``, which pulls
    in sympy and triton and costs about 150 MB in every kernel; the course never compiles, so only the eager flag is
    set when torch exposes it.
    """
    eager_only = getattr(torch._C, "_set_deterministic_algorithms", None)
    if eager_only is None:
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        eager_only(True, warn_only=True)


def _version():
    from labkit import __version__

    return __version__
