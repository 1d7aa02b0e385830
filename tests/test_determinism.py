"""Two runs of a training lesson's core with the same seed give identical numbers (in fresh processes)."""

import json
import subprocess
import sys

import pytest

CORE = r"""
import json, torch
import labkit
from labkit import metrics, models, synthetic, train, validation
cfg = labkit.setup(seed=0, verbose=False)
data = synthetic.make_lesion_dataset(n=480, size=32, contrast=0.6, seed=0)
split = validation.split_by_group(data.group, seed=0, stratify=data.labels)

def loader(idx, shuffle):
    ds = torch.utils.data.TensorDataset(torch.from_numpy(data.images[idx]), torch.from_numpy(data.labels[idx]).float())
    return torch.utils.data.DataLoader(ds, batch_size=32, shuffle=shuffle, generator=torch.Generator().manual_seed(0))

model = models.SmallCNN(width=8, depth=2)
history = train.fit(model, loader(split["train"], True), loader(split["val"], False), n_epochs=3, lr=3e-3, progress=False, seed=0)
probs = train.predict(model, torch.from_numpy(data.images[split["test"]]), as_probs=True)
auc = metrics.roc_auc(data.labels[split["test"]], probs.numpy().ravel())
print(json.dumps({"train_loss": history.train_loss, "val_loss": history.val_loss, "test_auc": float(auc),
                  "first_weight": float(next(model.parameters()).flatten()[0])}))
"""


def _run_core():
    out = subprocess.run([sys.executable, "-c", CORE], capture_output=True, text=True, timeout=300,
                         env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_same_seed_same_numbers():
    first, second = _run_core(), _run_core()
    assert first == second
    assert first["train_loss"][-1] < first["train_loss"][0], first   # the core really trains


def test_setup_asks_for_deterministic_kernels_without_loading_the_compiler():
    """setup() turns on torch's deterministic mode (warn only) without importing torch._inductor (sympy, triton)."""
    code = ("import sys, torch, labkit; labkit.setup(seed=0, verbose=False); "
            "print(torch.are_deterministic_algorithms_enabled(), "
            "torch.is_deterministic_algorithms_warn_only_enabled(), 'sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True", "False"], out.stdout


def test_torch_still_has_the_private_eager_deterministic_switch():
    """labkit.setup relies on torch._C._set_deterministic_algorithms (no torch._inductor import, about 150 MB less
    per kernel). If a torch upgrade removes it, setup falls back to the public call and every kernel grows: this
    test fails first, so the upgrade is noticed."""
    import torch

    assert hasattr(torch._C, "_set_deterministic_algorithms"), (
        f"torch {torch.__version__} no longer has torch._C._set_deterministic_algorithms: setup() now imports "
        "torch._inductor through torch.use_deterministic_algorithms; measure the kernels' memory and adapt setup")


def test_labkit_seed_overrides_the_notebook_seed(monkeypatch, capsys):
    """LABKIT_SEED replaces the seed of labkit.setup, so a notebook can be rerun with every seed changed."""
    from labkit import config

    monkeypatch.setenv("LABKIT_SEED", "7")
    cfg = config.setup(seed=0)
    assert cfg.seed == 7 and "LABKIT_SEED overrides 0" in capsys.readouterr().out
    monkeypatch.setenv("LABKIT_SEED", "seven")
    with pytest.raises(ValueError, match="LABKIT_SEED"):
        config.setup(seed=0, verbose=False)
    monkeypatch.delenv("LABKIT_SEED")
    assert config.setup(seed=3, verbose=False).seed == 3
