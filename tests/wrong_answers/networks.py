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
    "mlp_param_count": '''
def mlp_param_count(sizes):
    return sum(a * b for a, b in zip(sizes, sizes[1:]))   # forgets the biases
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
def conv_output_size(n, k, s=1, p=0):
    return (n + p - k) // s + 1   # pads one side only
''',
    "receptive_field": '''
def receptive_field(kernel_sizes, strides):
    return 1 + sum(k - 1 for k in kernel_sizes)   # ignores the strides
''',
}
