"""labkit.layers: hand-written building blocks agree with torch.nn and with their own formulas."""

import numpy as np
import pytest
import torch
from torch import nn

from labkit import layers


@pytest.mark.parametrize("name", list(layers.ACTIVATIONS))
def test_activation_curve_derivative_matches_finite_differences(name):
    x, y, dy = layers.activation_curve(name, -4, 4, temperature=2.0, n=801)
    assert x.shape == y.shape == dy.shape == (801,)
    numeric = np.gradient(y, x)
    inner = np.abs(x) > 0.05   # ReLU-type kinks at 0
    assert np.allclose(dy[inner], numeric[inner], atol=1e-3)


def test_one_table_of_activations_for_layers_and_models():
    from labkit import models

    assert isinstance(layers.ACTIVATIONS["leaky_relu"](), nn.LeakyReLU)
    assert layers.ACTIVATIONS["leaky_relu"]().negative_slope == layers.LEAKY_SLOPE
    mlp = models.MLP(3, hidden=(4,), activation="leaky_relu")
    assert mlp.net[1].negative_slope == layers.LEAKY_SLOPE
    x, y, dy = layers.activation_curve("leaky_relu", -2, 2, n=5)
    np.testing.assert_allclose(dy[[0, 1, 3, 4]], [layers.LEAKY_SLOPE, layers.LEAKY_SLOPE, 1.0, 1.0])
    for name, make in layers.ACTIVATIONS.items():
        assert isinstance(make(), nn.Module), name
        assert isinstance(models.MLP(2, hidden=(3,), activation=name).net[1], nn.Module)


@pytest.mark.parametrize("kwargs", [dict(name="softmax"), dict(name="relu", x_min=1, x_max=0),
                                    dict(name="tanh", temperature=0), dict(name="tanh", temperature=float("nan")),
                                    dict(name="gelu", x_max=float("inf"))])
def test_activation_curve_rejects_bad_input(kwargs):
    with pytest.raises(ValueError):
        layers.activation_curve(**kwargs)


@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 0), (2, 2)])
def test_conv2d_matches_torch(stride, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 11, 9, generator=g)
    conv = nn.Conv2d(3, 4, 3, stride=stride, padding=padding)
    mine = layers.conv2d(x, conv.weight.detach(), conv.bias.detach(), stride=stride, padding=padding)
    assert mine.shape == conv(x).shape
    assert (mine - conv(x).detach()).abs().max() < 1e-5


def test_conv2d_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="channels"):
        layers.conv2d(torch.zeros(1, 2, 5, 5), torch.zeros(1, 3, 3, 3))


@pytest.mark.parametrize("n,k,s,p,d", [(64, 3, 1, 1, 1), (64, 2, 2, 0, 1), (7, 3, 2, 1, 1), (5, 5, 1, 0, 1),
                                       (10, 4, 3, 2, 1), (64, 3, 1, 2, 2), (30, 5, 2, 3, 3), (9, 3, 1, 0, 4)])
def test_conv_output_size_matches_torch(n, k, s, p, d):
    out = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)(torch.zeros(1, 1, n, n))
    assert layers.conv_output_size(n, k, s, p, d) == out.shape[-1]


def test_conv_output_size_rejects_bad_input():
    for args in [(0, 3), (5, 7), (5, 3, 0), (5.0, 3), (5, 3, 1, -1), (5, 3, 1, 0, 0), (5, 3, 1, 0, 3)]:
        with pytest.raises(ValueError):
            layers.conv_output_size(*args)


def test_receptive_field_formula_matches_gradient_footprint():
    ks, ss = [3, 3, 2, 3, 3], [1, 1, 2, 1, 1]
    stack = []
    for k, s in zip(ks, ss):
        stack.append(nn.AvgPool2d(k, s) if s > 1 else nn.Conv2d(1, 1, k, padding=k // 2))
    footprint = layers.gradient_footprint(nn.Sequential(*stack), (1, 40, 40)) > 0
    rows, cols = np.flatnonzero(footprint.any(1)), np.flatnonzero(footprint.any(0))
    assert layers.receptive_field(ks, ss) == 14 == len(rows) == len(cols) == footprint.sum() ** 0.5


def test_receptive_field_simple_cases():
    assert layers.receptive_field([3]) == 3
    assert layers.receptive_field([3, 3, 3]) == 7
    assert layers.receptive_field([2, 2], [2, 2]) == 4
    assert layers.receptive_field([3, 3, 3], dilations=[1, 2, 4]) == 15
    with pytest.raises(ValueError):
        layers.receptive_field([3, 3], [1])
    with pytest.raises(ValueError):
        layers.receptive_field([3, 3], [1, 1], [1])
    with pytest.raises(ValueError):
        layers.receptive_field([3, 3], [1, 1], [1, 0])


@pytest.mark.parametrize("dilations", [(1, 2, 4), (2, 2, 2), (1, 3, 1)])
def test_dilated_receptive_field_matches_gradient(dilations):
    stack = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in dilations])
    footprint = layers.gradient_footprint(stack, (1, 41, 41)) > 0
    rows = np.flatnonzero(footprint.any(1))
    assert np.ptp(rows) + 1 == layers.receptive_field([3] * 3, [1] * 3, list(dilations))


def test_gradient_footprint_in_3d_and_bad_input():
    stack = nn.Sequential(nn.Conv3d(1, 2, (1, 3, 3)), nn.Conv3d(2, 1, 3, stride=(1, 2, 2)))
    hit = np.argwhere(layers.gradient_footprint(stack, (1, 9, 21, 21)) > 0)
    per_axis = (layers.receptive_field([1, 3], [1, 1]), layers.receptive_field([3, 3], [1, 2]))
    assert tuple(np.ptp(hit, axis=0) + 1) == (per_axis[0], per_axis[1], per_axis[1]) == (3, 5, 5)
    with pytest.raises(ValueError, match="position"):
        layers.gradient_footprint(stack, (1, 9, 21, 21), position=(1, 1))
    with pytest.raises(ValueError, match="same rank"):
        layers.gradient_footprint(nn.Flatten(), (1, 8, 8))


def test_classic_kernels_sum_to_one_or_zero():
    for name in layers.KERNELS:
        total = float(layers.classic_kernel(name).sum())
        assert np.isclose(total, 0.0 if name.startswith(("sobel", "laplacian")) else 1.0, atol=1e-6), name
    assert layers.classic_kernel("gaussian blur", size=5, sigma=2.0).shape == (5, 5)
    with pytest.raises(ValueError):
        layers.classic_kernel("emboss")


def test_filter_image_keeps_size_and_flat_regions():
    flat = np.full((20, 30), 0.7, np.float32)
    assert layers.filter_image(flat, layers.classic_kernel("laplacian")).shape == (20, 30)
    assert np.abs(layers.filter_image(flat, layers.classic_kernel("sobel x"))).max() < 1e-6
    assert np.allclose(layers.filter_image(flat, layers.classic_kernel("box blur", size=5)), 0.7, atol=1e-6)
    with pytest.raises(ValueError):
        layers.filter_image(flat, np.ones((2, 2)))


def test_gaussian_blur_matches_scipy_and_keeps_constants():
    from scipy import ndimage

    from labkit import layers

    x = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    ours = layers.gaussian_blur(x, 2.0, radius=6)
    ref = ndimage.gaussian_filter(x.numpy(), (0, 0, 2.0, 2.0), mode="nearest", truncate=3.0)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-5)
    flat = torch.full((1, 1, 9, 9), 0.3)
    assert torch.allclose(layers.gaussian_blur(flat, 1.5, radius=4), flat)
