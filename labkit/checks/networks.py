"""Checkers for Part I, neural networks and convolution: lessons 03_neural_networks and 04_cnns."""

import torch

from labkit.checks.framework import call, checker, expect_close

__all__ = ["sigmoid_derivative", "linear_forward", "mlp_param_count", "conv2d_single", "conv_output_size",
           "receptive_field"]


def _random(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@checker(hint="The sigmoid's derivative can be written with the sigmoid itself, no new exponentials needed.",
         formula="With s = torch.sigmoid(x), the derivative is s * (1 - s): elementwise, largest (0.25) at x = 0.")
def sigmoid_derivative(answer):
    """Derivative of the logistic sigmoid, elementwise, compared with autograd."""
    for x in (torch.linspace(-8, 8, 33, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
              _random(4, 5, scale=3)):
        x = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)
        expect_close(call(answer, x.detach()), want, f"sigmoid_derivative(x of shape {tuple(x.shape)})")


@checker(hint="A layer of neurons is a matrix product of the inputs with the weights, plus one bias per output "
              "neuron.",
         formula="Each output is a weighted sum of the inputs plus a bias: x @ weight.T + bias, shape (N, out).")
def linear_forward(answer):
    """A layer of neurons, y = x W^T + b, compared with torch.nn.functional.linear."""
    for n, n_in, n_out in ((5, 3, 2), (1, 4, 4), (7, 6, 1)):
        x, weight, bias = _random(n, n_in, seed=n), _random(n_out, n_in, seed=n_in), _random(n_out, seed=n_out)
        want = torch.nn.functional.linear(x, weight, bias)
        expect_close(call(answer, x, weight, bias), want, f"linear_forward(x {n}x{n_in}, weight {n_out}x{n_in}, bias)")


@checker(hint="Every Linear layer has a weight for each (input, output) pair and one bias per output.",
         formula="A Linear(a, b) layer has a * b weights and b biases; add this up over consecutive pairs of sizes.")
def mlp_param_count(answer):
    """Number of parameters of an MLP with layer sizes [in, hidden..., out], compared with torch.nn."""
    for sizes in ([4, 16, 3], [64, 32, 32, 1], [10, 1], [3, 8, 8, 8, 2]):
        layers = [torch.nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])]
        want = sum(p.numel() for layer in layers for p in layer.parameters())
        expect_close(call(answer, list(sizes)), want, f"mlp_param_count({sizes})")


@checker(hint="Slide the kernel over every position where it fits entirely inside the image and take the weighted sum there (no flipping: deep learning's convolution is a cross-correlation).",
         formula="Slide the kernel without flipping it: out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum(), "
              "for i in range(H - kh + 1) and j in range(W - kw + 1).")
def conv2d_single(answer):
    """Valid 2D cross-correlation of one image with one kernel, compared with torch.nn.functional.conv2d."""
    for (h, w), (kh, kw) in (((8, 8), (3, 3)), ((6, 9), (3, 3)), ((7, 7), (5, 5)), ((5, 6), (1, 1)), ((6, 5), (2, 3))):
        image, kernel = _random(h, w, seed=h * w), _random(kh, kw, seed=kh * kw + 1)
        want = torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0]
        expect_close(call(answer, image, kernel), want, f"conv2d_single(image {h}x{w}, kernel {kh}x{kw})")


@checker(hint="Count how many positions a window of size k can take along a padded axis when it moves s pixels at a"
              " time.",
         formula="floor((n + 2 * p - k) / s) + 1: pad both sides, count the kernel positions that fit, step by s "
              "(use integer division //).")
def conv_output_size(answer):
    """Output length of a convolution/pooling layer, compared with the shape torch gives."""
    for n, k, s, p in ((64, 3, 1, 1), (64, 2, 2, 0), (7, 3, 2, 1), (5, 5, 1, 0), (10, 4, 3, 2), (28, 5, 2, 0)):
        want = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p).shape[-1]
        expect_close(call(answer, n, k, s, p), want, f"conv_output_size(n={n}, k={k}, s={s}, p={p})")


def _field_by_gradient(kernel_sizes, strides):
    """Receptive field measured: inputs with a nonzero gradient for one output of a stack of all-ones convs."""
    x = torch.zeros(1, 1, 256, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s in zip(kernel_sizes, strides):
        out = torch.nn.functional.conv1d(out, torch.ones(1, 1, k, dtype=torch.float64), stride=s)
    (grad,) = torch.autograd.grad(out[0, 0, out.shape[-1] // 2], x)
    return int((grad != 0).sum())


@checker(hint="Each layer widens the field by (kernel - 1) steps, and a step is measured in input pixels: strides "
              "before it multiply its size.",
         formula="Start with r = 1 and jump = 1; for each layer: r += (k - 1) * jump, then jump *= s.")
def receptive_field(answer):
    """Receptive field of a stack of conv/pool layers, compared with the footprint of a gradient."""
    for ks, ss in (([3], [1]), ([3, 3, 3], [1, 1, 1]), ([3, 2, 3, 2], [1, 2, 1, 2]), ([5, 3, 3], [2, 2, 1]),
                   ([7, 3, 3, 3], [2, 1, 2, 1])):
        expect_close(call(answer, list(ks), list(ss)), _field_by_gradient(ks, ss), f"receptive_field({ks}, {ss})")
