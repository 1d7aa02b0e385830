"""Checkers for Part I, neural networks and convolution: lessons 03_neural_networks and 04_cnns.

Checkers that build networks or draw random numbers do so inside ``torch.random.fork_rng``, so that checking an
answer never changes the random numbers of the cells that follow it.
"""

import contextlib
import functools
import math

import numpy as np
import torch
from torch import nn

from labkit.checks.framework import CheckFailed, NotAttempted, call, checker, expect_close, expect_true

__all__ = ["linear_forward", "softmax", "sgd_step", "sigmoid_derivative", "he_normal_", "conv2d_single",
           "conv_output_size", "receptive_field", "TinyCNN", "batch_norm", "receptive_field_mm"]


def _random(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * scale


@contextlib.contextmanager
def _private_rng(seed=0):
    """Run a check with its own seeded global RNG and restore the caller's state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _run_in_place(fn, *args):
    """Call a learner's function that works in place (its return value may be None)."""
    if not callable(fn):
        raise CheckFailed(f"expected a function, got {type(fn).__name__} ({fn!r:.60})")
    try:
        return fn(*args)
    except NotImplementedError:
        raise NotAttempted() from None


# ------------------------------------------------------------------------------------ 03_neural_networks
@checker(hint="A layer of neurons is one matrix product: every output neuron takes a weighted sum of all inputs, "
              "plus its own bias. Mind the shapes: weight is (out, in), the batch is (N, in).",
         formula="x @ weight.T + bias: (N, in) @ (in, out) gives (N, out), and the (out,) bias is added to every row.")
def linear_forward(answer):
    """A layer of neurons, y = x W^T + b, compared with torch.nn.functional.linear."""
    for n, n_in, n_out in ((5, 3, 2), (1, 4, 4), (7, 6, 1)):
        x, weight, bias = _random(n, n_in, seed=n), _random(n_out, n_in, seed=n_in), _random(n_out, seed=n_out)
        want = torch.nn.functional.linear(x, weight, bias)
        expect_close(call(answer, x, weight, bias), want, f"linear_forward(x {n}x{n_in}, weight {n_out}x{n_in}, bias)")


@checker(hint="Softmax turns scores into probabilities: make every score positive with exp, then divide by the "
              "total of its row so each row sums to 1. exp(1000) overflows to inf: adding the same constant to "
              "every score of a row changes nothing in the result, so choose one that keeps exp small.",
         formula="z = logits - logits.max(dim=-1, keepdim=True).values; e = z.exp(); "
                 "return e / e.sum(dim=-1, keepdim=True)")
def softmax(answer):
    """Softmax over the last axis, compared with torch.softmax, including logits large enough to overflow exp()."""
    cases = [_random(4, 3, seed=1), _random(2, 5, seed=2, scale=4), torch.tensor([[0.0, 0.0]], dtype=torch.float64),
             torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, -1002.0, -1001.0]], dtype=torch.float64)]
    for logits in cases:
        got = call(answer, logits)
        what = f"softmax(logits {tuple(logits.shape)}, largest {logits.abs().max().item():g})"
        expect_true(not torch.is_tensor(got) or not torch.isnan(got).any(),
                    f"{what} contains NaN: exp() overflowed (inf / inf)")
        expect_close(got, torch.softmax(logits, dim=-1), what)


def _tiny_mlp():
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    x, y = _random(16, 3, seed=3), torch.arange(16) % 3
    nn.functional.cross_entropy(model(x), y).backward()
    return model


@checker(hint="Gradient descent moves every weight a small step against its gradient (the direction in which the "
              "loss falls fastest); the step is the learning rate times the gradient. Change the parameters "
              "themselves, in place, without autograd recording the update.",
         formula="with torch.no_grad(): then for p in params: p -= lr * p.grad "
                 "(not p = p - lr * p.grad, which makes a new tensor and leaves the model unchanged)")
