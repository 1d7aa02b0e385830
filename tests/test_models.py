"""labkit.models: shapes, parameter counts, feature maps and clear errors."""

import pytest
import torch
from torch import nn

from labkit import models


def test_small_cnn_shapes_and_size():
    model = models.SmallCNN()
    x = torch.randn(2, 1, 64, 64)
    assert model(x).shape == (2, 1)
    assert model.features(x).shape == (2, 64, 8, 8)
    assert 50_000 <= models.count_parameters(model) <= 150_000
    assert isinstance(model.feature_layer, nn.Module)
    assert not any(k.startswith("feature_layer") for k in model.state_dict())


def test_small_cnn_options():
    model = models.SmallCNN(in_channels=3, n_classes=4, width=8, depth=2, dropout=0.5, batch_norm=False)
    x = torch.randn(3, 3, 20, 28)
    assert model(x).shape == (3, 4)
    assert model.features(x).shape == (3, 16, 5, 7)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    out = model(x)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_feature_layer_output_is_features():
    model = models.SmallCNN().eval()
    seen = []
    model.feature_layer.register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.randn(1, 1, 32, 32)
    assert torch.equal(model.features(x), seen[0])


def test_mlp_shapes_activation_and_flatten():
    assert models.MLP(10)(torch.randn(5, 10)).shape == (5, 1)
    mlp = models.MLP(16, hidden=(8,), n_out=3, activation="tanh", dropout=0.1)
    assert mlp(torch.randn(2, 1, 4, 4)).shape == (2, 3)  # flattened
    assert any(isinstance(m, nn.Tanh) for m in mlp.modules())
    assert models.count_parameters(models.MLP(4, hidden=(), n_out=1)) == 5
    assert models.MLP(4, hidden=3, activation=nn.GELU)(torch.randn(1, 4)).shape == (1, 1)


def test_count_parameters_trainable_only():
    model = models.MLP(4, hidden=(3,))
    total = models.count_parameters(model)
    for p in model.net[0].parameters():
        p.requires_grad_(False)
    assert models.count_parameters(model) == total - 15
    assert models.count_parameters(model, trainable_only=False) == total


@pytest.mark.parametrize("make, x, match", [
    (lambda: models.SmallCNN(), torch.randn(2, 3, 32, 32), r"\(N, 1, H, W\)"),
    (lambda: models.SmallCNN(), torch.randn(1, 32, 32), r"\(N, 1, H, W\)"),
    (lambda: models.SmallCNN(depth=3), torch.randn(1, 1, 4, 4), "too small"),
    (lambda: models.MLP(10), torch.randn(2, 9), r"\(N, 10\)"),
])
def test_bad_input_shapes(make, x, match):
    with pytest.raises(ValueError, match=match):
        make()(x)


def test_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        models.SmallCNN(width=0)
    with pytest.raises(ValueError, match="dropout"):
        models.SmallCNN(dropout=1.0)
    with pytest.raises(ValueError, match="activation"):
        models.MLP(3, activation="swishy")
    with pytest.raises(TypeError, match="nn.Module"):
        models.count_parameters([1, 2])
