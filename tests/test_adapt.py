"""labkit.adapt: z-score, intensity-shift augmentation, gradient reversal, DANN, BatchNorm adaptation."""

import copy

import numpy as np
import pytest
import torch

from labkit import adapt, models, synthetic


def _images(n=6, seed=0):
    return torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_zscore_per_image_numpy_and_torch():
    x = np.random.default_rng(0).gamma(2.0, 10.0, (4, 2, 8, 8)).astype(np.float32)
    z = adapt.zscore_per_image(x)
    assert z.dtype == np.float32 and z.shape == x.shape
    assert np.allclose(z.mean(axis=(2, 3)), 0, atol=1e-5) and np.allclose(z.std(axis=(2, 3)), 1, atol=1e-3)
    assert np.allclose(adapt.zscore_per_image(torch.from_numpy(x)).numpy(), z, atol=1e-5)
    assert np.all(adapt.zscore_per_image(np.full((1, 1, 4, 4), 5.0)) == 0)   # constant image -> zeros
    assert np.allclose(adapt.zscore_per_image(3 * x + 7), z, atol=1e-4)      # gain and offset disappear


@pytest.mark.parametrize("bad", [np.zeros((4, 4)), np.zeros((0, 1, 4, 4)), [[1.0]]])
def test_zscore_per_image_bad_input(bad):
    with pytest.raises((ValueError, TypeError), match="images"):
        adapt.zscore_per_image(bad)


def test_intensity_shift_range_shape_and_determinism():
    x = _images()
    a = adapt.IntensityShift(seed=3)(x)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1 and not torch.allclose(a, x)
    assert torch.equal(a, adapt.IntensityShift(seed=3)(x))
    assert adapt.IntensityShift(seed=3)(x[0]).shape == x[0].shape             # single image (C, H, W)
    assert adapt.IntensityShift(blur=1.0, seed=0)(x).shape == x.shape
    same = adapt.IntensityShift(gamma=(1.0, 1.0), bias=0.0, noise=0.0, seed=0)(x)
    assert torch.allclose(same, x)                                           # no effect -> identity
    with pytest.raises(ValueError, match="gamma"):
        adapt.IntensityShift(gamma=(2.0, 1.0))
    with pytest.raises(ValueError, match="tensor"):
        adapt.IntensityShift()(np.zeros((1, 4, 4)))


def test_gradient_reversal_forward_identity_backward_negated():
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 3)
    y = adapt.GradientReversal(0.7)(x)
    assert torch.equal(y, x)
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -0.7 * w)
    with pytest.raises(ValueError, match="lambd"):
        adapt.GradientReversal(-1.0)


def test_dann_lambda_schedule():
    assert adapt.dann_lambda(0.0) == 0.0 and abs(adapt.dann_lambda(1.0) - 1.0) < 1e-3
    values = [adapt.dann_lambda(p) for p in np.linspace(0, 1, 11)]
    assert all(b > a for a, b in zip(values, values[1:]))


def test_dann_forward_loss_and_fit():
    torch.manual_seed(0)
    model = adapt.DomainAdversarialNet(models.SmallCNN(width=4, depth=2))
    x, y = _images(8), torch.tensor([0, 1] * 4)
    logits, dom = model.forward_both(x)
    assert logits.shape == (8, 1) and dom.shape == (8,) and model(x).shape == (8, 1)
    total, cls, dom_loss, acc = adapt.dann_loss(model, x, y, _images(8, seed=1))
    assert torch.isclose(total, cls + dom_loss) and 0 <= acc <= 1
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=4)
    history = adapt.fit_dann(model, loader, _images(10, seed=2).numpy(), n_epochs=2, device="cpu")
    assert history.n_epochs == 2 and len(history.metrics["domain_accuracy"]) == 2 and not model.training
    with pytest.raises(TypeError, match="DomainAdversarialNet"):
        adapt.fit_dann(models.SmallCNN(), loader, x)
    with pytest.raises(TypeError, match="features"):
        adapt.DomainAdversarialNet(torch.nn.Linear(3, 1))


def test_adapt_batchnorm_moves_running_stats_to_the_target():
    torch.manual_seed(0)
    model = models.SmallCNN(width=4, depth=2).eval()
    target = 3 * _images(64) + 1
    before = [p.clone() for p in model.parameters()]
    adapted = adapt.adapt_batchnorm(copy.deepcopy(model), target, batch_size=16)
    first = adapt.batchnorm_layers(adapted)[0]
    with torch.no_grad():   # the first BN's input is the first conv's output: its per-channel mean over the target
        conv_out = adapted.blocks[0][0](target)
    assert torch.allclose(first.running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-4)
    assert first.momentum == 0.1 and not adapted.training
    assert all(torch.equal(p, q) for p, q in zip(before, adapted.parameters()))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(target, torch.zeros(64)), batch_size=16)
    via_loader = adapt.adapt_batchnorm(copy.deepcopy(model), loader)
    assert torch.allclose(adapt.batchnorm_layers(via_loader)[0].running_mean, first.running_mean, atol=1e-5)


def test_adapt_batchnorm_bad_input():
    with pytest.raises(ValueError, match="BatchNorm"):
        adapt.adapt_batchnorm(torch.nn.Linear(3, 1), torch.zeros(2, 3))
    with pytest.raises(TypeError, match="Module"):
        adapt.adapt_batchnorm("model", torch.zeros(2, 1, 8, 8))
    with pytest.raises(TypeError, match="DataLoader"):
        adapt.adapt_batchnorm(models.SmallCNN(), 3)


def test_scaled_effect():
    effect = synthetic.SiteEffect(bias=0.6, noise=0.05, gamma=2.0, blur=1.0, resolution=0.5)
    assert adapt.scaled_effect(effect, 0.0) == synthetic.SiteEffect()
    assert adapt.scaled_effect(effect, 1.0) == effect
    half = adapt.scaled_effect(effect, 0.5)
    assert half.noise == 0.025 and abs(half.gamma - 2 ** 0.5) < 1e-9
    with pytest.raises(ValueError, match="strength"):
        adapt.scaled_effect(effect, -1)
    with pytest.raises(TypeError, match="SiteEffect"):
        adapt.scaled_effect({"gamma": 2}, 1.0)


def test_fit_dann_records_real_epoch_times_and_the_losses():
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(_images(16), torch.tensor([0, 1] * 8)),
                                         batch_size=8)
    torch.manual_seed(0)
    model = adapt.DomainAdversarialNet(models.SmallCNN(width=4, depth=2))
    history = adapt.fit_dann(model, loader, _images(10, seed=2).numpy(), n_epochs=2, device="cpu", progress=False)
    assert all(t > 0 for t in history.epoch_time)
    assert set(history.metrics) == {"class_loss", "domain_loss", "domain_accuracy"}
    total = np.array(history.metrics["class_loss"]) + np.array(history.metrics["domain_loss"])
    assert np.allclose(history.train_loss, total, atol=1e-5)