def sgd_step(answer):
    """One step of plain gradient descent on every parameter, compared with torch.optim.SGD."""
    with _private_rng():
        model = _tiny_mlp()
    with _private_rng():
        reference = _tiny_mlp()   # the same weights and gradients
    torch.optim.SGD(reference.parameters(), lr=0.1).step()
    before = [p.detach().clone() for p in model.parameters()]
    _run_in_place(answer, list(model.parameters()), 0.1)
    after = [p.detach() for p in model.parameters()]
    expect_true(any(not torch.equal(a, b) for a, b in zip(after, before)),
                "sgd_step(params, lr=0.1) did not change the parameters: update each one in place")
    for (name, got), want in zip(model.named_parameters(), reference.parameters()):
        expect_close(got, want, f"parameter {name} after sgd_step(params, lr=0.1)")


@checker(hint="The sigmoid's derivative can be written with the sigmoid itself, no new exponentials needed.",
         formula="With s = torch.sigmoid(x), the derivative is s * (1 - s): elementwise, largest (0.25) at x = 0.")
def sigmoid_derivative(answer):
    """Derivative of the logistic sigmoid, elementwise, compared with autograd."""
    for x in (torch.linspace(-8, 8, 33, dtype=torch.float64), torch.zeros(3, dtype=torch.float64),
              _random(4, 5, scale=3)):
        x = x.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(torch.sigmoid(x).sum(), x)
        expect_close(call(answer, x.detach()), want, f"sigmoid_derivative(x of shape {tuple(x.shape)})")


@checker(hint="A unit sums fan_in products of weight and input. To keep the variance of its output equal to that "
              "of its inputs, the weights' variance must shrink like 1 / fan_in, and ReLU, which zeroes half of "
              "its inputs, halves the second moment: a factor 2 makes up for it. fan_in is the number of inputs "
              "per output unit: in_features for a Linear weight, in_channels x kh x kw for a Conv2d weight.",
         formula="fan_in = weight[0].numel(); with torch.no_grad(): weight.normal_(0, math.sqrt(2 / fan_in)); "
                 "return weight")
def he_normal_(answer):
    """He (Kaiming) normal initialisation in place, checked by the statistics of the draws against
    nn.init.kaiming_normal_(nonlinearity='relu') (same std, normal shape) on Linear and Conv2d weights."""
    for shape in ((512, 256), (128, 32, 3, 3)):
        fan_in = int(np.prod(shape[1:]))
        want_std = nn.init.calculate_gain("relu") / math.sqrt(fan_in)
        weight = torch.zeros(shape)
        with _private_rng(seed=fan_in):
            _run_in_place(answer, weight)
        what = f"he_normal_(weight of shape {shape})"
        expect_true(weight.abs().sum() > 0, f"{what} left the weight at zero: fill it in place (weight.normal_)")
        values = weight.double().flatten()
        std, mean = values.std().item(), values.mean().item()
        expect_true(abs(std / want_std - 1) < 0.02,
                    f"{what}: the values have std {std:.4g}, expected {want_std:.4g} (fan_in = {fan_in})")
        expect_true(abs(mean) < 5 * want_std / math.sqrt(values.numel()),
                    f"{what}: the values have mean {mean:.3g}, expected 0")
        within = (values.abs() < want_std).double().mean().item()
        expect_true(abs(within - 0.6827) < 0.01,
                    f"{what}: {within:.1%} of the values lie within one std of 0; a normal distribution has 68.3%")


# ------------------------------------------------------------------------------------ 04_cnns
@checker(hint="Slide the kernel over every position where it fits entirely inside the image and take the weighted "
              "sum there (no flipping: deep learning's convolution is a cross-correlation).",
         formula="Slide the kernel without flipping it: out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum(), "
                 "for i in range(H - kh + 1) and j in range(W - kw + 1).")
def conv2d_single(answer):
    """Valid 2D cross-correlation of one image with one kernel, compared with torch.nn.functional.conv2d."""
    for (h, w), (kh, kw) in (((8, 8), (3, 3)), ((6, 9), (3, 3)), ((7, 7), (5, 5)), ((5, 6), (1, 1)), ((6, 5), (2, 3))):
        image, kernel = _random(h, w, seed=h * w), _random(kh, kw, seed=kh * kw + 1)
        want = torch.nn.functional.conv2d(image[None, None], kernel[None, None])[0, 0]
        expect_close(call(answer, image, kernel), want, f"conv2d_single(image {h}x{w}, kernel {kh}x{kw})")


