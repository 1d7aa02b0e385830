"""Plausible but wrong answers for the checkers in labkit/checks/networks.py (one per checker)."""

WRONG = {
    "sigmoid_derivative": '''
import torch
def sigmoid_derivative(x):
    return torch.sigmoid(x) * (1 - x)   # uses x instead of sigmoid(x) in the second factor
''',
    "linear_forward": '''
def linear_forward(x, weight, bias):
    return x @ weight.T   # forgets the bias
''',
    "softmax": '''
import torch
def softmax(logits):
    e = logits.exp()   # no shift by the maximum: exp(1000) overflows to inf, inf / inf is NaN
    return e / e.sum(dim=-1, keepdim=True)
''',
    "sgd_step": '''
import torch
def sgd_step(params, lr):
    with torch.no_grad():
        for p in params:
            p += lr * p.grad   # gradient ascent: the step goes uphill
''',
    "he_normal_": '''
import math
import torch
def he_normal_(weight):
    with torch.no_grad():
        weight.normal_(0, math.sqrt(1 / weight[0].numel()))   # forgets ReLU's factor 2
    return weight
''',
    "conv2d_single": '''
import torch
def conv2d_single(image, kernel):
    kernel = torch.flip(kernel, dims=(0, 1))   # flips the kernel: true convolution, not what nn.Conv2d computes
    kh, kw = kernel.shape
    out = torch.zeros(image.shape[0] - kh + 1, image.shape[1] - kw + 1, dtype=image.dtype)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (image[i:i + kh, j:j + kw] * kernel).sum()
    return out
''',
    "conv_output_size": '''
def conv_output_size(n, k, s=1, p=0, d=1):
    return (n + 2 * p - k) // s + 1   # ignores the dilation: a dilated kernel spans d * (k - 1) + 1 pixels
''',
    "receptive_field": '''
def receptive_field(kernel_sizes, strides):
    return 1 + sum(k - 1 for k in kernel_sizes)   # ignores the strides
''',
    "TinyCNN": '''
import torch
from torch import nn
import torch.nn.functional as F

class TinyCNN(nn.Module):
    def __init__(self, in_channels=1, width=8, n_classes=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.head = nn.Linear(2 * width * 16 * 16, n_classes)   # flattens a 64 x 64 input instead of pooling

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))
''',
    "batch_norm": '''
import torch
def batch_norm(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    axes = [0] + list(range(2, x.ndim))   # uses the batch statistics in evaluation too
    mean, var = x.mean(dim=axes), x.var(dim=axes, unbiased=False)
    if training:
        n = x.numel() // x.shape[1]
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps) * gamma.reshape(shape) + beta.reshape(shape)
    return y, running_mean, running_var
''',
    "receptive_field_mm": '''
import numpy as np
def receptive_field_mm(kernel_sizes, strides, spacing):
    field = np.ones(3)
    for k in kernel_sizes:
        field += np.asarray(k) - 1   # ignores the strides
    return field * np.asarray(spacing)
''',
}
