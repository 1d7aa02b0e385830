"""Building blocks written by hand: activation functions, 2D convolution, output sizes, receptive fields.

Activations were introduced in 03_neural_networks.ipynb; convolution, output sizes, classic kernels and receptive
fields in 04_cnns.ipynb. Later lessons import them from here; torch.nn is what you use in practice, these exist so
you can see (and test) what torch.nn computes.
"""

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LEAKY_SLOPE", "ACTIVATIONS", "activation_curve", "conv2d", "gaussian_blur", "conv_output_size",
           "receptive_field", "gradient_footprint", "KERNELS", "classic_kernel", "filter_image"]

LEAKY_SLOPE = 0.1   # the slope of leaky ReLU for x < 0, everywhere in the course
# The one table of activation functions: name -> torch.nn module class (call it to get the module, a function of
# tensors). labkit.models builds its networks from it and activation_curve plots it.
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": functools.partial(nn.LeakyReLU, negative_slope=LEAKY_SLOPE),
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}


def activation_curve(name, x_min=-6.0, x_max=6.0, temperature=1.0, n=401):
    """Sample ``f(x / temperature)`` and its derivative d/dx (by autograd) on ``n`` points of [x_min, x_max].

    name: a key of ACTIVATIONS; temperature > 0 stretches the curve along x (large = flatter).
    Returns (x, y, dy), each (n,) float64 NumPy arrays. Introduced in 03_neural_networks.ipynb.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {list(ACTIVATIONS)}")
    if not (math.isfinite(x_min) and math.isfinite(x_max) and x_min < x_max):
        raise ValueError(f"need finite x_min < x_max, got x_min={x_min!r}, x_max={x_max!r}")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    x = torch.linspace(float(x_min), float(x_max), n, dtype=torch.float64, requires_grad=True)
    y = ACTIVATIONS[name]()(x / temperature)
    (dy,) = torch.autograd.grad(y.sum(), x)
    return x.detach().numpy(), y.detach().numpy(), dy.numpy()


def conv2d(images, kernels, bias=None, stride=1, padding=0):
    """2D cross-correlation (what nn.Conv2d computes) by unfold + matrix product.

    images: (N, C, H, W) float tensor; kernels: (O, C, kh, kw); bias: (O,) or None; zero padding.
    Returns (N, O, H_out, W_out) with H_out = conv_output_size(H, kh, stride, padding).
    Introduced in 04_cnns.ipynb.
    """
    if images.ndim != 4 or kernels.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W) and kernels (O, C, kh, kw), "
                         f"got shapes {tuple(images.shape)} and {tuple(kernels.shape)}")
    if images.shape[1] != kernels.shape[1]:
        raise ValueError(f"images have {images.shape[1]} channels but kernels expect {kernels.shape[1]}")
    n, _, h, w = images.shape
    out_ch, _, kh, kw = kernels.shape
    h_out, w_out = conv_output_size(h, kh, stride, padding), conv_output_size(w, kw, stride, padding)
    patches = F.unfold(images, (kh, kw), padding=padding, stride=stride)   # (N, C*kh*kw, L)
    out = kernels.reshape(out_ch, -1) @ patches                              # (N, O, L)
    if bias is not None:
        out = out + bias.reshape(1, out_ch, 1)
    return out.reshape(n, out_ch, h_out, w_out)


def _check_ints(name, values, low):
    if any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low for v in values):
        raise ValueError(f"{name} must be ints >= {low}, got {list(values)}")


def conv_output_size(n, k, s=1, p=0, d=1):
    """Output length of a convolution or pooling: floor((n + 2p - d(k - 1) - 1) / s) + 1.

    n: input size, k: kernel size, s: stride, p: zero padding on each side, d: dilation (ints). A dilated kernel
    spans d(k - 1) + 1 pixels; with d = 1 this is floor((n + 2p - k) / s) + 1. Introduced in 04_cnns.ipynb.
    """
    for name, value, low in (("n", n, 1), ("k", k, 1), ("s", s, 1), ("p", p, 0), ("d", d, 1)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    span = d * (k - 1) + 1
    if n + 2 * p < span:
        raise ValueError(f"kernel {k} (dilation {d}: spans {span}) is larger than the padded input {n} + 2*{p}")
    return (n + 2 * p - span) // s + 1


def receptive_field(kernel_sizes, strides=None, dilations=None):
    """Receptive field (in input pixels) of one output unit after a stack of conv/pool layers.

    r = 1 + sum_i d_i (k_i - 1) * prod_{j < i} s_j. kernel_sizes, strides, dilations: sequences of ints, one per
    layer (strides and dilations default 1). Introduced in 04_cnns.ipynb.
    """
    kernel_sizes = list(kernel_sizes)
    strides = [1] * len(kernel_sizes) if strides is None else list(strides)
    dilations = [1] * len(kernel_sizes) if dilations is None else list(dilations)
    if not len(strides) == len(dilations) == len(kernel_sizes):
        raise ValueError(f"got {len(kernel_sizes)} kernel sizes, {len(strides)} strides and {len(dilations)} dilations")
    _check_ints("kernel sizes, strides and dilations", kernel_sizes + strides + dilations, 1)
    field, jump = 1, 1
    for k, s, d in zip(kernel_sizes, strides, dilations):
        field += d * (int(k) - 1) * jump
        jump *= int(s)
    return field


def gradient_footprint(model, input_shape, position=None):
    """Where the input can influence one output unit: |d out[0, 0, *position] / d input| summed over channels.

    model: maps (1, C, H, W) to (1, C', H', W') (or (1, C, D, H, W) to (1, C', D', H', W') for 3-D);
    input_shape: (C, H, W) or (C, D, H, W); position: the output unit's spatial index, default the centre.
    Returns (H, W) or (D, H, W) float64 NumPy array (zero outside the receptive field).
    Introduced in 04_cnns.ipynb.
    """
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    out = model(x)
    if out.ndim != x.ndim or out.ndim not in (4, 5):
        raise ValueError(f"model must map (1, C, H, W) or (1, C, D, H, W) inputs to feature maps of the same rank, "
                         f"got input {tuple(x.shape)} -> output {tuple(out.shape)}")
    position = tuple(n // 2 for n in out.shape[2:]) if position is None else tuple(position)
    if len(position) != out.ndim - 2:
        raise ValueError(f"position needs {out.ndim - 2} indices for an output of shape {tuple(out.shape)}, "
                         f"got {position}")
    (grad,) = torch.autograd.grad(out[(0, 0, *position)], x)
    return grad.abs().sum(dim=(0, 1)).double().numpy()


KERNELS = ("identity", "box blur", "gaussian blur", "sharpen", "sobel x", "sobel y", "laplacian")


def classic_kernel(name, size=3, sigma=1.0):
    """A classic 2D filter kernel as a (k, k) float32 tensor.

    name: one of KERNELS. Blur kernels sum to 1 (keep mean brightness); edge kernels (Sobel, Laplacian)
    sum to 0 (zero on flat regions). size (odd int) applies to box and Gaussian blur; sigma to Gaussian.
    Introduced in 04_cnns.ipynb.
    """
    if name not in KERNELS:
        raise ValueError(f"unknown kernel {name!r}; expected one of {list(KERNELS)}")
    if not (isinstance(size, int) and size >= 1 and size % 2 == 1):
        raise ValueError(f"size must be an odd int >= 1, got {size!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    fixed = {"identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
             "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
             "sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
             "sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
             "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]]}
    if name in fixed:
        return torch.tensor(fixed[name], dtype=torch.float32)
    if name == "box blur":
        return torch.full((size, size), 1.0 / size ** 2)
    r = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-r ** 2 / (2 * sigma ** 2))
    kernel = g[:, None] * g[None, :]
    return kernel / kernel.sum()


def filter_image(image, kernel):
    """Filter a 2D image with a 2D kernel (cross-correlation, reflect padding so the size is kept).

    image: (H, W) array or tensor; kernel: (k, k) with odd k. Returns (H, W) float32 NumPy array.
    Introduced in 04_cnns.ipynb.
    """
    image = torch.as_tensor(np.asarray(image, dtype=np.float32))
    kernel = torch.as_tensor(np.asarray(kernel, dtype=np.float32))
    if image.ndim != 2 or kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"expected a (H, W) image and a square odd (k, k) kernel, "
                         f"got {tuple(image.shape)} and {tuple(kernel.shape)}")
    pad = kernel.shape[0] // 2
    if pad >= min(image.shape):
        raise ValueError(f"kernel {tuple(kernel.shape)} is too large for image {tuple(image.shape)}")
    padded = F.pad(image[None, None], (pad, pad, pad, pad), mode="reflect")
    return F.conv2d(padded, kernel[None, None])[0, 0].numpy()


def gaussian_blur(x, sigma, radius):
    """Separable Gaussian blur of images (N, C, H, W), each channel alone: a kernel of ``2 * radius + 1`` taps
    with standard deviation ``sigma`` pixels, normalised to sum 1; edges replicated -> tensor like x."""
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    out = F.pad(x, (radius,) * 4, mode="replicate")
    out = F.conv2d(out, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(out, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