@checker(hint="Count how many positions a window can take along a padded axis when it moves s pixels at a time. A "
              "dilated kernel has gaps of d - 1 pixels between its taps, so it spans more than k pixels.",
         formula="span = d * (k - 1) + 1; output = (n + 2 * p - span) // s + 1: pad both sides, count the positions "
                 "where the span fits, step by s (integer division //).")
def conv_output_size(answer):
    """Output length of a convolution/pooling layer with dilation, compared with the shape torch gives."""
    for n, k, s, p, d in ((64, 3, 1, 1, 1), (64, 2, 2, 0, 1), (7, 3, 2, 1, 1), (5, 5, 1, 0, 1), (10, 4, 3, 2, 1),
                          (28, 5, 2, 0, 1), (64, 3, 1, 2, 2), (64, 3, 1, 0, 4), (30, 5, 2, 3, 3)):
        want = torch.nn.functional.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p,
                                          dilation=d).shape[-1]
        expect_close(call(answer, n, k, s, p, d), want, f"conv_output_size(n={n}, k={k}, s={s}, p={p}, d={d})")


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


def _tiny_cnn_parameters(in_channels, width, n_classes):
    layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.Conv2d(width, 2 * width, 3, padding=1),
              nn.Linear(2 * width, n_classes)]
    return sum(p.numel() for layer in layers for p in layer.parameters())


@checker(hint="A network is a class: __init__ creates the layers (each one with weights becomes an attribute, so "
              "PyTorch finds its parameters), forward says in which order the input goes through them. Global "
              "average pooling makes the head independent of the image size.",
         formula="__init__: self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1); self.conv2 = nn.Conv2d(width, "
                 "2 * width, 3, padding=1); self.head = nn.Linear(2 * width, n_classes). forward: "
                 "x = F.max_pool2d(F.relu(self.conv1(x)), 2); the same with conv2; x = x.mean(dim=(2, 3)); "
                 "return self.head(x)")
def TinyCNN(answer):  # noqa: N802 (named like the class the learner writes)
    """A two-block CNN written as an nn.Module: output shapes on two image sizes and the parameter count,
    compared with the same layers built from torch.nn."""
    expect_true(isinstance(answer, type), f"expected a class (class TinyCNN(nn.Module): ...), got "
                                          f"{type(answer).__name__}")
    for in_channels, width, n_classes in ((1, 8, 1), (3, 4, 5)):
        with _private_rng():
            model = call(answer, in_channels, width, n_classes)
        what = f"TinyCNN({in_channels}, {width}, {n_classes})"
        expect_true(isinstance(model, nn.Module), f"{what} is not an nn.Module: subclass nn.Module")
        n_params = sum(p.numel() for p in model.parameters())
        want = _tiny_cnn_parameters(in_channels, width, n_classes)
        expect_true(n_params == want, f"{what} has {n_params} parameters, expected {want}")
        for size in ((64, 64), (32, 48)):
            with torch.no_grad(), _private_rng():
                out = model(torch.randn(2, in_channels, *size))
            expect_true(tuple(out.shape) == (2, n_classes),
                        f"{what} gives output shape {tuple(out.shape)} for 2 images of {size[0]}x{size[1]}, "
                        f"expected (2, {n_classes})")


def _bn_cases():
    gen = torch.Generator().manual_seed(4)
    for shape in ((8, 3, 5, 5), (6, 4)):
        c = shape[1]
        normal = functools.partial(torch.randn, generator=gen, dtype=torch.float64)
        uniform = functools.partial(torch.rand, generator=gen, dtype=torch.float64)
        yield normal(shape) * 3 + 1, uniform(c) + 0.5, normal(c), normal(c), uniform(c) + 0.5


def _torch_bn(x, gamma, beta, mean, var, training):
    bn = (nn.BatchNorm2d if x.ndim == 4 else nn.BatchNorm1d)(x.shape[1]).double()
    with torch.no_grad():
        bn.weight.copy_(gamma)
        bn.bias.copy_(beta)
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.train(training)
        y = bn(x)
    return y, bn.running_mean, bn.running_var


