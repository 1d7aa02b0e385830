"""labkit.tuning: early stopping rule, log-uniform sampling, LR range test, random-search configurations."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from labkit import train, tuning


@pytest.mark.parametrize("losses, patience, want", [
    ([0.9, 0.8, 0.7, 0.6], 2, 3),
    ([0.9, 0.7, 0.8, 0.85, 0.5], 2, 1),        # stops at epoch 3: the later 0.5 is never seen
    ([0.9, 0.7, 0.8, 0.85, 0.5], 3, 4),
    ([0.9, 0.7, 0.7, 0.7], 5, 1),              # a tie is not an improvement
    ([math.nan, 0.8, math.nan, 0.9, 0.7], 2, 1),
    ([0.5], 1, 0),
])
def test_early_stopping_epoch(losses, patience, want):
    assert tuning.early_stopping_epoch(losses, patience) == want


def test_early_stopping_epoch_matches_fit():
    """fit(early_stopping=p) keeps the epoch the rule names, on a real run."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 5, generator=gen), torch.randint(0, 2, (64,), generator=gen).float()
    loader = [(x[:32], y[:32]), (x[32:], y[32:])]
    val = [(torch.randn(32, 5, generator=gen), torch.randint(0, 2, (32,), generator=gen).float())]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 1))
    history = train.fit(model, loader, val, lr=0.05, n_epochs=30, early_stopping=3, progress=False)
    assert history.best_epoch == tuning.early_stopping_epoch(history.val_loss, 3)
    assert train.evaluate(model, val) == pytest.approx(history.val_loss[history.best_epoch], abs=1e-6)


def test_early_stopping_epoch_rejects_bad_input():
    with pytest.raises(ValueError, match="patience"):
        tuning.early_stopping_epoch([0.5, 0.4], 0)
    with pytest.raises(ValueError, match="val_losses"):
        tuning.early_stopping_epoch([], 2)
    assert tuning.early_stopping_epoch([math.nan, math.nan], 3) is None


def test_log_uniform_sample_properties():
    x = tuning.log_uniform_sample(1e-5, 1e-1, 4000, seed=1)
    assert x.shape == (4000,) and x.dtype == np.float64
    assert x.min() >= 1e-5 and x.max() <= 1e-1
    per_decade = np.histogram(np.log10(x), bins=4, range=(-5, -1))[0] / len(x)
    assert np.allclose(per_decade, 0.25, atol=0.03), per_decade
    assert np.array_equal(x, tuning.log_uniform_sample(1e-5, 1e-1, 4000, seed=1))
    assert not np.array_equal(x, tuning.log_uniform_sample(1e-5, 1e-1, 4000, seed=2))
    with pytest.raises(ValueError, match="low"):
        tuning.log_uniform_sample(0.0, 1.0, 3)


def test_smooth_losses():
    assert np.allclose(tuning.smooth_losses([1.0, 1.0, 1.0]), 1.0)  # bias correction: no start-up dip
    assert np.allclose(tuning.smooth_losses([3.0, 1.0], beta=0.0), [3.0, 1.0])
    smooth = tuning.smooth_losses(np.r_[np.ones(20), np.zeros(20)], beta=0.9)
    assert 0 < smooth[25] < 1 and np.all(np.diff(smooth[20:]) < 0)


def test_lr_range_suggestion():
    lrs = np.logspace(-5, 0, 6)
    assert tuning.lr_range_suggestion(lrs, [0.7, 0.6, 0.4, 0.3, 0.9, 5.0]) == pytest.approx(1e-3)
    assert tuning.lr_range_suggestion(lrs, [0.7, 0.6, 0.5, math.nan, math.inf, math.nan]) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="diverged"):
        tuning.lr_range_suggestion(lrs[:2], [math.nan, math.inf])
    with pytest.raises(ValueError, match="same length"):
        tuning.lr_range_suggestion(lrs, [0.5, 0.4])


def test_lr_range_test_restores_weights_and_finds_a_dip():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=gen)
    y = (x[:, 0] + x[:, 1] > 0).float()
    loader = [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = tuning.lr_range_test(model, loader, lr_min=1e-5, lr_max=100.0, n_steps=80, seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) <= 80
    assert np.all(np.diff(result.lrs) > 0) and result.lrs[0] == pytest.approx(1e-5)
    assert result.smoothed.min() < 0.8 * result.smoothed[0], "the loss should drop at good learning rates"
    assert 1e-5 <= result.suggestion <= 10.0
    again = tuning.lr_range_test(model, loader, lr_min=1e-5, lr_max=100.0, n_steps=80, seed=0)
    assert np.array_equal(result.losses, again.losses)


def test_sample_configs():
    space = {"lr": ("log", 1e-4, 1e-1), "width": [4, 8, 16], "dropout": ("uniform", 0.0, 0.5)}
    configs = tuning.sample_configs(space, 50, seed=3)
    assert len(configs) == 50 and all(set(c) == set(space) for c in configs)
    assert all(1e-4 <= c["lr"] <= 1e-1 and c["width"] in (4, 8, 16) and 0 <= c["dropout"] <= 0.5 for c in configs)
    assert len({c["width"] for c in configs}) == 3
    assert configs == tuning.sample_configs(space, 50, seed=3)
    with pytest.raises(ValueError, match="width"):
        tuning.sample_configs({"width": []}, 3)