@checker(hint="In training, each channel is normalised with the mean and variance of this batch (over the batch "
              "and every pixel) and the running statistics move a little towards them; in evaluation, the stored "
              "running statistics are used instead. gamma and beta then scale and shift each channel.",
         formula="training: mean, var = x.mean(axes), x.var(axes, unbiased=False) with axes = all but 1; "
                 "running = (1 - momentum) * running + momentum * batch (the running variance takes the unbiased "
                 "var, n / (n - 1) times); evaluation: mean, var = running_mean, running_var. y = (x - mean) / "
                 "sqrt(var + eps) * gamma + beta, with the (C,) tensors reshaped to (1, C, 1, 1).")
def batch_norm(answer):
    """Batch normalisation in training and evaluation mode (output and running statistics), compared with
    nn.BatchNorm2d and nn.BatchNorm1d."""
    for x, gamma, beta, mean, var in _bn_cases():
        for training in (True, False):
            want_y, want_mean, want_var = _torch_bn(x, gamma, beta, mean, var, training)
            got = call(answer, x, gamma, beta, mean, var, training)
            mode = "training" if training else "evaluation"
            expect_true(isinstance(got, (tuple, list)) and len(got) == 3,
                        "batch_norm must return three things: (y, running_mean, running_var)")
            what = f"batch_norm(x {tuple(x.shape)}, training={training})"
            expect_close(got[0], want_y, f"{what}: y in {mode} mode", atol=1e-6)
            expect_close(got[1], want_mean, f"{what}: the new running_mean", atol=1e-6)
            expect_close(got[2], want_var, f"{what}: the new running_var", atol=1e-6)


def _field_mm_by_gradient(kernel_sizes, strides, spacing):
    """Receptive field per axis in mm, measured: nonzero gradient of one output of a stack of all-ones Conv3d."""
    x = torch.zeros(1, 1, 40, 40, 40, dtype=torch.float64, requires_grad=True)
    out = x
    for k, s in zip(kernel_sizes, strides):
        out = torch.nn.functional.conv3d(out, torch.ones(1, 1, *k, dtype=torch.float64), stride=s)
    (grad,) = torch.autograd.grad(out[0, 0, out.shape[2] // 2, out.shape[3] // 2, out.shape[4] // 2], x)
    nonzero = (grad[0, 0] != 0).nonzero()
    voxels = (nonzero.max(dim=0).values - nonzero.min(dim=0).values + 1).double().numpy()
    return voxels * np.asarray(spacing, dtype=np.float64)


@checker(hint="Work out the receptive field along each axis on its own, in voxels, with the rule of Exercise 4.3; a "
              "voxel is not a cube, so each axis turns into millimetres with its own spacing.",
         formula="for axis in range(3): r, jump = 1, 1; for k, s in zip(kernel_sizes, strides): r += (k[axis] - 1) * "
                 "jump; jump *= s[axis]; field[axis] = r * spacing[axis]")
def receptive_field_mm(answer):
    """Receptive field of a Conv3d stack per axis in mm on anisotropic voxels, compared with a gradient footprint."""
    cases = [([(3, 3, 3)], [(1, 1, 1)], (1.0, 1.0, 1.0)),
             ([(3, 3, 3), (3, 3, 3)], [(1, 1, 1), (1, 1, 1)], (5.0, 0.7, 0.7)),
             ([(1, 3, 3), (1, 3, 3), (3, 3, 3)], [(1, 1, 1), (1, 2, 2), (1, 1, 1)], (4.0, 0.8, 0.8)),
             ([(3, 5, 5), (2, 2, 2), (3, 3, 3)], [(1, 1, 1), (2, 2, 2), (1, 1, 1)], (2.5, 1.0, 0.5))]
    for ks, ss, spacing in cases:
        expect_close(call(answer, list(ks), list(ss), spacing), _field_mm_by_gradient(ks, ss, spacing),
                     f"receptive_field_mm({ks}, {ss}, spacing={spacing})", atol=1e-6)
